"""Talk to a local endpoint (``EndpointClient``) and start / stop one as a process (``LocalEndpoint``).

The platform adapter of the local target, the demo, the tests and the benchmark all go through these two
classes, so the endpoint is always used over real HTTP, as a Vertex AI Endpoint is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

TOKEN_ENV = "LLMOPS_ENDPOINT_TOKEN"
TOKEN_FILE = "admin-token"


class EndpointError(RuntimeError):
    """An endpoint call failed; ``status`` and ``body`` are the HTTP answer (``field`` names the bad input)."""

    def __init__(self, status: int, body: Any, call: str):
        self.status = status
        self.body = body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.field = error.get("field", "")
        message = error.get("message") or str(body)[:500]
        super().__init__(
            f"{call}: HTTP {status}: {message}" + (f" (field {self.field})" if self.field else "")
        )


def endpoint_dir(home: Path, name: str) -> Path:
    """Where endpoint ``name`` keeps its state, admin token and container logs."""
    return Path(home) / "endpoints" / name


def read_token(directory: Path) -> str:
    """The admin token: ``$LLMOPS_ENDPOINT_TOKEN``, else the endpoint's token file."""
    explicit = os.environ.get(TOKEN_ENV)
    if explicit:
        return explicit
    path = Path(directory) / TOKEN_FILE
    if not path.is_file():
        raise EndpointError(
            0,
            {"error": {"message": f"no admin token: {path} does not exist and {TOKEN_ENV} is unset"}},
            "read_token",
        )
    return path.read_text(encoding="utf-8").strip()


class EndpointClient:
    """Synchronous client of the local endpoint's predict, feedback and admin API."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 600.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, admin: bool = False) -> Any:
        headers = {"authorization": f"Bearer {self.token}"} if admin and self.token else {}
        answer = self._http.request(method, path, json=body, headers=headers)
        try:
            payload = answer.json()
        except ValueError:
            payload = {"error": {"message": answer.text[:500]}}
        if answer.status_code != 200:
            raise EndpointError(answer.status_code, payload, f"{method} {path}")
        return payload

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def predict(
        self,
        instances: list[Any],
        parameters: Mapping[str, Any] | None = None,
        deployed_model_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"instances": instances}
        if parameters:
            body["parameters"] = dict(parameters)
        path = f"/v1/deployed-models/{deployed_model_id}/predict" if deployed_model_id else "/v1/predict"
        return self._call("POST", path, body)

    def feedback(self, request_id: int, rating: int, comment: str | None = None) -> dict[str, Any]:
        return self._call(
            "POST", "/v1/feedback", {"request_id": request_id, "rating": rating, "comment": comment}
        )

    def get(self) -> dict[str, Any]:
        return self._call("GET", "/v1/admin/endpoint", admin=True)

    def deploy(
        self,
        model_version: str,
        model_uri: str,
        prompt: str,
        traffic_split: Mapping[str, int] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "deployed_model": {
                "model_version": model_version,
                "model_uri": model_uri,
                "prompt": prompt,
                **extra,
            }
        }
        if traffic_split is not None:
            body["traffic_split"] = dict(traffic_split)
        return self._call("POST", "/v1/admin/deploy", body, admin=True)

    def undeploy(
        self, deployed_model_id: str, traffic_split: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"deployed_model_id": deployed_model_id}
        if traffic_split is not None:
            body["traffic_split"] = dict(traffic_split)
        return self._call("POST", "/v1/admin/undeploy", body, admin=True)

    def set_traffic_split(self, traffic_split: Mapping[str, int]) -> dict[str, Any]:
        return self._call(
            "POST", "/v1/admin/traffic-split", {"traffic_split": dict(traffic_split)}, admin=True
        )

    def flush(self) -> dict[str, Any]:
        return self._call("POST", "/v1/admin/flush", {}, admin=True)


class LocalEndpoint:
    """Start the endpoint server as a process (``python -m llmops_factory.endpoint serve``) and stop it.

    ``detach=True`` starts it in its own session so that it outlives the caller (a DAG task starting the
    endpoint); ``python -m llmops_factory.endpoint stop`` stops it later. ``stop`` sends SIGTERM: the server stops its serving containers and flushes the log before it exits.
    """

    def __init__(
        self,
        name: str,
        home: Path,
        port: int,
        host: str = "127.0.0.1",
        sampling_rate: float | None = None,
        flush_interval_s: float | None = None,
        env: Mapping[str, str] | None = None,
        detach: bool = False,
    ):
        self.detach = detach
        self.name = name
        self.home = Path(home)
        self.port = port
        self.host = host
        self.url = f"http://{host}:{port}"
        self.directory = endpoint_dir(self.home, name)
        self.sampling_rate = sampling_rate
        self.flush_interval_s = flush_interval_s
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.started_in_s: float | None = None

    def start(self, timeout_s: float = 300.0) -> LocalEndpoint:
        cmd = [
            sys.executable,
            "-m",
            "llmops_factory.endpoint",
            "serve",
            "--name",
            self.name,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.sampling_rate is not None:
            cmd += ["--sampling-rate", str(self.sampling_rate)]
        if self.flush_interval_s is not None:
            cmd += ["--flush-interval", str(self.flush_interval_s)]
        env = {**os.environ, **self.env, "LLMOPS_LOCAL__HOME": str(self.home), "LLMOPS_TARGET": "local"}
        here = str(Path(__file__).resolve().parents[2])  # the folder holding llmops_factory
        env["PYTHONPATH"] = os.pathsep.join(
            dict.fromkeys([here, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "endpoint.log").open("ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = started + timeout_s
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"endpoint {self.name} exited with status {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if http.get(f"{self.url}/v1/health").status_code in (200, 503):
                        self.started_in_s = time.monotonic() - started
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"endpoint {self.name} did not answer within {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.directory / "endpoint.log").read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""

    def client(self, timeout_s: float = 600.0) -> EndpointClient:
        return EndpointClient(self.url, read_token(self.directory), timeout_s)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM and wait; 0 after a clean shutdown (uvicorn re-raises the signal once it has finished)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return self.proc.returncode
            if self.proc.returncode == -signal.SIGTERM:
                return 0
        return self.proc.returncode

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
