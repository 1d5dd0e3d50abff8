"""Benchmark of serving: the serving container and the local endpoint, over real HTTP, on the local target.

    PYTHONPATH=include:trainer python benchmarks/bench_serving.py                 # demo-size model (minutes)
    PYTHONPATH=include:trainer python benchmarks/bench_serving.py --quick         # fewer requests, smoke run
    PYTHONPATH=include:trainer python benchmarks/bench_serving.py --size tiny     # small model: endpoint costs stand out
    PYTHONPATH=include:trainer python benchmarks/bench_serving.py --sections overhead --requests 16

Prints:

* latency p50 / p95 / p99 and throughput at concurrency 1, 4 and 8 through the endpoint (and straight to
  the serving container, to separate the endpoint's own cost);
* the endpoint's overhead against calling the model's generate in-process (same render + tokenise + batch
  generate code, no HTTP), side by side — goal at most 1.1x;
* batching: throughput at concurrency 8 with micro-batching on (max 8 rows) and off (1 row);
* cold start: serving-container process start to a 200 health answer;
* the observed traffic split over ``--split-requests`` (10k) requests against the configured one;
* ``--fuzz-requests`` (10k) fuzzed malformed requests: the count of 5xx answers and the memory (RSS) of the
  endpoint and its containers before and after;
* a canary change and a rollback made while a steady load runs: failed requests during the change.

The model is the project's base-model architecture at demo size (weights from a few pre-training steps:
latency depends on the architecture, not on what the weights learned). Generation is greedy with a fixed
``max_new_tokens`` so every request does the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _p in ("include", "trainer"):
    if str(REPO / _p) not in sys.path:
        sys.path.insert(0, str(REPO / _p))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO / "include"), str(REPO / "trainer"), os.environ.get("PYTHONPATH", "")]
)

import httpx  # noqa: E402

QUESTIONS = [
    "How much is the Plus plan?",
    "How do I cancel my subscription?",
    "Can I get a refund after 10 days?",
    "How many devices can stream at once on Premium?",
    "Why was I charged twice this month?",
    "How do I download films for offline viewing?",
    "Can I share my account with my family?",
    "How do I reset my password?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


SIZES = {
    "demo": [],  # the builder's defaults: hidden 256, 4 layers, vocab 4096 (the demo's base model)
    "tiny": [
        "--hidden_size",
        "32",
        "--intermediate_size",
        "64",
        "--num_hidden_layers",
        "2",
        "--num_attention_heads",
        "2",
        "--vocab_size",
        "1024",
    ],
}


def build_model(storage: Path, steps: int, size: str = "demo") -> Path:
    from llmops_factory.prompts import publish_repo
    from llmops_trainer.base_model import build_base_model, parse_args

    corpus = storage.parent / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, q in enumerate(QUESTIONS * 4):
        (corpus / f"doc-{i}.md").write_text(
            f"# {q}\n\nNimbus Support answers: {q.lower()} See nimbus.example/account for the steps. " * 6,
            encoding="utf-8",
        )
    merged = storage / "models" / "bench-v1" / "merged"
    build_base_model(
        parse_args(
            [
                "--corpus",
                str(corpus),
                "--output",
                str(merged),
                "--steps",
                str(steps),
                "--batch_size",
                "4",
                "--context_length",
                "128",
                *SIZES[size],
            ]
        )
    )
    (merged.parent / "model_card.json").write_text(
        json.dumps({"prompt": {"name": "support_assistant", "version": "1.0.0"}}), encoding="utf-8"
    )
    shutil.copytree(merged, storage / "models" / "bench-v2" / "merged")
    publish_repo(storage.as_uri())
    return merged


def body(i: int, max_new_tokens: int) -> dict:
    return {
        "instances": [{"instruction": QUESTIONS[i % len(QUESTIONS)]}],
        "parameters": {"temperature": 0, "max_new_tokens": max_new_tokens},
    }


def load(url: str, concurrency: int, requests: int, max_new_tokens: int) -> dict:
    """``requests`` predictions from ``concurrency`` threads; latency figures and throughput."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    served: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                answer = http.post(url, json=body(i, max_new_tokens))
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt * 1000)
                    statuses[answer.status_code] += 1
                    if answer.status_code == 200:
                        served[answer.json().get("deployedModelId")] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "throughput_rps": requests / wall,
        "statuses": dict(statuses),
        "served": dict(served),
        "wall_s": wall,
    }


