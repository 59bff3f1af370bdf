"""Downloading a model directory named by MLFLOW_MODEL_URI from an MLflow tracking server.

Used only when MODEL_LOCAL_PATH is not set. Supported URIs:
  * local paths and ``file://`` URIs (used in place)
  * ``mlflow-artifacts:/<path>``  through the artifact proxy
    (``GET {tracking}/api/2.0/mlflow-artifacts/artifacts?path=<dir>`` to list,
    ``GET {tracking}/api/2.0/mlflow-artifacts/artifacts/<path>`` to download)
  * ``runs:/<run_id>/<path>``      resolved with ``GET /api/2.0/mlflow/runs/get``
  * ``models:/<name>/<version>``   resolved with ``GET /api/2.0/mlflow/model-versions/get-download-uri``
Credentials: MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (basic).
"""

import base64
import json
import os
import posixpath
import shutil
import urllib.error
import urllib.parse
import urllib.request

from .model import ModelLoadError

MAX_FILES = 10000


def local_path(uri):
    """The directory a local URI names, or None for remote URIs."""
    if uri.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
    if "://" in uri or uri.split(":", 1)[0] in ("mlflow-artifacts", "runs", "models", "s3", "gs", "dbfs"):
        return None
    return uri


class MLflowClient:
    def __init__(self, tracking_uri, username="", password="", token="", timeout=60.0):
        if not tracking_uri or not tracking_uri.startswith(("http://", "https://")):
            raise ModelLoadError(f"MLFLOW_TRACKING_URI must be an http(s) URL to download models, got {tracking_uri!r}")
        self.base = tracking_uri.rstrip("/")
        self.timeout = timeout
        self.headers = {}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        elif username or password:
            cred = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = "Basic " + cred

    def _open(self, path, query=None):
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url, headers=self.headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            raise ModelLoadError(f"GET {path} answered HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ModelLoadError(f"GET {url}: {getattr(e, 'reason', e)}") from None

    def get_json(self, path, query=None):
        with self._open(path, query) as resp:
            try:
                return json.loads(resp.read())
            except ValueError:
                raise ModelLoadError(f"GET {path} returned invalid JSON") from None

    def resolve(self, uri):
        """Returns the artifact-store path (what follows mlflow-artifacts:/) of a model URI."""
        scheme, _, rest = uri.partition(":")
        if scheme == "mlflow-artifacts":
            return _artifacts_path(uri)
        if scheme == "runs":
            parts = rest.lstrip("/").split("/", 1)
            run = self.get_json("/api/2.0/mlflow/runs/get", {"run_id": parts[0]})
            root = ((run.get("run") or {}).get("info") or {}).get("artifact_uri") or ""
            if not root.startswith("mlflow-artifacts:"):
                raise ModelLoadError(f"run {parts[0]} stores artifacts at {root!r}, not behind the artifact proxy")
            return posixpath.join(_artifacts_path(root), parts[1] if len(parts) > 1 else "")
        if scheme == "models":
            name, version = self._model_version(uri, rest.lstrip("/"))
            got = self.get_json("/api/2.0/mlflow/model-versions/get-download-uri", {"name": name, "version": version})
            return self.resolve(got.get("artifact_uri") or "")
        raise ModelLoadError(f"unsupported model URI {uri!r}")

    def _model_version(self, uri, ref):
        """Resolves models:/<name>/<version>, models:/<name>/<stage>, models:/<name>/latest and
        models:/<name>@<alias> to (name, version) through the registry."""
        if "/" not in ref and "@" in ref:
            name, _, alias = ref.rpartition("@")
            if not name or not alias:
                raise ModelLoadError(f"model URI {uri!r}: expected models:/<name>@<alias>")
            got = self.get_json("/api/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias})
            version = str((got.get("model_version") or {}).get("version") or "")
            if not version:
                raise ModelLoadError(f"model URI {uri!r}: alias {alias!r} names no version")
            return name, version
        parts = ref.split("/")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ModelLoadError(f"model URI {uri!r}: expected models:/<name>/<version|stage|latest> or models:/<name>@<alias>")
        name, which = parts
        if which.isdigit():
            return name, which
        query = {"name": name}
        if which.lower() != "latest":
            query["stages"] = which
        got = self.get_json("/api/2.0/mlflow/registered-models/get-latest-versions", query)
        versions = [str(v.get("version") or "") for v in got.get("model_versions") or []]
        versions = [v for v in versions if v.isdigit()]
        if not versions:
            raise ModelLoadError(f"model URI {uri!r}: model {name!r} has no version in {which!r}")
        return name, max(versions, key=int)

    def download_dir(self, src, dest):
        """Copies artifact directory ``src`` (recursively) into ``dest``."""
        count = 0
        stack = [src]
        while stack:
            d = stack.pop()
            listing = self.get_json("/api/2.0/mlflow-artifacts/artifacts", {"path": d})
            for f in listing.get("files") or []:
                rel = f.get("path") or ""
                if d and rel.startswith(d + "/"):
                    rel = rel[len(d) + 1:]
                full = posixpath.join(d, rel) if d else rel
                if not rel or rel.startswith("/") or ".." in rel.split("/"):
                    raise ModelLoadError(f"artifact listing of {d!r} holds an unsafe path {rel!r}")
                if f.get("is_dir"):
                    stack.append(full)
                    continue
                count += 1
                if count > MAX_FILES:
                    raise ModelLoadError(f"model directory has more than {MAX_FILES} files")
                target = os.path.join(dest, *posixpath.relpath(full, src).split("/")) if src else os.path.join(dest, *full.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with self._open("/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(full)) as resp, \
                        open(target, "wb") as out:
                    shutil.copyfileobj(resp, out)
        if count == 0:
            raise ModelLoadError(f"no artifacts under {src!r}")
        return dest


def _artifacts_path(uri):
    parsed = urllib.parse.urlsplit(uri)
    return parsed.path.strip("/")


def download_model(uri, dest, env):
    """Downloads the model at ``uri`` into ``dest`` (created) and returns the local directory."""
    client = MLflowClient(env.get("MLFLOW_TRACKING_URI", ""), env.get("MLFLOW_TRACKING_USERNAME", ""),
                          env.get("MLFLOW_TRACKING_PASSWORD", ""), env.get("MLFLOW_TRACKING_TOKEN", ""))
    src = client.resolve(uri)
    if not src:
        raise ModelLoadError(f"model URI {uri!r} names the artifact root, not a model directory")
    os.makedirs(dest, exist_ok=True)
    return client.download_dir(src, dest)
