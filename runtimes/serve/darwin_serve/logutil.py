"""Structured JSON log lines (one object per line) written to a stream."""

import datetime
import json
import sys
import threading


class JSONLogger:
    """Writes {"time", "level", "msg", ...attributes} lines; safe across threads."""

    def __init__(self, stream=None, **base):
        self._stream = stream if stream is not None else sys.stderr
        self._base = base
        self._lock = threading.Lock()

    def log(self, level, msg, **attrs):
        record = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": level,
            "msg": msg,
        }
        record.update(self._base)
        record.update(attrs)
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed log stream must never break request handling

    def info(self, msg, **attrs):
        self.log("info", msg, **attrs)

    def warning(self, msg, **attrs):
        self.log("warning", msg, **attrs)

    def error(self, msg, **attrs):
        self.log("error", msg, **attrs)
