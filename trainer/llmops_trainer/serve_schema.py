"""Request checking of the serving container: the predict body, instances and generation parameters.

Pure functions with no torch import, so every bad input is tested in milliseconds. Each problem is a
``RequestError`` that names the field as a JSON path (``instances[2].messages[0].role``,
``parameters.temperature``); the server turns it into a 4xx in the Vertex AI error shape.

Instances take one of two forms:

* **prompt variables** — ``{"instruction": "...", "input": "..."}``: the variables the prompt version
  declares, rendered by the project's one renderer (undeclared, missing or mistyped variables are refused);
* **chat messages** — ``{"messages": [{"role": "user", "content": "..."}, ...]}``: the last message is
  the customer's (``user``) turn and becomes the ``instruction`` variable; earlier turns become the
  ``input`` variable as the ``Customer:`` / ``Agent:`` transcript the training data uses. The system
  prompt belongs to the prompt version, so ``system`` messages are refused.

Parameters may override the prompt's generation settings within its limits: ``max_new_tokens`` up to the
prompt's own value, ``temperature`` 0..2 (0 = greedy), ``top_p`` in (0, 1], and extra ``stop`` strings
(the prompt's stop strings always apply).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHAT_ROLES = {"user": "Customer", "assistant": "Agent"}
MAX_STOP_STRINGS = 8
MAX_STOP_LENGTH = 64


class ServeConfigError(ValueError):
    """The serving configuration is incomplete or wrong; the message names the variable or flag."""


class RequestError(ValueError):
    """A bad request: ``field`` is the JSON path of the offending value, ``status`` the HTTP status."""

    def __init__(self, field: str, message: str, status: int = 400):
        self.field = field
        self.message = message
        self.status = status
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Limits:
    """Request limits of one server (the prompt supplies the token limits)."""

    max_instances: int = 32
    max_body_bytes: int = 1_000_000
    max_new_tokens: int = 256
    max_prompt_tokens: int = 512
    context_window: int | None = None


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings of one instance (the prompt's, overridden by the request's parameters)."""

    max_new_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...] = field(default_factory=tuple)

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0.0

    @property
    def group_key(self) -> tuple[bool, float, float]:
        """Rows with the same key can be generated in one batch."""
        return (
            self.do_sample,
            self.temperature if self.do_sample else 0.0,
            self.top_p if self.do_sample else 1.0,
        )


def _reject_constant(name: str) -> Any:
    raise RequestError("", f"invalid JSON: {name} is not a JSON number")


