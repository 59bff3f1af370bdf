"""In-process tests of the runtime's pieces: coercion, input shapes, signatures, loaders, Runtime.handle."""

import io
import json
import math
import os
import shutil
import tempfile
import unittest
import warnings

import numpy as np
import pandas as pd

import support
from darwin_serve import features as feat
from darwin_serve.app import Runtime
from darwin_serve.featurestore import FeatureStoreClient
from darwin_serve.fetch import local_path
from darwin_serve.logutil import JSONLogger
from darwin_serve.model import ModelLoadError, Signature, load_model, read_meta


def sig(*cols):
    return Signature.from_mlmodel({"inputs": json.dumps([{"name": n, "type": t, "required": r} for n, t, r in cols])})


class CoerceTest(unittest.TestCase):
    def test_ok(self):
        cases = [
            (1, "double", 1.0), ("2.5", "double", 2.5), (3, "float", 3.0),
            (4, "long", 4), (5.0, "long", 5), ("6", "long", 6), ("7.0", "integer", 7),
            (True, "boolean", True), (0, "boolean", False), ("true", "boolean", True), ("0", "boolean", False),
            ("a", "string", "a"), (12, "string", "12"),
            ("aGk=", "binary", b"hi"),
            ("2024-01-02T03:04:05", "datetime", pd.Timestamp("2024-01-02T03:04:05")),
            ({"x": 1}, "any", {"x": 1}),
        ]
        for value, type_, want in cases:
            got = feat.coerce(value, type_)
            self.assertEqual(got, want, (value, type_))
            self.assertIs(type(got), type(want), (value, type_))

    def test_rejected(self):
        cases = [
            ("abc", "double"), (True, "double"), (None, "double"), ([1], "double"), ({}, "float"),
            (1.5, "long"), ("1.5", "long"), (False, "integer"), (2**31, "integer"), (2**63, "long"), ("x", "long"),
            (float("nan"), "long"), (2, "boolean"), ("yes", "boolean"), ([True], "boolean"),
            (True, "string"), ([], "string"), ("not base64!", "binary"), (5, "datetime"), ("not a date", "datetime"),
        ]
        for value, type_ in cases:
            with self.assertRaises(ValueError, msg=(value, type_)):
                feat.coerce(value, type_)


