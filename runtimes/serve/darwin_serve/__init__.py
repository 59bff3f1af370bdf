"""Darwin model runtime: serves an MLflow model directory over HTTP.

Standard library plus numpy, pandas and PyYAML (Debian packages); no mlflow.
See README.md next to this package for the HTTP contract.
"""

__version__ = "0.1.0"
