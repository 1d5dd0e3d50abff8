"""A monitoring day over a real DuckDB log (bad inputs included), alerts, and idempotent actions."""

from __future__ import annotations

import datetime as dt
import json
import types

import duckdb
import pytest

from llmops_factory import traffic
from llmops_factory.endpoint.logsink import merge_rows
from llmops_factory.monitoring import actions, daily, sql
from llmops_factory.monitoring.report import day_alerts, metric_rows
from llmops_factory.settings import MonitoringSettings, Prices

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = DAY + dt.timedelta(days=1)
ROLES = [
    daily.Role("1", "champion", "v1", "support_assistant@1.0.0", 90, "support_assistant@1.0.0"),
    daily.Role("2", "challenger", "v2", "support_assistant@1.1.0", 10, "support_assistant@1.0.0"),
]


class Scorer:
    """Scores by a marker word, so the test controls which responses are unsafe."""

    def score(self, prompts, responses):
        return types.SimpleNamespace(
            unsafe=["UNSAFE" in r for r in responses], pii=["@" in r for r in responses], hallucinated=None
        )


def _row(i, model, text="ok", status=None, payload=None):
    body = payload or json.dumps(
        {"status": status, "error": {"message": "x"}}
        if status
        else {
            "model_version": f"v{model}",
            "prompt_version": "1.0.0",
            "tokens_in": 3,
            "tokens_out": 4,
            "latency_ms": 50.0 + i % 7,
            "text": text,
        }
    )
    return {
        "endpoint": "ep",
        "deployed_model_id": model,
        "logging_time": DAY + dt.timedelta(seconds=i),
        "request_id": i,
        "request_payload": [json.dumps({"instruction": "q"})],
        "response_payload": [body],
    }


def _run(rows):
    conn = duckdb.connect()
    if rows:
        merge_rows(conn, "prediction_log", rows)
    result = daily.day_metrics(
        lambda n, p: sql.run_duckdb(conn, n, p),
        ROLES,
        start=DAY,
        end=END,
        monitoring=MonitoringSettings(),
        prices=Prices(),
        scorer=Scorer(),
    )
    return result


def test_day_figures_rates_cost_and_skew():
    rows = [_row(i, "1", "fine") for i in range(100)] + [
        _row(100 + i, "2", "UNSAFE" if i < 5 else "a@b.c") for i in range(20)
    ]
    result = _run(rows)
    champ, chall = result["models"]
    assert champ["metrics"]["request_count"] == (100, 100) and champ["metrics"]["unsafe_rate"][0] == 0
    assert chall["metrics"]["unsafe_rate"] == (0.25, 20) and chall["metrics"]["pii_leak_rate"][0] == 0.75
    assert champ["metrics"]["cost_per_1k_predictions"] == (0.0, 100)  # local-cpu is free
    assert champ["metrics"]["prompt_version_skew"][0] == 0


def test_empty_day_says_so_once_without_an_alert_storm():
    result = _run([])
    assert result["requests"] == 0 and all(
        m["metrics"] == {"request_count": (0, 0)} for m in result["models"]
    )
    rows = metric_rows("2026-01-05", result, None, "r")
    alerts = day_alerts(rows, result, None, {"action": "hold"}, {"roles": []}, MonitoringSettings())
    assert [a.metric for a in alerts] == ["no_traffic"]


def test_only_errors_day_alerts_on_error_rate():
    result = _run([_row(i, "1", status=503) for i in range(30)])
    champ = result["models"][0]
    assert champ["metrics"]["error_rate"] == (1.0, 30) and "unsafe_rate" not in champ["metrics"]
    alerts = day_alerts(
        metric_rows("2026-01-05", result, None, "r"), result, None, None, {"roles": []}, MonitoringSettings()
    )
    assert [a.metric for a in alerts] == ["error_rate"] and "rolls a challenger back" in alerts[0].message


def test_unparseable_payload_is_counted_reported_and_excluded():
    result = _run([_row(i, "1") for i in range(10)] + [_row(50, "1", payload="<html>oops")])
    assert result["unparseable"] == 1 and result["models"][0]["metrics"]["error_rate"] == (0.0, 11)
    alerts = day_alerts(
        metric_rows("d", result, None, "r"), result, None, None, {"roles": []}, MonitoringSettings()
    )
    assert "unparseable_payload" in [a.metric for a in alerts]