class BuildInputTest(unittest.TestCase):
    S = None

    @classmethod
    def setUpClass(cls):
        cls.S = sig(("a", "long", True), ("b", "double", True), ("c", "string", False), ("d", "boolean", True))

    def test_one_row_typed_and_ordered(self):
        df = feat.build_input({"d": "true", "b": 2, "a": "3"}, self.S)
        self.assertEqual(list(df.columns), ["a", "b", "c", "d"])
        self.assertEqual([str(t) for t in df.dtypes], ["int64", "float64", "object", "bool"])
        self.assertEqual(df.iloc[0].tolist(), [3, 2.0, None, True])

    def test_batches(self):
        want = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]})
        for features in (
            {"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]},
            [{"a": 1, "b": 0.5, "c": "x", "d": True}, {"a": 2, "b": 1.5, "c": "y", "d": False}],
            [[1, 0.5, "x", True], [2, 1.5, "y", False]],
        ):
            df = feat.build_input(features, self.S)
            pd.testing.assert_frame_equal(df, want, check_dtype=False)
            self.assertEqual(str(df["a"].dtype), "int64")

    def test_single_positional_row(self):
        df = feat.build_input([1, 2.0, "s", False], self.S)
        self.assertEqual(df.iloc[0].tolist(), [1, 2.0, "s", False])

    def test_errors_are_collected(self):
        with self.assertRaises(feat.FeatureError) as cm:
            feat.build_input({"a": 1.5, "e": 1}, self.S)
        kinds = sorted((e["type"], e["feature"]) for e in cm.exception.errors)
        self.assertEqual(kinds, [("missing", "b"), ("missing", "d"), ("type_error", "a"), ("unknown", "e")])

    def test_batch_errors_name_rows(self):
        with self.assertRaises(feat.FeatureError) as cm:
            feat.build_input([{"a": 1, "b": 1, "d": True}, {"a": "x", "b": 1, "d": True}], self.S)
        (err,) = cm.exception.errors
        self.assertEqual((err["row"], err["loc"], err["type"]), (1, ["features", 1, "a"], "type_error"))

    def test_bad_shapes(self):
        for features in ({}, [], "x", 3, None, {"a": [1, 2], "b": [1]}, {"a": [], "b": []}, [1, [2]], [{"a": 1}, [1]]):
            with self.assertRaises(feat.FeatureError, msg=features):
                feat.build_input(features, self.S)

    def test_optional_int_gap_becomes_nan(self):
        s = sig(("a", "long", False), ("b", "double", True))
        df = feat.build_input({"a": [1, None], "b": [1, 2]}, s)
        self.assertEqual(str(df["a"].dtype), "float64")
        self.assertTrue(math.isnan(df["a"][1]))

    def test_no_signature_keeps_given_order(self):
        df = feat.build_input({"z": 1, "a": 2}, None)
        self.assertEqual(list(df.columns), ["z", "a"])
        arr = feat.build_input([[1, 2], [3, 4]], None)
        self.assertIsInstance(arr, np.ndarray)
        with self.assertRaises(feat.FeatureError):
            feat.build_input([{"a": 1}, {"b": 1}], None)
        with self.assertRaises(feat.FeatureError):
            feat.build_input([[1, 2], [3]], None)

    def test_tensor_signature(self):
        s = Signature.from_mlmodel({"inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}]'})
        arr = feat.build_input([[1, 2], [3, "4"]], s)
        self.assertEqual((arr.dtype, arr.shape), (np.dtype("float64"), (2, 2)))
        for bad in ({"a": 1}, [[1, 2, 3]], [["x", 1]]):
            with self.assertRaises(feat.FeatureError, msg=bad):
                feat.build_input(bad, s)

    def test_to_jsonable(self):
        out = feat.to_jsonable({"a": np.array([1.5, np.nan]), "b": np.int64(3), "c": pd.Series([True]),
                                "d": pd.DataFrame({"x": [1]}), "e": float("inf"), "f": b"hi"})
        self.assertEqual(out, {"a": [1.5, None], "b": 3, "c": [True], "d": [{"x": 1}], "e": None, "f": "aGk="})
        json.dumps(out, allow_nan=False)


class SignatureTest(unittest.TestCase):
    def test_parse(self):
        s = Signature.from_mlmodel({
            "inputs": '[{"type": "double", "name": "x"}, {"type": "string", "name": "y", "required": false}]',
            "outputs": '[{"type": "long", "required": true}]',
        })
        self.assertEqual([c.to_json() for c in s.columns],
                         [{"name": "x", "type": "double", "required": True}, {"name": "y", "type": "string", "required": False}])
        self.assertEqual([o.to_json() for o in s.outputs], [{"name": None, "type": "long", "required": True}])
        self.assertIsNone(Signature.from_mlmodel(None))
        self.assertIsNone(Signature.from_mlmodel({"inputs": None}))

    def test_invalid(self):
        for block in ({"inputs": "not json"}, {"inputs": '{"a": 1}'}, {"inputs": '[{"type": "double"}]'}):
            with self.assertRaises(ModelLoadError, msg=block):
                Signature.from_mlmodel(block)


def _runtime(model_dir, **kw):
    rt = Runtime(model_dir, JSONLogger(io.StringIO()), **kw)
    rt.load()
    return rt


def _call(rt, method, path, body=None):
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    status, payload, _ = rt.handle(method, path, raw)
    json.dumps(payload, allow_nan=False)  # always encodable
    return status, payload


class RuntimeInProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="darwin-serve-unit-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_no_signature_model(self):
        d = self.path("nosig")
        model, columns = support.write_model(d, "iris", "logistic", signature=False)
        rt = _runtime(d)
        self.assertEqual(_call(rt, "GET", "/schema")[0], 404)
        status, payload = _call(rt, "POST", "/predict", {"features": support.IRIS_SEED})
        self.assertEqual((status, payload), (200, {"scores": support.expected_scores(model, columns, [support.IRIS_SEED])}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn: "X does not have valid feature names"
            status, payload = _call(rt, "POST", "/predict", {"features": [[5.1, 3.5, 1.4, 0.2]]})
        self.assertEqual((status, payload), (200, {"scores": [0]}))
        # Without a signature nothing reorders the features: sklearn refuses the wrong order -> 500.
        shuffled = dict(reversed(list(support.IRIS_SEED.items())))
        status, payload = _call(rt, "POST", "/predict", {"features": shuffled})
        self.assertEqual(status, 500, payload)
        self.assertEqual(payload["detail"]["message"], "Prediction failed")
        self.assertIn("feature names", payload["detail"]["error"])

    def test_pyfunc_mlflow_sklearn_loader_without_mlflow(self):
        d = self.path("pyfunc-sklearn")
        model, columns = support.write_model(d, "housing", "linear", flavors=("python_function",))
        rt = _runtime(d)
        self.assertEqual(rt._model.flavor, "python_function")
        status, payload = _call(rt, "POST", "/predict", {"features": support.HOUSING_SEED})
        self.assertEqual((status, payload), (200, {"scores": support.expected_scores(model, columns, [support.HOUSING_SEED])}))

    def test_predict_timeout(self):
        d = self.path("slow")
        support.write_model(d, "iris", "logistic", flavors=("python_function",), pyfunc_loader="slow_loader_unit",
                            code_dir="code")
        support.write_loader_module(d, "slow_loader_unit", (
            "import threading\n"
            "class M:\n"
            "    release = threading.Event()\n"
            "    def predict(self, x):\n"
            "        self.release.wait(5)\n"
            "        return [1]\n"
            "def _load_pyfunc(path):\n"
            "    return M()\n"))
        rt = _runtime(d, predict_timeout=0.1)
        try:
            status, payload = _call(rt, "POST", "/predict", {"features": support.IRIS_SEED})
            self.assertEqual(status, 504, payload)
            self.assertEqual(payload["detail"]["message"], "Prediction timed out")
        finally:
            rt._model.impl.release.set()
            rt.close()

    def test_load_failures(self):
        empty = self.path("empty")
        os.makedirs(empty)
        rt = _runtime(empty)
        status, payload = _call(rt, "GET", "/ready")
        self.assertEqual(status, 503)
        self.assertEqual(payload["detail"]["message"], "Model failed to load")
        self.assertIn("no MLmodel file", payload["detail"]["error"])
        self.assertEqual(_call(rt, "POST", "/predict", {"features": {"a": 1}})[0], 503)
        self.assertEqual(_call(rt, "GET", "/healthcheck")[0], 200)

        d = self.path("skops")
        support.write_model(d, "iris", "logistic", serialization_format="skops")
        with self.assertRaisesRegex(ModelLoadError, "unsupported serialization_format"):
            load_model(read_meta(d))

        d = self.path("missing-loader")
        support.write_model(d, "iris", "logistic", flavors=("python_function",), pyfunc_loader="no_such_loader_mod")
        with self.assertRaisesRegex(ModelLoadError, "not importable"):
            load_model(read_meta(d))

        d = self.path("corrupt")
        support.write_model(d, "iris", "logistic")
        with open(os.path.join(d, "model.pkl"), "wb") as f:
            f.write(b"not a pickle")
        with self.assertRaisesRegex(ModelLoadError, "cannot unpickle"):
            load_model(read_meta(d))

    def test_root_path_and_slashes(self):
        d = self.path("root")
        support.write_model(d, "iris", "logistic")
        rt = _runtime(d, root_path="/my-serve/")
        for path in ("/my-serve/ready", "/ready", "/my-serve/ready/", "/ready?x=1"):
            self.assertEqual(_call(rt, "GET", path)[0], 200, path)
        self.assertEqual(_call(rt, "GET", "/my-servex/ready")[0], 404)
        self.assertEqual(_call(rt, "HEAD", "/health")[0], 200)

    def test_feature_store_errors(self):
        d = self.path("fs")
        support.write_model(d, "iris", "logistic")
        unreachable = FeatureStoreClient("http://127.0.0.1:9/admin", "http://127.0.0.1:9/app", timeout=2)
        rt = _runtime(d, fs_client=unreachable)
        status, payload = _call(rt, "POST", "/predict", {"feature_group": "g", "ofs_keys": {"id": 1}})
        self.assertEqual(status, 502, payload)
        self.assertIn("unreachable", payload["detail"]["message"])

        fake = support.FakeFeatureStore({"g": {"primary_keys": ["id"], "columns": ["sepal_length"], "rows": {(1,): {"sepal_length": 1.0}}}})
        try:
            rt = _runtime(d, fs_client=FeatureStoreClient(fake.admin_url, fake.store_url))
            # The group lacks three of the model's columns: a schema error, like direct mode.
            status, payload = _call(rt, "POST", "/predict", {"feature_group": "g", "ofs_keys": {"id": 1}})
            self.assertEqual(status, 422, payload)
            self.assertEqual(sorted(e["feature"] for e in payload["detail"]["errors"]),
                             ["petal_length", "petal_width", "sepal_width"])
        finally:
            fake.close()


class FetchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="darwin-serve-fetch-")
        cls.store = os.path.join(cls.tmp, "store")
        cls.model, cls.columns = support.write_model(os.path.join(cls.store, "2", "run9", "artifacts", "m"), "iris", "logistic")
        cls.mlflow = support.FakeMLflow(cls.store, runs={"run9": "mlflow-artifacts:/2/run9/artifacts"})

    @classmethod
    def tearDownClass(cls):
        cls.mlflow.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def env(self, password="secret"):
        return {"MLFLOW_TRACKING_URI": self.mlflow.tracking_uri, "MLFLOW_TRACKING_USERNAME": "user",
                "MLFLOW_TRACKING_PASSWORD": password}

    def test_local_path(self):
        self.assertEqual(local_path("file:///a/b%20c"), "/a/b c")
        self.assertEqual(local_path("/a/b"), "/a/b")
        self.assertEqual(local_path("rel/dir"), "rel/dir")
        for uri in ("mlflow-artifacts:/1/x", "runs:/abc/model", "models:/m/1", "s3://b/k", "http://h/x"):
            self.assertIsNone(local_path(uri), uri)

    def test_download_uris(self):
        for i, uri in enumerate(("mlflow-artifacts:/2/run9/artifacts/m", "mlflow-artifacts://host:5000/2/run9/artifacts/m",
                                 "runs:/run9/m")):
            dest = os.path.join(self.tmp, f"dl{i}")
            rt = Runtime(None, JSONLogger(io.StringIO()), model_uri=uri, download_dir=dest, env=self.env())
            self.assertTrue(rt.load(), uri)
            self.assertEqual(rt.model_dir, dest)
            status, payload = _call(rt, "POST", "/predict", {"features": support.IRIS_SEED})
            self.assertEqual((status, payload),
                             (200, {"scores": support.expected_scores(self.model, self.columns, [support.IRIS_SEED])}), uri)

    def test_download_failures(self):
        cases = [
            ("mlflow-artifacts:/2/run9/artifacts/m", self.env("wrong"), "HTTP 401"),
            ("mlflow-artifacts:/2/run9/artifacts/nothing", self.env(), "no artifacts"),
            ("runs:/unknown/m", self.env(), "HTTP 404"),
            ("models:/m/latest", self.env(), "registered-models/get-latest-versions answered HTTP 404"),
            ("s3://bucket/model", self.env(), "unsupported model URI"),
            ("runs:/run9/m", {"MLFLOW_TRACKING_URI": "databricks"}, "must be an http(s) URL"),
        ]
        for i, (uri, env, want) in enumerate(cases):
            rt = Runtime(None, JSONLogger(io.StringIO()), model_uri=uri, download_dir=os.path.join(self.tmp, f"f{i}"), env=env)
            self.assertFalse(rt.load(), uri)
            status, payload = _call(rt, "GET", "/ready")
            self.assertEqual(status, 503)
            self.assertIn(want, payload["detail"]["error"], uri)


if __name__ == "__main__":
    unittest.main()
