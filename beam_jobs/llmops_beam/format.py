"""Turn curated records into instruction examples (rows of ``instruction_examples``) with the shared renderer.

=============== ==================================================================================
record kind     examples
=============== ==================================================================================
conversation    one per assistant reply that follows a user message: instruction = that user message,
                input = the earlier turns as context (``User: …`` / ``Assistant: …`` lines, at most
                ``max_context_turns`` turns and ``max_context_chars`` characters, newest kept),
                output = the reply; group_key = the conversation id
instruction     as is (instruction / input / output), one example per instance (a seed-task record
                with N ``instances`` gives N examples); group_key = the record id
section         instruction = the ``user`` text of the instruction prompt (``support_instruction``)
                rendered with the article title and section heading; input = ""; output = the section
                text; group_key = the document slug
ticket          instruction = customer_message, input = "", output = agent_reply; group_key = ticket_id
=============== ==================================================================================

Every row's ``prompt_text`` is ``render(serving_prompt, {"instruction": …, "input": …}).text`` — the
exact model input used in training and serving. Each row is checked against the warehouse schema;
a record that cannot be rendered or does not conform is dead-lettered at stage ``format``.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from llmops_beam.quality import reply_pairs
from llmops_beam.records import DEAD_LETTER, STATS, dead_letter, stable_hash

ROLE_NAMES = {"user": "User", "assistant": "Assistant"}


class PortablePrompt:
    """A loaded prompt that travels to workers as its validated spec and is recompiled in ``setup``.

    Workers never need the repository's ``prompts/`` folder or a bundle store: the launcher loads (and
    integrity-checks) the prompt, and the spec (plain data) is what gets pickled.
    """

    def __init__(self, prompt: Any):
        self.spec, self.hash, self.source = prompt.spec, prompt.hash, prompt.source
        self._prompt = None

    def __getstate__(self):
        return {"spec": self.spec, "hash": self.hash, "source": self.source}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._prompt = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def ref(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    def get(self):
        """The compiled ``Prompt`` (compiled once per process)."""
        if self._prompt is None:
            from llmops_factory.prompts.models import Prompt, content_hash
            from llmops_factory.prompts.renderer import compile_prompt

            if content_hash(self.spec) != self.hash:
                raise ValueError(f"prompt {self.ref}: spec does not match its hash {self.hash[:12]}…")
            compiled, problems = compile_prompt(self.spec)
            if compiled is None:
                raise ValueError(f"prompt {self.ref} does not compile: {problems}")
            self._prompt = Prompt(spec=self.spec, hash=self.hash, source=self.source, compiled=compiled)
        return self._prompt

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "hash": self.hash}


def context_text(turns: list[list[str]], max_turns: int, max_chars: int) -> str:
    """Earlier conversation turns as ``Role: text`` lines, newest kept within the bounds."""
    lines: list[str] = []
    size = 0
    for label, text in reversed([t for t in turns if t[0] in ROLE_NAMES and t[1].strip()][-max_turns:]):
        line = f"{ROLE_NAMES[label]}: {text}"
        if size + len(line) + 1 > max_chars:
            room = max_chars - size - len(ROLE_NAMES[label]) - 4
            if room > 40:
                lines.append(f"{ROLE_NAMES[label]}: …{text[-room:]}")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(reversed(lines))


def examples_of(
    record: dict[str, Any], instruction_prompt: Any, max_context_turns: int, max_context_chars: int
) -> list[tuple[int, str, str, str, int]]:
    """``(turn, instruction, input, output, pii count)`` for every example a record yields."""
    texts, pii = record["texts"], record.get("pii") or [0] * len(record["texts"])
    kind = record["kind"]
    if kind == "conversation":
        out = []
        for reply in reply_pairs(texts):
            user = max(i for i in range(reply) if texts[i][0] == "user" and texts[i][1].strip())
            earlier = texts[:user]
            context = context_text(earlier, max_context_turns, max_context_chars)
            included = (
                [i for i in range(user) if texts[i][0] in ROLE_NAMES][-max_context_turns:] if context else []
            )
            count = pii[user] + pii[reply] + sum(pii[i] for i in included)
            out.append((reply, texts[user][1], context, texts[reply][1], count))
        return out
    if kind == "instruction":
        return instruction_examples(texts, pii)
    by_label = {label: (text, pii[i]) for i, (label, text) in enumerate(texts)}
    if kind == "section":
        from llmops_factory.prompts import render

        rendered = render(
            instruction_prompt.get(),
            {"article_title": by_label["title"][0], "section_heading": by_label["heading"][0]},
        )
        return [
            (
                0,
                rendered.user,
                "",
                by_label["body"][0],
                by_label["title"][1] + by_label["heading"][1] + by_label["body"][1],
            )
        ]
    if kind == "ticket":
        return [
            (
                0,
                by_label["customer_message"][0],
                "",
                by_label["agent_reply"][0],
                by_label["customer_message"][1] + by_label["agent_reply"][1],
            )
        ]
    raise ValueError(f"unknown record kind {kind!r}")


def instruction_examples(texts: list[list[str]], pii: list[int]) -> list[tuple[int, str, str, str, int]]:
    """One example per (input, output) instance of an instruction record (``instruction`` first, then
    ``input``/``output`` pairs; a seed-task record with N instances has N pairs)."""
    if not texts or texts[0][0] != "instruction":
        raise ValueError("instruction record without its instruction text first")
    instruction, instruction_pii = texts[0][1], pii[0]
    out = []
    for turn, i in enumerate(range(1, len(texts), 2)):
        (in_label, input_), (out_label, output) = texts[i], texts[i + 1]
        if (in_label, out_label) != ("input", "output"):
            raise ValueError(
                f"instruction record: texts {i} and {i + 1} are {in_label}/{out_label}, not input/output"
            )
        out.append((turn, instruction, input_, output, instruction_pii + pii[i] + pii[i + 1]))
    return out


class FormatExamplesFn(beam.DoFn):
    """Record → example rows (main; ``_order`` is the write order, dropped by the sink) or a dead letter."""

    def __init__(
        self,
        prompt: PortablePrompt,
        instruction_prompt: PortablePrompt,
        dataset_version: str,
        source_date: str,
        max_context_turns: int,
        max_context_chars: int,
    ):
        self.prompt, self.instruction_prompt = prompt, instruction_prompt
        self.dataset_version, self.source_date = dataset_version, source_date
        self.max_context_turns, self.max_context_chars = max_context_turns, max_context_chars
        self.examples = Metrics.counter("format", "examples")
        self.records_ok = Metrics.counter("format", "records_ok")

    def setup(self):
        from llmops_factory.dataprep.manifest import check_row
        from llmops_factory.dataprep.pii import PiiRedactor
        from llmops_factory.prompts import render
        from llmops_factory.warehouse.schemas import load_schema

        self.render, self.check_row = render, check_row
        self.schema = load_schema("instruction_examples")
        self.redactor = PiiRedactor()
        self.serving = self.prompt.get()
        self.instruction_prompt.get()

    def process(self, record: dict[str, Any]):
        try:
            rows = []
            for turn, instruction, input_, output, pii in examples_of(
                record, self.instruction_prompt, self.max_context_turns, self.max_context_chars
            ):
                content = stable_hash(instruction, input_, output)
                row = {
                    "example_id": stable_hash(
                        record["source"],
                        record["group_key"],
                        record["source_uri"],
                        record["source_record"],
                        str(turn),
                        content,
                    )[:32],
                    "dataset_version": self.dataset_version,
                    "source": record["source"],
                    "source_date": self.source_date,
                    "source_uri": record["source_uri"],
                    "source_record": record["source_record"],
                    "source_format": record["source_format"],
                    "group_key": record["group_key"],
                    "split": "",
                    "instruction": instruction,
                    "input": input_,
                    "output": output,
                    "prompt_name": self.serving.name,
                    "prompt_version": self.serving.version,
                    "prompt_hash": self.serving.hash,
                    "prompt_text": self.render(
                        self.serving, {"instruction": instruction, "input": input_}
                    ).text,
                    "language": record.get("language"),
                    "pii_redacted": int(pii),
                    "content_hash": content,
                }
                problems = self.check_row(row, self.schema)
                if problems:
                    raise ValueError(
                        f"row for turn {turn} does not match instruction_examples: {'; '.join(problems)}"
                    )
                rows.append((f"{record['sort_key']}#{turn:05d}", row))
            if not rows:
                raise ValueError(f"{record['kind']} record yielded no example")
        except Exception as exc:  # a record that cannot be formatted is data, not a crash
            reason = "render_error" if type(exc).__name__.startswith("Prompt") else "format_error"
            Metrics.counter("format", reason).inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                dead_letter(
                    record,
                    "format",
                    reason,
                    f"{type(exc).__name__}: {exc}",
                    "\n".join(t for _, t in record["texts"]),
                    self.redactor,
                ),
            )
            return
        self.records_ok.inc()
        self.examples.inc(len(rows))
        yield beam.pvalue.TaggedOutput(STATS, (("records_ok", record["source"]), 1))
        for order, row in rows:
            yield order, row


class FormatExamples(beam.PTransform):
    """Records → ``examples`` (``(order, row)``), ``dead_letter`` and ``stats`` (records_ok per source)."""

    def __init__(
        self,
        prompt: PortablePrompt,
        instruction_prompt: PortablePrompt,
        dataset_version: str,
        source_date: str,
        max_context_turns: int = 6,
        max_context_chars: int = 2000,
    ):
        super().__init__()
        self.fn = FormatExamplesFn(
            prompt, instruction_prompt, dataset_version, source_date, max_context_turns, max_context_chars
        )

    def expand(self, records):
        return records | "RenderInstructionExamples" >> beam.ParDo(self.fn).with_outputs(
            DEAD_LETTER, STATS, main="examples"
        )
