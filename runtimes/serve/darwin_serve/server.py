"""HTTP server and command line of the Darwin model runtime."""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import __version__
from .app import Runtime
from .featurestore import FeatureStoreClient
from .fetch import local_path
from .logutil import JSONLogger

MAX_BODY_BYTES = 16 * 1024 * 1024


class _BodyError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm holds the body until
    # the client's delayed ACK (about 40 ms per keep-alive request).
    disable_nagle_algorithm = True
    server_version = "darwin-serve-runtime/" + __version__

    def version_string(self):
        return self.server_version

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        started = time.monotonic()
        runtime = self.server.runtime
        headers = {}
        try:
            body = self._read_body()
            status, payload, headers = runtime.handle(method, self.path, body)
        except _BodyError as e:
            status, payload = e.status, {"detail": {"message": e.message}}
            self.close_connection = True
        except Exception as e:  # never a traceback to the client
            runtime.log.error("unhandled error", method=method, path=self.path, error=f"{type(e).__name__}: {e}")
            status, payload = 500, {"detail": {"message": "Internal server error"}}
        # Logged before the response is written, so a client that got its answer finds the line.
        runtime.log.info("request", method=method, path=self.path, status=status,
                         duration_ms=round((time.monotonic() - started) * 1000, 2),
                         remote=self.client_address[0] if self.client_address else None)
        self._send(status, payload, headers, head_only=(method == "HEAD"))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise _BodyError(400, "invalid Content-Length") from None
        if n < 0:
            raise _BodyError(400, "invalid Content-Length")
        if n > MAX_BODY_BYTES:
            raise _BodyError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(n)

    def _read_chunked(self):
        chunks = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BodyError(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, status, payload, headers, head_only=False):
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass  # one structured line per request is written by _dispatch

    def log_error(self, fmt, *args):
        self.server.runtime.log.warning("http error", error=fmt % args)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, runtime):
        self.runtime = runtime
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        # socketserver would print a traceback to stderr; keep stderr JSON-only.
        err = sys.exc_info()[1]
        self.runtime.log.warning("connection error", remote=client_address[0] if client_address else None,
                                 error=f"{type(err).__name__}: {err}")


def _env_float(name, default):
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {value!r}")


def parse_args(argv):
    env = os.environ
    p = argparse.ArgumentParser(
        prog="darwin_serve_runtime.py",
        description="Serve an MLflow model directory (sklearn or python_function flavor) over HTTP: "
                    "GET /healthcheck /health /ready /schema, POST /predict.",
        epilog="Environment: MODEL_LOCAL_PATH (model directory), MLFLOW_MODEL_URI (+ MLFLOW_TRACKING_URI, "
               "MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN, MODEL_DOWNLOAD_DIR), PORT, HOST, "
               "ROOT_PATH, FEATURE_STORE_URL, OFS_ADMIN_URL, PREDICT_TIMEOUT_SECONDS, FEATURE_STORE_TIMEOUT_SECONDS. "
               "Flags override the environment. "
               "`%(prog)s fetch --model-uri URI --dest DIR` downloads the model and exits (see `fetch --help`).",
    )
    p.add_argument("model_dir_arg", nargs="?", metavar="MODEL_DIR", help="MLflow model directory (same as --model-dir)")
    p.add_argument("--model-dir", help="MLflow model directory holding an MLmodel file (default: $MODEL_LOCAL_PATH)")
    p.add_argument("--model-uri", default=env.get("MLFLOW_MODEL_URI", ""),
                   help="used when no model directory is given: a local path, file://, mlflow-artifacts:/, runs:/ or "
                        "models:/<name>/<version> URI, downloaded from $MLFLOW_TRACKING_URI (default: $MLFLOW_MODEL_URI)")
    p.add_argument("--download-dir", default=env.get("MODEL_DOWNLOAD_DIR", ""),
                   help="where a downloaded model is written (default: $MODEL_DOWNLOAD_DIR or a new temporary directory)")
    p.add_argument("--host", default=env.get("HOST", "0.0.0.0"), help="listen address (default: $HOST or 0.0.0.0)")
    p.add_argument("--port", type=int, default=None, help="listen port, 0 picks a free one (default: $PORT or 8000)")
    p.add_argument("--root-path", default=env.get("ROOT_PATH", ""),
                   help="path prefix also served, e.g. /my-serve (default: $ROOT_PATH)")
    p.add_argument("--feature-store-url", default=env.get("FEATURE_STORE_URL", ""),
                   help="feature store app base URL for feature-store mode (default: $FEATURE_STORE_URL)")
    p.add_argument("--ofs-admin-url", default=env.get("OFS_ADMIN_URL", ""),
                   help="feature store admin base URL for feature-store mode (default: $OFS_ADMIN_URL)")
    p.add_argument("--predict-timeout", type=float, default=None,
                   help="seconds before a prediction answers 504 (default: $PREDICT_TIMEOUT_SECONDS or 60)")
    p.add_argument("--feature-store-timeout", type=float, default=None,
                   help="seconds per feature-store call (default: $FEATURE_STORE_TIMEOUT_SECONDS or 10)")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    args = p.parse_args(argv)

    model_dir = args.model_dir or args.model_dir_arg or env.get("MODEL_LOCAL_PATH")
    if not model_dir and args.model_uri:
        model_dir = local_path(args.model_uri)
        if model_dir is None and not env.get("MLFLOW_TRACKING_URI"):
            p.error(f"model URI {args.model_uri!r} needs MLFLOW_TRACKING_URI to be downloaded")
    if not model_dir and not args.model_uri:
        p.error("no model: pass --model-dir DIR (or MODEL_DIR), or set MODEL_LOCAL_PATH or MLFLOW_MODEL_URI")
    args.model_dir = os.path.abspath(model_dir) if model_dir else None
    if args.port is None:
        try:
            args.port = int(env.get("PORT") or 8000)
        except ValueError:
            p.error(f"PORT must be an integer, got {env.get('PORT')!r}")
    if args.predict_timeout is None:
        args.predict_timeout = _env_float("PREDICT_TIMEOUT_SECONDS", 60.0)
    if args.feature_store_timeout is None:
        args.feature_store_timeout = _env_float("FEATURE_STORE_TIMEOUT_SECONDS", 10.0)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "fetch":  # download-only mode (a model directory named fetch: pass ./fetch)
        from .fetchcli import main as fetch_main

        return fetch_main(argv[1:])
    args = parse_args(argv)
    log = JSONLogger(sys.stderr, component="darwin-serve-runtime")
    fs = FeatureStoreClient(args.ofs_admin_url, args.feature_store_url, timeout=args.feature_store_timeout)
    runtime = Runtime(args.model_dir, log, root_path=args.root_path, fs_client=fs, predict_timeout=args.predict_timeout,
                      model_uri=args.model_uri, download_dir=args.download_dir or None)
    try:
        server = Server((args.host, args.port), runtime)
    except OSError as e:
        log.error("cannot listen", host=args.host, port=args.port, error=str(e))
        return 1

    def stop(signum, _frame):
        log.info("shutting down", signal=signal.Signals(signum).name)
        signal.signal(signum, signal.SIG_DFL)  # a second signal kills at once
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    log.info("listening", host=host, port=port, root_path=runtime.root_path, model_dir=args.model_dir,
             model_uri=None if args.model_dir else args.model_uri, feature_store=fs.configured)
    runtime.start_loading()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        runtime.close()
    log.info("stopped")
    return 0


def run():
    """Process entry point: main(), then exit at once, without waiting for a prediction still
    running in a worker thread after a timeout (it would otherwise hold the process on SIGTERM)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
