"""``python -m llmops_trainer serve``: the serving container (Vertex AI custom-container contract).

Environment (Vertex AI sets the ``AIP_*`` variables from the model's container spec; the local endpoint
sets the same ones when it starts this entrypoint as a process):

==========================  ==========================================================================
``AIP_HTTP_PORT``           port to listen on (default 8080)
``AIP_HEALTH_ROUTE``        health route (default ``/v1/health``): 503 while the model loads, 200 once ready
``AIP_PREDICT_ROUTE``       predict route (default ``/v1/predict``)
``AIP_STORAGE_URI``         the merged model folder (``models/<model_version>/merged/``; gs:// or local)
``LLMOPS_MODEL_VERSION``    the model version reported in every prediction (default: from the folder path)
``LLMOPS_PROMPT``           the published prompt bundle, ``name@version`` or ``name@alias`` (default: the
                            prompt the model was trained with, from ``models/<model_version>/model_card.json``)
``LLMOPS_PROMPT_ROOT``      storage root holding the bundles (default: the target's storage root)
==========================  ==========================================================================

Flags of the same names (``--port``, ``--model_dir``, ``--prompt`` ...) override the environment.

Request ``{"instances": [...], "parameters": {...}}`` (see ``serve_schema``), response
``{"predictions": [{"text", "model_version", "prompt_version", "tokens_in", "tokens_out", "latency_ms",
"finish_reason"}]}``. Every bad input is a 4xx in the Vertex AI error shape
``{"error": {"code", "status", "message", "field"}}``; the server stays up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from llmops_trainer import storage
from llmops_trainer.serve_schema import (
    GenerationParams,
    Limits,
    RequestError,
    ServeConfigError,
    instance_variables,
    parse_body,
    parse_parameters,
)

log = logging.getLogger("llmops_trainer.serve")

DEFAULT_PORT = 8080
DEFAULT_HEALTH_ROUTE = "/v1/health"
DEFAULT_PREDICT_ROUTE = "/v1/predict"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MODEL_PATH = re.compile(r"(?:^|/)models/([^/]+)/merged/?$")


@dataclass
class ServeConfig:
    """Everything the server needs, resolved from flags and the ``AIP_*`` / ``LLMOPS_*`` environment."""

    model_dir: str
    model_version: str
    prompt: str
    prompt_root: str | None
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    health_route: str = DEFAULT_HEALTH_ROUTE
    predict_route: str = DEFAULT_PREDICT_ROUTE
    device: str = "auto"
    threads: int | None = None
    max_batch_size: int = 8
    batch_wait_ms: float = 0.0
    max_instances: int = 32
    max_body_bytes: int = 1_000_000
    log_level: str = "info"
    extra: dict[str, Any] = field(default_factory=dict)


def _route(value: str, name: str) -> str:
    if not value.startswith("/"):
        raise ServeConfigError(f"{name}={value!r} must start with '/'")
    return value


def _model_version_from(uri: str) -> str | None:
    match = _MODEL_PATH.search(uri.rstrip("/") + "/")
    return match.group(1) if match else None


def _card_prompt(model_uri: str) -> str | None:
    """The prompt reference recorded in ``models/<v>/model_card.json`` beside the merged folder."""
    parent = model_uri.rstrip("/").rsplit("/", 1)[0]
    card_uri = storage.join(parent, "model_card.json")
    try:
        if not storage.exists(card_uri):
            return None
        card = json.loads(storage.read_bytes(card_uri))
    except (OSError, ValueError):
        return None
    prompt = card.get("prompt") or {}
    if prompt.get("name") and prompt.get("version"):
        return f"{prompt['name']}@{prompt['version']}"
    return None


def parse_config(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> ServeConfig:
    env = os.environ if environ is None else environ
    p = argparse.ArgumentParser(prog="python -m llmops_trainer serve", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model_dir", default=env.get("AIP_STORAGE_URI"), help="merged model folder (AIP_STORAGE_URI)"
    )
    p.add_argument("--model_version", default=env.get("LLMOPS_MODEL_VERSION"))
    p.add_argument(
        "--prompt", default=env.get("LLMOPS_PROMPT"), help="name@version or name@alias (LLMOPS_PROMPT)"
    )
    p.add_argument("--prompt_root", default=env.get("LLMOPS_PROMPT_ROOT"))
    p.add_argument("--port", type=int, default=int(env.get("AIP_HTTP_PORT", DEFAULT_PORT)))
    p.add_argument("--host", default=env.get("LLMOPS_SERVE_HOST", "0.0.0.0"))
    p.add_argument("--health_route", default=env.get("AIP_HEALTH_ROUTE", DEFAULT_HEALTH_ROUTE))
    p.add_argument("--predict_route", default=env.get("AIP_PREDICT_ROUTE", DEFAULT_PREDICT_ROUTE))
    p.add_argument("--device", default=env.get("LLMOPS_SERVE_DEVICE", "auto"), help="auto, cpu or cuda")
    p.add_argument(
        "--threads",
        type=int,
        default=int(env["LLMOPS_SERVE_THREADS"]) if env.get("LLMOPS_SERVE_THREADS") else None,
    )
    p.add_argument("--max_batch_size", type=int, default=int(env.get("LLMOPS_SERVE_MAX_BATCH_SIZE", 8)))
    p.add_argument("--batch_wait_ms", type=float, default=float(env.get("LLMOPS_SERVE_BATCH_WAIT_MS", 0)))
    p.add_argument("--max_instances", type=int, default=int(env.get("LLMOPS_SERVE_MAX_INSTANCES", 32)))
    p.add_argument(
        "--max_body_bytes", type=int, default=int(env.get("LLMOPS_SERVE_MAX_BODY_BYTES", 1_000_000))
    )
    p.add_argument("--log_level", default=env.get("LLMOPS_SERVE_LOG_LEVEL", "info"))
    args = p.parse_args(list(argv or []))
    if not args.model_dir:
        raise ServeConfigError("no model: set AIP_STORAGE_URI (or --model_dir) to the merged model folder")
    model_version = args.model_version or _model_version_from(args.model_dir)
    if not model_version:
        raise ServeConfigError(
            f"cannot tell the model version of {args.model_dir} (not models/<version>/merged): set LLMOPS_MODEL_VERSION"
        )
    prompt = args.prompt or _card_prompt(args.model_dir)
    if not prompt:
        raise ServeConfigError(
            f"no prompt: set LLMOPS_PROMPT (name@version) - {args.model_dir} has no model_card.json naming one"
        )
    if not 1 <= args.port <= 65535:
        raise ServeConfigError(f"AIP_HTTP_PORT={args.port} is not a port number")
    for name in ("max_batch_size", "max_instances", "max_body_bytes"):
        if getattr(args, name) < 1:
            raise ServeConfigError(f"--{name} must be at least 1")
    return ServeConfig(
        model_dir=args.model_dir,
        model_version=model_version,
        prompt=prompt,
        prompt_root=args.prompt_root,
        port=args.port,
        host=args.host,
        health_route=_route(args.health_route, "AIP_HEALTH_ROUTE"),
        predict_route=_route(args.predict_route, "AIP_PREDICT_ROUTE"),
        device=args.device,
        threads=args.threads,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms,
        max_instances=args.max_instances,
        max_body_bytes=args.max_body_bytes,
        log_level=args.log_level,
    )


def load_serving_prompt(ref: str, root: str | None):
    """The published, integrity-checked prompt bundle ``ref`` (the renderer shared with training)."""
    from llmops_factory.prompts import load_prompt

    if root is None:
        from llmops_factory.settings import get_settings

        root = get_settings().storage_root
    return load_prompt(ref, root=root)


class ServingModel:
    """The loaded model + prompt: renders, checks and generates one request's instances."""

    def __init__(self, config: ServeConfig, prompt: Any, generator: Any, batcher: Any):
        self.config = config
        self.prompt = prompt
        self.generator = generator
        self.batcher = batcher
        gen = prompt.generation
        budget = prompt.budget
        self.defaults = gen
        self.limits = Limits(
            max_instances=config.max_instances,
            max_body_bytes=config.max_body_bytes,
            max_new_tokens=int(gen["max_new_tokens"]),
            max_prompt_tokens=int(budget.max_prompt_tokens),
            context_window=budget.context_window or generator.max_positions,
        )

    def prepare(self, body: dict[str, Any]) -> tuple[list[Any], list[int]]:
        """Render and tokenise every instance; every problem names its field. Runs off the event loop."""
        from llmops_factory.prompts import render
        from llmops_factory.prompts.errors import PromptRenderError
        from llmops_trainer.serve_engine import Row

        params: GenerationParams = parse_parameters(body.get("parameters"), self.defaults, self.limits)
        declared = self.prompt.variables
        rows, tokens_in = [], []
        for i, instance in enumerate(body["instances"]):
            variables = instance_variables(instance, i, declared)
            try:
                text = render(self.prompt, variables).text
            except PromptRenderError as exc:
                raise RequestError(f"instances[{i}]", str(exc)) from None
            ids = self.generator.encode(text)
            if len(ids) > self.limits.max_prompt_tokens:
                raise RequestError(
                    f"instances[{i}]",
                    f"the rendered prompt is {len(ids)} tokens, over the prompt's budget of "
                    f"{self.limits.max_prompt_tokens} (budget.max_prompt_tokens of {self.prompt.ref})",
                )
            window = self.limits.context_window
            if window and len(ids) + params.max_new_tokens > window:
                raise RequestError(
                    "parameters.max_new_tokens",
                    f"{len(ids)} prompt tokens of instances[{i}] + {params.max_new_tokens} new tokens exceed the "
                    f"context window of {window}; ask for at most {max(window - len(ids), 0)}",
                )
            rows.append(Row(ids, params))
            tokens_in.append(len(ids))
        return rows, tokens_in


