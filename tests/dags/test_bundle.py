"""The Composer bundle holds everything the DAGs import: they parse from the bundle alone."""

from __future__ import annotations

import pytest

from tests.dags.helpers import DAG_FILES, dag_graphs


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from llmops_factory.bundle import build

    out = tmp_path_factory.mktemp("composer") / "bundle"
    build(out)
    return out


def test_bundle_layout(bundle):
    assert sorted(p.name for p in (bundle / "dags").glob("*.py")) == sorted(p.name for p in DAG_FILES)
    for required in (
        "plugins/llmops_plugins/stages/base.py",
        "plugins/llmops_plugins/platform/gcp.py",
        "plugins/llmops_factory/settings.py",
        "plugins/llmops_factory/config/gcp.yaml",
        "plugins/llmops_factory/warehouse/schemas/instruction_examples.json",
        "plugins/.airflowignore",
        "plugins/llmops_review_plugin.py",
        "data/beam_jobs/data_prep.py",
        "data/beam_jobs/setup.py",
        "data/beam_jobs/llmops_factory/prompts/__init__.py",
        "requirements.txt",
    ):
        assert (bundle / required).is_file(), required
    # the data generator is not shipped to Dataflow workers (Composer keeps it: evaluation reads the facts)
    assert not list((bundle / "data" / "beam_jobs").rglob("datagen"))
    assert (bundle / "plugins" / "llmops_factory" / "datagen" / "facts.yaml").is_file()


@pytest.mark.parametrize("target", ["gcp", "local"])
def test_dags_parse_from_the_bundle_alone(bundle, target, tmp_path):
    graphs = dag_graphs(
        bundle / "dags",
        {
            "LLMOPS_TARGET": target,
            "AIRFLOW__CORE__DAGS_FOLDER": str(bundle / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(bundle / "plugins"),
        },
        pythonpath=[bundle / "dags", bundle / "plugins"],
        cwd=str(tmp_path),
    )
    assert graphs["import_errors"] == {}
    assert sorted(graphs["dags"]) == sorted(p.stem for p in DAG_FILES)
    for dag in graphs["dags"].values():
        assert dag["fileloc"].startswith(str(bundle)), dag["fileloc"]
