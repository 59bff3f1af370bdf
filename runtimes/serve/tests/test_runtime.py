"""End-to-end tests: real scikit-learn models in MLflow directories served by the runtime subprocess."""

import os
import shutil
import tempfile
import unittest

import support
from support import HOUSING_SEED, IRIS_SEED, FakeFeatureStore, RuntimeProcess

IRIS_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_INPUTS = [{"name": n, "type": "double", "required": True} for n in IRIS_NAMES]


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="darwin-serve-test-")


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


class NoTraceback:
    def assertClean(self, text):
        self.assertNotIn("Traceback", text)
        self.assertNotIn('File "', text)


class IrisSklearnTest(unittest.TestCase, NoTraceback):
    """Iris LogisticRegression, sklearn flavor (serialization_format cloudpickle), behind ROOT_PATH."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "iris")
        cls.model, cls.columns = support.write_model(cls.dir, "iris", "logistic")
        cls.rt = RuntimeProcess(["--model-dir", cls.dir, "--port", "0"], env={"ROOT_PATH": "/iris-classifier"})
        cls.rt.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.rt.stop()

    def predict(self, body, prefix="/iris-classifier"):
        return self.rt.post(prefix + "/predict", body)

    def expected(self, *rows):
        return support.expected_scores(self.model, self.columns, rows)

    def test_health_and_ready(self):
        for path in ("/healthcheck", "/health", "/iris-classifier/healthcheck", "/iris-classifier/health"):
            status, payload, _ = self.rt.get(path)
            self.assertEqual((status, payload), (200, {"status": "SUCCESS", "message": "OK"}), path)
        self.assertEqual(self.rt.get("/iris-classifier/ready")[:2], (200, {"status": "ready", "model_loaded": True}))

    def test_seed_readme_body(self):
        status, payload, _ = self.predict({"features": IRIS_SEED})
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload, {"scores": self.expected(IRIS_SEED)})
        self.assertEqual(payload["scores"], [0])  # setosa
        # without the ROOT_PATH prefix too (a proxy that strips it)
        self.assertEqual(self.predict({"features": IRIS_SEED}, prefix="")[:2], (200, payload))

    def test_quick_start_positional_rows(self):
        # README quick start: {"features": [[5.1, 3.5, 1.4, 0.2]]} — values in signature order
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
        status, payload, _ = self.predict({"features": rows[:1]})
        self.assertEqual((status, payload), (200, {"scores": self.expected(IRIS_SEED)}))
        status, payload, _ = self.predict({"features": rows})
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["scores"], self.expected(*[dict(zip(IRIS_NAMES, r)) for r in rows]))

    def test_batch_columns_and_records(self):
        _, X, _ = support.trained("iris", "logistic")
        rows = X.iloc[[0, 60, 120, 149]].to_dict(orient="records")
        want = self.expected(*rows)
        columnar = {n: [r[n] for r in rows] for n in IRIS_NAMES}
        self.assertEqual(self.predict({"features": columnar})[:2], (200, {"scores": want}))
        self.assertEqual(self.predict({"features": rows})[:2], (200, {"scores": want}))

    def test_features_are_coerced_and_ordered(self):
        shuffled = {"petal_width": "0.2", "sepal_width": 3.5, "petal_length": 1.4, "sepal_length": "5.1"}
        status, payload, _ = self.predict({"features": shuffled})
        self.assertEqual((status, payload), (200, {"scores": self.expected(IRIS_SEED)}))
        ints = {"sepal_length": 6, "sepal_width": 3, "petal_length": 5, "petal_width": 2}
        self.assertEqual(self.predict({"features": ints})[:2], (200, {"scores": self.expected(ints)}))

    def assertSchemaError(self, body, kind, feature):
        status, payload, text = self.predict(body)
        self.assertEqual(status, 422, payload)
        self.assertClean(text)
        detail = payload["detail"]
        self.assertEqual(detail["message"], "Input does not match the model signature")
        self.assertEqual(detail["expected_schema"], IRIS_INPUTS)
        self.assertIn("sepal_length", detail["hint"])
        self.assertTrue(any(e["type"] == kind and e.get("feature") == feature for e in detail["errors"]), detail["errors"])
        return detail

    def test_missing_feature(self):
        body = {"features": {k: v for k, v in IRIS_SEED.items() if k != "petal_width"}}
        detail = self.assertSchemaError(body, "missing", "petal_width")
        self.assertEqual(len(detail["errors"]), 1)
        self.assertEqual(detail["errors"][0]["loc"], ["features", "petal_width"])

    def test_null_feature_is_missing(self):
        self.assertSchemaError({"features": dict(IRIS_SEED, sepal_width=None)}, "missing", "sepal_width")

    def test_unknown_feature(self):
        self.assertSchemaError({"features": dict(IRIS_SEED, species="setosa")}, "unknown", "species")

    def test_bad_typed_features(self):
        self.assertSchemaError({"features": dict(IRIS_SEED, sepal_length="five")}, "type_error", "sepal_length")
        self.assertSchemaError({"features": dict(IRIS_SEED, petal_length=True)}, "type_error", "petal_length")
        self.assertSchemaError({"features": [dict(IRIS_SEED), dict(IRIS_SEED, petal_width=[1])]}, "type_error", "petal_width")

    def test_positional_row_of_wrong_length(self):
        status, payload, _ = self.predict({"features": [[5.1, 3.5, 1.4]]})
        self.assertEqual(status, 422, payload)
        self.assertEqual(payload["detail"]["errors"][0]["type"], "wrong_length")
        self.assertEqual(payload["detail"]["expected_schema"], IRIS_INPUTS)

    def test_bad_bodies(self):
        cases = [
            (b"{not json", 400, "Request body is not valid JSON"),
            (b'{"features": {"sepal_length": NaN}}', 400, "Request body is not valid JSON"),
            (b"\xff\xfe", 400, "Request body is not valid JSON"),
            (b"[1, 2, 3]", 422, "Request body must be a JSON object"),
            (b'"features"', 422, "Request body must be a JSON object"),
            (b"", 422, "Request body is empty"),
            (b"{}", 422, "Request body must contain 'features' (or 'feature_group' and 'ofs_keys')"),
            (b'{"features": {}}', 422, "'features' is empty"),
            (b'{"features": "abc"}', 422, "'features' must be an object (name -> value) or a list of rows"),
            (b'{"features": {"sepal_length": [1, 2], "sepal_width": 3}}', 422,
             "feature values must be all scalars (one row) or all lists of the same length (a batch)"),
            (b'{"features": {"sepal_length": 1}, "feature_group": "g", "ofs_keys": {"id": 1}}', 422,
             "Send either 'features' or 'feature_group' with 'ofs_keys', not both"),
        ]
        for raw, want_status, want_message in cases:
            status, payload, text = self.rt.post("/predict", raw=raw)
            self.assertEqual(status, want_status, (raw, payload))
            self.assertEqual(payload["detail"]["message"], want_message, raw)
            self.assertClean(text)

    def test_schema(self):
        status, payload, _ = self.rt.get("/iris-classifier/schema")
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["inputs"], IRIS_INPUTS)
        self.assertEqual(payload["outputs"], [{"name": None, "type": "long", "required": True}])
        self.assertEqual(payload["sample_request"], {"features": IRIS_SEED})  # from input_example.json
        js = payload["json_schema"]
        self.assertEqual(js["required"], ["features"])
        fs = js["properties"]["features"]
        self.assertEqual(fs["required"], IRIS_NAMES)
        self.assertEqual(fs["properties"]["sepal_length"], {"type": "number"})
        self.assertFalse(fs["additionalProperties"])
        # the sample request is itself a valid request
        self.assertEqual(self.predict(payload["sample_request"])[0], 200)

    def test_unknown_path_and_method(self):
        self.assertEqual(self.rt.get("/nope")[:2], (404, {"detail": "Not Found"}))
        status, payload, _ = self.rt.get("/predict")
        self.assertEqual((status, payload), (405, {"detail": "Method Not Allowed"}))
        self.assertEqual(self.rt.post("/ready", {})[0], 405)

    def test_feature_store_mode_unconfigured(self):
        status, payload, _ = self.predict({"feature_group": "iris_features", "ofs_keys": {"flower_id": 1}})
        self.assertEqual(status, 503, payload)
        self.assertIn("FEATURE_STORE_URL", payload["detail"]["message"])

    def test_request_log_lines(self):
        self.predict({"features": IRIS_SEED})
        self.rt.get("/nope")
        recs = [r for r in self.rt.log_records() if r.get("msg") == "request"]
        for r in recs:
            for key in ("method", "path", "status", "duration_ms", "time", "level"):
                self.assertIn(key, r)
        self.assertTrue(any(r["method"] == "POST" and r["path"] == "/iris-classifier/predict" and r["status"] == 200
                            for r in recs))
        self.assertTrue(any(r["path"] == "/nope" and r["status"] == 404 for r in recs))
        self.assertFalse([r for r in self.rt.log_records() if "_raw" in r], "non-JSON lines on stderr")
        loaded = [r for r in self.rt.log_records() if r.get("msg") == "model loaded"]
        self.assertEqual(loaded[0]["flavor"], "sklearn")


class HousingRegressorTest(unittest.TestCase, NoTraceback):
    """California-housing-like RandomForestRegressor; model from MODEL_LOCAL_PATH, port from PORT."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "housing")
        cls.model, cls.columns = support.write_model(cls.dir, "housing", "forest")
        cls.rt = RuntimeProcess([], env={"MODEL_LOCAL_PATH": cls.dir, "PORT": "0"})
        cls.rt.wait_ready()

    @classmethod
    def tearDownClass(cls):
        rc = cls.rt.stop(keep_log=True)
        msgs = [r.get("msg") for r in cls.rt.log_records()]
        os.unlink(cls.rt.log_path)
        if rc != 0 or msgs[-2:] != ["shutting down", "stopped"]:
            raise AssertionError(f"SIGTERM: exit code {rc}, last log lines {msgs[-2:]}")

    def test_seed_readme_body(self):
        status, payload, _ = self.rt.post("/predict", {"features": HOUSING_SEED})
        self.assertEqual(status, 200, payload)
        want = support.expected_scores(self.model, self.columns, [HOUSING_SEED])
        self.assertEqual(payload, {"scores": want})
        self.assertIsInstance(payload["scores"][0], float)

    def test_integers_for_doubles(self):
        body = dict(HOUSING_SEED, HouseAge=15, Population=1447)
        status, payload, _ = self.rt.post("/predict", {"features": body})
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload["scores"], support.expected_scores(self.model, self.columns, [HOUSING_SEED]))

    def test_schema(self):
        status, payload, _ = self.rt.get("/schema")
        self.assertEqual(status, 200)
        self.assertEqual([i["name"] for i in payload["inputs"]], make_names())
        self.assertEqual({i["type"] for i in payload["inputs"]}, {"double"})
        self.assertEqual(payload["outputs"], [{"name": None, "type": "double", "required": True}])

    def test_missing_features(self):
        status, payload, text = self.rt.post("/predict", {"features": {"MedInc": 3.5}})
        self.assertEqual(status, 422)
        self.assertClean(text)
        missing = sorted(e["feature"] for e in payload["detail"]["errors"] if e["type"] == "missing")
        self.assertEqual(missing, sorted(make_names()[1:]))