def paired_overhead(call_in_process, url: str, requests: int, max_new_tokens: int) -> dict:
    """In-process and through-the-endpoint latency of the same requests, alternated one by one so that
    both see the same machine load; the overhead is the median of the per-pair ratios."""
    ratios, inproc, via = [], [], []
    with httpx.Client(timeout=300) as http:
        for i in range(requests + 3):
            t0 = time.perf_counter()
            call_in_process(i)
            t1 = time.perf_counter()
            assert http.post(url, json=body(i, max_new_tokens)).status_code == 200
            t2 = time.perf_counter()
            if i >= 3:  # warm-up
                inproc.append((t1 - t0) * 1000)
                via.append((t2 - t1) * 1000)
                ratios.append((t2 - t1) / (t1 - t0))
    return {
        "ratio": statistics.median(ratios),
        "inproc_p50": statistics.median(inproc),
        "endpoint_p50": statistics.median(via),
    }


def in_process(model_dir: Path, storage: Path, max_new_tokens: int, threads: int | None):
    """A callable: render + tokenise + generate one request in this process (no HTTP), as the container does."""
    from llmops_trainer.serve import ServeConfig, ServingModel, load_serving_prompt
    from llmops_trainer.serve_engine import Generator

    config = ServeConfig(
        model_dir=str(model_dir),
        model_version="bench-v1",
        prompt="support_assistant@1.0.0",
        prompt_root=storage.as_uri(),
        threads=threads,
    )
    prompt = load_serving_prompt(config.prompt, config.prompt_root)
    generator = Generator(model_dir, threads=threads)
    model = ServingModel(config, prompt, generator, batcher=None)

    def call(i: int) -> None:
        rows, _ = model.prepare(body(i, max_new_tokens))
        generator.generate(rows)

    return call


FUZZ_CASES = [
    lambda r: b"",
    lambda r: bytes(r.getrandbits(8) for _ in range(r.randint(1, 200))),
    lambda r: b"{" * r.randint(1, 5000),
    lambda r: json.dumps(r.choice([[], {}, "x", 1, None, True])).encode(),
    lambda r: json.dumps({"instances": r.choice([[], {}, "x", 1, None, [None], [1], [[]]])}).encode(),
    lambda r: json.dumps({"instances": [{"instruction": r.choice([1, None, [], {}, True])}]}).encode(),
    lambda r: json.dumps({"instances": [{"nope": "x"}]}).encode(),
    lambda r: json.dumps(
        {"instances": [{"messages": [{"role": r.choice(["system", "bot", 3]), "content": "x"}]}]}
    ).encode(),
    lambda r: json.dumps(
        {
            "instances": [{"instruction": "hi"}],
            "parameters": {
                r.choice(["max_new_tokens", "temperature", "top_p", "stop", "seed"]): r.choice(
                    [-1, 0, 10**9, "x", [], None, 2.5, [1]]
                )
            },
        }
    ).encode(),
    lambda r: json.dumps({"instances": [{"instruction": "x" * r.randint(3000, 20000)}]}).encode(),
    lambda r: json.dumps({"instances": [{"instruction": "hi"}] * r.randint(33, 200)}).encode(),
    lambda r: b'{"instances": [{"instruction": "hi"}], "parameters": {"temperature": NaN}}',
    lambda r: b'{"instances": "' + b"x" * 2_100_000 + b'"}',
]


def fuzz(url: str, requests: int, concurrency: int, seed: int) -> dict:
    statuses: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(requests))
    rng_seed = random.Random(seed)
    seeds = [rng_seed.random() for _ in range(concurrency)]

    def worker(k: int) -> None:
        r = random.Random(seeds[k])
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                payload = FUZZ_CASES[i % len(FUZZ_CASES)](r)
                path = r.choice(["/v1/predict", "/v1/predict", "/v1/predict", "/v1/nope", "/v1/feedback"])
                try:
                    status = http.post(
                        url + path, content=payload, headers={"content-type": "application/json"}
                    ).status_code
                except httpx.HTTPError as exc:
                    status = f"transport:{type(exc).__name__}"
                with lock:
                    statuses[status] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(statuses)


def rss_mb(pids: list[int]) -> float:
    import psutil

    return sum(psutil.Process(p).memory_info().rss for p in pids) / 2**20


def serving_pids(endpoint_pid: int) -> list[int]:
    import psutil

    parent = psutil.Process(endpoint_pid)
    return [endpoint_pid, *(c.pid for c in parent.children(recursive=True))]


