"""``python -m llmops_factory.endpoint serve``: run the local endpoint server until SIGTERM / Ctrl-C."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

import click

from llmops_factory.endpoint.client import TOKEN_ENV, TOKEN_FILE, endpoint_dir


def ensure_token(directory: Path) -> str:
    """``$LLMOPS_ENDPOINT_TOKEN``, else the token file (created once, readable by its owner only)."""
    explicit = os.environ.get(TOKEN_ENV)
    if explicit:
        return explicit
    path = directory / TOKEN_FILE
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


@click.group()
def cli() -> None:
    """The local endpoint of LLMOps Factory (the local target's Vertex AI Endpoint)."""


@cli.command()
@click.option("--name", default=None, help="Endpoint name (default: the use_case setting).")
@click.option("--host", default=None, help="Listen address (default: local.endpoint_host).")
@click.option("--port", type=int, default=None, help="Listen port (default: local.endpoint_port).")
@click.option(
    "--sampling-rate",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Share of requests logged to prediction_log (kept in the endpoint state; default 1.0).",
)
@click.option(
    "--flush-interval",
    type=click.FloatRange(0.05, 600.0),
    default=2.0,
    show_default=True,
    help="Seconds between log flushes into the warehouse.",
)
@click.option(
    "--start-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds a serving container may take to become healthy.",
)
@click.option("--log-level", default="info", show_default=True)
def serve(name, host, port, sampling_rate, flush_interval, start_timeout, log_level) -> None:
    """Serve the endpoint: predict, feedback, health and the admin API."""
    import uvicorn

    from llmops_factory.endpoint.server import Endpoint, create_app
    from llmops_factory.settings import get_settings

    settings = get_settings()  # the local platform's settings (home, endpoint host and port)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    name = name or settings.use_case
    directory = endpoint_dir(settings.local.home, name)
    endpoint = Endpoint(
        name=name,
        directory=directory,
        storage_root=settings.storage_root,
        warehouse_path=settings.local.warehouse_path,
        token=ensure_token(directory),
        sampling_rate=sampling_rate,
        flush_interval_s=flush_interval,
        start_timeout_s=start_timeout,
    )
    pid_file = directory / "endpoint.pid"
    pid_file.write_text(str(os.getpid()), encoding="utf-8")
    try:
        uvicorn.run(
            create_app(endpoint),
            host=host or settings.local.endpoint_host,
            port=port or settings.local.endpoint_port,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=30,
        )
    finally:
        pid_file.unlink(missing_ok=True)


@cli.command()
@click.option("--name", default=None, help="Endpoint name (default: the use_case setting).")
@click.option("--timeout", type=float, default=60.0, show_default=True)
def stop(name, timeout) -> None:
    """Stop a running endpoint (SIGTERM: it stops its serving containers and flushes its log)."""
    import signal
    import time

    from llmops_factory.settings import get_settings

    settings = get_settings()
    name = name or settings.use_case
    pid_file = endpoint_dir(settings.local.home, name) / "endpoint.pid"
    if not pid_file.is_file():
        click.echo(f"endpoint {name} is not running (no {pid_file})")
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        click.echo(f"endpoint {name}: process {pid} was already gone")
        return
    deadline = time.monotonic() + timeout
    # uvicorn re-raises the SIGTERM it caught once the server has shut down, so the process can end
    # without removing its pid file: a process that is gone has stopped, whatever the file says
    while pid_file.exists() and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_file.exists() and _alive(pid):
        raise click.ClickException(f"endpoint {name} (process {pid}) did not stop within {timeout:.0f} s")
    pid_file.unlink(missing_ok=True)
    click.echo(f"endpoint {name} stopped (process {pid})")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting for its parent counts as stopped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


if __name__ == "__main__":
    cli()
