#!/usr/bin/python3
"""Darwin model runtime entry point.

    python3 runtimes/serve/darwin_serve_runtime.py --model-dir DIR --port 8000

Needs numpy, pandas and PyYAML (and scikit-learn to unpickle sklearn models):
Debian's /usr/bin/python3 with scripts/python-deps.sh. When started by another
python3 (pyenv, venv) that lacks them, it re-executes itself with
/usr/bin/python3 (set DARWIN_SERVE_NO_REEXEC=1 to disable).
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from darwin_serve.interpreter import ensure

    ensure(("numpy", "pandas", "yaml"), __file__, "darwin-serve-runtime")
    from darwin_serve.server import run

    run()
