"""Helpers of the prompts tests: a small valid prompt document to break in one place per test."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: A small valid prompt; tests replace one line of it. Line numbers are asserted, keep the layout.
GOOD = textwrap.dedent(
    """\
    name: demo
    version: 1.0.0
    description: A small prompt for the tests.
    owner: tests
    variables:
      question:
        type: str
        description: The question.
      context:
        type: str
        required: false
        default: ""
        description: Optional context.
    template:
      system: You answer questions.
      user: |
        {{ question }}
        {% if context %}
        Context: {{ context }}
        {% endif %}
      format: "{{ system }}\\n\\nQ: {{ user }}\\nA:"
    generation:
      max_new_tokens: 32
      temperature: 0.0
      top_p: 1.0
      stop: ["\\nQ:"]
    budget:
      max_prompt_tokens: 64
      context_window: 128
    examples:
      - name: plain
        variables:
          question: Why?
        expected:
          text: |-
            You answer questions.

            Q: Why?
            A:
    """
)


def write_prompt(folder: Path, text: str, name: str = "demo", version: str = "1.0.0") -> Path:
    """Write ``text`` as ``<folder>/<name>/<version>.yaml`` and return the path."""
    path = folder / name / f"{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
