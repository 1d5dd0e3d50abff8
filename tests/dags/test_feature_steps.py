"""The prompt-feature steps on the local target: real MiniLM embeddings, DuckDB tables, idempotent days."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from unittest import mock

import pytest

from llmops_factory.settings import get_settings

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = DAY + dt.timedelta(days=1)
TOPICS = ("plan", "order", "invoice", "account", "card", "address", "delivery", "refund")
VERBS = ("cancel", "change", "renew", "pause", "check", "update")


@pytest.fixture
def local_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_TARGET", "local")
    monkeypatch.setenv("LLMOPS_LOCAL__HOME", str(tmp_path / "home"))
    return get_settings().local


def _ctx(run_id="scheduled__2026-01-06"):
    return {
        "run_id": run_id,
        "dag": SimpleNamespace(dag_id="llmops_monitoring"),
        "task": SimpleNamespace(task_id="t"),
        "ti": mock.MagicMock(try_number=1),
        "data_interval_start": END,
        "data_interval_end": END,
    }


def _seed(local, prompts):
    """A champion with a model card, its snapshot's train split, and the day's prediction log."""
    from llmops_factory.endpoint.logsink import merge_rows
    from llmops_factory.warehouse import duck

    storage = local.storage_root
    (storage / "models/v1").mkdir(parents=True)
    (storage / "models/v1/model_card.json").write_text(
        json.dumps({"dataset": {"snapshot_version": "snap-abc"}})
    )
    train = storage / "datasets/snap-abc/train"
    train.mkdir(parents=True)
    examples = [
        {"example_id": f"e{i:03d}", "instruction": f"How do I {v} my {t}?", "input": "", "output": "..."}
        for i, (v, t) in enumerate((v, t) for v in VERBS for t in TOPICS)
    ]
    (train / "part-00000-of-00001.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples))
    rows = [
        {
            "endpoint": "ep",
            "deployed_model_id": "1",
            "logging_time": DAY + dt.timedelta(minutes=i),
            "request_id": i,
            "request_payload": [json.dumps({"instruction": p})],
            "response_payload": [json.dumps({"model_version": "v1", "text": "ok"})],
        }
        for i, p in enumerate(prompts, start=1)
    ]
    with duck.session(local.warehouse_path) as conn:
        merge_rows(conn, "prediction_log", rows)
    return len(examples)


ROLES = {"champion_version": "v1", "registry_versions": {"champion": "1"}, "roles": []}


def _run(step_cls, **kwargs):
    return step_cls(task_id="t", **kwargs).execute(_ctx())


def test_features_are_written_once_per_day_and_drift_is_named(local_home):
    from llmops_factory.warehouse import duck
    from llmops_plugins.stages.monitoring import ExtractFeatures, WatchFeatures

    in_domain = [f"How can I {v} the {t} please?" for v in VERBS for t in TOPICS][:30]
    off_domain = [
        f"Write a long poem about {w} in the style of an old sailor song"
        for w in ("stars", "wind", "rain", "fire", "snow", "ice", "sand", "gold", "moss", "salt")
    ]
    n_ref = _seed(local_home, in_domain + off_domain + [""])
    out = _run(ExtractFeatures, roles=ROLES)
    assert out["computed"] and out["rows"] == 40 and out["no_text"] == 1  # the empty prompt is counted
    assert out["reference_id"] == "snap-abc-pca8-v1" and out["reference_rows"] == n_ref
    projection = local_home.storage_root / "monitoring/features/reference/snap-abc-pca8-v1/projection.json"
    fitted = projection.read_text()
    again = _run(ExtractFeatures, roles=ROLES)  # a re-run replaces the day and reuses the projection
    assert again["rows"] == 40 and projection.read_text() == fitted
    with duck.session(local_home.warehouse_path) as conn:
        assert conn.execute("SELECT count(*) FROM prompt_features").fetchone()[0] == 40
        assert conn.execute("SELECT count(*) FROM prompt_feature_reference").fetchone()[0] == n_ref
        first = conn.execute("SELECT emb_pc01 FROM prompt_features WHERE request_id = 1").fetchone()[0]

    watched = _run(WatchFeatures, roles=ROLES, features=again)
    assert watched["computed"] and watched["n_current"] == 40 and watched["n_reference"] == n_ref
    assert "prompt_chars" in watched["drifted"]  # the poems are far longer than the questions
    assert watched["max_divergence"] > watched["threshold"]

    from llmops_factory.monitoring.report import day_alerts, metric_rows

    rows = metric_rows("2026-01-05", {"models": []}, None, "r", watched)
    assert {r["metric"] for r in rows} == {f"feature_js_{f}" for f in watched["divergence"]}
    alerts = day_alerts(rows, {"requests": 41}, None, None, {}, get_settings().monitoring, watched)
    assert [a.metric for a in alerts] == ["prompt_feature_drift"]
    assert "prompt_chars" in alerts[0].message
    from llmops_factory.monitoring.report import render_html

    page = render_html("2026-01-05", {"models": []}, None, None, None, None, [], features=watched)
    assert "<h2>Prompt features</h2>" in page and "<td>prompt_chars</td>" in page and "drifted" in page

    # the same prompts again: the same features (fixed projection)
    _run(ExtractFeatures, roles=ROLES)
    with duck.session(local_home.warehouse_path) as conn:
        assert (
            conn.execute("SELECT emb_pc01 FROM prompt_features WHERE request_id = 1").fetchone()[0] == first
        )


def test_no_champion_skips_and_a_missing_model_card_is_named(local_home):
    from airflow.sdk.exceptions import AirflowFailException

    from llmops_plugins.stages.monitoring import ExtractFeatures, WatchFeatures

    out = _run(ExtractFeatures, roles={"champion_version": None})
    assert out == {"computed": False, "day": "2026-01-05", "reason": "no champion model version"}
    assert _run(WatchFeatures, roles={}, features=out)["computed"] is False
    with pytest.raises(AirflowFailException, match="models/v9/model_card.json does not exist"):
        _run(ExtractFeatures, roles={"champion_version": "v9"})


def test_a_damaged_snapshot_line_is_named(local_home):
    from airflow.sdk.exceptions import AirflowFailException

    from llmops_plugins.stages.monitoring import ExtractFeatures

    _seed(local_home, ["How do I cancel my plan?"] * 12)
    part = local_home.storage_root / "datasets/snap-abc/train/part-00000-of-00001.jsonl"
    part.write_text(part.read_text() + "{not json\n")
    with pytest.raises(AirflowFailException, match=r"part-00000-of-00001.jsonl:49: not valid JSON"):
        _run(ExtractFeatures, roles=ROLES)
