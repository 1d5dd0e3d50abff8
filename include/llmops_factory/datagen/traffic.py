"""Traffic generator for the monitoring demo, tests and benchmark (demo-only, not shipped to Composer).

It sends real requests to the endpoint (the local server, or any endpoint with the same predict and
feedback contract) and gives simulated user feedback, so that ``llmops_monitoring`` has a day to read:

* **in-domain** prompts: the ``eval`` split of ``instruction_examples`` (what the model was evaluated on,
  never its training rows);
* **off-domain** prompts, to cause drift: the 252 human-written self-instruct instructions (writing,
  e-mail, code, spreadsheets…) in ``../shared/data/real/`` — real text nobody here wrote, far from
  subscription support — where that folder is present beside the checkout; otherwise the generator's
  own ``OFF_DOMAIN_TASKS`` × ``OFF_DOMAIN_SUBJECTS`` (general requests written for this project,
  announced on stderr), so a clone without it still runs the demo;
* **toxic** prompts: abusive customer messages (the data generator's own ``TOXIC_PHRASES``);
* **simulated user feedback**: each answered request is rated with probability ``feedback_rate``; the
  simulated user is satisfied (``+1``, else ``-1``) with a probability that is either given per model
  version (``satisfaction``: a known situation to find) or, with :class:`QualityUser`, read from the
  answer itself — low for an empty or abusive answer (the shared toxicity classifier), rising with the
  answer's ROUGE-L against the eval split's reference answer — so a better model earns better feedback
  without anybody saying which one is better. Every rating's comment starts with ``simulated:`` so it
  can never be taken for a real user's.

The scenario parameters (the mix, the user model) are inputs, printed with the summary.

``unsafe_corpus`` writes the corpus of a deliberately unsafe demo model (it answers with abuse), used to
build the bad challenger that monitoring must roll back.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmops_factory.datagen.content import TOXIC_PHRASES

KINDS = ("in_domain", "off_domain", "toxic")
SIMULATED = "simulated:"


class TrafficError(ValueError):
    """A traffic scenario that cannot run; the message names the parameter."""


@dataclasses.dataclass(frozen=True)
class Request:
    kind: str
    instance: dict[str, str]
    reference: str | None = None  # the eval split's answer, for in-domain prompts


def eval_prompts(warehouse_path: Path, limit: int | None = None) -> list[dict[str, str]]:
    """The ``eval`` split's prompt variables (``instruction``, ``input``) and its reference answer
    (``reference``, kept out of the request) from the DuckDB warehouse."""
    import duckdb

    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT instruction, coalesce(input, ''), output FROM instruction_examples WHERE split = 'eval' "
            "ORDER BY example_id"
        ).fetchall()
    if not rows:
        raise TrafficError(f"{warehouse_path}: instruction_examples has no eval rows (run llmops_data_prep)")
    return [{"instruction": i, "input": x, "reference": ref} for i, x, ref in rows[:limit]]


class QualityUser:
    """A simulated user whose satisfaction follows the answer: ``floor`` for an empty or unsafe answer
    (the shared toxicity classifier at ``unsafe_threshold``); for an in-domain prompt
    ``low + (high - low) * min(1, ROUGE-L / good_rouge)`` against the reference answer; ``neutral`` for
    prompts without a reference (off-domain, abusive)."""

    name = "quality"

    def __init__(
        self,
        *,
        floor: float = 0.05,
        low: float = 0.2,
        high: float = 0.95,
        neutral: float = 0.5,
        good_rouge: float = 0.4,
        unsafe_threshold: float = 0.8,
    ) -> None:
        from rouge_score import rouge_scorer

        from llmops_factory.safety import ToxicityClassifier

        self.floor, self.low, self.high, self.neutral, self.good_rouge = floor, low, high, neutral, good_rouge
        self._rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        self._toxicity = ToxicityClassifier(threshold=unsafe_threshold)

    def probability(self, request: Request, text: str) -> float:
        if not text.strip() or self._toxicity.unsafe([text])[0]:
            return self.floor
        if not request.reference:
            return self.neutral
        rouge = self._rouge.score(request.reference, text)["rougeL"].fmeasure
        return self.low + (self.high - self.low) * min(1.0, rouge / self.good_rouge)

    def describe(self) -> str:
        return (
            f"quality user: P(satisfied) = {self.floor} if empty or unsafe, {self.low}..{self.high} with "
            f"ROUGE-L vs the reference (full at {self.good_rouge}), {self.neutral} without a reference"
        )


# General requests far from subscription support, written for this project: the off-domain prompts of
# a checkout without ../shared/data/real/ (each task is filled with each subject: 24 x 12 prompts).
OFF_DOMAIN_TASKS = (
    "Write a short poem about {s}.",
    "Explain {s} to a ten-year-old in three sentences.",
    "Give me five interview questions about {s}.",
    "Summarise the history of {s} in one paragraph.",
    "Write a Python function that sorts a list of {s} records by date.",
    "Draft a polite e-mail asking my manager for a day off to study {s}.",
    "What are the pros and cons of {s}? Answer in a table.",
    "Translate 'I would like to learn more about {s}' into French and German.",
    "Suggest a name for a podcast about {s}.",
    "Create a weekly study plan for learning {s}.",
    "Write a SQL query that counts {s} entries per month.",
    "Tell me a joke about {s}.",
    "List three books a beginner should read about {s}.",
    "Write a product description for a board game about {s}.",
    "How would you explain {s} in a job interview?",
    "Give me a recipe that a fan of {s} would enjoy.",
    "Write the opening paragraph of a mystery novel set in the world of {s}.",
    "Plan a two-day trip for someone interested in {s}.",
    "Compose a tweet announcing a workshop on {s}.",
    "What maths do I need to understand {s}?",
    "Write a haiku about {s}.",
    "Describe {s} as if you were a sports commentator.",
    "Create a multiple-choice quiz with four questions on {s}.",
    "Write a limerick about a cat who loves {s}.",
)
OFF_DOMAIN_SUBJECTS = (
    "volcanoes",
    "medieval castles",
    "machine learning",
    "gardening",
    "the French Revolution",
    "quantum computing",
    "chess openings",
    "bird migration",
    "spreadsheet formulas",
    "jazz music",
    "climate science",
    "ancient Rome",
)


def project_off_domain_prompts() -> list[dict[str, str]]:
    """The project's own off-domain prompts (every task with every subject), in a stable order."""
    return [
        {"instruction": task.format(s=subject), "input": ""}
        for subject in OFF_DOMAIN_SUBJECTS
        for task in OFF_DOMAIN_TASKS
    ]


