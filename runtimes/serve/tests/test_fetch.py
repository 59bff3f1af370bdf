"""The download-only mode: ``darwin_serve_runtime.py fetch --model-uri URI --dest DIR``."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import support


def run_fetch(args, env=None):
    full = dict(os.environ)
    for k in ("MLFLOW_MODEL_URI", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
              "MLFLOW_TRACKING_TOKEN"):
        full.pop(k, None)
    full.update(env or {})
    p = subprocess.run([sys.executable, support.ENTRY, "fetch"] + list(args), env=full, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class FetchModeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="darwin-fetch-")
        cls.store = os.path.join(cls.tmp, "store")
        cls.model, cls.columns = support.write_model(os.path.join(cls.store, "2", "run9", "artifacts", "m"), "iris")
        # A directory without an MLmodel file.
        os.makedirs(os.path.join(cls.store, "2", "run9", "artifacts", "notmodel"))
        with open(os.path.join(cls.store, "2", "run9", "artifacts", "notmodel", "x.txt"), "w") as f:
            f.write("x")
        cls.mlflow = support.FakeMLflow(cls.store, runs={"run9": "mlflow-artifacts:/2/run9/artifacts"},
                                        versions={("iris", "3"): "mlflow-artifacts:/2/run9/artifacts/m",
                                                  ("iris", "2"): "mlflow-artifacts:/2/run9/artifacts/notmodel"},
                                        stages={("iris", "3"): "Production", ("iris", "2"): "Staging"},
                                        aliases={("iris", "champion"): "3", ("iris", "old"): "2"})
        cls.src_files = sorted(os.listdir(os.path.join(cls.store, "2", "run9", "artifacts", "m")))

    @classmethod
    def tearDownClass(cls):
        cls.mlflow.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def env(self, password="secret"):
        return {"MLFLOW_TRACKING_URI": self.mlflow.tracking_uri, "MLFLOW_TRACKING_USERNAME": "user",
                "MLFLOW_TRACKING_PASSWORD": password}

    def parent(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        return d, os.path.join(d, "cache", "abc")

    def assert_no_temporaries(self, parent):
        for d, dirs, _ in os.walk(parent):
            for n in dirs:
                self.assertFalse(".tmp-" in n or ".old-" in n, os.path.join(d, n))

    def test_downloads_each_uri_kind(self):
        for uri in ("mlflow-artifacts:/2/run9/artifacts/m", "runs:/run9/m", "models:/iris/3", "models:/iris/Production",
                    "models:/iris/production", "models:/iris/latest", "models:/iris@champion"):
            parent, dest = self.parent()
            code, out, err = run_fetch(["--model-uri", uri, "--dest", dest], self.env())
            self.assertEqual(code, 0, err)
            lines = out.strip().splitlines()
            self.assertEqual(len(lines), 1, out)
            res = json.loads(lines[0])
            self.assertEqual(res["status"], "ok")
            self.assertEqual(res["model_uri"], uri)
            self.assertEqual(res["dest"], dest)
            self.assertEqual(sorted(os.listdir(dest)), self.src_files)
            size = sum(os.path.getsize(os.path.join(dest, n)) for n in os.listdir(dest))
            self.assertEqual((res["files"], res["bytes"]), (len(self.src_files), size))
            self.assertGreaterEqual(res["duration_ms"], 0)
            self.assert_no_temporaries(parent)
            # The logs are JSON lines on stderr.
            msgs = [json.loads(line)["msg"] for line in err.strip().splitlines()]
            self.assertEqual(msgs, ["fetching model", "model fetched"])

    def test_flags_and_environment(self):
        parent, dest = self.parent()
        env = self.env()
        env["MLFLOW_MODEL_URI"] = "runs:/run9/m"
        tracking = env.pop("MLFLOW_TRACKING_URI")
        code, out, err = run_fetch(["--dest", dest, "--tracking-uri", tracking], env)
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.isfile(os.path.join(dest, "MLmodel")))

    def test_replaces_existing_dest(self):
        parent, dest = self.parent()
        os.makedirs(dest)
        with open(os.path.join(dest, "stale.txt"), "w") as f:
            f.write("old")
        code, out, err = run_fetch(["--model-uri", "runs:/run9/m", "--dest", dest], self.env())
        self.assertEqual(code, 0, err)
        self.assertEqual(sorted(os.listdir(dest)), self.src_files)
        self.assert_no_temporaries(parent)

    def test_failures_leave_nothing(self):
        cases = [
            ("mlflow-artifacts:/2/run9/artifacts/nope", self.env(), "no artifacts under"),
            ("runs:/run9/m", self.env(password="wrong"), "HTTP 401"),
            ("runs:/unknown-run/m", self.env(), "HTTP 404"),
            ("models:/iris/Archived", self.env(), "has no version in 'Archived'"),
            ("models:/iris@nobody", self.env(), "HTTP 404"),
            ("models:/iris@old", self.env(), "no MLmodel file"),
            ("models:/iris", self.env(), "expected models:/<name>/<version|stage|latest>"),
            ("models:/missing/latest", self.env(), "HTTP 404"),
            ("mlflow-artifacts:/2/run9/artifacts/notmodel", self.env(), "no MLmodel file"),
            ("runs:/run9/m", {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "GET http://127.0.0.1:9"),
        ]
        for uri, env, want in cases:
            parent, dest = self.parent()
            os.makedirs(os.path.dirname(dest))
            code, out, err = run_fetch(["--model-uri", uri, "--dest", dest], env)
            self.assertEqual(code, 1, (uri, out, err))
            res = json.loads(out.strip())
            self.assertEqual(res["status"], "error", uri)
            self.assertIn(want, res["error"], uri)
            self.assertIn(want, err, uri)
            self.assertFalse(os.path.exists(dest), uri)
            self.assertEqual(os.listdir(os.path.dirname(dest)), [], uri)

    def test_failure_keeps_existing_dest(self):
        parent, dest = self.parent()
        os.makedirs(dest)
        with open(os.path.join(dest, "MLmodel"), "w") as f:
            f.write("flavors: {}\n")
        code, out, err = run_fetch(["--model-uri", "runs:/run9/nope", "--dest", dest], self.env())
        self.assertEqual(code, 1, out)
        self.assertEqual(os.listdir(dest), ["MLmodel"])
        self.assert_no_temporaries(parent)

    def test_usage_errors(self):
        code, out, err = run_fetch(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("--model-uri", out)
        self.assertIn("--dest", out)
        code, out, err = run_fetch(["--model-uri", "runs:/run9/m"])
        self.assertEqual(code, 2)
        self.assertIn("--dest", err)
        code, out, err = run_fetch(["--dest", os.path.join(self.tmp, "x")])
        self.assertEqual(code, 2)
        self.assertIn("no model URI", err)
        code, out, err = run_fetch(["--model-uri", "/some/local/dir", "--dest", os.path.join(self.tmp, "x")])
        self.assertEqual(code, 2)
        self.assertIn("local path", err)
        # The serving command line's --help names the fetch mode.
        p = subprocess.run([sys.executable, support.ENTRY, "--help"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0)
        self.assertIn("fetch --model-uri", p.stdout)


if __name__ == "__main__":
    unittest.main()
