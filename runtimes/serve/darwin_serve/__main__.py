"""``python3 -m darwin_serve`` (run from runtimes/serve) — same as darwin_serve_runtime.py."""

from .server import run

run()
