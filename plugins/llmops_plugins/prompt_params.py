"""Prompt selection for DAG runs: a trigger-form ``Param`` and the task helper that resolves it.

* ``prompt_param`` - a string ``Param`` whose JSON schema (``pattern``) accepts only ``name@version`` or
  ``name@alias``, so the trigger form rejects a malformed reference before a run starts.
* ``resolve_prompt_for_run`` - called by a ``@task``: resolves the reference against the published
  bundles in the storage root (verifying the bundle), returns ``{"name", "version", "hash", "ref", ...}``
  as the task's XCom, and writes one line to the DAG run note so on-call sees which prompt ran.

Import-light: only ``airflow.sdk.Param`` and the dependency-free reference patterns are imported at
module level (DAG files import this at parse time).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param

from llmops_factory.prompts.refs import DEFAULT_PROMPT_REF, ref_pattern_for

log = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 1000  # the Airflow API's limit on a DAG run note
_HTTP_TIMEOUT_S = 30.0
_NOTE_ATTEMPTS = 3


def prompt_param(
    default: str = DEFAULT_PROMPT_REF,
    *,
    title: str = "Prompt",
    description: str | None = None,
    name: str | None = None,
    examples: list[str] | None = None,
) -> Param:
    """A trigger-form parameter selecting a prompt by ``name@version`` or ``name@alias``.

    ``name`` restricts the choice to one prompt (default: the prompt named by ``default``);
    ``examples`` are offered in the form (default: the default, ``@production`` and ``@candidate``).
    """
    prompt_name = name if name is not None else default.split("@", 1)[0]
    pattern = ref_pattern_for(prompt_name)
    offered = examples or list(
        dict.fromkeys([default, f"{prompt_name}@production", f"{prompt_name}@candidate"])
    )
    return Param(
        default,
        type="string",
        pattern=pattern,
        title=title,
        description=description
        or (
            f"Prompt as {prompt_name}@MAJOR.MINOR.PATCH (a published version) or {prompt_name}@alias "
            "(production, candidate). Resolved against the published bundles when the run starts; the "
            "resolved version and hash are shown in the run note and in this task's XCom."
        ),
        examples=offered,
    )


def note_line(record: Mapping[str, Any]) -> str:
    """The run-note line for a resolved prompt (one per prompt name)."""
    via = (
        f" (requested {record['requested']})" if record.get("requested") not in (None, record["ref"]) else ""
    )
    return f"Prompt {record['name']}: {record['ref']}{via}, sha256 {record['hash'][:12]}"


def merge_note(existing: str | None, line: str) -> str:
    """``existing`` with any earlier line for the same prompt replaced by ``line``, within the size limit."""
    prefix = line.split(":", 1)[0] + ":"
    kept = [old for old in (existing or "").splitlines() if old.strip() and not old.startswith(prefix)]
    note = "\n".join([*kept, line])
    return note if len(note) <= NOTE_MAX_LENGTH else note[-NOTE_MAX_LENGTH:]


def _api_base_url() -> str:
    """The REST API's URL as configured: ``[api] base_url``, else the host of the execution API URL
    task processes already call back to, else ``localhost`` on ``[api] port``."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    if not base:
        execution = conf.get("core", "execution_api_server_url", fallback="") or ""
        if "/execution" in execution:
            base = execution.split("/execution", 1)[0]
    if not base:
        base = f"http://localhost:{conf.get('api', 'port', fallback='8080')}"
    return base.rstrip("/")


def _api_token(client: Any, base_url: str) -> str:
    """A bearer token for the Airflow REST API, from the platform adapter."""
    from llmops_plugins.platform import get_platform

    return get_platform().api_token(client, base_url)


def write_run_note(context: Mapping[str, Any], line: str, *, client: Any = None) -> bool:
    """Add ``line`` to the current DAG run's note through the Airflow REST API.

    Best effort by design: the task's XCom is the record; a note that cannot be written (API not
    reachable, no permission) is logged as a warning and returns False, it never fails the task.
    """
    import httpx

    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
    if not dag_id or not run_id:
        log.warning("run note not written: no dag_id/run_id in the task context")
        return False
    note = merge_note(getattr(dag_run, "note", None), line)
    owns_client = client is None
    client = client or httpx.Client(timeout=_HTTP_TIMEOUT_S)
    try:
        base_url = _api_base_url()
        token = _api_token(client, base_url)
        for attempt in range(_NOTE_ATTEMPTS):  # a busy API (5xx, e.g. its DB locked, or a timeout) gets
            last = attempt == _NOTE_ATTEMPTS - 1  # another chance
            try:
                response = client.patch(
                    f"{base_url}/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}/dagRuns/"
                    f"{urllib.parse.quote(run_id, safe='')}",
                    params={"update_mask": "note"},
                    json={"note": note},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError:
                if last:
                    raise
            else:
                if response.status_code < 500 or last:
                    break
            time.sleep(2**attempt)
        response.raise_for_status()
    except Exception as exc:  # noqa: BLE001 - best effort, see docstring
        log.warning(
            "run note not written for %s/%s (%s); the XCom of this task has the record: %s",
            dag_id,
            run_id,
            type(exc).__name__,
            line,
        )
        return False
    finally:
        if owns_client:
            client.close()
    log.info("run note of %s/%s: %s", dag_id, run_id, line)
    return True


def resolve_prompt_for_run(
    ref: str,
    context: Mapping[str, Any] | None = None,
    *,
    root: str | None = None,
    write_note: bool = True,
) -> dict[str, Any]:
    """Resolve ``ref`` against the storage root (default: the current target's) and record it.

    Returns ``{"name", "version", "hash", "ref", "requested", "alias", "uri"}`` where ``ref`` is the
    resolved ``name@version`` (pin downstream tasks to it, not to the alias, so a moving alias cannot
    change a run half way). Fails the task with one clear error when the reference, the version or the
    alias does not exist or the bundle does not verify.
    """
    from llmops_factory.prompts.resolution import resolve
    from llmops_plugins.platform import get_platform
    from llmops_plugins.stages.base import fail_fast

    record = fail_fast(resolve)(ref, root or get_platform().storage_uri).to_dict()
    line = note_line(record)
    log.info("%s (bundle %s)", line, record["uri"])
    if write_note and context is not None:
        write_run_note(context, line)
    return record
