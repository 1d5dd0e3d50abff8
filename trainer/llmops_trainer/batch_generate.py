"""``python -m llmops_trainer batch-generate``: answers, benchmark log-likelihoods and held-out loss of
one model, for evaluation (a Vertex AI custom job on gcp, the same entrypoint as a process locally).

Inputs (gs:// or local, like the trainer's):

* ``--model_dir`` — a merged model folder (``models/<model_version>/merged/``, or a base model);
* ``--items`` — JSONL of rows to answer: ``item_id``, ``kind`` (``eval`` / ``probe`` / ``toxic``),
  ``instruction``, ``input``, ``reference``; other fields (``group``, ``source``, ``intent``) are copied;
* ``--benchmark`` — JSONL of MMLU-format items (``llmops_factory.evaluation.benchmark``);
* ``--prompt`` ``name@version`` with ``--prompt_root`` (the published bundle) and ``--prompt_sha256``
  (refuses another text than the one pinned) — the deployed prompt, rendered by the one renderer.

Outputs under ``--output_dir`` (default ``AIP_MODEL_DIR``): ``generations.jsonl`` (one row per item,
with ``response``, ``tokens_out``, ``finish_reason`` and ``relevance``, the question/answer embedding
similarity, computed here where torch is), ``benchmark.jsonl`` (each option's summed
log-likelihood and the ``predicted`` letter), ``metrics.json`` (held-out loss on the ``eval`` rows'
references, generation throughput) and ``done.json`` last, so a reader never sees half a result.

Generation uses the serving engine (``serve_engine.Generator``: the serving tokenisation, left-padded
batches, greedy decoding with the prompt's stop strings), ``--batch_size`` rows at a time
(``--batch_size 1`` measures one-at-a-time). A benchmark item is scored in its cloze formulation: the
rendered prompt asks the question, the answer starts with the item's ``answer_prefix``, and each option is
scored as the continuation by the sum of its tokens' log-probabilities; the best-scoring option is the
prediction.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmops_trainer import storage
from llmops_trainer.data import DataError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m llmops_trainer batch-generate", description=__doc__.split("\n")[0]
    )
    p.add_argument("--model_dir", required=True)
    p.add_argument("--items", required=True)
    p.add_argument("--benchmark", default="")
    p.add_argument("--prompt", required=True, help="name@version of the published prompt bundle")
    p.add_argument("--prompt_root", default=None)
    p.add_argument("--prompt_sha256", default="")
    p.add_argument("--output_dir", default=os.environ.get("AIP_MODEL_DIR", ""))
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--max_new_tokens", type=int, default=0, help="0: the prompt's own max_new_tokens")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--relevance_model",
        default="",
        help="sentence-embedding model folder for question/answer relevance; empty: the packaged "
        "all-MiniLM-L6-v2; 'none' to skip",
    )
    args = p.parse_args(list(argv or []))
    if not args.output_dir:
        raise DataError("--output_dir is not set and AIP_MODEL_DIR is empty: nowhere to write")
    if args.batch_size < 1:
        raise DataError(f"--batch_size must be >= 1, got {args.batch_size}")
    return args


def read_jsonl(uri: str, what: str) -> list[dict[str, Any]]:
    if not storage.exists(uri):
        raise DataError(f"{what} file {uri} does not exist")
    rows = []
    for n, line in enumerate(storage.read_bytes(uri).decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{uri}:{n}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{uri}:{n}: a row must be a JSON object")
        rows.append(row)
    return rows


def check_items(rows: list[dict[str, Any]], uri: str) -> None:
    if not rows:
        raise DataError(f"items file {uri} holds no rows: nothing to generate")
    seen = set()
    for n, row in enumerate(rows, start=1):
        for name in ("item_id", "kind", "instruction"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                raise DataError(f"{uri}: row {n}: field {name!r} is missing or empty")
        if row["item_id"] in seen:
            raise DataError(f"{uri}: row {n}: item_id {row['item_id']!r} appears twice")
        seen.add(row["item_id"])


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generate(
    generator, prompt, rows: list[dict[str, Any]], batch_size: int, max_new_tokens: int
) -> tuple[list, float]:
    """Answers of every row, ``batch_size`` rows per ``generate`` call; returns (outputs, seconds)."""
    from llmops_factory.prompts import render
    from llmops_trainer.serve_schema import GenerationParams

    gen = prompt.generation
    params = GenerationParams(
        max_new_tokens=max_new_tokens or int(gen["max_new_tokens"]),
        temperature=0.0,
        top_p=1.0,
        stop=tuple(gen.get("stop") or ()),
    )
    from llmops_trainer.serve_engine import Row

    encoded = [
        generator.encode(
            render(prompt, {"instruction": r["instruction"], "input": r.get("input") or ""}).text
        )
        for r in rows
    ]
    # longest first: fewer pad tokens per batch
    order = sorted(range(len(rows)), key=lambda i: -len(encoded[i]))
    outputs: list[Any] = [None] * len(rows)
    started = time.perf_counter()
    for at in range(0, len(order), batch_size):
        chunk = order[at : at + batch_size]
        for i, out in zip(
            chunk, generator.generate([Row(encoded[i], params) for i in chunk], seed=0), strict=True
        ):
            outputs[i] = out
    return outputs, time.perf_counter() - started


def _sequence_logprobs(
    generator, pairs: list[tuple[list[int], list[int]]], batch_size: int
) -> list[tuple[float, int]]:
    """Summed log-probability of each continuation given its context, and its token count."""
    torch = generator._torch
    model = generator.model
    out: list[tuple[float, int]] = []
    for at in range(0, len(pairs), batch_size):
        chunk = pairs[at : at + batch_size]
        seqs = [ctx + cont for ctx, cont in chunk]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), generator.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        with torch.inference_mode():
            logits = model(
                input_ids=ids.to(generator.device), attention_mask=mask.to(generator.device)
            ).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
        for i, (ctx, cont) in enumerate(chunk):
            positions = range(len(ctx) - 1, len(ctx) + len(cont) - 1)
            total = sum(float(logp[i, pos, tok]) for pos, tok in zip(positions, cont, strict=True))
            out.append((total, len(cont)))
    return out


def benchmark_context_text(prompt, item: dict[str, Any]) -> tuple[str, list[str]]:
    """The cloze formulation of one item (``llmops_factory.evaluation.benchmark``): the rendered prompt
    asking the question, followed by the item's answer prefix; and each option's scored continuation."""
    from llmops_factory.evaluation.benchmark import cloze_continuation
    from llmops_factory.prompts import render

    asked = render(prompt, {"instruction": str(item["question"]), "input": ""}).text
    prefix = str(item.get("answer_prefix") or "")
    parts = [cloze_continuation(prefix, str(choice)) for choice in item["choices"]]
    return asked + parts[0][0], [cont for _, cont in parts]


def score_benchmark(generator, prompt, items: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    """Each option's summed log-likelihood as the continuation of the item's context; the best wins."""
    from llmops_factory.evaluation.benchmark import LETTERS

    pairs = []
    for item in items:
        context, continuations = benchmark_context_text(prompt, item)
        ctx = generator.encode(context)
        for k, cont_text in enumerate(continuations):
            cont = generator.tokenizer(cont_text, add_special_tokens=False)["input_ids"]
            if not cont:
                raise DataError(f"benchmark item {item['item_id']}: option {LETTERS[k]} has no tokens")
            pairs.append((ctx, cont))
    scores = _sequence_logprobs(generator, pairs, batch_size * 4)
    rows = []
    for n, item in enumerate(items):
        own = scores[4 * n : 4 * n + 4]
        logliks = [s for s, _ in own]
        best = max(range(4), key=lambda k: logliks[k])
        rows.append(
            {
                "item_id": item["item_id"],
                "logliks": [round(v, 5) for v in logliks],
                "predicted": LETTERS[best],
                "answer": item["answer"],
            }
        )
    return rows


def held_out_loss(generator, prompt, rows: list[dict[str, Any]], batch_size: int) -> tuple[float, int]:
    """Token-weighted mean loss on the references (response + EOS), as training computes it."""
    from llmops_factory.prompts import render

    pairs = []
    for r in rows:
        ctx = generator.encode(
            render(prompt, {"instruction": r["instruction"], "input": r.get("input") or ""}).text
        )
        cont = generator.tokenizer(str(r["reference"]), add_special_tokens=False)["input_ids"] + [
            generator.eos_id
        ]
        pairs.append((ctx, cont))
    if not pairs:
        return math.nan, 0
    scores = _sequence_logprobs(generator, pairs, batch_size)
    tokens = sum(n for _, n in scores)
    return -sum(s for s, _ in scores) / tokens, tokens


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from llmops_trainer.serve import load_serving_prompt
    from llmops_trainer.serve_engine import Generator

    items = read_jsonl(args.items, "items")
    check_items(items, args.items)
    bench = read_jsonl(args.benchmark, "benchmark") if args.benchmark else []
    prompt = load_serving_prompt(args.prompt, args.prompt_root)
    if args.prompt_sha256 and prompt.hash != args.prompt_sha256:
        raise DataError(
            f"prompt {args.prompt} has hash {prompt.hash[:12]}, but the run pinned {args.prompt_sha256[:12]}: "
            "refusing to generate with another text"
        )
    if not storage.exists(args.model_dir):
        raise DataError(f"model folder {args.model_dir} does not exist")
    local = storage.local_path(args.model_dir)
    if local is None or not local.exists():
        local = storage.download_tree(args.model_dir, Path(tempfile.mkdtemp(prefix="llmops-batch-")))
    started = time.perf_counter()
    generator = Generator(local, device=resolve_device(args.device), threads=args.threads or None)
    load_s = time.perf_counter() - started

    outputs, gen_s = generate(generator, prompt, items, args.batch_size, args.max_new_tokens)
    generations = []
    for row, out in zip(items, outputs, strict=True):
        generations.append(
            {**row, "response": out.text, "tokens_out": out.tokens_out, "finish_reason": out.finish_reason}
        )
    if args.relevance_model != "none":
        from llmops_factory.evaluation.checks import RelevanceScorer

        relevance = RelevanceScorer(args.relevance_model).scores(
            [str(g.get("question") or g["instruction"]) for g in generations],
            [g["response"] for g in generations],
        )
        for g, value in zip(generations, relevance, strict=True):
            g["relevance"] = round(value, 6)
    bench_rows = score_benchmark(generator, prompt, bench, args.batch_size) if bench else []
    eval_rows = [r for r in items if r["kind"] == "eval" and str(r.get("reference") or "").strip()]
    loss, loss_tokens = held_out_loss(generator, prompt, eval_rows, args.batch_size)
    metrics = {
        "eval_loss": loss,
        "eval_loss_tokens": loss_tokens,
        "generation": {
            "rows": len(items),
            "seconds": round(gen_s, 3),
            "rows_per_s": round(len(items) / gen_s, 3) if gen_s else None,
            "batch_size": args.batch_size,
            "tokens_out": sum(o.tokens_out for o in outputs),
        },
        "benchmark_items": len(bench_rows),
        "model_load_s": round(load_s, 3),
        "prompt": args.prompt,
        "prompt_sha256": prompt.hash,
        "model_dir": args.model_dir,
        "device": str(generator.device),
    }
    out = args.output_dir
    storage.write_bytes(
        storage.join(out, "generations.jsonl"),
        "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in generations).encode(),
    )
    storage.write_bytes(
        storage.join(out, "benchmark.jsonl"), "".join(json.dumps(b) + "\n" for b in bench_rows).encode()
    )
    storage.write_bytes(storage.join(out, "metrics.json"), json.dumps(metrics, indent=2).encode())
    storage.write_bytes(storage.join(out, "done.json"), json.dumps({"rows": len(items)}).encode())
    print(json.dumps({"output_dir": out, **metrics["generation"], "eval_loss": loss}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
