"""Parsing a DAG file loads no heavy library, on either target (fresh interpreter per file)."""

from __future__ import annotations

import json
import os

import pytest

from tests.dags.helpers import DAG_FILES, FORBIDDEN_AT_PARSE, run_python

_SCRIPT = r"""
import importlib.util, json, sys
import airflow  # the DAG processor has imported Airflow before it parses a file
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("LOADED=" + json.dumps(sorted(m for m in sys.modules)))
"""


@pytest.mark.parametrize("target", ["local", "gcp"])
@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_parse_loads_no_heavy_module(path, target):
    env = {**os.environ, "LLMOPS_TARGET": target}
    proc = run_python(_SCRIPT, str(path), env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    loaded = json.loads([x for x in proc.stdout.splitlines() if x.startswith("LOADED=")][-1][7:])
    heavy = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_AT_PARSE))
    assert heavy == [], f"{path.name} on {target} loads {heavy[:10]} at parse time"


def test_guard_detects_a_heavy_import(tmp_path):
    """The guard itself works: a DAG-like file importing duckdb is caught."""
    bad = tmp_path / "bad_dag.py"
    bad.write_text("import duckdb\n")
    proc = run_python(_SCRIPT, str(bad), env=dict(os.environ))
    loaded = json.loads([x for x in proc.stdout.splitlines() if x.startswith("LOADED=")][-1][7:])
    assert "duckdb" in loaded
