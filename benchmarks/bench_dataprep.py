"""Benchmark of data preparation: element-logic throughput, DirectRunner end to end, detection quality.

Prints (and writes as JSON with ``--out``):

1. Element logic: docs/s/core of each step's per-record function (parse, normalise, redact PII, quality,
   MinHash, format) on generated records, in one process (CPU time, so "per core").
2. End to end: the pipeline (``beam_jobs/data_prep.py``) on DirectRunner for each ``--records`` size on a
   day written by the raw-data generator: wall time, records/s, peak RSS of the process tree, and the
   time ratio between consecutive sizes against the size ratio (linear growth ⇒ equal ratios).
4. Real data written by others (``../shared/data/real/``): PII precision / recall per kind beside the
   previous design's figures, the toxicity model's precision / recall / FPR sweep, and how many of the
   252 human-written instructions the toxicity filter flags.
3. Quality against the generator's ground truth (largest size): near-duplicate precision and recall
   (precision also against the definition: exact 5-word-shingle Jaccard of each removed record with the
   record it duplicates) and PII recall (injected values found in no output file).

    python benchmarks/bench_dataprep.py --records 100000 1000000      # the figures of the issue
    python benchmarks/bench_dataprep.py --records 2000 --element-docs 500   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for folder in ("include", "beam_jobs"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))

DS = "2026-03-01"


def generate(root: Path, records: int, seed: int) -> dict:
    from llmops_factory.datagen import generate_day

    start = time.perf_counter()
    summary = generate_day(root.as_uri(), DS, seed=seed, scale=records)
    summary["generate_s"] = round(time.perf_counter() - start, 2)
    return summary


# -- 1. element logic ------------------------------------------------------------------------------
def element_throughput(root: Path, limit: int) -> dict:
    """CPU docs/s of each step's element function over the first ``limit`` raw records of the day."""
    from llmops_beam.dedup import MinHashFn, content_hash
    from llmops_beam.format import FormatExamplesFn, PortablePrompt
    from llmops_beam.io import ReadPartitionFileFn, list_partition_files
    from llmops_beam.normalize import normalize_text
    from llmops_beam.parse import RecordError, parse_raw
    from llmops_beam.pipeline import DEFAULT_INSTRUCTION_PROMPT, DEFAULT_PROMPT
    from llmops_beam.quality import LanguageIdentifier, check_quality
    from llmops_factory.dataprep.pii import PiiRedactor
    from llmops_factory.prompts import load_prompt
    from llmops_factory.safety import ToxicityClassifier

    reader = ReadPartitionFileFn(str(root))
    raws = []
    for source, rel in list_partition_files(str(root), DS):
        raws.extend(reader.process((source, rel)))
    raws.sort(key=lambda r: r["sort_key"])
    step = max(1, len(raws) // limit)
    raws = raws[::step][:limit]  # every source, in proportion
    redactor, lid, toxicity = PiiRedactor(), LanguageIdentifier(), ToxicityClassifier()
    minhash = MinHashFn(128, 20, 6)
    minhash.setup()
    fmt = FormatExamplesFn(
        PortablePrompt(load_prompt(DEFAULT_PROMPT)),
        PortablePrompt(load_prompt(DEFAULT_INSTRUCTION_PROMPT)),
        "daily-x",
        DS,
        6,
        2000,
    )
    fmt.setup()
    timings: Counter[str] = Counter()
    counts: Counter[str] = Counter()

    def timed(name, fn, *args):
        start = time.process_time()
        out = fn(*args)
        timings[name] += time.process_time() - start
        counts[name] += 1
        return out

    for raw in raws:
        try:
            record = timed("parse", parse_raw, raw)
        except RecordError:
            continue
        record["texts"] = timed(
            "normalize", lambda r: [[lb, normalize_text(t)] for lb, t in r["texts"]], record
        )
        record["texts"] = timed(
            "redact_pii", lambda r: [[lb, redactor.redact(t)[0]] for lb, t in r["texts"]], record
        )
        reason, language = timed(
            "quality", check_quality, record, 20, 20_000, frozenset({"en"}), lid, toxicity
        )
        if reason:
            continue
        record["language"] = language
        record["content_hash"] = timed("content_hash", content_hash, record)
        timed("minhash", lambda r: list(minhash.process(r)), record)
        timed("format", lambda r: list(fmt.process(r)), record)
    total = sum(timings.values())
    per_step = {
        name: {
            "docs": counts[name],
            "cpu_s": round(timings[name], 3),
            "docs_per_s_per_core": round(counts[name] / timings[name]) if timings[name] else None,
        }
        for name in ("parse", "normalize", "redact_pii", "quality", "content_hash", "minhash", "format")
    }
    return {
        "records": len(raws),
        "cpu_s": round(total, 3),
        "docs_per_s_per_core": round(len(raws) / total) if total else None,
        "steps": per_step,
    }


# -- 2. end to end ---------------------------------------------------------------------------------
def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def end_to_end(root: Path, workers: int, mode: str, timeout: int, max_rss_gib: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "include"), str(REPO / "beam_jobs")]))
    cmd = [
        sys.executable,
        str(REPO / "beam_jobs" / "data_prep.py"),
        "--storage_root",
        root.as_uri(),
        "--ds",
        DS,
        "--runner",
        "DirectRunner",
        "--direct_num_workers",
        str(workers),
        "--direct_running_mode",
        mode,
    ]
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        if time.perf_counter() - start > timeout:
            proc.kill()
            raise RuntimeError(f"end-to-end run exceeded {timeout}s")
        if peak > max_rss_gib * 2**30:
            import psutil

            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            raise RuntimeError(
                f"end-to-end run exceeded --max-rss-gib={max_rss_gib} (peak {peak / 2**30:.1f} GiB)"
            )
        time.sleep(0.25)
    wall = time.perf_counter() - start
    reader.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline failed (exit {proc.returncode}):\n{''.join(output[-40:])}")
    manifest = json.loads((root / "datasets" / f"daily-{DS}" / "manifest.json").read_text())
    from llmops_factory.dataprep import reconcile

    reconcile(manifest)
    totals = manifest["totals"]
    return {
        "wall_s": round(wall, 2),
        "records_in": totals["records_in"],
        "examples_out": totals["examples_out"],
        "records_per_s": round(totals["records_in"] / wall, 1),
        "peak_rss_mib": round(peak / 2**20),
        "workers": workers,
        "mode": mode,
    }


