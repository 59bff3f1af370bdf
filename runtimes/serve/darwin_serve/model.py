"""Reading MLflow model directories (the MLmodel file) without the mlflow package.

Supported flavors:
  * ``sklearn``: ``pickled_model`` with ``serialization_format`` pickle or
    cloudpickle (cloudpickle is used only when importable; files written by
    cloudpickle for importable classes load with the standard pickle module).
  * ``python_function`` whose ``loader_module`` is importable: the flavor's
    ``code`` directory is put on sys.path and ``loader_module._load_pyfunc(data_path)``
    is called. ``loader_module: mlflow.sklearn`` (what mlflow.sklearn.log_model
    writes) is handled without mlflow by unpickling the data file.
"""

import importlib
import json
import os
import pickle
import sys

import yaml


class ModelLoadError(Exception):
    """The model directory cannot be read or loaded."""


# MLflow column types and what they become in a pandas DataFrame.
COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")


class ColumnSpec:
    """One named input or output column of an MLflow signature."""

    def __init__(self, name, type_, required=True):
        self.name = name
        self.type = type_
        self.required = required

    @classmethod
    def from_json(cls, obj):
        type_ = obj.get("type")
        if not isinstance(type_, str):
            # Newer MLflow array/object specs carry a nested type; serve them as "any".
            type_ = "any"
        return cls(obj.get("name"), type_, bool(obj.get("required", True)))

    def to_json(self):
        return {"name": self.name, "type": self.type, "required": self.required}


class TensorSpec:
    """A tensor-based signature entry: {"type": "tensor", "tensor-spec": {dtype, shape}}."""

    def __init__(self, name, dtype, shape):
        self.name = name
        self.dtype = dtype
        self.shape = shape

    @classmethod
    def from_json(cls, obj):
        spec = obj.get("tensor-spec") or {}
        shape = spec.get("shape")
        return cls(obj.get("name"), str(spec.get("dtype", "float64")), list(shape) if shape else None)

    def to_json(self):
        return {"name": self.name, "type": "tensor", "dtype": self.dtype, "shape": self.shape, "required": True}


class Signature:
    """Inputs and outputs from the MLmodel ``signature`` block.

    ``columns`` is a list of ColumnSpec for column-based inputs (the common
    case for scikit-learn models) and ``tensor`` a TensorSpec for a single
    tensor input; exactly one of them is set.
    """

    def __init__(self, columns=None, tensor=None, outputs=None):
        self.columns = columns
        self.tensor = tensor
        self.outputs = outputs or []

    @property
    def column_names(self):
        return [c.name for c in self.columns] if self.columns is not None else []

    @classmethod
    def from_mlmodel(cls, block):
        """Parses the ``signature`` mapping of an MLmodel file (None when absent)."""
        if not block or not isinstance(block, dict):
            return None
        inputs = _json_list(block.get("inputs"), "signature.inputs")
        if inputs is None:
            return None
        outputs = _json_list(block.get("outputs"), "signature.outputs") or []
        if any(isinstance(i, dict) and i.get("type") == "tensor" for i in inputs):
            if len(inputs) != 1:
                raise ModelLoadError("signatures with several tensor inputs are not supported")
            sig = cls(tensor=TensorSpec.from_json(inputs[0]))
        else:
            columns = [ColumnSpec.from_json(i) for i in inputs if isinstance(i, dict)]
            if not columns or any(not c.name for c in columns):
                raise ModelLoadError("signature.inputs must be named columns")
            sig = cls(columns=columns)
        for o in outputs:
            if not isinstance(o, dict):
                continue
            if o.get("type") == "tensor":
                sig.outputs.append(TensorSpec.from_json(o))
            else:
                sig.outputs.append(ColumnSpec.from_json(o))
        return sig


