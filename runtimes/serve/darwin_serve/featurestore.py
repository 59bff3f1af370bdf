"""Feature-store mode: fetch a row's features from the Darwin online feature store.

  GET {OFS_ADMIN_URL}/feature-group/schema?name=<fg>
      -> {"data": {"schema": [{"name", "type"}, ...], "primaryKeys": [...], ...}}
  GET {FEATURE_STORE_URL}/feature-group/read-features   (JSON body on a GET)
      {"featureGroupName", "featureColumns", "primaryKeys": {"names": [...], "values": [[...]]}}
      -> {"data": {"successfulKeys": [{"key": [...], "features": [...]}], "failedKeys": [[...]]}}
"""

import json
import socket
import urllib.error
import urllib.parse
import urllib.request


class FeatureStoreError(Exception):
    """A feature-store call failed; ``status`` is the HTTP status to answer with."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class FeatureStoreClient:
    def __init__(self, admin_url, store_url, timeout=10.0):
        self.admin_url = (admin_url or "").rstrip("/")
        self.store_url = (store_url or "").rstrip("/")
        self.timeout = timeout

    @property
    def configured(self):
        return bool(self.admin_url and self.store_url)

    def schema(self, feature_group):
        """Returns (column names, primary key names) of the feature group."""
        url = f"{self.admin_url}/feature-group/schema?" + urllib.parse.urlencode({"name": feature_group})
        data = self._call("GET", url, None, f"feature group {feature_group!r} schema")
        cols = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(cols, list):
            raise FeatureStoreError(502, "feature-store admin returned no schema", feature_group=feature_group)
        names = []
        for c in cols:
            name = c.get("name") if isinstance(c, dict) else c
            if isinstance(name, str) and name not in names:
                names.append(name)
        pks = data.get("primaryKeys") or []
        return names, [p for p in pks if isinstance(p, str)]

    def read(self, feature_group, columns, key_names, key_rows):
        """Returns one feature list per key row (in request order)."""
        body = {
            "featureGroupName": feature_group,
            "featureColumns": list(columns),
            "primaryKeys": {"names": list(key_names), "values": [list(r) for r in key_rows]},
        }
        data = self._call("GET", f"{self.store_url}/feature-group/read-features", body, f"features of {feature_group!r}")
        if not isinstance(data, dict):
            raise FeatureStoreError(502, "feature store returned an unexpected response", feature_group=feature_group)
        failed = data.get("failedKeys") or []
        ok = data.get("successfulKeys") or []
        if failed or len(ok) < len(key_rows):
            raise FeatureStoreError(404, "No features found for the given keys", feature_group=feature_group,
                                    failed_keys=failed or [list(r) for r in key_rows][len(ok):])
        by_key = {}
        for entry in ok:
            if isinstance(entry, dict) and isinstance(entry.get("features"), list):
                by_key.setdefault(_key(entry.get("key")), entry["features"])
        out = []
        for i, row in enumerate(key_rows):
            feats = by_key.get(_key(row))
            if feats is None:  # keys echoed in another form: fall back to response order
                entry = ok[i] if i < len(ok) else None
                feats = entry.get("features") if isinstance(entry, dict) else None
            if not isinstance(feats, list) or len(feats) != len(columns):
                raise FeatureStoreError(502, "feature store returned features that do not match the requested columns",
                                        feature_group=feature_group)
            out.append(feats)
        return out

    def _call(self, method, url, body, what):
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            message = _error_message(e)
            status = 404 if e.code == 404 else (400 if e.code == 400 else 502)
            raise FeatureStoreError(status, f"feature store could not return {what}: {message}", upstream_status=e.code) from None
        except (socket.timeout, TimeoutError):
            raise FeatureStoreError(504, f"feature store timed out fetching {what}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise FeatureStoreError(504, f"feature store timed out fetching {what}") from None
            raise FeatureStoreError(502, f"feature store unreachable fetching {what}: {reason}") from None
        try:
            payload = json.loads(raw)
        except ValueError:
            raise FeatureStoreError(502, f"feature store returned invalid JSON for {what}") from None
        if isinstance(payload, dict) and "data" in payload:
            return payload["data"]
        return payload


def _key(values):
    if not isinstance(values, list):
        return None
    return tuple(str(v) for v in values)


def _error_message(err):
    try:
        payload = json.loads(err.read())
    except Exception:
        return f"HTTP {err.code}"
    if isinstance(payload, dict):
        e = payload.get("error")
        if isinstance(e, dict) and e.get("message"):
            return str(e["message"])
        if isinstance(e, str):
            return e
        if payload.get("message"):
            return str(payload["message"])
    return f"HTTP {err.code}"
