"""The runtime's request handling, independent of the HTTP server.

``Runtime.handle(method, target, body)`` returns ``(status, payload, headers)``;
payloads follow FastAPI's shapes (errors are ``{"detail": ...}``) like the
original darwin-serve-runtime.
"""

import concurrent.futures
import json
import os
import tempfile
import threading
import time
import urllib.parse

from . import features as feat
from .featurestore import FeatureStoreClient, FeatureStoreError
from .fetch import download_model
from .model import ModelLoadError, load_model, read_meta

NOT_READY = {"detail": {"status": "not_ready", "message": "Model not yet loaded"}}


class Runtime:
    def __init__(self, model_dir, logger, root_path="", fs_client=None, predict_timeout=60.0, workers=None,
                 model_uri=None, download_dir=None, env=None):
        """model_dir: a local MLflow model directory; or model_dir=None and model_uri (an
        mlflow-artifacts:/, runs:/ or models:/ URI) downloaded into download_dir at load time."""
        self.model_dir = model_dir
        self.model_uri = model_uri
        self.download_dir = download_dir
        self.env = env if env is not None else os.environ
        self.log = logger
        self.root_path = "/" + root_path.strip("/") if root_path and root_path.strip("/") else ""
        self.fs = fs_client or FeatureStoreClient("", "")
        self.predict_timeout = predict_timeout
        self._lock = threading.Lock()
        self._meta = None
        self._model = None
        self._load_error = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2),
                                                           thread_name_prefix="predict")
        self._routes = {
            "/healthcheck": {"GET": self._health},
            "/health": {"GET": self._health},
            "/healthz": {"GET": self._health},
            "/ready": {"GET": self._ready},
            "/readyz": {"GET": self._ready},
            "/schema": {"GET": self._schema},
            "/predict": {"POST": self._predict},
        }

    # ---- loading -------------------------------------------------------
    def start_loading(self):
        """Loads the model in a background thread; /ready reports when it is done."""
        t = threading.Thread(target=self.load, name="model-loader", daemon=True)
        t.start()
        return t

    def load(self):
        started = time.monotonic()
        try:
            if self.model_dir is None:
                dest = self.download_dir or tempfile.mkdtemp(prefix="darwin-model-")
                self.log.info("downloading model", model_uri=self.model_uri, dest=dest)
                self.model_dir = download_model(self.model_uri, dest, self.env)
            self.log.info("loading model", model_dir=self.model_dir)
            meta = read_meta(self.model_dir)
            with self._lock:
                self._meta = meta
            model = load_model(meta)
        except ModelLoadError as e:
            self._fail(str(e))
            return False
        except Exception as e:  # a loader module's own failure
            self._fail(f"{type(e).__name__}: {e}")
            return False
        with self._lock:
            self._model = model
        self.log.info("model loaded", model_dir=self.model_dir, flavor=model.flavor,
                      signature=meta.signature is not None, duration_ms=round((time.monotonic() - started) * 1000, 1))
        return True

    def _fail(self, message):
        with self._lock:
            self._load_error = message
        self.log.error("model load failed", model_dir=self.model_dir, error=message)

    @property
    def loaded(self):
        return self._model is not None

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- dispatch -------------------------------------------------------
    def handle(self, method, target, body=b""):
        path = urllib.parse.urlsplit(target).path or "/"
        if self.root_path and (path == self.root_path or path.startswith(self.root_path + "/")):
            path = path[len(self.root_path):] or "/"
        if len(path) > 1:
            path = path.rstrip("/")
        methods = self._routes.get(path)
        if methods is None:
            return 404, {"detail": "Not Found"}, {}
        if method == "HEAD" and "GET" in methods:
            method = "GET"
        fn = methods.get(method)
        if fn is None:
            return 405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(sorted(methods))}
        status, payload = fn(body)
        return status, payload, {}

    # ---- endpoints -------------------------------------------------------
    def _health(self, _body):
        return 200, {"status": "SUCCESS", "message": "OK"}

    def _ready(self, _body):
        if self.loaded:
            return 200, {"status": "ready", "model_loaded": True}
        return 503, self._not_ready()

    def _not_ready(self):
        if self._load_error:
            return {"detail": {"status": "not_ready", "message": "Model failed to load", "error": self._load_error}}
        return NOT_READY

    def _schema(self, _body):
        meta = self._meta
        if meta is None:
            return 503, self._not_ready()
        if meta.signature is None:
            return 404, {"detail": "Model has no signature; log it with a signature to get a schema"}
        return 200, schema_document(meta)

    def _predict(self, body):
        model = self._model
        if model is None:
            return 503, self._not_ready()
        meta = self._meta
        if not body or not body.strip():
            return 422, {"detail": {"message": "Request body is empty", "hint": _hint(meta)}}
        try:
            req = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as e:
            return 400, {"detail": {"message": "Request body is not valid JSON", "error": str(e), "hint": _hint(meta)}}
        if not isinstance(req, dict):
            return 422, {"detail": {"message": "Request body must be a JSON object", "hint": _hint(meta)}}

        has_features = "features" in req
        has_fs = "feature_group" in req or "ofs_keys" in req
        if has_features and has_fs:
            return 422, {"detail": {"message": "Send either 'features' or 'feature_group' with 'ofs_keys', not both",
                                    "hint": _hint(meta)}}
        if not has_features and not has_fs:
            return 422, {"detail": {"message": "Request body must contain 'features' (or 'feature_group' and 'ofs_keys')",
                                    "expected_schema": _expected(meta), "hint": _hint(meta)}}
        try:
            if has_fs:
                features = self._features_from_store(req, meta)
            else:
                features = req["features"]
            model_input = feat.build_input(features, meta.signature)
        except feat.FeatureError as e:
            return 422, {"detail": {"message": e.message, "errors": e.errors,
                                    "expected_schema": _expected(meta), "hint": _hint(meta)}}
        except FeatureStoreError as e:
            detail = {"message": e.message}
            detail.update(e.extra)
            return e.status, {"detail": detail}

        future = self._pool.submit(model.predict, model_input)
        try:
            result = future.result(timeout=self.predict_timeout)
        except concurrent.futures.TimeoutError:
            self.log.error("prediction timed out", timeout_s=self.predict_timeout)
            return 504, {"detail": {"message": "Prediction timed out", "timeout_seconds": self.predict_timeout}}
        except Exception as e:
            self.log.error("prediction failed", error=f"{type(e).__name__}: {e}")
            return 500, {"detail": {"message": "Prediction failed", "error": f"{type(e).__name__}: {e}",
                                    "hint": "Check that the feature values are valid for this model; see GET /schema"}}
        try:
            scores = feat.to_jsonable(result)
        except Exception as e:
            return 500, {"detail": {"message": "Prediction failed", "error": f"cannot encode model output: {e}",
                                    "hint": "The model returned a value that is not convertible to JSON"}}
        return 200, {"scores": scores}

    def _features_from_store(self, req, meta):
        fg = req.get("feature_group")
        keys = req.get("ofs_keys")
        errors = []
        if not isinstance(fg, str) or not fg.strip():
            errors.append({"loc": ["feature_group"], "type": "type_error", "message": "feature_group must be a non-empty string"})
        if not isinstance(keys, dict) or not keys:
            errors.append({"loc": ["ofs_keys"], "type": "type_error",
                           "message": "ofs_keys must be a non-empty object of primary key name -> value"})
        if errors:
            raise feat.FeatureError("Invalid feature-store request", errors)
        if not self.fs.configured:
            raise FeatureStoreError(503, "Feature-store mode is not configured: set FEATURE_STORE_URL and OFS_ADMIN_URL")

        key_names = list(keys)
        values = list(keys.values())
        if all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1 and values[0]:
            key_rows = [list(r) for r in zip(*values)]
        elif all(not isinstance(v, (list, dict)) for v in values):
            key_rows = [values]
        else:
            raise feat.FeatureError("Invalid feature-store request", [{
                "loc": ["ofs_keys"], "type": "type_error",
                "message": "ofs_keys values must be all scalars (one row) or all lists of one length"}])

        fg_columns, primary_keys = self.fs.schema(fg)
        sig = meta.signature
        if sig is not None and sig.columns is not None:
            wanted = [c for c in sig.column_names if c in fg_columns and c not in keys]
        else:
            wanted = [c for c in fg_columns if c not in primary_keys and c not in keys]
        fetched = self.fs.read(fg, wanted, key_names, key_rows) if wanted else [[] for _ in key_rows]

        rows = []
        for key_row, values_row in zip(key_rows, fetched):
            row = dict(zip(wanted, values_row))
            if sig is not None and sig.columns is not None:
                # Primary-key columns are model inputs only when the signature names them.
                for name, value in zip(key_names, key_row):
                    if name in sig.column_names:
                        row[name] = value
            rows.append(row)
        return rows[0] if len(rows) == 1 else rows