def _json_list(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ModelLoadError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise ModelLoadError(f"{what} must be a list")
    return value


class ModelMeta:
    """What the runtime knows from the MLmodel file before loading the model itself."""

    def __init__(self, model_dir, conf, signature, input_example):
        self.model_dir = model_dir
        self.conf = conf
        self.signature = signature
        self.input_example = input_example  # dict (one row) or list (one positional row) or None

    @property
    def flavors(self):
        return self.conf.get("flavors") or {}


def read_meta(model_dir):
    """Reads <model_dir>/MLmodel, its signature and its saved input example."""
    path = os.path.join(model_dir, "MLmodel")
    if not os.path.isfile(path):
        raise ModelLoadError(f"no MLmodel file in {model_dir}")
    try:
        with open(path, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ModelLoadError(f"cannot read {path}: {e}") from None
    if not isinstance(conf, dict):
        raise ModelLoadError(f"{path} is not a YAML mapping")
    signature = Signature.from_mlmodel(conf.get("signature"))
    return ModelMeta(model_dir, conf, signature, _read_input_example(model_dir, conf))


def _read_input_example(model_dir, conf):
    info = conf.get("saved_input_example_info")
    if not isinstance(info, dict) or not info.get("artifact_path"):
        return None
    try:
        with open(os.path.join(model_dir, info["artifact_path"]), encoding="utf-8") as f:
            example = json.load(f)
    except (OSError, ValueError):
        return None  # an unreadable example only costs the /schema sample
    if info.get("type", "dataframe") != "dataframe":
        return None
    orient = info.get("pandas_orient", "split")
    if orient == "split" and isinstance(example, dict):
        columns, data = example.get("columns"), example.get("data")
        if isinstance(data, list) and data and isinstance(data[0], list):
            if columns:
                return dict(zip(columns, data[0]))
            return list(data[0])
    if orient == "records" and isinstance(example, list) and example and isinstance(example[0], dict):
        return example[0]
    return None


class LoadedModel:
    """A loaded model: ``predict(model_input)`` plus where it came from."""

    def __init__(self, predict, flavor, impl):
        self.predict = predict
        self.flavor = flavor
        self.impl = impl


def load_model(meta):
    """Loads the model described by ``meta`` (sklearn flavor first, then python_function)."""
    model_dir = meta.model_dir
    flavors = meta.flavors
    sk = flavors.get("sklearn")
    pf = flavors.get("python_function")
    predict_fn = (pf or {}).get("predict_fn") or "predict"

    if isinstance(sk, dict) and sk.get("pickled_model"):
        _add_code_path(model_dir, sk.get("code"))
        impl = _unpickle(os.path.join(model_dir, sk["pickled_model"]), sk.get("serialization_format", "cloudpickle"))
        return LoadedModel(_method(impl, predict_fn), "sklearn", impl)

    if isinstance(pf, dict):
        loader = pf.get("loader_module")
        if not loader:
            if pf.get("python_model") or pf.get("cloudpickle_version"):
                raise ModelLoadError("custom mlflow.pyfunc.PythonModel models need the mlflow package and are not supported")
            raise ModelLoadError("python_function flavor has no loader_module")
        _add_code_path(model_dir, pf.get("code"))
        data = pf.get("data") or pf.get("model_path")
        data_path = os.path.join(model_dir, data) if data else model_dir
        try:
            module = importlib.import_module(loader)
        except ImportError as e:
            if loader == "mlflow.sklearn":
                impl = _unpickle(data_path, "cloudpickle")
                return LoadedModel(_method(impl, predict_fn), "python_function", impl)
            raise ModelLoadError(f"loader_module {loader!r} is not importable: {e}") from None
        load = getattr(module, "_load_pyfunc", None)
        if load is None:
            raise ModelLoadError(f"loader_module {loader!r} has no _load_pyfunc")
        impl = load(data_path)
        return LoadedModel(_method(impl, "predict"), "python_function", impl)

    raise ModelLoadError("MLmodel has neither an sklearn nor a python_function flavor")


def _method(impl, name):
    fn = getattr(impl, name, None)
    if not callable(fn):
        raise ModelLoadError(f"loaded model ({type(impl).__name__}) has no {name}() method")
    return fn


def _add_code_path(model_dir, code):
    if not code:
        return
    path = os.path.join(model_dir, code)
    if os.path.isdir(path) and path not in sys.path:
        sys.path.insert(0, path)


def _unpickle(path, serialization_format):
    if serialization_format not in ("pickle", "cloudpickle"):
        raise ModelLoadError(f"unsupported serialization_format {serialization_format!r} (want pickle or cloudpickle)")
    loader = pickle
    if serialization_format == "cloudpickle":
        try:
            import cloudpickle  # noqa: optional
            loader = cloudpickle
        except ImportError:
            pass
    if not os.path.isfile(path):
        raise ModelLoadError(f"model file {path} does not exist")
    try:
        with open(path, "rb") as f:
            return loader.load(f)
    except Exception as e:  # unpickling runs arbitrary constructors; report, don't crash
        raise ModelLoadError(f"cannot unpickle {path}: {type(e).__name__}: {e}") from None