def _error(status: int, message: str, field: str = "") -> Any:
    body = {
        "error": {
            "code": status,
            "status": _STATUS_NAMES.get(status, "FAILED_PRECONDITION"),
            "message": message,
        }
    }
    if field:
        body["error"]["field"] = field
    return JSONResponse(body, status_code=status)


def create_app(config: ServeConfig, load=None) -> Any:
    """The FastAPI app. ``load`` (config -> (prompt, generator)) runs in a background thread at startup."""
    from contextlib import asynccontextmanager

    import anyio
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from llmops_trainer.serve_engine import MicroBatcher

    load = load or load_model_and_prompt
    state: dict[str, Any] = {"status": "loading", "model": None, "error": None, "loaded_at": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def _load() -> None:
            try:
                prompt, generator = load(config)
            except Exception as exc:  # noqa: BLE001 - reported on health, and the process exits
                log.exception("model or prompt failed to load")
                state.update(status="failed", error=str(exc))
                loop.call_soon_threadsafe(app.state.on_load_failure, exc)
                return

            def _ready() -> None:
                batcher = MicroBatcher(generator, config.max_batch_size, config.batch_wait_ms)
                batcher.start()
                state.update(
                    status="ready",
                    model=ServingModel(config, prompt, generator, batcher),
                    loaded_at=time.perf_counter() - started,
                )
                log.info(
                    "ready: model %s, prompt %s, loaded in %.1f s",
                    config.model_version,
                    prompt.ref,
                    state["loaded_at"],
                )

            loop.call_soon_threadsafe(_ready)

        threading.Thread(target=_load, name="load-model", daemon=True).start()
        yield
        if state["model"] is not None:
            await state["model"].batcher.stop()

    app = FastAPI(
        title="LLMOps Factory serving container",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.serving = state
    app.state.on_load_failure = lambda exc: None

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 404:
            message = (
                f"no route {request.url.path}; predict is POST {config.predict_route}, "
                f"health is GET {config.health_route}"
            )
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return _error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}")

    @app.get(config.health_route)
    async def health():
        body = {"status": state["status"], "model_version": config.model_version}
        if state["model"] is not None:
            body["prompt_version"] = state["model"].prompt.version
            body["prompt"] = state["model"].prompt.ref
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if state["status"] == "ready" else 503)

    @app.post(config.predict_route)
    async def predict(request: Request):
        received = time.perf_counter()
        model: ServingModel | None = state["model"]
        if model is None:
            return _error(
                503, f"the model is {state['status']}; retry when {config.health_route} answers 200"
            )
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > config.max_body_bytes:
            return _error(413, f"request body is {length} bytes, over the limit of {config.max_body_bytes}")
        try:
            raw = await _read_limited(request, config.max_body_bytes)
            body = parse_body(raw, model.limits)
            rows, tokens_in = await anyio.to_thread.run_sync(model.prepare, body)
        except RequestError as exc:
            return _error(exc.status, exc.message, exc.field)
        outputs = await model.batcher.submit(rows)
        latency_ms = round((time.perf_counter() - received) * 1000.0, 3)
        predictions = [
            {
                "text": out.text,
                "model_version": config.model_version,
                "prompt_version": model.prompt.version,
                "prompt": model.prompt.ref,
                "tokens_in": n_in,
                "tokens_out": out.tokens_out,
                "latency_ms": latency_ms,
                "finish_reason": out.finish_reason,
            }
            for out, n_in in zip(outputs, tokens_in, strict=True)
        ]
        return {"predictions": predictions}

    return app


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (chunked uploads included)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError("", f"request body is over the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def resolve_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model_and_prompt(config: ServeConfig) -> tuple[Any, Any]:
    """The prompt bundle (checked first: cheap) and the merged model, made local if remote."""
    from llmops_trainer.serve_engine import Generator, ModelLoadError

    prompt = load_serving_prompt(config.prompt, config.prompt_root)
    if not storage.exists(config.model_dir):
        raise ModelLoadError(f"model folder {config.model_dir} does not exist (AIP_STORAGE_URI)")
    local = storage.local_path(config.model_dir)
    if local is None:
        local = storage.download_tree(config.model_dir, Path(tempfile.mkdtemp(prefix="llmops-serve-")))
    generator = Generator(local, device=resolve_device(config.device), threads=config.threads)
    return prompt, generator


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    config = parse_config(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    load_serving_prompt(config.prompt, config.prompt_root)  # a wrong prompt fails before the port opens
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    )
    failure: list[BaseException] = []

    def _on_load_failure(exc: BaseException) -> None:
        failure.append(exc)
        server.should_exit = True

    app.state.on_load_failure = _on_load_failure
    server.run()
    if failure:
        print(f"llmops_trainer serve: error: {failure[0]}", file=sys.stderr)
        return 2
    return 0
