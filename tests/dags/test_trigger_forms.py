"""Every DAG can be triggered from the UI form with its defaults.

The Airflow UI marks a parameter required unless its JSON schema allows ``null``, and greys out
Trigger while a required field is empty. So a setting that means "empty = use the configured
default" must be ``type=["null", "string"]`` with default ``None``, not ``type="string"`` with
default ``""``. The browser test (``tests/system/test_ui.py``) checks the same in the real form.
"""

from __future__ import annotations

import pytest

from tests.dags.helpers import REPO

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def _allows_null(schema: dict) -> bool:
    typ = schema.get("type")
    return typ == "null" or (isinstance(typ, list) and "null" in typ)


def _params(dagbag):
    for dag_id, dag in sorted(dagbag.dags.items()):
        for name in dag.params:
            yield dag_id, name, dag.params.get_param(name)


def test_every_default_validates(dagbag):
    for dag_id, name, param in _params(dagbag):
        try:
            param.resolve()
        except Exception as exc:  # ParamValidationError
            pytest.fail(f"{dag_id}: default of param {name!r} is rejected by its own schema: {exc}")


def test_no_required_field_is_empty_by_default(dagbag):
    empty = []
    for dag_id, name, param in _params(dagbag):
        if _allows_null(param.schema):
            continue
        if param.value in (None, "", [], {}):
            empty.append(
                f"{dag_id}.{name} (default {param.value!r}, schema type {param.schema.get('type')!r})"
            )
    assert not empty, (
        "required in the trigger form but empty by default, so Trigger is disabled: "
        + ", ".join(empty)
        + ' — use type=["null", "string"] with default None where empty means "use the setting"'
    )


def test_finetune_optional_settings_accept_empty_and_null(dagbag):
    params = dagbag.dags["llmops_finetune"].params
    for name in ("base_model", "machine_type", "accelerator_type"):
        param = params.get_param(name)
        assert param.resolve(None) is None
        assert param.resolve("") == ""
        assert param.resolve("x") == "x"


def test_finetune_tasks_treat_null_and_empty_alike():
    from llmops_plugins.stages.training import plan_training

    pin = {"name": "support_assistant", "version": "1.0.0", "hash": "h" * 64}
    snapshot = {"snapshot_version": "snap-1", "window_start": "2026-01-01", "window_end": "2026-01-03",
                "train_data": "t", "eval_data": "e"}  # fmt: skip
    plans = [
        plan_training(
            pin,
            snapshot,
            "models/base/x/",
            "manual__2026-01-03",
            machine_type=value,
            accelerator_type=value,
            accelerator_count=count,
        )  # fmt: skip
        for value, count in ((None, None), ("", 0))
    ]
    assert plans[0] == plans[1]
    assert plans[0][0]["machine"] == {}  # nothing set: the settings apply
