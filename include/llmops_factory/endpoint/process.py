"""Serving-container processes of the local endpoint: one per deployed model, as on Vertex AI.

Each deployed model runs the project's serving entrypoint (``python -m llmops_trainer serve``) with the
same ``AIP_*`` environment Vertex AI gives the container (port, routes, ``AIP_STORAGE_URI``) plus the
model version and prompt bundle. The process dies with the endpoint (``PR_SET_PDEATHSIG`` on Linux),
so a killed endpoint leaves no orphan servers.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from llmops_factory.endpoint.state import DeployedModel

log = logging.getLogger(__name__)

HEALTH_ROUTE = "/v1/health"
PREDICT_ROUTE = "/v1/predict"
SERVE_COMMAND = ("-m", "llmops_trainer", "serve")


class ServingProcessError(RuntimeError):
    """A serving container did not become healthy; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _package_root(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def serving_env(
    model: DeployedModel, port: int, storage_root: str, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The container environment of ``model`` (what Vertex AI sets, plus the project's own variables)."""
    env = dict(os.environ if base is None else base)
    paths = [p for p in (_package_root("llmops_trainer"), _package_root("llmops_factory")) if p]
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([*paths, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    )
    env.update(
        {
            "AIP_HTTP_PORT": str(port),
            "AIP_HEALTH_ROUTE": HEALTH_ROUTE,
            "AIP_PREDICT_ROUTE": PREDICT_ROUTE,
            "AIP_STORAGE_URI": model.model_uri,
            "AIP_DEPLOYED_MODEL_ID": model.id,
            "LLMOPS_MODEL_VERSION": model.model_version,
            "LLMOPS_PROMPT": model.prompt,
            "LLMOPS_PROMPT_ROOT": storage_root,
            "LLMOPS_SERVE_HOST": "127.0.0.1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    env.update(model.env)
    return env


class ServingProcess:
    """One running serving container, reachable at ``base_url``."""

    def __init__(self, model: DeployedModel, storage_root: str, log_dir: Path, python: str = sys.executable):
        self.model = model
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.predict_url = self.base_url + PREDICT_ROUTE
        self.health_url = self.base_url + HEALTH_ROUTE
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"deployed-model-{model.id}.log"
        env = serving_env(model, self.port, storage_root)
        self._log = self.log_path.open("ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [python, *SERVE_COMMAND],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        self.in_flight = 0

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_healthy(self, timeout_s: float) -> float:
        """Seconds from process start to a 200 health answer; raises with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServingProcessError(
                        f"serving container of deployed model {self.model.id} ({self.model.model_version}, "
                        f"{self.model.prompt}) exited with status {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(self.health_url).status_code == 200:
                        return time.monotonic() - self.started
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise ServingProcessError(
            f"serving container of deployed model {self.model.id} was not healthy within {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
