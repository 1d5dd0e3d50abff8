"""Test configuration: every test session gets its own local platform home and Airflow home.

Set before Airflow is imported, so no test ever touches the developer's ``.llmops/``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(os.environ.get("LLMOPS_TEST_HOME") or tempfile.mkdtemp(prefix="llmops-test-"))

os.environ["LLMOPS_TARGET"] = "local"
os.environ["LLMOPS_LOCAL__HOME"] = str(_HOME)
os.environ["AIRFLOW_HOME"] = str(_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_HOME / 'mlflow' / 'mlflow.db'}"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def platform_home() -> Path:
    (_HOME / "storage").mkdir(parents=True, exist_ok=True)
    return _HOME


@pytest.fixture
def gcp_env(monkeypatch):
    """The gcp target with every required setting, for contract tests (no cloud call is made)."""
    values = {
        "LLMOPS_TARGET": "gcp",
        "LLMOPS_GCP__PROJECT_ID": "acme-llmops",
        "LLMOPS_GCP__BUCKET": "acme-llmops-data",
        "LLMOPS_GCP__STAGING_BUCKET": "acme-llmops-staging",
        "LLMOPS_GCP__SERVICE_ACCOUNT": "llmops-runner@acme-llmops.iam.gserviceaccount.com",
        "LLMOPS_GCP__TRAINING__CONTAINER_URI": "europe-west4-docker.pkg.dev/acme-llmops/llmops/trainer:1.0.0",
        # a connection without credentials: hooks can be built, any real client call would fail
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": '{"conn_type": "google_cloud_platform", "extra": {"project": "acme-llmops"}}',
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
