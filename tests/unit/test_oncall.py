from __future__ import annotations

import ast
from pathlib import Path

from llmops_factory.oncall import runbook_excerpt, runbook_paragraphs

REPO = Path(__file__).resolve().parents[2]

DOC = """
# demo (runbook)

**What it does.** Loads things:

1. `load_examples` — replaces the day's partition
   of `instruction_examples`.
2. `load_examples_extra` — another task whose id starts like the first.

**Failures and what to do.**
- `load_examples` failed: the warehouse is locked or the file is bad;
  clear the task.
- `validate` failed: read the counts.

**Re-runs.** Clearing `load_examples` is safe.
"""


def test_failure_paragraph_first_then_description_then_other_mentions():
    paragraphs = runbook_paragraphs(DOC, "load_examples")
    assert paragraphs == [
        "- `load_examples` failed: the warehouse is locked or the file is bad;\n  clear the task.",
        "1. `load_examples` — replaces the day's partition\n   of `instruction_examples`.",
        "**Re-runs.** Clearing `load_examples` is safe.",
    ]


def test_task_id_is_matched_exactly_not_as_a_prefix():
    assert runbook_paragraphs(DOC, "load_examples_extra") == [
        "2. `load_examples_extra` — another task whose id starts like the first."
    ]
    assert runbook_paragraphs(DOC, "load") == []


def test_unknown_task_or_missing_doc_gives_nothing():
    assert runbook_excerpt(DOC, "no_such_task") is None
    assert runbook_excerpt(None, "load_examples") is None
    assert runbook_excerpt("", "load_examples") is None


def test_excerpt_is_bounded():
    text = runbook_excerpt(DOC, "load_examples", max_chars=40)
    assert text is not None and len(text) == 40 and text.endswith("…")


def _docstring(dag_file: str) -> str:
    return ast.get_docstring(ast.parse((REPO / "dags" / dag_file).read_text())) or ""


def test_every_failure_bullet_of_the_real_runbooks_is_found():
    doc = _docstring("llmops_data_prep.py")
    text = runbook_excerpt(doc, "validate_dataset")
    assert text is not None
    assert text.startswith("- `validate_dataset` failed: the message gives the counts.")
    assert "`validate_dataset` — counts reconcile" in text
    sensor = runbook_excerpt(doc, "wait_for_raw_partition")
    assert sensor is not None and "clear the task" in sensor
    finetune = runbook_excerpt(_docstring("llmops_finetune.py"), "train_model")
    assert finetune is not None and "resumes from its last checkpoint" in finetune
