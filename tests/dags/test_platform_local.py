"""The local platform adapter's registry: MLflow versions, idempotent registration, aliases."""

from __future__ import annotations

import pytest

from llmops_factory.settings import get_settings


@pytest.fixture
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "local")
    monkeypatch.setenv("LLMOPS_LOCAL__HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings().local.mlflow_dir.mkdir(parents=True)
    from llmops_plugins.platform import get_platform

    return get_platform()


def test_register_is_idempotent_and_aliases_move(platform):
    registry = platform.registry()
    args = dict(run_id=None, alias="candidate", metrics={"eval_loss": 1.25}, tags={"dag_id": "d"})
    first = registry.register(model_version="m-t0", idempotency_key="d:run-1", **args)
    again = registry.register(model_version="m-t0", idempotency_key="d:run-1", **args)
    second = registry.register(model_version="m-t1", idempotency_key="d:run-2", **args)
    assert first.version == again.version != second.version
    assert first.uri == platform.uri("models/m-t0/merged/")
    assert registry.get_by_alias("candidate").version == second.version
    registry.set_alias("champion", first.version)
    champion = registry.get_by_alias("champion")
    assert champion.version == first.version and champion.labels["eval_loss"] == "1.25"
    assert registry.get_by_alias("challenger") is None