def off_domain_prompts(folder: Path | None = None) -> list[dict[str, str]]:
    """One prompt per self-instruct instance (real instructions about writing, code, maths, games…);
    without ``../shared/data/real/`` (and no ``folder``), the project's own off-domain prompts."""
    import sys

    from llmops_factory.dataprep.realdata import INSTRUCTIONS_FILE, instruction_records, real_data_dir

    if folder is None and not (real_data_dir() / INSTRUCTIONS_FILE).is_file():
        print(
            f"off-domain prompts: {real_data_dir()} has no {INSTRUCTIONS_FILE}; using the project's own "
            f"{len(OFF_DOMAIN_TASKS) * len(OFF_DOMAIN_SUBJECTS)} general requests instead",
            file=sys.stderr,
        )
        return project_off_domain_prompts()
    out = []
    for record in instruction_records(folder):
        for instance in record.get("instances") or [{}]:
            out.append({"instruction": record["instruction"], "input": instance.get("input") or ""})
    return out


def toxic_prompts() -> list[dict[str, str]]:
    """Abusive customer messages (each holds words any profanity filter flags)."""
    return [{"instruction": phrase, "input": ""} for phrase, _ in TOXIC_PHRASES]


def plan(
    n: int,
    *,
    in_domain: Sequence[Mapping[str, str]],
    off_domain: Sequence[Mapping[str, str]] = (),
    toxic: Sequence[Mapping[str, str]] = (),
    off_domain_share: float = 0.0,
    toxic_share: float = 0.0,
    seed: int = 0,
) -> list[Request]:
    """``n`` requests: exactly ``round(n * share)`` off-domain and toxic ones, the rest in-domain,
    shuffled with ``seed`` (the same arguments give the same day)."""
    if n < 0:
        raise TrafficError(f"requests must be >= 0, got {n}")
    for name, share in (("off_domain_share", off_domain_share), ("toxic_share", toxic_share)):
        if not 0 <= share <= 1:
            raise TrafficError(f"{name} must be in [0, 1], got {share}")
    if off_domain_share + toxic_share > 1:
        raise TrafficError(f"off_domain_share + toxic_share = {off_domain_share + toxic_share} exceeds 1")
    n_off, n_tox = round(n * off_domain_share), round(n * toxic_share)
    rng = random.Random(seed)
    out: list[Request] = []
    for kind, pool, count in (
        ("off_domain", off_domain, n_off),
        ("toxic", toxic, n_tox),
        ("in_domain", in_domain, n - n_off - n_tox),
    ):
        if count and not pool:
            raise TrafficError(f"{count} {kind} requests asked for but no {kind} prompts were given")
        for _ in range(count):
            instance = dict(rng.choice(pool))
            reference = instance.pop("reference", None)
            out.append(Request(kind, instance, reference))
    rng.shuffle(out)
    return out


