"""``darwin_serve_runtime.py fetch``: download a model directory and exit (no serving).

Used by cluster-manager's local driver to fill its model cache once per deployment instead of letting every
replica download the model. The download is the serving path's (``fetch.download_model``: MLflow's REST API and
the artifact proxy); it is written into a temporary sibling of ``--dest`` and renamed into place, so ``--dest``
either does not exist or holds a complete model directory. An existing ``--dest`` is replaced (the old directory
is moved aside, the new one renamed in, the old one removed).

Prints one JSON line on stdout and exits 0 on success, 1 on failure (the line then has ``status: "error"`` and
the message; the message also goes to stderr as a JSON log line), 2 on bad arguments.
"""

import argparse
import json
import os
import shutil
import sys
import time
import uuid

from .fetch import download_model, local_path
from .logutil import JSONLogger
from .model import ModelLoadError


def parse_args(argv):
    env = os.environ
    p = argparse.ArgumentParser(
        prog="darwin_serve_runtime.py fetch",
        description="Download an MLflow model directory into DEST and exit, without serving it. The download goes "
                    "to a temporary sibling of DEST that is renamed into place, so DEST is complete or absent; an "
                    "existing DEST is replaced. Prints one JSON line: {\"status\":\"ok\",\"model_uri\",\"dest\","
                    "\"files\",\"bytes\",\"duration_ms\"} (exit 0) or {\"status\":\"error\",\"model_uri\",\"dest\","
                    "\"error\"} (exit 1).",
        epilog="Environment: MLFLOW_MODEL_URI (default of --model-uri), MLFLOW_TRACKING_URI (default of "
               "--tracking-uri), MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN.",
    )
    p.add_argument("--model-uri", default=env.get("MLFLOW_MODEL_URI", ""),
                   help="mlflow-artifacts:/<path>, runs:/<run_id>/<path> or models:/<name>/<version> "
                        "(default: $MLFLOW_MODEL_URI)")
    p.add_argument("--dest", required=True, help="directory to create (or replace) with the model")
    p.add_argument("--tracking-uri", default=env.get("MLFLOW_TRACKING_URI", ""),
                   help="MLflow tracking server base URL (default: $MLFLOW_TRACKING_URI)")
    args = p.parse_args(argv)
    if not args.model_uri:
        p.error("no model URI: pass --model-uri or set MLFLOW_MODEL_URI")
    if local_path(args.model_uri) is not None:
        p.error(f"model URI {args.model_uri!r} is a local path: there is nothing to download")
    args.dest = os.path.abspath(args.dest)
    return args


def _tree_size(root):
    files = size = 0
    for d, _, names in os.walk(root):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(d, n))
    return files, size


def fetch(uri, dest, env):
    """Downloads ``uri`` into ``dest`` atomically; returns (files, bytes). Raises ModelLoadError."""
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise ModelLoadError(f"create {parent}: {e}") from None
    base = os.path.basename(dest)
    tmp = os.path.join(parent, f".{base}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        try:
            download_model(uri, tmp, env)
        except OSError as e:
            raise ModelLoadError(f"write model files: {e}") from None
        if not os.path.isfile(os.path.join(tmp, "MLmodel")):
            raise ModelLoadError(f"{uri} is not an MLflow model directory: it has no MLmodel file")
        files, size = _tree_size(tmp)
        old = None
        if os.path.lexists(dest):
            old = os.path.join(parent, f".{base}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.rename(dest, old)
        try:
            os.rename(tmp, dest)
        except OSError as e:
            if old:
                os.rename(old, dest)
            raise ModelLoadError(f"rename into {dest}: {e}") from None
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return files, size
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    args = parse_args(argv)
    log = JSONLogger(sys.stderr, component="darwin-serve-runtime")
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = args.tracking_uri
    started = time.monotonic()
    log.info("fetching model", model_uri=args.model_uri, dest=args.dest)
    try:
        files, size = fetch(args.model_uri, args.dest, env)
    except (ModelLoadError, OSError) as e:
        msg = str(e) if isinstance(e, ModelLoadError) else f"{type(e).__name__}: {e}"
        log.error("model fetch failed", model_uri=args.model_uri, error=msg)
        print(json.dumps({"status": "error", "model_uri": args.model_uri, "dest": args.dest, "error": msg}), flush=True)
        return 1
    ms = round((time.monotonic() - started) * 1000, 2)
    log.info("model fetched", model_uri=args.model_uri, dest=args.dest, files=files, bytes=size, duration_ms=ms)
    print(json.dumps({"status": "ok", "model_uri": args.model_uri, "dest": args.dest, "files": files, "bytes": size,
                      "duration_ms": ms}), flush=True)
    return 0
