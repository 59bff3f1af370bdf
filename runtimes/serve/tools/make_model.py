#!/usr/bin/python3
"""Train a small scikit-learn model and write it as an MLflow model directory.

    python3 runtimes/serve/tools/make_model.py --kind iris|housing --out DIR \
        [--estimator logistic|forest|linear] [--input '{"sepal_length": 5.1, ...}' ...]

The directory is laid out the way ``mlflow.sklearn.log_model`` writes it
(MLmodel with sklearn + python_function flavors and a signature, model.pkl,
input_example.json, conda.yaml, python_env.yaml, requirements.txt), without
needing mlflow. Prints one JSON object to stdout:

    {"kind", "estimator", "model_dir", "inputs": [{name, type, required}],
     "predictions": [{"features": {...}, "scores": [...]}]}

where ``scores`` is what POST /predict {"features": ...} must answer for each
input (default inputs: the seed README's curl bodies). No network access: iris
is bundled with scikit-learn and the housing data is synthetic (same columns as
California housing).
"""

import argparse
import json
import os
import pickle
import sys
import uuid
import datetime

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HOUSING_COLUMNS = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]

# The bodies of the original README's "Deploy a Model" curl examples.
SEED_INPUTS = {
    "iris": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}],
    "housing": [{
        "MedInc": 3.5214, "HouseAge": 15.0, "AveRooms": 6.575757575757576, "AveBedrms": 1.0196969696969697,
        "Population": 1447.0, "AveOccup": 3.0144927536231883, "Latitude": 37.63, "Longitude": -122.43,
    }],
}
DEFAULT_ESTIMATOR = {"iris": "logistic", "housing": "forest"}


def train_iris(estimator="logistic"):
    """Returns (fitted classifier, training DataFrame) on scikit-learn's bundled iris data."""
    import pandas as pd
    from sklearn.datasets import load_iris

    iris = load_iris()
    X = pd.DataFrame(iris.data, columns=IRIS_COLUMNS)
    y = iris.target
    if estimator == "logistic":
        from sklearn.linear_model import LogisticRegression
        model = LogisticRegression(max_iter=1000)
    elif estimator == "forest":
        from sklearn.ensemble import RandomForestClassifier
        model = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=42, n_jobs=1)
    else:
        raise ValueError(f"unknown iris estimator {estimator!r} (logistic or forest)")
    model.fit(X, y)
    return model, X


def housing_data(n=1500, seed=7):
    """Synthetic data with California housing's columns and plausible ranges."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "MedInc": rng.uniform(0.5, 15.0, n),
        "HouseAge": rng.integers(1, 53, n).astype(float),
        "AveRooms": rng.uniform(2.0, 10.0, n),
        "AveBedrms": rng.uniform(0.8, 2.0, n),
        "Population": rng.integers(50, 5000, n).astype(float),
        "AveOccup": rng.uniform(1.0, 6.0, n),
        "Latitude": rng.uniform(32.5, 42.0, n),
        "Longitude": rng.uniform(-124.3, -114.3, n),
    }, columns=HOUSING_COLUMNS)
    y = (0.42 * X["MedInc"] + 0.008 * X["HouseAge"] - 0.05 * X["AveRooms"] + 0.3 * X["AveBedrms"]
         - 0.00002 * X["Population"] - 0.1 * X["AveOccup"] - 0.25 * (X["Latitude"] - 35.0)
         - 0.2 * (X["Longitude"] + 119.0) + rng.normal(0.0, 0.2, n))
    return X, y.clip(0.15, 5.0).to_numpy()


def train_housing(estimator="forest"):
    X, y = housing_data()
    if estimator == "forest":
        from sklearn.ensemble import RandomForestRegressor
        model = RandomForestRegressor(n_estimators=25, max_depth=8, random_state=42, n_jobs=1)
    elif estimator == "linear":
        from sklearn.linear_model import LinearRegression
        model = LinearRegression()
    else:
        raise ValueError(f"unknown housing estimator {estimator!r} (forest or linear)")
    model.fit(X, y)
    return model, X


def train(kind, estimator=None):
    estimator = estimator or DEFAULT_ESTIMATOR[kind]
    if kind == "iris":
        return train_iris(estimator)
    if kind == "housing":
        return train_housing(estimator)
    raise ValueError(f"unknown kind {kind!r} (iris or housing)")


_MLFLOW_TYPES = {"float64": "double", "float32": "float", "int64": "long", "int32": "integer", "bool": "boolean", "object": "string"}


def column_types(frame):
    """[(name, mlflow type)] of a DataFrame, as mlflow's infer_signature would name them."""
    return [(str(c), _MLFLOW_TYPES.get(str(frame[c].dtype), "string")) for c in frame.columns]


def output_type(predictions):
    return _MLFLOW_TYPES.get(str(predictions.dtype), "double")


