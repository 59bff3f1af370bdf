"""Shared helpers for the runtime tests: trained models, runtime subprocesses, a fake feature store."""

import functools
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY = os.path.join(SERVE_DIR, "darwin_serve_runtime.py")
TOOLS_DIR = os.path.join(SERVE_DIR, "tools")
for p in (SERVE_DIR, TOOLS_DIR):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sklearn  # noqa: F401
    import yaml  # noqa: F401
except ImportError as e:  # fail loudly, naming the fix
    raise ImportError(f"{e}: run scripts/python-deps.sh and run the tests with /usr/bin/python3") from None

import make_model  # noqa: E402

IRIS_SEED = make_model.SEED_INPUTS["iris"][0]
HOUSING_SEED = make_model.SEED_INPUTS["housing"][0]


@functools.lru_cache(maxsize=None)
def trained(kind, estimator=None):
    """(model, training frame, [(name, type)]) — trained once per test process."""
    model, X = make_model.train(kind, estimator)
    return model, X, make_model.column_types(X)


def write_model(out, kind, estimator=None, **kw):
    model, X, columns = trained(kind, estimator)
    out_type = make_model.output_type(model.predict(X.head(1)))
    make_model.write_model_dir(out, model, columns, out_type, input_example=make_model.SEED_INPUTS[kind][0], **kw)
    return model, columns


def expected_scores(model, columns, rows):
    """model.predict on the rows (dicts) as a typed DataFrame, as a JSON-compatible list."""
    import pandas as pd

    names = [c for c, _ in columns]
    frame = pd.DataFrame([[r[c] for c in names] for r in rows], columns=names).astype("float64")
    return model.predict(frame).tolist()


def write_loader_module(model_dir, module_name, source):
    """Writes <model_dir>/code/<module_name>.py for a python_function flavor's loader_module."""
    code = os.path.join(model_dir, "code")
    os.makedirs(code, exist_ok=True)
    with open(os.path.join(code, module_name + ".py"), "w", encoding="utf-8") as f:
        f.write(source)