# -- 3. quality ------------------------------------------------------------------------------------
def detection_quality(root: Path) -> dict:
    from llmops_factory.datagen import full_text, jaccard
    from llmops_factory.dataprep.groundtruth import load_outputs, read_jsonl, score_near_duplicates, score_pii

    dataset = root / "datasets" / f"daily-{DS}"
    gt = read_jsonl([root / "reports" / "datagen" / f"dt={DS}" / "ground_truth.jsonl"])
    outputs = load_outputs(dataset)
    near = score_near_duplicates(gt, outputs)
    # precision against the definition: the removed record and its representative really are ≥ threshold
    threshold = json.loads((dataset / "manifest.json").read_text())["options"]["near_dup_threshold"]
    lines: dict[str, list[bytes]] = {}

    def text_of(key: str) -> str | None:
        path, locator = key.split("#")
        source = path.split("/")[1]
        if not locator.startswith("line:") or source == "tickets":
            return None
        if path not in lines:
            lines[path] = (root / path).read_bytes().split(b"\n")
        try:
            return full_text(source, json.loads(lines[path][int(locator[5:]) - 1]))
        except (ValueError, KeyError, TypeError):
            return None

    checked = agree = 0
    for row in outputs["filtered"]:
        if row["reason"] != "near_duplicate":
            continue
        a = text_of(f"{row['source_uri']}#{row['source_record']}")
        b = text_of(row["detail"].split(" of ", 1)[1])
        if a is None or b is None:
            continue
        checked += 1
        agree += jaccard(a, b) >= threshold - 1e-9
    near["precision_vs_definition"] = round(agree / checked, 4) if checked else None
    near["pairs_checked_vs_definition"] = checked
    return {"near_duplicates": near, "pii": score_pii(gt, dataset)}


# -- 4. real data written by others ---------------------------------------------------------------
# Figures of the previous design (word-list toxicity, langdetect, whitespace-collapsing normaliser,
# greedy number recognisers), measured with the same scoring on the same files, for the table.
BEFORE = {
    "pii": {
        "email": (1.0, 1.0),
        "phone": (0.9294, 0.684),
        "credit_card": (1.0, 0.8088),
        "iban": (1.0, 1.0),
        "ip": (1.0, 1.0),
        "person_name": (1.0, 0.0417),
    },
    "element_docs_per_s_per_core": 789,
}