def make_names():
    return list(support.make_model.HOUSING_COLUMNS)


GATED_LOADER = '''
import os
import pickle
import time


class _Model:
    def __init__(self, model):
        self.model = model

    def predict(self, model_input, params=None):
        if (model_input < 0).any().any():
            raise ValueError("negative measurements are not valid")
        return self.model.predict(model_input)


def _load_pyfunc(data_path):
    gate = os.environ["DARWIN_TEST_GATE"]
    deadline = time.time() + 60
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.02)
    with open(data_path, "rb") as f:
        return _Model(pickle.load(f))
'''


class PyfuncLoaderTest(unittest.TestCase, NoTraceback):
    """python_function-only model whose loader_module lives in the model's code/ directory and
    waits for a gate file, so /ready can be seen going 503 -> 200."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "pyfunc")
        cls.model, cls.columns = support.write_model(cls.dir, "iris", "logistic", flavors=("python_function",),
                                                     pyfunc_loader="gated_loader", code_dir="code")
        support.write_loader_module(cls.dir, "gated_loader", GATED_LOADER)
        cls.gate = os.path.join(TMP, "pyfunc-gate")
        cls.rt = RuntimeProcess([cls.dir, "--port", "0"], env={"DARWIN_TEST_GATE": cls.gate})

    @classmethod
    def tearDownClass(cls):
        cls.rt.stop()

    def test_lifecycle(self):
        # Not loaded yet: /ready and /predict answer 503, health is fine.
        self.assertEqual(self.rt.get("/ready")[:2],
                         (503, {"detail": {"status": "not_ready", "message": "Model not yet loaded"}}))
        status, payload, _ = self.rt.post("/predict", {"features": IRIS_SEED})
        self.assertEqual((status, payload), (503, {"detail": {"status": "not_ready", "message": "Model not yet loaded"}}))
        self.assertEqual(self.rt.get("/healthcheck")[0], 200)

        open(self.gate, "w").close()
        self.assertEqual(self.rt.wait_ready(), {"status": "ready", "model_loaded": True})

        status, payload, _ = self.rt.post("/predict", {"features": IRIS_SEED})
        self.assertEqual((status, payload), (200, {"scores": support.expected_scores(self.model, self.columns, [IRIS_SEED])}))
        loaded = [r for r in self.rt.log_records() if r.get("msg") == "model loaded"]
        self.assertEqual(loaded[0]["flavor"], "python_function")

        # The model's own failure: 500 with the contract's body, no traceback.
        status, payload, text = self.rt.post("/predict", {"features": dict(IRIS_SEED, sepal_length=-1)})
        self.assertEqual(status, 500, payload)
        self.assertClean(text)
        self.assertEqual(payload["detail"]["message"], "Prediction failed")
        self.assertIn("negative measurements are not valid", payload["detail"]["error"])
        self.assertIn("hint", payload["detail"])

        self.assertEqual(self.rt.get("/schema")[1]["inputs"], IRIS_INPUTS)


class FeatureStoreModeTest(unittest.TestCase, NoTraceback):
    """Iris RandomForest with features read from a fake Darwin feature store."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "iris-forest")
        cls.model, cls.columns = support.write_model(cls.dir, "iris", "forest")
        cls.rows = {
            (1,): dict(IRIS_SEED, colour=0.5),
            (2,): {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3, "colour": 0.1},
            (3,): {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5, "colour": 0.9},
        }
        cls.fs = FakeFeatureStore({"iris_features": {
            "primary_keys": ["flower_id"],
            "columns": ["colour"] + IRIS_NAMES,  # a column the model does not use, and another order
            "rows": cls.rows,
        }})
        cls.rt = RuntimeProcess(["--model-dir", cls.dir, "--port", "0"],
                                env={"FEATURE_STORE_URL": cls.fs.store_url, "OFS_ADMIN_URL": cls.fs.admin_url})
        cls.rt.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.rt.stop()
        cls.fs.close()

    def setUp(self):
        self.fs.requests.clear()

    def test_single_key(self):
        status, payload, _ = self.rt.post("/predict", {"feature_group": "iris_features", "ofs_keys": {"flower_id": 1}})
        self.assertEqual(status, 200, payload)
        self.assertEqual(payload, {"scores": support.expected_scores(self.model, self.columns, [self.rows[(1,)]])})
        schema_req, read_req = self.fs.requests
        self.assertEqual((schema_req["path"], schema_req["query"]),
                         ("/feature-store-admin/feature-group/schema", "name=iris_features"))
        self.assertEqual(read_req["path"], "/feature-store/feature-group/read-features")
        self.assertEqual(read_req["method"], "GET")
        self.assertEqual(read_req["body"], {
            "featureGroupName": "iris_features",
            "featureColumns": IRIS_NAMES,
            "primaryKeys": {"names": ["flower_id"], "values": [[1]]},
        })

    def test_batch_keys(self):
        status, payload, _ = self.rt.post("/predict", {"feature_group": "iris_features", "ofs_keys": {"flower_id": [3, 1, 2]}})
        self.assertEqual(status, 200, payload)
        rows = [self.rows[(3,)], self.rows[(1,)], self.rows[(2,)]]
        self.assertEqual(payload["scores"], support.expected_scores(self.model, self.columns, rows))

    def test_direct_features_still_work(self):
        status, payload, _ = self.rt.post("/predict", {"features": IRIS_SEED})
        self.assertEqual((status, payload), (200, {"scores": support.expected_scores(self.model, self.columns, [IRIS_SEED])}))

    def test_unknown_key(self):
        status, payload, text = self.rt.post("/predict", {"feature_group": "iris_features", "ofs_keys": {"flower_id": 99}})
        self.assertEqual(status, 404, payload)
        self.assertEqual(payload["detail"]["message"], "No features found for the given keys")
        self.assertEqual(payload["detail"]["failed_keys"], [[99]])
        self.assertClean(text)

    def test_unknown_feature_group(self):
        status, payload, _ = self.rt.post("/predict", {"feature_group": "nope", "ofs_keys": {"flower_id": 1}})
        self.assertEqual(status, 404, payload)
        self.assertIn("feature group not found", payload["detail"]["message"])

    def test_invalid_requests(self):
        for body in ({"feature_group": "iris_features"},
                     {"feature_group": "", "ofs_keys": {"flower_id": 1}},
                     {"feature_group": "iris_features", "ofs_keys": {}},
                     {"feature_group": "iris_features", "ofs_keys": [1]},
                     {"features": IRIS_SEED, "feature_group": "iris_features", "ofs_keys": {"flower_id": 1}}):
            status, payload, _ = self.rt.post("/predict", body)
            self.assertEqual(status, 422, (body, payload))
        self.assertEqual(self.fs.requests, [], "invalid requests must not reach the feature store")