class RuntimeProcess:
    """The runtime started as a subprocess on a free port; stderr (JSON logs) goes to a file."""

    def __init__(self, args, env=None, cwd=None):
        self._log = tempfile.NamedTemporaryFile(prefix="darwin-serve-", suffix=".log", delete=False)
        self.log_path = self._log.name
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, ENTRY, "--host", "127.0.0.1"] + list(args),
                                     stdout=subprocess.DEVNULL, stderr=self._log, env=full_env, cwd=cwd)
        self.port = self._wait_listening()

    def _wait_listening(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.log_records():
                if rec.get("msg") == "listening":
                    return rec["port"]
            if self.proc.poll() is not None:
                raise AssertionError(f"runtime exited with {self.proc.returncode}: {self.log_text()}")
            time.sleep(0.05)
        raise AssertionError(f"runtime did not start listening: {self.log_text()}")

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def log_records(self):
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"_raw": line})
        return out

    def request(self, method, path, body=None, raw=None, headers=None):
        """Returns (status, decoded JSON or None, raw text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            hdrs = {"Content-Type": "application/json"}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8")
        finally:
            conn.close()
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        return resp.status, payload, text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        status, payload = None, None
        while time.monotonic() < deadline:
            status, payload, _ = self.get("/ready")
            if status == 200:
                return payload
            time.sleep(0.05)
        raise AssertionError(f"/ready stayed {status} {payload}: {self.log_text()}")

    def stop(self, keep_log=False):
        """SIGTERM, then the exit code (SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        if not keep_log:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
        return self.proc.returncode


class FakeFeatureStore:
    """A stdlib HTTP server answering the two feature-store calls the runtime makes.

    Admin API under /feature-store-admin, app under /feature-store (as behind the ingress).
    groups: {name: {"primary_keys": [...], "columns": [...], "rows": {key tuple: {column: value}}}}
    """

    def __init__(self, groups):
        self.groups = groups
        self.requests = []
        self.server, base = _start_server(self._get)
        self.admin_url = base + "/feature-store-admin"
        self.store_url = base + "/feature-store"

    def _get(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(n)) if n else None
        url = urllib.parse.urlsplit(h.path)
        self.requests.append({"method": "GET", "path": url.path, "query": url.query, "body": body})
        _reply(h, *self.route(url, body))

    def route(self, url, body):
        if url.path == "/feature-store-admin/feature-group/schema":
            name = urllib.parse.parse_qs(url.query).get("name", [""])[0]
            g = self.groups.get(name)
            if g is None:
                return 404, _ofs_error("feature group not found", "FEATURE-GROUP-NOT-FOUND-EXCEPTION")
            schema = [{"name": c, "type": "INT", "description": "", "tags": []} for c in g["primary_keys"]]
            schema += [{"name": c, "type": "DOUBLE", "description": "", "tags": []} for c in g["columns"]]
            return 200, {"data": {"schema": schema, "primaryKeys": g["primary_keys"], "version": "v1",
                                  "featureGroupType": "ONLINE"}}
        if url.path == "/feature-store/feature-group/read-features":
            g = self.groups.get((body or {}).get("featureGroupName"))
            if g is None:
                return 400, _ofs_error("feature group not found", "OFS-V2-ADMIN-SERVICE-EXCEPTION")
            cols = body["featureColumns"]
            if body["primaryKeys"]["names"] != g["primary_keys"]:
                return 400, _ofs_error("invalid request", "READ-FEATURES-REQUEST-EXCEPTION")
            ok, failed = [], []
            for key in body["primaryKeys"]["values"]:
                row = g["rows"].get(tuple(key))
                if row is None:
                    failed.append(key)
                else:
                    ok.append({"key": key, "features": [row[c] for c in cols]})
            return 200, {"data": {"featureGroupName": body["featureGroupName"], "featureGroupVersion": "v1",
                                  "successfulKeys": ok, "failedKeys": failed}}
        return 404, _ofs_error("not found", "NOT-FOUND")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _start_server(on_get):
    """Starts a loopback HTTP/1.1 server calling on_get(handler) per GET; returns (server, base URL)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            on_get(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _reply(handler, status, payload, ctype="application/json"):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _ofs_error(message, code):
    return {"error": {"message": message, "cause": message, "code": code}}


class FakeMLflow:
    """The parts of an MLflow tracking server the runtime uses to download a model, over a directory
    that plays the artifact store (mlflow-artifacts:/<path> is <root>/<path>). Served under /mlflow-lib;
    every call must carry HTTP basic auth user:secret."""

    AUTH = "Basic " + __import__("base64").b64encode(b"user:secret").decode()

    def __init__(self, root, runs=None, versions=None, stages=None, aliases=None):
        self.root = root
        self.runs = runs or {}  # run_id -> artifact_uri
        self.versions = versions or {}  # (name, version) -> artifact_uri
        self.stages = stages or {}  # (name, version) -> stage
        self.aliases = aliases or {}  # (name, alias) -> version
        self.paths = []
        self.server, base = _start_server(self._get)
        self.tracking_uri = base + "/mlflow-lib"

    def _get(self, h):
        url = urllib.parse.urlsplit(h.path)
        self.paths.append(url.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if h.headers.get("Authorization") != self.AUTH:
            return _reply(h, 401, {"error_code": "UNAUTHENTICATED"})
        p = url.path[len("/mlflow-lib"):] if url.path.startswith("/mlflow-lib/") else None
        if p == "/api/2.0/mlflow/runs/get" and q.get("run_id") in self.runs:
            return _reply(h, 200, {"run": {"info": {"run_id": q["run_id"], "artifact_uri": self.runs[q["run_id"]]}}})
        if p == "/api/2.0/mlflow/model-versions/get-download-uri" and (q.get("name"), q.get("version")) in self.versions:
            return _reply(h, 200, {"artifact_uri": self.versions[(q["name"], q["version"])]})
        if p == "/api/2.0/mlflow/registered-models/alias" and (q.get("name"), q.get("alias")) in self.aliases:
            return _reply(h, 200, {"model_version": {"name": q["name"], "version": self.aliases[(q["name"], q["alias"])]}})
        if p == "/api/2.0/mlflow/registered-models/get-latest-versions":
            want = q.get("stages", "").lower()
            found = [{"name": n, "version": v, "current_stage": self.stages.get((n, v), "None")}
                     for (n, v) in self.versions if n == q.get("name")
                     and (not want or self.stages.get((n, v), "None").lower() == want)]
            if not any(n == q.get("name") for (n, _) in self.versions):
                return _reply(h, 404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
            # The latest version per stage, as MLflow answers.
            latest = {}
            for mv in found:
                if mv["current_stage"] not in latest or int(mv["version"]) > int(latest[mv["current_stage"]]["version"]):
                    latest[mv["current_stage"]] = mv
            return _reply(h, 200, {"model_versions": list(latest.values())} if latest else {})
        if p == "/api/2.0/mlflow-artifacts/artifacts":
            d = os.path.join(self.root, q.get("path", ""))
            if not os.path.isdir(d):
                return _reply(h, 200, {})
            files = [{"path": n, "is_dir": os.path.isdir(os.path.join(d, n))} for n in sorted(os.listdir(d))]
            return _reply(h, 200, {"files": files})
        if p and p.startswith("/api/2.0/mlflow-artifacts/artifacts/"):
            f = os.path.join(self.root, urllib.parse.unquote(p[len("/api/2.0/mlflow-artifacts/artifacts/"):]))
            if os.path.isfile(f):
                with open(f, "rb") as fh:
                    return _reply(h, 200, fh.read(), "application/octet-stream")
        return _reply(h, 404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})

    def close(self):
        self.server.shutdown()
        self.server.server_close()