def parse_body(raw: bytes, limits: Limits) -> dict[str, Any]:
    """The request body as a JSON object with ``instances`` (and optional ``parameters``)."""
    if len(raw) > limits.max_body_bytes:
        raise RequestError(
            "", f"request body is {len(raw)} bytes, over the limit of {limits.max_body_bytes}", 413
        )
    if not raw.strip():
        raise RequestError("", 'request body is empty; send {"instances": [...]}')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("", f"request body is not UTF-8 (byte {exc.start})") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RequestError("", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise RequestError("", "invalid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestError(
            "", f'request body must be a JSON object {{"instances": [...]}}, got {_kind(body)}'
        )
    unknown = sorted(set(body) - {"instances", "parameters"})
    if unknown:
        raise RequestError(unknown[0], "unknown field; a predict request has only instances and parameters")
    instances = body.get("instances")
    if instances is None:
        raise RequestError("instances", "is required")
    if not isinstance(instances, list):
        raise RequestError("instances", f"must be a list, got {_kind(instances)}")
    if not instances:
        raise RequestError("instances", "must not be empty")
    if len(instances) > limits.max_instances:
        raise RequestError(
            "instances", f"has {len(instances)} items, over the limit of {limits.max_instances}"
        )
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise RequestError("parameters", f"must be an object, got {_kind(parameters)}")
    return body


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _number(params: Mapping[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"parameters.{name}", f"must be a number, got {_kind(value)}")
    return float(value)


def parse_parameters(
    params: Mapping[str, Any] | None, defaults: Mapping[str, Any], limits: Limits
) -> GenerationParams:
    """The prompt's generation settings (``defaults``) overridden by the request's ``parameters``."""
    params = params or {}
    allowed = ("max_new_tokens", "temperature", "top_p", "stop")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise RequestError(f"parameters.{unknown[0]}", f"unknown parameter (allowed: {', '.join(allowed)})")
    max_new = params.get("max_new_tokens", defaults["max_new_tokens"])
    if isinstance(max_new, bool) or not isinstance(max_new, int):
        raise RequestError("parameters.max_new_tokens", f"must be an integer, got {_kind(max_new)}")
    if not 1 <= max_new <= limits.max_new_tokens:
        raise RequestError(
            "parameters.max_new_tokens",
            f"must be between 1 and {limits.max_new_tokens} (the prompt's limit), got {max_new}",
        )
    temperature = _number(params, "temperature")
    temperature = float(defaults["temperature"]) if temperature is None else temperature
    if not 0.0 <= temperature <= 2.0:
        raise RequestError("parameters.temperature", f"must be between 0 and 2, got {temperature}")
    top_p = _number(params, "top_p")
    top_p = float(defaults["top_p"]) if top_p is None else top_p
    if not 0.0 < top_p <= 1.0:
        raise RequestError("parameters.top_p", f"must be greater than 0 and at most 1, got {top_p}")
    extra = params.get("stop", [])
    if isinstance(extra, str):
        extra = [extra]
    if not isinstance(extra, list):
        raise RequestError("parameters.stop", f"must be a string or a list of strings, got {_kind(extra)}")
    if len(extra) > MAX_STOP_STRINGS:
        raise RequestError(
            "parameters.stop", f"has {len(extra)} strings, over the limit of {MAX_STOP_STRINGS}"
        )
    for i, s in enumerate(extra):
        if not isinstance(s, str) or not s:
            raise RequestError(f"parameters.stop[{i}]", f"must be a non-empty string, got {_kind(s)}")
        if len(s) > MAX_STOP_LENGTH:
            raise RequestError(
                f"parameters.stop[{i}]", f"is {len(s)} characters, over the limit of {MAX_STOP_LENGTH}"
            )
    stop = tuple(dict.fromkeys([*defaults.get("stop", []), *extra]))
    return GenerationParams(max_new_tokens=max_new, temperature=temperature, top_p=top_p, stop=stop)


def chat_variables(messages: Any, where: str, declared: Mapping[str, Any]) -> dict[str, str]:
    """Map chat ``messages`` onto the prompt's ``instruction`` (last user turn) and ``input`` (history)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(where, "must be a non-empty list of {role, content} objects")
    turns: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        here = f"{where}[{i}]"
        if not isinstance(message, dict):
            raise RequestError(here, f"must be an object with role and content, got {_kind(message)}")
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            raise RequestError(f"{here}.{extra[0]}", "unknown field; a message has only role and content")
        role, content = message.get("role"), message.get("content")
        if role == "system":
            raise RequestError(
                f"{here}.role",
                "system messages are not accepted: the system prompt is part of the prompt version",
            )
        if role not in CHAT_ROLES:
            raise RequestError(f"{here}.role", f"must be one of {', '.join(CHAT_ROLES)}, got {role!r}")
        if not isinstance(content, str) or not content.strip():
            raise RequestError(f"{here}.content", f"must be a non-empty string, got {_kind(content)}")
        turns.append((role, content.strip()))
    if turns[-1][0] != "user":
        raise RequestError(f"{where}[{len(turns) - 1}].role", "the last message must be the user's turn")
    if "instruction" not in declared:
        raise RequestError(
            where, "this prompt version takes no chat messages (it declares no 'instruction' variable)"
        )
    variables = {"instruction": turns[-1][1]}
    history = turns[:-1]
    if history:
        if "input" not in declared:
            raise RequestError(
                where, "this prompt version takes one user message only (it declares no 'input' variable)"
            )
        variables["input"] = "\n".join(f"{CHAT_ROLES[role]}: {text}" for role, text in history)
    return variables


def instance_variables(instance: Any, index: int, declared: Mapping[str, Any]) -> dict[str, Any]:
    """The prompt variables of ``instances[index]`` (variables form or chat form)."""
    where = f"instances[{index}]"
    if not isinstance(instance, dict):
        raise RequestError(
            where, f'must be an object of prompt variables or {{"messages": [...]}}, got {_kind(instance)}'
        )
    if "messages" in instance:
        extra = sorted(set(instance) - {"messages"})
        if extra:
            raise RequestError(f"{where}.{extra[0]}", "a chat instance has only messages")
        return chat_variables(instance["messages"], f"{where}.messages", declared)
    if not instance:
        raise RequestError(
            where, f"is empty; give the prompt variables ({', '.join(sorted(declared))}) or messages"
        )
    for name in instance:
        if name not in declared:
            raise RequestError(
                f"{where}.{name}",
                f"is not a variable of this prompt version (declared: {', '.join(sorted(declared))})",
            )
    return dict(instance)