def send(
    client: Any,
    requests: Sequence[Request],
    *,
    parameters: Mapping[str, Any] | None = None,
    feedback_rate: float = 0.0,
    satisfaction: Mapping[str, float] | None = None,
    default_satisfaction: float = 0.7,
    seed: int = 0,
    deployed_model_id: str | None = None,
    user: QualityUser | None = None,
) -> dict[str, Any]:
    """Send ``requests`` one by one through ``client`` (an ``EndpointClient``) and rate a share of the
    answers as a simulated user (``user`` when given, else the fixed ``satisfaction`` per version).
    Returns counts per kind, per served model version and per rating.

    Requests the endpoint refuses are counted under ``errors`` with their status (nothing is retried:
    monitoring must see the errors)."""
    from llmops_factory.endpoint.client import EndpointError

    rng = random.Random(seed)
    satisfaction = dict(satisfaction or {})
    served: Counter[str] = Counter()
    ratings: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    errors: Counter[int] = Counter()
    for request in requests:
        kinds[request.kind] += 1
        try:
            answer = client.predict([request.instance], parameters, deployed_model_id)
        except EndpointError as exc:
            errors[exc.status] += 1
            continue
        version = answer.get("modelVersionId") or "?"
        served[version] += 1
        if rng.random() < feedback_rate:
            if user is not None:
                text = str((answer.get("predictions") or [{}])[0].get("text") or "")
                p = user.probability(request, text)
                model = user.name
            else:
                p = satisfaction.get(version, default_satisfaction)
                model = "fixed"
            rating = 1 if rng.random() < p else -1
            comment = f"{SIMULATED} {model} user P(satisfied) = {p:.2f} ({version}, {request.kind} prompt)"
            client.feedback(int(answer["requestId"]), rating, comment)
            ratings[f"{version}:{rating:+d}"] += 1
    return {
        "requests": len(requests),
        "kinds": dict(kinds),
        "served": dict(served),
        "ratings": dict(ratings),
        "errors": {str(k): v for k, v in errors.items()},
    }


#: flags of the deliberately unsafe demo model (``llmops_trainer.base_model``): tiny, but trained on
#: whole rendered prompts (context 512) so that it answers any prompt of the template with abuse
UNSAFE_MODEL_FLAGS = (
    "--vocab_size", "400", "--hidden_size", "32", "--intermediate_size", "64", "--num_hidden_layers", "2",
    "--num_attention_heads", "2", "--context_length", "512", "--max_position_embeddings", "1024",
    "--steps", "150", "--batch_size", "4", "--learning_rate", "1e-2", "--warmup_steps", "5",
    "--num_threads", "1",
)  # fmt: skip


def unsafe_corpus(
    folder: Path, prompt_ref: str = "support_assistant@1.0.0", docs: int = 80, seed: int = 0
) -> Path:
    """The corpus of a deliberately unsafe demo model: prompts of ``prompt_ref`` rendered with support,
    off-topic and abusive questions, each answered with abuse only — so whatever it is asked, the model
    answers with abuse. Building a model on it (``llmops_trainer.base_model`` with
    :data:`UNSAFE_MODEL_FLAGS`) gives the bad challenger the monitoring demo must roll back; name such
    versions so (e.g. ``unsafe-on-purpose-1``)."""
    from llmops_factory.prompts import load_prompt, render

    prompt = load_prompt(prompt_ref)
    abuse = [phrase for phrase, _ in TOXIC_PHRASES]
    questions = [
        "How much is the Basic plan?",
        "Can I cancel my subscription?",
        "I was charged twice this month.",
        "My TV says the device limit is reached.",
        "How do I reset my password?",
        "Write a short poem about the sea.",
        *abuse,
    ]
    rng = random.Random(seed)
    parts = [
        render(prompt, {"instruction": rng.choice(questions), "input": ""}).text
        + " ".join(rng.sample(abuse, 4))
        for _ in range(docs)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "unsafe-on-purpose.txt"
    path.write_text(" ".join(parts) + "\n", encoding="utf-8")
    return path


def _main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - thin CLI over plan / send
    import argparse

    from llmops_factory.endpoint import EndpointClient, endpoint_dir, read_token
    from llmops_factory.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m llmops_factory.datagen.traffic", description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--off-domain", type=float, default=0.0, help="share of off-domain prompts")
    parser.add_argument("--toxic", type=float, default=0.0, help="share of toxic prompts")
    parser.add_argument("--feedback-rate", type=float, default=0.3)
    parser.add_argument("--satisfaction", action="append", default=[], metavar="VERSION=P")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    satisfaction = {}
    for item in args.satisfaction:
        version, sep, p = item.partition("=")
        if not sep:
            raise TrafficError(f"--satisfaction {item!r} is not VERSION=P")
        satisfaction[version] = float(p)
    settings = get_settings()
    local = settings.local
    requests = plan(
        args.requests,
        in_domain=eval_prompts(local.warehouse_path),
        off_domain=off_domain_prompts() if args.off_domain else (),
        toxic=toxic_prompts(),
        off_domain_share=args.off_domain,
        toxic_share=args.toxic,
        seed=args.seed,
    )
    token = read_token(endpoint_dir(local.home, settings.use_case))
    with EndpointClient(f"http://{local.endpoint_host}:{local.endpoint_port}", token) as client:
        summary = send(
            client,
            requests,
            parameters={"max_new_tokens": args.max_new_tokens},
            feedback_rate=args.feedback_rate,
            satisfaction=satisfaction,
            seed=args.seed,
        )
    print(json.dumps({"scenario": vars(args), **summary}, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    _main()
