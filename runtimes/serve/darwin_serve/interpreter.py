"""Finding an interpreter with the runtime's packages (stdlib only; import before numpy/pandas)."""

import importlib
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"


def ensure(modules, script, prog):
    """Returns if ``modules`` import; otherwise re-executes ``script`` with Debian's /usr/bin/python3
    (where scripts/python-deps.sh installs them) or exits 2 naming the fix.
    DARWIN_SERVE_NO_REEXEC=1 disables the re-exec."""
    try:
        for m in modules:
            importlib.import_module(m)
        return
    except ImportError as e:
        missing = e
    if (os.environ.get("DARWIN_SERVE_NO_REEXEC") != "1" and os.path.exists(DEBIAN_PYTHON)
            and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(script)] + sys.argv[1:])
    sys.stderr.write(f"{prog}: {missing}; run scripts/python-deps.sh and use {DEBIAN_PYTHON}\n")
    sys.exit(2)
