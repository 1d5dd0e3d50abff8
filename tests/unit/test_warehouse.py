from __future__ import annotations

import json

import pytest

from llmops_factory.warehouse import duck, load_schema, table_names, table_spec
from llmops_factory.warehouse.schemas import SchemaError


def test_every_declared_table_has_a_valid_schema():
    names = table_names()
    assert {
        "instruction_examples",
        "eval_results",
        "review_queue",
        "review_labels",
        "prediction_log",
        "feedback",
        "monitoring_metrics",
        "deployment_events",
        "alerts",
    } <= set(names)
    for name in names:
        spec = table_spec(name)
        assert spec.fields and spec.description and spec.replace_key


def test_prediction_log_matches_vertex_request_response_logging():
    fields = {f["name"]: (f["type"], f.get("mode")) for f in load_schema("prediction_log")}
    assert fields == {
        "endpoint": ("STRING", "NULLABLE"),
        "deployed_model_id": ("STRING", "NULLABLE"),
        "logging_time": ("TIMESTAMP", "NULLABLE"),
        "request_id": ("NUMERIC", "NULLABLE"),
        "request_payload": ("STRING", "REPEATED"),
        "response_payload": ("STRING", "REPEATED"),
    }


def test_duckdb_tables_follow_the_schemas(tmp_path):
    with duck.session(tmp_path / "w.duckdb") as conn:
        duck.ensure_tables(conn)
        for name in table_names():
            cols = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            schema = load_schema(name)
            assert [c[0] for c in cols] == [f["name"] for f in schema]
            for col, field in zip(cols, schema, strict=False):
                assert (col[2] == "NO") == (field["mode"] == "REQUIRED"), (name, col)
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'prediction_log'"
            ).fetchall()
        )
        assert types["request_payload"] == "VARCHAR[]" and types["logging_time"] == "TIMESTAMP WITH TIME ZONE"


def _alert(alert_id, message="m"):
    return {
        "alert_id": alert_id,
        "alert_time": "2026-01-03T00:00:00Z",
        "severity": "warning",
        "metric": "latency_p95_ms",
        "message": message,
    }


def test_replace_rows_is_idempotent(tmp_path):
    with duck.session(tmp_path / "w.duckdb") as conn:
        assert duck.replace_rows(conn, "alerts", {"alert_id": "a1"}, rows=[_alert("a1")]) == 1
        assert duck.replace_rows(conn, "alerts", {"alert_id": "a1"}, rows=[_alert("a1", "again")]) == 1
        assert duck.replace_rows(conn, "alerts", {"alert_id": "a2"}, rows=[_alert("a2")]) == 1
        assert conn.execute("SELECT message FROM alerts WHERE alert_id='a1'").fetchone()[0] == "again"
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2


def _example(day, i):
    return {
        "example_id": f"e{i}",
        "dataset_version": f"daily-{day}",
        "source": "faq",
        "source_date": day,
        "source_uri": "raw/faq/x.jsonl",
        "source_record": f"line:{i}",
        "source_format": "instruction",
        "group_key": f"g{i}",
        "split": "train",
        "instruction": "q",
        "input": "",
        "output": "a",
        "prompt_name": "support_assistant",
        "prompt_version": "1.0.0",
        "prompt_hash": "h",
        "prompt_text": "q",
        "language": "en",
        "pii_redacted": 0,
        "content_hash": f"c{i}",
    }


def test_jsonl_partition_load_replaces_only_that_day(tmp_path):
    files = {}
    for day, n in (("2026-01-01", 3), ("2026-01-02", 2)):
        path = tmp_path / f"{day}.jsonl"
        path.write_text("".join(json.dumps(_example(day, i)) + "\n" for i in range(n)))
        files[day] = path
    with duck.session(tmp_path / "w.duckdb") as conn:
        duck.replace_rows(
            conn, "instruction_examples", {"source_date": "2026-01-01"}, jsonl_files=[files["2026-01-01"]]
        )
        duck.replace_rows(
            conn, "instruction_examples", {"source_date": "2026-01-02"}, jsonl_files=[files["2026-01-02"]]
        )
        again = duck.replace_rows(
            conn, "instruction_examples", {"source_date": "2026-01-01"}, jsonl_files=[files["2026-01-01"]]
        )
        assert again == 3
        assert conn.execute("SELECT count(*) FROM instruction_examples").fetchone()[0] == 5


def test_load_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    row = _example("2026-01-01", 0)
    del row["output"]
    bad.write_text(json.dumps(row) + "\n")
    with duck.session(tmp_path / "w.duckdb") as conn:
        with pytest.raises(duck.WarehouseError, match=r"bad.jsonl.*required field 'output'"):
            duck.replace_rows(conn, "instruction_examples", {"source_date": "2026-01-01"}, jsonl_files=[bad])
        other_day = tmp_path / "other.jsonl"
        other_day.write_text(json.dumps(_example("2026-01-05", 0)) + "\n")
        with pytest.raises(duck.WarehouseError, match="outside the replace key"):
            duck.replace_rows(
                conn, "instruction_examples", {"source_date": "2026-01-01"}, jsonl_files=[other_day]
            )
        with pytest.raises(duck.WarehouseError, match="replace key must be exactly"):
            duck.replace_rows(conn, "instruction_examples", {"source": "faq"}, rows=[])
        # a failed load leaves the previous content in place
        assert conn.execute("SELECT count(*) FROM instruction_examples").fetchone()[0] == 0


def test_unknown_table_is_named():
    with pytest.raises(SchemaError, match="'nope' is not declared"):
        table_spec("nope")