def write_model_dir(out, model, columns, out_type, input_example=None, signature=True,
                    serialization_format="cloudpickle", flavors=("sklearn", "python_function"),
                    pyfunc_loader="mlflow.sklearn", code_dir=None):
    """Writes ``model`` as an MLflow model directory at ``out``.

    columns: [(name, type)] input columns; out_type: output column type.
    flavors: which of "sklearn" / "python_function" to declare. pyfunc_loader
    and code_dir (a directory name under ``out``) describe a python_function
    loader module; the pickled model is model.pkl either way.
    """
    import sklearn
    import yaml

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.pkl"), "wb") as f:
        pickle.dump(model, f, protocol=pickle.DEFAULT_PROTOCOL)
    py_version = ".".join(map(str, sys.version_info[:3]))
    conf = {"artifact_path": "model", "flavors": {}}
    if "python_function" in flavors:
        pf = {
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": pyfunc_loader,
            "model_path": "model.pkl",
            "predict_fn": "predict",
            "python_version": py_version,
        }
        if code_dir:
            pf["code"] = code_dir
        conf["flavors"]["python_function"] = pf
    if "sklearn" in flavors:
        conf["flavors"]["sklearn"] = {
            "code": None,
            "pickled_model": "model.pkl",
            "serialization_format": serialization_format,
            "sklearn_version": sklearn.__version__,
        }
    conf["mlflow_version"] = "2.9.2"
    conf["model_size_bytes"] = os.path.getsize(os.path.join(out, "model.pkl"))
    conf["model_uuid"] = uuid.uuid4().hex
    conf["run_id"] = uuid.uuid4().hex
    if input_example is not None:
        with open(os.path.join(out, "input_example.json"), "w", encoding="utf-8") as f:
            json.dump({"columns": [c for c, _ in columns], "data": [[input_example[c] for c, _ in columns]]}, f)
        conf["saved_input_example_info"] = {"artifact_path": "input_example.json", "pandas_orient": "split", "type": "dataframe"}
    if signature:
        conf["signature"] = {
            "inputs": json.dumps([{"type": t, "name": n, "required": True} for n, t in columns]),
            "outputs": json.dumps([{"type": out_type, "required": True}]),
            "params": None,
        }
    conf["utc_time_created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    with open(os.path.join(out, "MLmodel"), "w", encoding="utf-8") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
    reqs = [f"scikit-learn=={sklearn.__version__}", "cloudpickle", "numpy", "pandas"]
    with open(os.path.join(out, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write("mlflow==2.9.2\n" + "\n".join(reqs) + "\n")
    with open(os.path.join(out, "python_env.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"python": py_version, "build_dependencies": ["pip"], "dependencies": ["-r requirements.txt"]}, f)
    with open(os.path.join(out, "conda.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"channels": ["conda-forge"], "dependencies": [f"python={py_version}", "pip",
                                                                      {"pip": ["mlflow==2.9.2"] + reqs}],
                        "name": "mlflow-env"}, f, sort_keys=False)
    return out


def predict_scores(model, columns, rows):
    """What the runtime must answer for each row: model.predict on a one-row DataFrame."""
    import pandas as pd

    names = [c for c, _ in columns]
    out = []
    for row in rows:
        frame = pd.DataFrame([[row[c] for c in names]], columns=names).astype({n: _pandas_dtype(t) for n, t in columns})
        out.append(model.predict(frame).tolist())
    return out


def _pandas_dtype(mlflow_type):
    return {"double": "float64", "float": "float32", "long": "int64", "integer": "int32", "boolean": "bool"}.get(mlflow_type, "object")


def make(kind, out, estimator=None, inputs=None, signature=True):
    model, X = train(kind, estimator)
    columns = column_types(X)
    out_type = output_type(model.predict(X.head(1)))
    inputs = inputs or SEED_INPUTS[kind]
    write_model_dir(out, model, columns, out_type, input_example=SEED_INPUTS[kind][0], signature=signature)
    scores = predict_scores(model, columns, inputs)
    return {
        "kind": kind,
        "estimator": estimator or DEFAULT_ESTIMATOR[kind],
        "model_dir": os.path.abspath(out),
        "inputs": [{"name": n, "type": t, "required": True} for n, t in columns],
        "predictions": [{"features": f, "scores": s} for f, s in zip(inputs, scores)],
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", required=True, choices=["iris", "housing"])
    p.add_argument("--out", required=True, help="directory to write the MLflow model into")
    p.add_argument("--estimator", choices=["logistic", "forest", "linear"],
                   help="iris: logistic (default) or forest; housing: forest (default) or linear")
    p.add_argument("--input", action="append", default=[], metavar="JSON",
                   help="a features object to compute expected scores for (repeatable; default: the README bodies)")
    p.add_argument("--no-signature", action="store_true", help="write the MLmodel without a signature")
    args = p.parse_args(argv)
    inputs = []
    for raw in args.input:
        try:
            obj = json.loads(raw)
        except ValueError as e:
            p.error(f"--input is not JSON: {e}")
        inputs.append(obj.get("features", obj) if isinstance(obj, dict) else obj)
    try:
        result = make(args.kind, args.out, args.estimator, inputs or None, signature=not args.no_signature)
    except (ValueError, KeyError) as e:
        p.error(str(e))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from darwin_serve.interpreter import ensure

    ensure(("sklearn", "numpy", "pandas", "yaml"), __file__, "make_model")
    sys.exit(main())