def real_data() -> dict:
    """PII per kind, toxicity and the 252 human-written instructions, against ../shared/data/real/."""
    from llmops_factory.dataprep import realdata
    from llmops_factory.dataprep.pii import PiiRedactor
    from llmops_factory.safety import ToxicityClassifier

    if not realdata.available():
        return {"skipped": f"{realdata.real_data_dir()} not found"}
    redactor = PiiRedactor()
    start = time.process_time()
    sentences = realdata.load_pii_sentences()
    pii = realdata.score_pii(redactor.find, sentences)
    pii_ms = 1000 * (time.process_time() - start) / len(sentences)
    clf = ToxicityClassifier()
    rows = realdata.load_offensive()
    scores = clf.scores([t for t, _ in rows])
    toxicity = realdata.score_toxicity(scores, [c for _, c in rows], clf.threshold)
    sweep = [realdata.score_toxicity(scores, [c for _, c in rows], t) for t in (0.5, 0.7, 0.8, 0.9, 0.95)]
    texts = []
    for record in realdata.instruction_records():
        for inst in record["instances"]:
            texts.append([record["instruction"], inst["input"], inst["output"]])
    flagged = sum(max(clf.scores(t)) >= clf.threshold for t in texts)
    toxicity["real_instructions_flagged"] = flagged
    toxicity["real_instructions_fpr"] = round(flagged / len(texts), 4)
    print("\nPII on pii-presidio-synth-v2.json (token precision / recall; before -> after)")
    print(
        f"{'kind':<13}{'label':<15}{'gold':>6}  {'P before':>9}{'P after':>9}  {'R before':>9}{'R after':>9}"
    )
    for kind, row in pii.items():
        bp, br = BEFORE["pii"][kind]
        print(
            f"{kind:<13}{row['label']:<15}{row['gold_spans']:>6}  {bp:>9.4f}{row['token_precision'] or 0:>9.4f}"
            f"  {br:>9.4f}{row['token_recall'] or 0:>9.4f}"
        )
    print(f"PII recognisers: {pii_ms:.3f} ms CPU per sentence")
    print("\nToxicity (alt-profanity-check; Davidson figures are in-sample for this model)")
    for row in sweep:
        print(
            f"  threshold {row['threshold']:.2f}: precision {row['precision']}, recall {row['recall']} "
            f"(hate speech {row['recall_hate_speech']}), FPR on 'neither' {row['false_positive_rate_neither']}"
        )
    print(f"  real instructions flagged at {clf.threshold}: {flagged} of {len(texts)}")
    return {
        "pii": pii,
        "pii_ms_per_sentence": round(pii_ms, 3),
        "toxicity": toxicity,
        "toxicity_sweep": sweep,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, nargs="+", default=[2000], help="raw records per day, one run each"
    )
    parser.add_argument(
        "--element-docs", type=int, default=3000, help="records for the element-logic figures"
    )
    parser.add_argument("--workers", type=int, default=1, help="DirectRunner --direct_num_workers")
    parser.add_argument(
        "--mode", default="in_memory", choices=["in_memory", "multi_threading", "multi_processing"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed for one end-to-end run")
    parser.add_argument(
        "--max-rss-gib", type=float, default=16.0, help="stop a run whose process tree grows past this"
    )
    parser.add_argument(
        "--workdir", default=None, help="where to write the generated days (default: a temp dir)"
    )
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--no-end-to-end", action="store_true", help="element logic and real-data figures only (fast)"
    )
    args = parser.parse_args(argv)

    report: dict = {"cpu_count": os.cpu_count(), "end_to_end": [], "real_data": real_data()}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for i, records in enumerate(sorted(args.records)):
            root = Path(tmp) / f"n{records}"
            summary = generate(root, records, args.seed)
            print(f"generated {summary['total_records']} raw records in {summary['generate_s']}s", flush=True)
            if i == 0:
                report["element_logic"] = element_throughput(root, args.element_docs)
                print(json.dumps({"element_logic": report["element_logic"]}, indent=2), flush=True)
                print(
                    f"element logic: {BEFORE['element_docs_per_s_per_core']} records/s/core before, "
                    f"{report['element_logic']['docs_per_s_per_core']} after (goal 5000)",
                    flush=True,
                )
            if args.no_end_to_end:
                continue
            try:
                e2e = end_to_end(root, args.workers, args.mode, args.timeout, args.max_rss_gib)
            except RuntimeError as exc:
                print(f"end-to-end run at {records} records stopped: {exc}", flush=True)
                report["end_to_end"].append({"records_in": summary["total_records"], "error": str(exc)})
                break
            e2e["generate_s"] = summary["generate_s"]
            report["end_to_end"].append(e2e)
            print(json.dumps({"end_to_end": e2e}), flush=True)
            if records == max(args.records):
                report["quality"] = detection_quality(root)
            if i < len(args.records) - 1:
                import shutil

                shutil.rmtree(root, ignore_errors=True)
    runs = [r for r in report["end_to_end"] if "wall_s" in r]
    report["scaling"] = [
        {
            "from": a["records_in"],
            "to": b["records_in"],
            "size_ratio": round(b["records_in"] / a["records_in"], 2),
            "time_ratio": round(b["wall_s"] / a["wall_s"], 2),
        }
        for a, b in zip(runs, runs[1:], strict=False)
    ]
    print(json.dumps({"scaling": report["scaling"], "quality": report.get("quality")}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
