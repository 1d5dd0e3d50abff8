"""The local endpoint server: the local target's Vertex AI Endpoint (FastAPI + uvicorn).

Routes (all JSON; errors in the Vertex AI shape ``{"error": {"code", "status", "message", "field"}}``):

=========================================  =====================================================================
``POST /v1/predict``                       routed by the traffic split to a deployed model's serving container
``POST /v1/deployed-models/{id}/predict``  to one deployed model, whatever the split (smoke tests)
``POST /v1/feedback``                      ``{"request_id", "rating": -1|0|1, "comment"}`` into ``feedback``
``GET  /v1/health``                        200 when every deployed model's container is up
``GET  /v1/admin/endpoint``                deployed models, traffic split, logging config, log-writer stats
``POST /v1/admin/deploy``                  ``{"deployed_model": {...}, "traffic_split": {"0": 10, ...}}``
``POST /v1/admin/undeploy``                ``{"deployed_model_id", "traffic_split"}``
``POST /v1/admin/traffic-split``           ``{"traffic_split": {...}}``
``POST /v1/admin/flush``                   write the buffered log rows now
=========================================  =====================================================================

Admin routes need ``Authorization: Bearer <token>``. The admin calls mirror Vertex AI's DeployModel
(``"0"`` in ``traffic_split`` is the model being deployed), UndeployModel (a model that still takes
traffic cannot leave unless the new split is given) and UpdateEndpoint (traffic split): a split that
does not sum to 100 or names an unknown id is refused before anything changes. A deploy starts the
serving container and switches traffic only once it is healthy; an undeploy takes the model out of the
split first, lets its in-flight requests finish, then stops it — so traffic moves drop no request.

Every prediction that reached a deployed model (and a ``sampling_rate`` share of them) is logged to
``prediction_log`` in the shape of Vertex AI request-response logging; error answers are logged too,
with the error as the response payload, so monitoring can count them.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import json
import logging
import random
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmops_factory import traffic
from llmops_factory.endpoint.logsink import BufferedWarehouseWriter
from llmops_factory.endpoint.process import ServingProcess, ServingProcessError
from llmops_factory.endpoint.state import (
    DeployedModel,
    EndpointState,
    EndpointStateError,
    IdSource,
    check_name,
    load_state,
    save_state,
)

log = logging.getLogger("llmops_factory.endpoint")

MAX_BODY_BYTES = 2_000_000
RECENT_REQUESTS = 200_000
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str = ""):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def error_body(status: int, message: str, field: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "status": _STATUS.get(status, "FAILED_PRECONDITION"),
        "message": message,
    }
    if field:
        body["field"] = field
    return {"error": body}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _obj(raw: bytes, what: str) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body is {len(raw)} bytes, over the limit of {MAX_BODY_BYTES}")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, f"{what}: request body is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"{what}: request body must be a JSON object")
    return body


class Endpoint:
    """The endpoint's state, its serving containers, routing and logging."""

    def __init__(
        self,
        name: str,
        directory: Path,
        storage_root: str,
        warehouse_path: Path,
        token: str,
        sampling_rate: float | None = None,
        flush_interval_s: float = 2.0,
        start_timeout_s: float = 300.0,
    ) -> None:
        self.name = check_name(name)
        self.directory = directory
        self.state_path = directory / "state.json"
        self.storage_root = storage_root
        self.token = token
        self.start_timeout_s = start_timeout_s
        self.state: EndpointState = load_state(self.state_path, name)
        if sampling_rate is not None:
            if not 0.0 <= sampling_rate <= 1.0:
                raise EndpointStateError(f"sampling rate must be between 0 and 1, got {sampling_rate}")
            self.state = self.state.with_changes(sampling_rate=sampling_rate)
        self.processes: dict[str, ServingProcess] = {}
        self.failed: dict[str, str] = {}
        self.admin_lock = asyncio.Lock()
        self.ids = IdSource()
        self.rng = random.Random()
        self.writer = BufferedWarehouseWriter(warehouse_path, flush_interval_s=flush_interval_s)
        self.recent: collections.OrderedDict[int, str] = collections.OrderedDict()
        self.client: httpx.AsyncClient | None = None
        self.counts = collections.Counter()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self.writer.start()
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(300.0, connect=5.0),
            limits=httpx.Limits(max_connections=128, max_keepalive_connections=64),
        )
        save_state(self.state_path, self.state)
        results = await asyncio.gather(
            *(asyncio.to_thread(self._launch, m) for m in self.state.deployed_models), return_exceptions=True
        )
        for model, result in zip(self.state.deployed_models, results, strict=True):
            if isinstance(result, BaseException):
                self.failed[model.id] = str(result)
                log.error("deployed model %s could not start: %s", model.id, result)

    async def stop(self) -> None:
        for proc in self.processes.values():
            await asyncio.to_thread(proc.stop)
        if self.client is not None:
            await self.client.aclose()
        await asyncio.to_thread(self.writer.close)

    def _launch(self, model: DeployedModel) -> float:
        proc = ServingProcess(model, self.storage_root, self.directory / "logs")
        try:
            seconds = proc.wait_healthy(self.start_timeout_s)
        except ServingProcessError:
            proc.stop()
            raise
        self.processes[model.id] = proc
        self.failed.pop(model.id, None)
        log.info(
            "deployed model %s (%s, %s) healthy in %.1f s on port %d",
            model.id,
            model.model_version,
            model.prompt,
            seconds,
            proc.port,
        )
        return seconds

    # -- predict ----------------------------------------------------------------------------------
    async def predict(self, raw: bytes, deployed_model_id: str | None = None) -> tuple[int, dict[str, Any]]:
        self.counts["requests"] += 1
        body = _obj(raw, "predict")
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ApiError(400, "must be a non-empty list of instances", "instances")
        state = self.state
        if deployed_model_id is None:
            if not any(v > 0 for v in state.traffic_split.values()):
                raise ApiError(503, f"endpoint {self.name} has no deployed model that takes traffic")
            deployed_model_id = traffic.pick(state.traffic_split, self.rng.random())
        model = state.model(deployed_model_id)
        if model is None:
            raise ApiError(
                404,
                f"deployed model {deployed_model_id!r} is not on endpoint {self.name} "
                f"(deployed: {', '.join(state.ids) or 'none'})",
                "deployed_model_id",
            )
        proc = self.processes.get(model.id)
        if proc is None:
            raise ApiError(
                503, f"deployed model {model.id} is not running: {self.failed.get(model.id, 'starting')}"
            )
        request_id = self.ids.next()
        proc.in_flight += 1
        try:
            answer = await self.client.post(
                proc.predict_url, content=raw, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            self.counts["upstream_errors"] += 1
            status, payload = (
                502,
                error_body(502, f"deployed model {model.id} did not answer: {type(exc).__name__}"),
            )
        else:
            status = answer.status_code
            try:
                payload = answer.json()
            except ValueError:
                status, payload = (
                    502,
                    error_body(502, f"deployed model {model.id} answered non-JSON ({status})"),
                )
        finally:
            proc.in_flight -= 1
        if status == 200:
            payload.update(
                {
                    "deployedModelId": model.id,
                    "model": model.model_name or self.name,
                    "modelVersionId": model.model_version,
                    "requestId": request_id,
                }
            )
            self._remember(request_id, model.model_version)
        else:
            self.counts["errors"] += 1
        if self.rng.random() < state.sampling_rate:
            self._log(request_id, model.id, instances, payload, status)
        return status, payload

    def _remember(self, request_id: int, model_version: str) -> None:
        self.recent[request_id] = model_version
        if len(self.recent) > RECENT_REQUESTS:
            self.recent.popitem(last=False)

    def _log(
        self,
        request_id: int,
        deployed_model_id: str,
        instances: list[Any],
        payload: dict[str, Any],
        status: int,
    ) -> None:
        if status == 200:
            response = [json.dumps(p, sort_keys=True) for p in payload.get("predictions", [])]
        else:
            response = [json.dumps({"status": status, **payload}, sort_keys=True)]
        self.writer.add(
            "prediction_log",
            {
                "endpoint": self.name,
                "deployed_model_id": deployed_model_id,
                "logging_time": _now(),
                "request_id": request_id,
                "request_payload": [json.dumps(i, sort_keys=True) for i in instances],
                "response_payload": response,
            },
        )

    # -- feedback ---------------------------------------------------------------------------------
    def feedback(self, raw: bytes) -> dict[str, Any]:
        body = _obj(raw, "feedback")
        unknown = sorted(set(body) - {"request_id", "rating", "comment"})
        if unknown:
            raise ApiError(400, "unknown field (feedback has request_id, rating, comment)", unknown[0])
        request_id = body.get("request_id")
        if isinstance(request_id, str) and request_id.isdigit():
            request_id = int(request_id)
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise ApiError(
                400, f"must be the integer requestId of a prediction, got {request_id!r}", "request_id"
            )
        rating = body.get("rating")
        if isinstance(rating, bool) or rating not in (-1, 0, 1):
            raise ApiError(400, f"must be -1 (thumbs down), 0 or 1 (thumbs up), got {rating!r}", "rating")
        comment = body.get("comment")
        if comment is not None and (not isinstance(comment, str) or len(comment) > 4000):
            raise ApiError(400, "must be a string of at most 4000 characters", "comment")
        model_version = self.recent.get(request_id)
        if model_version is None:
            raise ApiError(
                404,
                f"request {request_id} was not served by endpoint {self.name} since it started "
                f"(or is older than its last {RECENT_REQUESTS} requests)",
                "request_id",
            )
        self.writer.add(
            "feedback",
            {
                "request_id": request_id,
                "model_version": model_version,
                "rating": rating,
                "comment": comment,
                "feedback_time": _now(),
            },
        )
        return {"request_id": request_id, "model_version": model_version, "rating": rating}

    # -- admin ------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        state = self.state
        models = []
        for m in state.deployed_models:
            proc = self.processes.get(m.id)
            models.append(
                {
                    **m.as_dict(),
                    "status": "running"
                    if proc and proc.alive()
                    else ("failed" if m.id in self.failed else "stopped"),
                    "error": self.failed.get(m.id),
                    "port": proc.port if proc else None,
                    "in_flight": proc.in_flight if proc else 0,
                    "log": str(proc.log_path) if proc else None,
                }
            )
        return {
            "name": state.name,
            "deployed_models": models,
            "traffic_split": dict(state.traffic_split),
            "sampling_rate": state.sampling_rate,
            "updated_at": state.updated_at,
            "counts": dict(self.counts),
            "log_writer": self.writer.stats(),
        }

    def _check_model_request(self, spec: Any) -> dict[str, Any]:
        from llmops_factory.prompts import resolve
        from llmops_factory.prompts.errors import PromptError

        if not isinstance(spec, dict):
            raise ApiError(
                400, "must be an object with model_version, model_uri and prompt", "deployed_model"
            )
        allowed = {"id", "model_version", "model_uri", "prompt", "display_name", "model_name", "env"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ApiError(
                400, f"unknown field (allowed: {', '.join(sorted(allowed))})", f"deployed_model.{unknown[0]}"
            )
        for name in ("model_version", "model_uri", "prompt"):
            if not isinstance(spec.get(name), str) or not spec[name]:
                raise ApiError(400, "is required (a non-empty string)", f"deployed_model.{name}")
        for name in ("id", "display_name", "model_name"):
            if spec.get(name) is not None and not isinstance(spec[name], str):
                raise ApiError(400, "must be a string", f"deployed_model.{name}")
        if spec.get("id") is not None and (not spec["id"].isdigit() or spec["id"] == traffic.NEW_MODEL_ID):
            raise ApiError(400, "must be a numeric string other than '0'", "deployed_model.id")
        env = spec.get("env") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ApiError(400, "must be an object of string values", "deployed_model.env")
        if not _model_folder_ok(spec["model_uri"]):
            raise ApiError(
                400,
                f"{spec['model_uri']} is not a merged model folder (no config.json)",
                "deployed_model.model_uri",
            )
        try:
            resolve(spec["prompt"], self.storage_root)
        except PromptError as exc:
            raise ApiError(400, str(exc), "deployed_model.prompt") from None
        return spec

    async def deploy(self, raw: bytes) -> dict[str, Any]:
        body = _obj(raw, "deploy")
        unknown = sorted(set(body) - {"deployed_model", "traffic_split"})
        if unknown:
            raise ApiError(400, "unknown field (deploy has deployed_model, traffic_split)", unknown[0])
        async with self.admin_lock:
            state = self.state
            spec = self._check_model_request(body.get("deployed_model"))
            deployed_id = spec.get("id") or str(self.ids.next())
            if state.model(deployed_id) is not None:
                raise ApiError(
                    409, f"deployed model id {deployed_id} is already on the endpoint", "deployed_model.id"
                )
            split = body.get("traffic_split")
            if split is None:  # as on Vertex AI: no split = the split is not changed (the new model gets 0)
                split = {**state.traffic_split, traffic.NEW_MODEL_ID: 0 if state.deployed_models else 100}
            try:
                split = traffic.validate_split(split, state.ids, allow_new=True)
            except traffic.TrafficSplitError as exc:
                raise ApiError(400, str(exc), "traffic_split") from None
            model = DeployedModel(
                id=deployed_id,
                model_version=spec["model_version"],
                model_uri=spec["model_uri"],
                prompt=spec["prompt"],
                display_name=spec.get("display_name") or f"{spec['model_version']}+{spec['prompt']}",
                deployed_at=_now().isoformat(timespec="milliseconds"),
                model_name=spec.get("model_name"),
                env=dict(spec.get("env") or {}),
            )
            try:
                seconds = await asyncio.to_thread(self._launch, model)
            except ServingProcessError as exc:
                raise ApiError(
                    400, f"the serving container did not start, nothing changed: {exc}", "deployed_model"
                ) from None
            new_state = state.with_changes(
                deployed_models=(*state.deployed_models, model),
                traffic_split={k: v for k, v in traffic.replace_new_id(split, deployed_id).items()},
            )
            save_state(self.state_path, new_state)
            self.state = new_state
            log.info(
                "deployed %s as %s; traffic split %s",
                model.display_name,
                deployed_id,
                new_state.traffic_split,
            )
            return {
                "deployed_model": model.as_dict(),
                "traffic_split": dict(new_state.traffic_split),
                "start_seconds": round(seconds, 3),
            }

    async def undeploy(self, raw: bytes) -> dict[str, Any]:
        body = _obj(raw, "undeploy")
        unknown = sorted(set(body) - {"deployed_model_id", "traffic_split"})
        if unknown:
            raise ApiError(400, "unknown field (undeploy has deployed_model_id, traffic_split)", unknown[0])
        deployed_id = body.get("deployed_model_id")
        async with self.admin_lock:
            state = self.state
            if not isinstance(deployed_id, str) or state.model(deployed_id) is None:
                raise ApiError(
                    404,
                    f"deployed model {deployed_id!r} is not on endpoint {self.name} "
                    f"(deployed: {', '.join(state.ids) or 'none'})",
                    "deployed_model_id",
                )
            remaining = [i for i in state.ids if i != deployed_id]
            split = body.get("traffic_split")
            if split is None:
                share = state.traffic_split.get(deployed_id, 0)
                if share and remaining:
                    raise ApiError(
                        400,
                        f"deployed model {deployed_id} still takes {share}% of traffic; pass the "
                        "traffic_split of the remaining models",
                        "traffic_split",
                    )
                split = {k: v for k, v in state.traffic_split.items() if k != deployed_id}
            try:
                split = traffic.validate_split(split, remaining)
            except traffic.TrafficSplitError as exc:
                raise ApiError(400, str(exc), "traffic_split") from None
            new_state = state.with_changes(
                deployed_models=tuple(m for m in state.deployed_models if m.id != deployed_id),
                traffic_split=split,
            )
            save_state(self.state_path, new_state)
            self.state = new_state  # no new request is routed to it from here on
            proc = self.processes.pop(deployed_id, None)
            self.failed.pop(deployed_id, None)
            if proc is not None:
                deadline = time.monotonic() + 120
                while proc.in_flight and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                await asyncio.to_thread(proc.stop)
            log.info("undeployed %s; traffic split %s", deployed_id, split)
            return {"undeployed": deployed_id, "traffic_split": dict(split)}

    async def set_traffic_split(self, raw: bytes) -> dict[str, Any]:
        body = _obj(raw, "traffic-split")
        unknown = sorted(set(body) - {"traffic_split"})
        if unknown:
            raise ApiError(400, "unknown field (this call takes traffic_split only)", unknown[0])
        async with self.admin_lock:
            state = self.state
            try:
                split = traffic.validate_split(body.get("traffic_split"), state.ids)
            except traffic.TrafficSplitError as exc:
                raise ApiError(400, str(exc), "traffic_split") from None
            new_state = state.with_changes(traffic_split=split)
            save_state(self.state_path, new_state)
            self.state = new_state
            log.info("traffic split %s", split)
            return {"traffic_split": dict(split)}


def _model_folder_ok(uri: str) -> bool:
    if uri.startswith("file://"):
        path = Path(uri[len("file://") :])
    elif "://" in uri:
        return True  # remote folders are checked by the container itself
    else:
        path = Path(uri)
    return (path / "config.json").is_file()


def create_app(endpoint: Endpoint) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await endpoint.start()
        yield
        await endpoint.stop()

    app = FastAPI(
        title=f"LLMOps Factory local endpoint {endpoint.name}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def reply(status: int, body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return reply(exc.status, error_body(exc.status, exc.message, exc.field))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.url.path} on endpoint {endpoint.name}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return reply(exc.status_code, error_body(exc.status_code, message))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return reply(500, error_body(500, f"internal error: {type(exc).__name__}"))

    async def body_of(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"request body is {length} bytes, over the limit of {MAX_BODY_BYTES}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(413, f"request body is over the limit of {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def admin(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), endpoint.token.encode()
        ):
            raise ApiError(401, "admin calls need the header 'Authorization: Bearer <endpoint admin token>'")

    @app.get("/v1/health")
    async def health():
        state = endpoint.state
        down = [
            m.id
            for m in state.deployed_models
            if not (endpoint.processes.get(m.id) and endpoint.processes[m.id].alive())
        ]
        body = {
            "status": "ready" if not down else "degraded",
            "endpoint": endpoint.name,
            "deployed_models": len(state.deployed_models),
            "down": down,
        }
        return reply(200 if not down else 503, body)

    @app.post("/v1/predict")
    async def predict(request: Request):
        status, payload = await endpoint.predict(await body_of(request))
        return reply(status, payload)

    @app.post("/v1/deployed-models/{deployed_model_id}/predict")
    async def predict_one(deployed_model_id: str, request: Request):
        status, payload = await endpoint.predict(await body_of(request), deployed_model_id)
        return reply(status, payload)

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        return endpoint.feedback(await body_of(request))

    @app.get("/v1/admin/endpoint")
    async def describe(request: Request):
        admin(request)
        return endpoint.describe()

    @app.post("/v1/admin/deploy")
    async def deploy(request: Request):
        admin(request)
        return await endpoint.deploy(await body_of(request))

    @app.post("/v1/admin/undeploy")
    async def undeploy(request: Request):
        admin(request)
        return await endpoint.undeploy(await body_of(request))

    @app.post("/v1/admin/traffic-split")
    async def set_split(request: Request):
        admin(request)
        return await endpoint.set_traffic_split(await body_of(request))

    @app.post("/v1/admin/flush")
    async def flush(request: Request):
        admin(request)
        ok = await asyncio.to_thread(endpoint.writer.flush)
        return reply(200 if ok else 503, {"flushed": ok, **endpoint.writer.stats()})

    return app