class ModelDownloadTest(unittest.TestCase):
    """No MODEL_LOCAL_PATH: the model is downloaded from MLFLOW_MODEL_URI (models:/name/version) through a
    fake MLflow tracking server's artifact proxy, with basic auth."""

    @classmethod
    def setUpClass(cls):
        store = os.path.join(TMP, "artifact-store")
        model_dir = os.path.join(store, "1", "r123", "artifacts", "model")
        cls.model, cls.columns = support.write_model(model_dir, "housing", "linear")
        os.makedirs(os.path.join(model_dir, "extra", "deep"))
        with open(os.path.join(model_dir, "extra", "deep", "note.txt"), "w") as f:
            f.write("nested")
        cls.mlflow = support.FakeMLflow(store, runs={"r123": "mlflow-artifacts:/1/r123/artifacts"},
                                        versions={("housing", "1"): "mlflow-artifacts:/1/r123/artifacts/model"})
        cls.dest = os.path.join(TMP, "downloaded")
        cls.rt = RuntimeProcess(["--port", "0"], env={
            "MODEL_LOCAL_PATH": "", "MLFLOW_MODEL_URI": "models:/housing/1", "MODEL_DOWNLOAD_DIR": cls.dest,
            "MLFLOW_TRACKING_URI": cls.mlflow.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": "user", "MLFLOW_TRACKING_PASSWORD": "secret",
        })
        cls.rt.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.rt.stop()
        cls.mlflow.close()

    def test_downloaded_and_serving(self):
        status, payload, _ = self.rt.post("/predict", {"features": HOUSING_SEED})
        self.assertEqual((status, payload), (200, {"scores": support.expected_scores(self.model, self.columns, [HOUSING_SEED])}))
        for rel in ("MLmodel", "model.pkl", "input_example.json", os.path.join("extra", "deep", "note.txt")):
            self.assertTrue(os.path.isfile(os.path.join(self.dest, rel)), rel)
        self.assertIn("/mlflow-lib/api/2.0/mlflow/model-versions/get-download-uri", self.mlflow.paths)
        self.assertTrue([r for r in self.rt.log_records() if r.get("msg") == "downloading model"])


if __name__ == "__main__":
    unittest.main()