def test_champion_missing_alerts_and_takes_no_action():
    roles = {"roles": [], "champion_version": "v9", "champion_missing": True}
    alerts = day_alerts(
        [], {"requests": 5, "models": []}, None, {"action": "none"}, roles, MonitoringSettings()
    )
    assert [a.metric for a in alerts] == ["champion_missing"]
    assert actions.act(None, {}, {"action": "none", "reasons": ["x"]}, roles)["done"] is False


class Endpoint:
    """The endpoint admin calls, checked with the real traffic-split arithmetic."""

    def __init__(self, split):
        self.split, self.calls = dict(split), []

    def describe(self):
        return {
            "endpoint": "ep",
            "traffic_split": dict(self.split),
            "deployed_models": [{"id": k, "model_version": f"v{k}", "prompt": "p@1"} for k in self.split],
        }

    def set_traffic_split(self, split):
        self.split = traffic.validate_split(split, self.split)
        self.calls.append(("split", dict(split)))

    def undeploy(self, deployed_id, split):
        assert self.split.get(deployed_id) is not None
        self.split = traffic.validate_split(split, [k for k in self.split if k != deployed_id])
        self.calls.append(("undeploy", deployed_id))


class Platform:
    target = "local"

    def __init__(self, split, conn):
        self.ep = Endpoint(split)
        self.conn = conn
        self.aliases = {}
        self.settings = types.SimpleNamespace(use_case="uc", monitoring=MonitoringSettings(fallback_hours=48))

    def endpoint(self):
        return self.ep

    def registry(self):
        return types.SimpleNamespace(set_alias=lambda a, v: self.aliases.__setitem__(a, v))

    def warehouse(self):
        conn = self.conn

        class W:
            def upsert(self, table, rows):
                return merge_rows(conn, table, rows)

            def rows(self, table, columns, **where):
                clause = " AND ".join(f"{k} = ?" for k in where) or "TRUE"
                cur = conn.execute(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {clause}", list(where.values())
                )
                return [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]

        return W()


ROLES_VALUE = {
    "roles": [
        {"deployed_model_id": "1", "role": "champion", "model_version": "v1", "prompt": "p@1"},
        {"deployed_model_id": "2", "role": "challenger", "model_version": "v2", "prompt": "p@2"},
    ],
    "registry_versions": {"champion": "1", "challenger": "2"},
}


def _context(run="scheduled__2026-01-05"):
    return {"dag": types.SimpleNamespace(dag_id="llmops_monitoring"), "run_id": run, "data_interval_end": END}


@pytest.mark.parametrize(
    ("action", "split", "calls"),
    [
        ("rollback", {"1": 100}, [("undeploy", "2")]),
        ("promote", {"1": 0, "2": 100}, [("split", {"1": 0, "2": 100})]),
    ],
)
def test_actions_are_verified_recorded_and_idempotent(action, split, calls):
    conn = duckdb.connect()
    platform = Platform({"1": 90, "2": 10}, conn)
    decision = {"action": action, "reasons": ["because"]}
    first = actions.act(platform, _context(), decision, ROLES_VALUE)
    second = actions.act(platform, _context(), decision, ROLES_VALUE)
    assert first["done"] is True and second["done"] is False
    assert platform.ep.split == split and platform.ep.calls == calls
    events = conn.execute("SELECT action, model_version, reason FROM deployment_events").fetchall()
    assert events == [(action, "v2", "because")]
    assert platform.aliases == ({"challenger": "1"} if action == "rollback" else {"champion": "2"})


def test_fallback_is_retired_after_the_configured_hours():
    conn = duckdb.connect()
    platform = Platform({"1": 90, "2": 10}, conn)
    actions.act(platform, _context(), {"action": "promote", "reasons": ["ok"]}, ROLES_VALUE)
    assert actions.retire_fallbacks(platform, _context("r2"))["retired"] == []
    later = {**_context("r3"), "data_interval_end": END + dt.timedelta(hours=48)}
    assert actions.retire_fallbacks(platform, later)["retired"] == ["1"]
    assert platform.ep.split == {"2": 100}


def test_response_checks_count_answers_that_contradict_the_facts_table():
    """hallucination_rate in monitoring is the evaluation stage's check: a price no fact states counts."""
    from llmops_factory.evaluation.checks import fact_claims
    from llmops_factory.monitoring.checks import ResponseChecks

    true_price = sorted(fact_claims()["money"])[0]
    scores = ResponseChecks(0.8).score(
        ["How much is it?"] * 3,
        [f"It costs {true_price} per month.", "It costs $987654.32 per month.", "Open Settings > Plan."],
    )
    assert scores.hallucinated == [False, True, False]
