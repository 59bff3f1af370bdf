"""Turning request features into the model's input, checked against the signature.

Accepted shapes of ``features``:
  * ``{name: value, ...}``             one row (the original runtime's shape)
  * ``{name: [v1, v2, ...], ...}``     a batch, column-wise (all lists of one length)
  * ``[{name: value, ...}, ...]``      a batch of records
  * ``[[v, v, ...], ...]``             a batch of positional rows (signature column order)
  * ``[v, v, ...]``                    one positional row
"""

import base64
import math

import numpy as np
import pandas as pd

MAX_REPORTED_ERRORS = 50

_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_DTYPES = {"integer": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "bool"}
JSON_TYPES = {
    "integer": {"type": "integer"},
    "long": {"type": "integer"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "datetime": {"type": "string", "format": "date-time"},
}
SAMPLE_VALUES = {
    "integer": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "boolean": False,
    "string": "",
    "binary": "",
    "datetime": "1970-01-01T00:00:00",
}


class FeatureError(Exception):
    """The features do not fit the model input; ``errors`` lists each problem."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


def coerce(value, type_):
    """Returns ``value`` converted to the MLflow column type, or raises ValueError(reason)."""
    if type_ in ("double", "float"):
        if isinstance(value, bool):
            raise ValueError("expected a number, got a boolean")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        raise ValueError(f"expected a number, got {_json_kind(value)}")
    if type_ in ("long", "integer"):
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise ValueError(f"expected an integer, got {value!r}")
            value = int(value)
        elif isinstance(value, str):
            text = value.strip()
            try:
                value = int(text)
            except ValueError:
                try:
                    f = float(text)
                except ValueError:
                    raise ValueError(f"expected an integer, got {value!r}") from None
                if not math.isfinite(f) or not f.is_integer():
                    raise ValueError(f"expected an integer, got {value!r}") from None
                value = int(f)
        elif not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_json_kind(value)}")
        lo, hi = _INT_RANGES[type_]
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range for {type_}")
        return value
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise ValueError(f"expected a boolean, got {value!r}" if isinstance(value, (str, int, float)) else f"expected a boolean, got {_json_kind(value)}")
    if type_ == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expected a string, got {_json_kind(value)}")
    if type_ == "binary":
        if not isinstance(value, str):
            raise ValueError(f"expected a base64 string, got {_json_kind(value)}")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("expected a base64 string") from None
    if type_ == "datetime":
        if not isinstance(value, str):
            raise ValueError(f"expected a date-time string, got {_json_kind(value)}")
        try:
            return pd.Timestamp(value)
        except (ValueError, TypeError):
            raise ValueError(f"expected a date-time string, got {value!r}") from None
    return value  # types this runtime does not know are passed through


def _json_kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def _is_scalar(v):
    return not isinstance(v, (list, dict))


def normalize(features):
    """Returns ("records", [dict, ...]) or ("positional", [list, ...]) or raises FeatureError."""
    if isinstance(features, dict):
        if not features:
            raise FeatureError("'features' is empty")
        values = list(features.values())
        if all(_is_scalar(v) for v in values):
            return "records", [features]
        if all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) != 1 or 0 in lengths:
                raise FeatureError("batch features must be lists of one non-zero length")
            n = lengths.pop()
            names = list(features)
            return "records", [{k: features[k][i] for k in names} for i in range(n)]
        raise FeatureError(
            "feature values must be all scalars (one row) or all lists of the same length (a batch)",
            [{"loc": ["features", k], "feature": k, "type": "type_error", "message": "nested value"} for k, v in features.items() if not _is_scalar(v)][:MAX_REPORTED_ERRORS],
        )
    if isinstance(features, list):
        if not features:
            raise FeatureError("'features' is empty")
        if all(isinstance(r, dict) for r in features):
            return "records", features
        if all(isinstance(r, list) for r in features):
            return "positional", features
        if all(_is_scalar(v) for v in features):
            return "positional", [features]
        raise FeatureError("'features' as a list must hold only objects (records), only lists (rows) or only values (one row)")
    raise FeatureError("'features' must be an object (name -> value) or a list of rows")


def build_input(features, signature):
    """Builds the model input (a DataFrame, or an ndarray for tensor/positional inputs)."""
    kind, rows = normalize(features)
    if signature is not None and signature.tensor is not None:
        return _tensor_input(kind, rows, signature.tensor)
    if signature is not None and signature.columns is not None:
        return _column_input(kind, rows, signature.columns)
    return _untyped_input(kind, rows)


def _column_input(kind, rows, columns):
    names = [c.name for c in columns]
    errors = []
    batch = len(rows) > 1

    def loc(i, name):
        return ["features", i, name] if batch else ["features", name]

    def err(i, name, type_, message):
        e = {"loc": loc(i, name), "feature": name, "type": type_, "message": message}
        if batch:
            e["row"] = i
        errors.append(e)

    if kind == "positional":
        records = []
        for i, row in enumerate(rows):
            if len(row) != len(names):
                errors.append({
                    "loc": ["features", i] if batch else ["features"],
                    "type": "wrong_length",
                    "message": f"expected {len(names)} values in the order {names}, got {len(row)}",
                })
                records.append({})
            else:
                records.append(dict(zip(names, row)))
        if errors:
            raise FeatureError("Input does not match the model signature", errors[:MAX_REPORTED_ERRORS])
        rows = records

    known = set(names)
    data = {name: [] for name in names}
    for i, row in enumerate(rows):
        for key in row:
            if key not in known:
                err(i, key, "unknown", f"unknown feature {key!r}; the model expects {names}")
        for col in columns:
            value = row.get(col.name)
            if value is None:
                if col.required:
                    err(i, col.name, "missing", f"missing required feature {col.name!r} ({col.type})")
                data[col.name].append(None)
                continue
            try:
                data[col.name].append(coerce(value, col.type))
            except ValueError as e:
                err(i, col.name, "type_error", f"{col.name!r} must be {col.type}: {e}")
                data[col.name].append(None)
    if errors:
        raise FeatureError("Input does not match the model signature", errors[:MAX_REPORTED_ERRORS])

    series = {}
    for col in columns:
        values = data[col.name]
        dtype = _DTYPES.get(col.type)
        if any(v is None for v in values):
            # Optional column with gaps: numbers become float NaN, the rest objects.
            if col.type in ("integer", "long", "float", "double"):
                series[col.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
            else:
                series[col.name] = pd.Series(values, dtype="object")
        elif dtype:
            series[col.name] = pd.Series(values, dtype=dtype)
        elif col.type == "datetime":
            series[col.name] = pd.Series(pd.to_datetime(values))
        else:
            series[col.name] = pd.Series(values, dtype="object")
    return pd.DataFrame(series, columns=names)


def _tensor_input(kind, rows, spec):
    if kind == "records":
        raise FeatureError(
            "this model takes a tensor: send 'features' as a list of rows of values",
            [{"loc": ["features"], "type": "type_error", "message": f"expected rows of {spec.dtype} values"}],
        )
    try:
        arr = np.asarray(rows, dtype=spec.dtype)
    except (ValueError, TypeError) as e:
        raise FeatureError("Input does not match the model signature",
                           [{"loc": ["features"], "type": "type_error", "message": f"cannot convert to {spec.dtype}: {e}"}]) from None
    if spec.shape:
        want = list(spec.shape)
        if len(want) != arr.ndim or any(w not in (-1, g) for w, g in zip(want, arr.shape)):
            raise FeatureError("Input does not match the model signature",
                               [{"loc": ["features"], "type": "wrong_shape", "message": f"expected shape {want}, got {list(arr.shape)}"}])
    return arr


def _untyped_input(kind, rows):
    if kind == "positional":
        width = {len(r) for r in rows}
        if len(width) != 1:
            raise FeatureError("rows must all have the same number of values")
        return np.asarray(rows)
    names = list(rows[0])
    for i, row in enumerate(rows[1:], start=1):
        if set(row) != set(names):
            raise FeatureError("every row must have the same feature names",
                               [{"loc": ["features", i], "type": "wrong_keys", "message": f"expected {names}, got {list(row)}"}])
    return pd.DataFrame.from_records(rows, columns=names)


def to_jsonable(obj):
    """Converts model output (numpy/pandas/Python) into JSON-safe values; NaN/inf become null."""
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, (pd.Series, pd.Index)):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)