def _reject_constant(name):
    # Python's json accepts NaN/Infinity; JSON does not, and neither do we.
    raise ValueError(f"{name} is not valid JSON")


def schema_document(meta):
    sig = meta.signature
    if sig.tensor is not None:
        inputs = [sig.tensor.to_json()]
        width = sig.tensor.shape[-1] if sig.tensor.shape and len(sig.tensor.shape) > 1 and sig.tensor.shape[-1] > 0 else 1
        sample = meta.input_example if isinstance(meta.input_example, list) else [0.0] * width
        return {
            "inputs": inputs,
            "outputs": [o.to_json() for o in sig.outputs],
            "sample_request": {"features": [sample]},
            "json_schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "PredictRequest",
                "type": "object",
                "properties": {"features": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}},
                "required": ["features"],
            },
        }
    example = meta.input_example if isinstance(meta.input_example, dict) else {}
    sample = {}
    props = {}
    for c in sig.columns:
        sample[c.name] = example.get(c.name, feat.SAMPLE_VALUES.get(c.type))
        props[c.name] = dict(feat.JSON_TYPES.get(c.type, {}))
        if not c.required:
            props[c.name] = {"anyOf": [props[c.name] or {}, {"type": "null"}]}
    return {
        "inputs": [c.to_json() for c in sig.columns],
        "outputs": [o.to_json() for o in sig.outputs],
        "sample_request": {"features": sample},
        "json_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "PredictRequest",
            "type": "object",
            "properties": {
                "features": {
                    "type": "object",
                    "properties": props,
                    "required": [c.name for c in sig.columns if c.required],
                    "additionalProperties": False,
                },
            },
            "required": ["features"],
        },
    }


def _expected(meta):
    sig = meta.signature if meta else None
    if sig is None:
        return None
    if sig.tensor is not None:
        return [sig.tensor.to_json()]
    return [c.to_json() for c in sig.columns]


def _hint(meta):
    sig = meta.signature if meta else None
    if sig is None:
        return 'Send {"features": {"<name>": <value>, ...}} with the features the model was trained on'
    if sig.tensor is not None:
        return f'Send {{"features": [[...], ...]}}: rows of {sig.tensor.dtype} values with shape {sig.tensor.shape}; see GET /schema'
    fields = ", ".join(f'"{c.name}": <{c.type}>' for c in sig.columns)
    return f'Send {{"features": {{{fields}}}}}; see GET /schema'
