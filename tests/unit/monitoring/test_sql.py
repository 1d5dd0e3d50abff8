"""The monitoring SQL (BigQuery text transpiled by sqlglot) executed on DuckDB."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from llmops_factory.endpoint.logsink import merge_rows
from llmops_factory.monitoring import sql

DAY = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = DAY + dt.timedelta(days=1)


def _ok(i, model, latency, tokens_out=10, text="Go to Settings > Plan and press Cancel."):
    return {
        "endpoint": "ep",
        "deployed_model_id": model,
        "logging_time": DAY + dt.timedelta(minutes=i),
        "request_id": i,
        "request_payload": [json.dumps({"instruction": f"question {i}"})],
        "response_payload": [
            json.dumps(
                {
                    "model_version": f"v-{model}",
                    "prompt_version": "1.0.0",
                    "tokens_in": 5,
                    "tokens_out": tokens_out,
                    "latency_ms": latency,
                    "text": text,
                }
            )
        ],
    }


def _err(i, model):
    return {
        **_ok(i, model, 0),
        "response_payload": [json.dumps({"status": 503, "error": {"message": "down"}})],
    }


@pytest.fixture
def conn():
    c = duckdb.connect()
    yield c
    c.close()


def test_day_metrics_counts_latency_tokens_errors_unparseable_feedback(conn):
    rows = [_ok(i, "1", float(i)) for i in range(1, 101)]
    rows += [_err(200 + i, "1") for i in range(5)]
    rows.append({**_ok(300, "1", 1.0), "response_payload": ["{not json"]})
    rows += [_ok(400 + i, "2", 1000.0) for i in range(10)]
    rows.append(_ok(999, "1", 5.0) | {"logging_time": END})  # next day: excluded
    merge_rows(conn, "prediction_log", rows)
    merge_rows(
        conn,
        "feedback",
        [
            {"request_id": 1, "model_version": "v-1", "rating": 1, "comment": None, "feedback_time": DAY},
            {"request_id": 2, "model_version": "v-1", "rating": -1, "comment": None, "feedback_time": DAY},
        ],
    )
    out = {r["deployed_model_id"]: r for r in sql.run_duckdb(conn, "day_metrics", {"start": DAY, "end": END})}
    one = out["1"]
    assert (one["requests"], one["errors"], one["unparseable"], one["ok"]) == (106, 5, 1, 100)
    assert one["tokens_out"] == 1000 and one["tokens_in"] == 500
    assert 90 <= one["latency_p95_ms"] <= 97 and 45 <= one["latency_p50_ms"] <= 55
    assert one["model_version"] == "v-1" and one["prompt_version"] == "1.0.0"
    assert (one["rated"], one["positive"], one["feedback_score"]) == (2, 1, 0.5)
    assert out["2"]["requests"] == 10 and out["2"]["rated"] == 0 and out["2"]["latency_p99_ms"] == 1000.0


def test_empty_day_returns_no_rows(conn):
    assert sql.run_duckdb(conn, "day_metrics", {"start": DAY, "end": END}) == []


def test_only_errors_day(conn):
    merge_rows(conn, "prediction_log", [_err(i, "1") for i in range(1, 8)])
    (row,) = sql.run_duckdb(conn, "day_metrics", {"start": DAY, "end": END})
    assert (row["requests"], row["errors"], row["ok"]) == (7, 7, 0)
    assert row["latency_p95_ms"] is None


def test_request_sample_is_deterministic_capped_and_skips_unparseable(conn):
    rows = [_ok(i, "1", 1.0) for i in range(1, 301)] + [{**_ok(500, "1", 1.0), "response_payload": ["oops"]}]
    merge_rows(conn, "prediction_log", rows)
    params = {"start": DAY, "end": END, "per_model": 50}
    first = sql.run_duckdb(conn, "request_sample", params)
    assert len(first) == 50 and first == sql.run_duckdb(conn, "request_sample", params)
    assert 500 not in {r["request_id"] for r in first}
    ids = sorted(r["request_id"] for r in first)
    assert ids != list(range(1, 51))  # scrambled, not the first 50
    assert json.loads(first[0]["instance"])["instruction"].startswith("question")


def test_bigquery_text_keeps_the_bigquery_dialect():
    text = sql.bigquery(
        "day_metrics", {"prediction_log": "`p.d.prediction_log`", "feedback": "`p.d.feedback`"}
    )
    assert "APPROX_QUANTILES" in text and "SAFE.PARSE_JSON" in text and "`p.d.prediction_log`" in text
    params = sql.bigquery_parameters({"start": DAY, "per_model": 5})
    assert params[0]["parameterType"]["type"] == "TIMESTAMP" and params[1]["parameterType"]["type"] == "INT64"


def test_refused_requests_are_rejected_not_serving_errors(conn):
    """A 4xx answer (bad input, a prompt over its token budget) is the client's side: `rejected`, not an
    error that alerts or rolls back; a 5xx or an error without a code is a serving failure."""
    refused = {"error": {"code": 400, "field": "instances[0]", "status": "INVALID_ARGUMENT"}, "status": 400}
    rows = [_ok(i, "1", 10.0) for i in range(1, 11)]
    rows += [{**_ok(100 + i, "1", 0), "response_payload": [json.dumps(refused)]} for i in range(4)]
    rows += [_err(200, "1"), {**_ok(201, "1", 0), "response_payload": [json.dumps({"error": {"m": "x"}})]}]
    merge_rows(conn, "prediction_log", rows)
    (row,) = sql.run_duckdb(conn, "day_metrics", {"start": DAY, "end": END})
    assert (row["requests"], row["ok"], row["rejected"], row["errors"]) == (16, 10, 4, 2)
    assert row["latency_p95_ms"] == 10.0  # refused requests carry no latency figure