class SteadyLoad:
    """Background requests at a fixed concurrency until stopped; counts every answer."""

    def __init__(self, url: str, concurrency: int, max_new_tokens: int):
        self.url, self.concurrency, self.max_new_tokens = url, concurrency, max_new_tokens
        self.stop_flag = threading.Event()
        self.statuses: Counter = Counter()
        self.served: Counter = Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in range(concurrency)]

    def _run(self, k: int) -> None:
        i = k
        with httpx.Client(timeout=300) as http:
            while not self.stop_flag.is_set():
                try:
                    answer = http.post(self.url, json=body(i, self.max_new_tokens))
                    status = answer.status_code
                    model = answer.json().get("deployedModelId") if status == 200 else None
                except httpx.HTTPError as exc:
                    status, model = f"transport:{type(exc).__name__}", None
                with self.lock:
                    self.statuses[status] += 1
                    self.served[model] += 1
                i += self.concurrency

    def __enter__(self) -> SteadyLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join()


SECTIONS = ("latency", "overhead", "batching", "split", "fuzz", "canary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument(
        "--size", choices=sorted(SIZES), default="demo", help="demo or tiny model architecture"
    )
    parser.add_argument("--model-steps", type=int, default=5, help="pre-training steps of the model")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--requests", type=int, default=48, help="requests per concurrency level")
    parser.add_argument("--split-requests", type=int, default=10_000)
    parser.add_argument("--fuzz-requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per serving container")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)}); cold start always runs",
    )
    args = parser.parse_args()
    if args.quick:
        args.requests, args.split_requests, args.fuzz_requests = 16, 500, 500
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as each section ends, also in a log file

    from llmops_factory.endpoint import LocalEndpoint
    from llmops_factory.endpoint.process import ServingProcess, free_port
    from llmops_factory.endpoint.state import DeployedModel

    work = Path(tempfile.mkdtemp(prefix="llmops-bench-serving-"))
    home, storage = work / "home", work / "home" / "storage"
    storage.mkdir(parents=True)
    t0 = time.perf_counter()
    merged = build_model(storage, args.model_steps, args.size)
    v2_uri = (storage / "models" / "bench-v2" / "merged").as_uri()
    import psutil

    def loadavg() -> str:
        return ", ".join(f"{x:.1f}" for x in psutil.getloadavg())

    arch = "hidden 256, 4 layers, vocab 4096" if args.size == "demo" else "hidden 32, 2 layers, vocab 1024"
    print(
        f"model: {args.size} ({arch}), built in {time.perf_counter() - t0:.1f} s; "
        f"machine: {psutil.cpu_count()} CPUs, load average {loadavg()}; sections: {', '.join(sections)}"
    )
    env = {"LLMOPS_SERVE_THREADS": str(args.threads)} if args.threads else {}
    os.environ.update(env)
    n_new = args.max_new_tokens

    # Cold start of one serving container, alone; the latency section also calls it directly.
    model = DeployedModel(
        id="1",
        model_version="bench-v1",
        model_uri=merged.as_uri(),
        prompt="support_assistant@1.0.0",
        display_name="cold",
        deployed_at="",
    )
    proc = ServingProcess(model, storage.as_uri(), work / "logs")
    cold = proc.wait_healthy(300)
    print(f"cold start (container process start -> healthy): {cold:.1f} s (load average {loadavg()})")
    direct = {}
    if "latency" in sections:
        direct = {c: load(proc.predict_url, c, args.requests, n_new) for c in (1, 4, 8)}
    proc.stop()

    endpoint = LocalEndpoint("bench", home, free_port(), flush_interval_s=2.0, env=env).start()
    try:
        with endpoint.client() as admin:
            champion = admin.deploy("bench-v1", merged.as_uri(), "support_assistant@1.0.0")
            champion_id = champion["deployed_model"]["id"]
            url = endpoint.url + "/v1/predict"
            print(
                f"deploy through the endpoint (to healthy, traffic switched): {champion['start_seconds']:.1f} s"
            )
            non_200: Counter = Counter()
            if "latency" in sections:
                via = {c: load(url, c, args.requests, n_new) for c in (1, 4, 8)}
                print(f"\n== latency and throughput (greedy, {n_new} new tokens, load average {loadavg()})")
                print(f"{'':>22} {'conc':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
                for name, table in (("serving container", direct), ("endpoint", via)):
                    for c, r in table.items():
                        print(
                            f"{name:>22} {c:>4} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} "
                            f"{r['throughput_rps']:7.2f}"
                        )
                        non_200.update({k: v for k, v in r["statuses"].items() if k != 200})
                print(
                    f"non-200 answers during the latency runs: {sum(non_200.values())} {dict(non_200) or ''}"
                )
            if "overhead" in sections:
                inproc = in_process(merged, storage, n_new, args.threads)
                paired = paired_overhead(inproc, url, args.requests, n_new)
                print(
                    f"\n== endpoint overhead vs in-process generate, {args.requests} paired requests at "
                    f"concurrency 1 (load average {loadavg()}): median ratio {paired['ratio']:.3f}x "
                    f"(p50 {paired['endpoint_p50']:.1f} ms vs {paired['inproc_p50']:.1f} ms, "
                    f"+{paired['endpoint_p50'] - paired['inproc_p50']:.1f} ms)"
                )
                del inproc
            if "batching" in sections:
                on = load(url, 8, args.requests, n_new)
                unbatched = admin.deploy(
                    "bench-v1",
                    merged.as_uri(),
                    "support_assistant@1.0.0",
                    env={"LLMOPS_SERVE_MAX_BATCH_SIZE": "1", **env},
                )["deployed_model"]["id"]
                off = load(endpoint.url + f"/v1/deployed-models/{unbatched}/predict", 8, args.requests, n_new)
                admin.undeploy(unbatched)
                print(
                    f"\n== micro-batching at concurrency 8: {on['throughput_rps']:.2f} req/s batched vs "
                    f"{off['throughput_rps']:.2f} req/s one row at a time "
                    f"({on['throughput_rps'] / off['throughput_rps']:.2f}x; load average {loadavg()})"
                )

            if "split" in sections:
                second = admin.deploy(
                    "bench-v2", v2_uri, "support_assistant@1.1.0", traffic_split={"0": 10, champion_id: 90}
                )
                second_id = second["deployed_model"]["id"]
                split_run = load(url, 8, args.split_requests, 1)
                served = sum(split_run["served"].values())
                share = split_run["served"].get(second_id, 0) / max(served, 1) * 100
                print(
                    f"\n== traffic split over {args.split_requests} requests: configured 90/10, observed "
                    f"{100 - share:.2f}/{share:.2f} ({split_run['throughput_rps']:.0f} req/s, "
                    f"non-200: {sum(v for k, v in split_run['statuses'].items() if k != 200)}; "
                    f"load average {loadavg()})"
                )
                admin.flush()
                stats = admin.get()["log_writer"]
                print(
                    f"prediction_log rows written: {stats['written_rows'].get('prediction_log', 0)} "
                    f"(sampling rate 1.0), failed flushes {stats['failed_flushes']}, dropped {stats['dropped_rows']}"
                )
                admin.undeploy(second_id, {champion_id: 100})

            if "fuzz" in sections:
                pids = serving_pids(endpoint.pid)
                before = rss_mb(pids)
                t0 = time.perf_counter()
                statuses = fuzz(endpoint.url, args.fuzz_requests, 8, seed=7)
                after = rss_mb(pids)
                fivexx = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
                transport = sum(v for k, v in statuses.items() if not isinstance(k, int))
                print(
                    f"\n== {args.fuzz_requests} fuzzed malformed requests in {time.perf_counter() - t0:.1f} s: "
                    f"5xx {fivexx}, transport errors {transport}, statuses "
                    f"{dict(sorted(statuses.items(), key=str))}"
                )
                print(
                    f"RSS endpoint + {len(pids) - 1} containers: {before:.0f} MiB before, {after:.0f} MiB after "
                    f"({after - before:+.0f} MiB); still healthy: {admin.health()['status']}"
                )

            if "canary" in sections:
                with SteadyLoad(url, 4, n_new) as steady:
                    time.sleep(2)
                    t_change = time.perf_counter()
                    canary = admin.deploy(
                        "bench-v2",
                        v2_uri,
                        "support_assistant@1.1.0",
                        traffic_split={"0": 10, champion_id: 90},
                    )
                    canary_id = canary["deployed_model"]["id"]
                    time.sleep(3)
                    admin.set_traffic_split({champion_id: 50, canary_id: 50})
                    time.sleep(3)
                    admin.set_traffic_split({champion_id: 100, canary_id: 0})  # rollback: traffic first
                    admin.undeploy(canary_id)  # then the model, once its in-flight requests are done
                    changes_s = time.perf_counter() - t_change
                    time.sleep(2)
                failed = sum(v for k, v in steady.statuses.items() if k != 200)
                print(
                    f"\n== canary deploy (10%) -> 50/50 -> rollback + undeploy under steady load (concurrency 4, "
                    f"{changes_s:.1f} s of changes): {sum(steady.statuses.values())} requests, {failed} failed "
                    f"{dict(steady.statuses)}; served by canary: {steady.served.get(canary_id, 0)} "
                    f"(load average {loadavg()})"
                )
    finally:
        code = endpoint.stop()
        print(f"\nendpoint stopped (status {code}); work folder {work}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
