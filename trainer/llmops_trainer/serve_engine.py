"""The serving engine: the merged model loaded with transformers, batched generation, and a micro-batcher.

``Generator`` is what serving runs per batch (also what the benchmark calls in-process). Rows are
tokenised exactly as training tokenised them (BOS + the rendered prompt, no other special tokens),
left-padded, and generated together; each row stops at EOS, at its own stop strings or at its own
``max_new_tokens``. ``MicroBatcher`` collects the rows of requests that arrive while the engine is busy
(or within ``max_wait_ms`` of each other) into one ``generate`` call, grouped by decoding settings.
Generation runs on one worker thread, so the event loop keeps answering health checks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_trainer.serve_schema import GenerationParams

log = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """The model folder cannot be served; the message names the folder and the problem."""


@dataclass
class Row:
    """One instance to generate: token ids of the rendered prompt and its decoding settings."""

    input_ids: list[int]
    params: GenerationParams


@dataclass
class Output:
    text: str
    tokens_out: int
    finish_reason: str  # "eos", "stop" or "length"


class Generator:
    """A merged causal LM and its tokenizer, ready for batched generation."""

    def __init__(
        self, model_dir: str | Path, device: str = "cpu", dtype: str = "auto", threads: int | None = None
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(model_dir)
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"model folder {folder} has no config.json: not a merged Hugging Face model")
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype)
        except Exception as exc:  # noqa: BLE001 - transformers raises many types for a bad folder
            raise ModelLoadError(f"model folder {folder} cannot be loaded: {exc}") from exc
        self.model.to(self.device).eval()
        self.model.config.use_cache = True
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.eos_id = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id
        self.bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or None
        self._torch = torch

    def encode(self, text: str) -> list[int]:
        """BOS + the prompt's tokens: exactly what training feeds before the response."""
        return self.bos + self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, rows: list[Row], seed: int | None = None) -> list[Output]:
        """Generate every row; rows with different decoding settings run as separate batches."""
        outputs: list[Output | None] = [None] * len(rows)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, row in enumerate(rows):
            groups[row.params.group_key].append(i)
        for indices in groups.values():
            for i, out in zip(indices, self._generate_group([rows[i] for i in indices], seed), strict=True):
                outputs[i] = out
        return [o for o in outputs if o is not None]

    def _generate_group(self, rows: list[Row], seed: int | None) -> list[Output]:
        torch = self._torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        width = max(len(r.input_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r.input_ids) :] = torch.tensor(r.input_ids, dtype=torch.long)
            mask[i, width - len(r.input_ids) :] = 1
        limits = torch.tensor([r.params.max_new_tokens for r in rows])
        tokenizer = self.tokenizer
        stops = [r.params.stop for r in rows]
        tail = max([len(s) for r in rows for s in r.params.stop] or [1]) + 8

        class RowStop(StoppingCriteria):
            """Per-row stop: own max_new_tokens, own stop strings (EOS is handled by generate)."""

            def __call__(self, input_ids, scores, **kwargs):
                produced = input_ids.shape[1] - width
                done = limits <= produced
                for i, row_stops in enumerate(stops):
                    if done[i] or not row_stops:
                        continue
                    text = tokenizer.decode(input_ids[i, -min(produced, tail) :], skip_special_tokens=True)
                    if any(s in text for s in row_stops):
                        done[i] = True
                return done.to(input_ids.device)

        first = rows[0].params
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(limits.max()),
            "do_sample": first.do_sample,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_id,
            "stopping_criteria": StoppingCriteriaList([RowStop()]),
        }
        if first.do_sample:
            kwargs.update(temperature=first.temperature, top_p=first.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            generated = self.model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs
            )
        new = generated[:, width:].cpu().tolist()
        return [self._finish(tokens, row.params) for tokens, row in zip(new, rows, strict=True)]

    def _finish(self, tokens: list[int], params: GenerationParams) -> Output:
        reason = "length"
        if self.eos_id in tokens:
            tokens = tokens[: tokens.index(self.eos_id)]
            reason = "eos"
        tokens = tokens[: params.max_new_tokens]
        if reason != "eos" and self.pad_id != self.eos_id:
            while tokens and tokens[-1] == self.pad_id:  # rows that finished early are padded
                tokens.pop()
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((text.find(s) for s in params.stop if s in text), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        return Output(text=text.strip(), tokens_out=len(tokens), finish_reason=reason)


@dataclass
class _Pending:
    rows: list[Row]
    future: asyncio.Future


class MicroBatcher:
    """Collects rows of concurrent requests into batches for one generation thread.

    While a batch is generating, new requests queue; the next batch takes everything queued (up to
    ``max_batch_size`` rows, whole requests only). When the engine is idle, the first request waits
    ``max_wait_ms`` for companions (0 = go at once).
    """

    def __init__(self, generator: Generator, max_batch_size: int = 8, max_wait_ms: float = 0.0):
        self.generator = generator
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self._task: asyncio.Task | None = None
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, rows: list[Row]) -> list[Output]:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(rows, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        carry: _Pending | None = None
        while True:
            first = carry or await self._queue.get()
            carry = None
            batch = [first]
            size = len(first.rows)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                try:
                    if self._queue.empty() and self.max_wait and loop.time() < deadline:
                        nxt = await asyncio.wait_for(self._queue.get(), deadline - loop.time())
                    else:
                        nxt = self._queue.get_nowait()
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                if size + len(nxt.rows) > self.max_batch_size:
                    carry = nxt
                    break
                batch.append(nxt)
                size += len(nxt.rows)
            live = [p for p in batch if not p.future.done()]  # a cancelled request costs nothing
            if not live:
                continue
            rows = [r for p in live for r in p.rows]
            started = time.perf_counter()
            try:
                outputs = await loop.run_in_executor(self._executor, self.generator.generate, rows)
            except Exception as exc:  # noqa: BLE001 - a generation failure fails the requests in it
                log.exception("generation failed for a batch of %d rows", len(rows))
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            self.batches += 1
            self.rows += len(rows)
            log.debug("batch of %d rows in %.1f ms", len(rows), (time.perf_counter() - started) * 1000)
            at = 0
            for p in live:
                if not p.future.done():
                    p.future.set_result(outputs[at : at + len(p.rows)])
                at += len(p.rows)
