"""The HTML evaluation report of one model version: plots and the worst examples side by side.

One self-contained file (plots are inline PNGs drawn with matplotlib's Agg backend, the page is a Jinja2
template with autoescaping): the gate decision and its reasons, candidate vs champion vs base per metric,
per-slice bars, the distribution of per-item ROUGE-L, the benchmark accuracy with its 95% interval, the
contamination count, human ratings (marked *simulated* when the simulated reviewer gave them) and the
worst candidate answers next to the champion's and base model's answers to the same questions.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation of {{ model_name }} version {{ candidate.model_version }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;vertical-align:top}
th{background:#f3f3f3}.ok{color:#106b21}.fail{color:#b00020;font-weight:bold}.sim{background:#fff3cd;padding:.1rem .4rem}
img{max-width:100%}
</style></head><body>
<h1>{{ model_name }} version {{ candidate.model_version }}</h1>
<p>Prompt {{ prompt }} · dataset {{ dataset_version }} · DAG run {{ run_id }}</p>
<h2>Quality gate: <span class="{{ 'ok' if gate.approved else 'fail' }}">{{ 'APPROVED' if gate.approved else 'REJECTED' }}</span></h2>
<ul>{% for c in gate.checks %}<li class="{{ 'ok' if c.passed else 'fail' }}">{{ c.reason }}</li>{% endfor %}</ul>
<h2>Metrics</h2>
<table><tr><th>metric</th>{% for m in models %}<th>{{ m.role }} ({{ m.model_version }})</th>{% endfor %}</tr>
{% for name in metric_names %}<tr><td>{{ name }}</td>{% for m in models %}<td>{{ fmt(m.metrics.get(name)) }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p>Contamination: {{ contamination.count }} of {{ contamination.checked }} eval and benchmark items are near-duplicates of training examples and were excluded.</p>
{% if human %}<h2>Human review {% if simulated %}<span class="sim">simulated</span>{% endif %}</h2>
<p>{{ human.human_labels|int }} ratings{% if simulated %} by the simulated reviewer (rated from the references){% endif %};
mean helpfulness {{ fmt(human.human_rating) }}, correct {{ fmt(human.human_correct_rate) }}, unsafe {{ fmt(human.human_unsafe_rate) }}.</p>{% endif %}
<h2>Plots</h2>
{% for title, png in plots %}<h3>{{ title }}</h3><img alt="{{ title }}" src="data:image/png;base64,{{ png }}">{% endfor %}
<h2>Worst candidate answers</h2>
<table><tr><th>question</th><th>reference</th>{% for m in models %}<th>{{ m.role }}</th>{% endfor %}</tr>
{% for row in worst %}<tr><td>{{ row.question }}</td><td>{{ row.reference }}</td>
{% for answer in row.answers %}<td>{{ answer }}</td>{% endfor %}</tr>{% endfor %}</table>
</body></html>
"""


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "NaN" if math.isnan(number) else f"{number:.4f}"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(models: Sequence[Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plots = []
    names = [
        "rouge_l",
        "bleu",
        "chrf",
        "benchmark_accuracy",
        "relevance",
        "unsafe_rate",
        "hallucination_rate",
    ]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(names))
    for k, m in enumerate(models):
        values = [m.metrics.get(n, math.nan) for n in names]
        ax.bar(
            x + k * width,
            [0 if math.isnan(v) else v for v in values],
            width,
            label=f"{m.role} {m.model_version}",
        )
    ax.set_xticks(x + width * (len(models) - 1) / 2, names, rotation=20)
    ax.legend()
    plots.append(("Candidate vs champion vs base", _png(fig)))

    slice_keys = sorted(k for k in models[0].slices if k.startswith("intent="))
    if slice_keys:
        fig, ax = plt.subplots(figsize=(10, 4))
        x = np.arange(len(slice_keys))
        for k, m in enumerate(models):
            ax.bar(
                x + k * width,
                [m.slices.get(s, {}).get("rouge_l", 0.0) for s in slice_keys],
                width,
                label=m.role,
            )
        ax.set_xticks(
            x + width * (len(models) - 1) / 2, [s.split("=", 1)[1] for s in slice_keys], rotation=20
        )
        ax.set_ylabel("ROUGE-L")
        ax.legend()
        plots.append(("ROUGE-L per intent", _png(fig)))

    fig, ax = plt.subplots(figsize=(10, 3.5))
    for m in models:
        ax.hist([r["rouge_l"] for r in m.items], bins=20, range=(0, 1), alpha=0.5, label=m.role)
    ax.set_xlabel("per-answer ROUGE-L")
    ax.legend()
    plots.append(("Score distributions", _png(fig)))
    return plots


def render_report(
    *,
    model_name: str,
    prompt: str,
    dataset_version: str,
    run_id: str,
    models: Sequence[Any],
    gate: Any,
    contamination: Any,
    human: Mapping[str, float] | None,
    simulated: bool,
    worst: int = 10,
) -> str:
    """The report's HTML; ``models[0]`` is the candidate, the others (champion, base) are compared."""
    from jinja2 import Environment

    candidate = models[0]
    by_item = [{r["item_id"]: r for r in m.items} for m in models]
    rows = []
    for row in sorted(candidate.items, key=lambda r: r["rouge_l"])[:worst]:
        rows.append(
            {
                "question": row["question"],
                "reference": row["reference"],
                "answers": [idx.get(row["item_id"], {}).get("response", "—") for idx in by_item],
            }
        )
    names = sorted({k for m in models for k in m.metrics})
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        model_name=model_name,
        prompt=prompt,
        dataset_version=dataset_version,
        run_id=run_id,
        candidate=candidate,
        models=models,
        gate=gate,
        contamination=contamination,
        human=human,
        simulated=simulated,
        plots=_plots(models),
        worst=rows,
        metric_names=names,
        fmt=fmt,
    )
