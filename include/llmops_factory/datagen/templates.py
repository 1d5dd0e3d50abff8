"""A tiny seeded template language for varied, natural text.

``[a|b|c]`` picks one alternative (alternatives may nest and may be empty: ``[really |]``), then
``{slot}`` placeholders are filled from a mapping. Templates are compiled once and cached, so the
generator stays fast at a million records a day::

    fill(rng, "[Hi|Hello], I'm on the {plan} plan.", plan="Plus")
"""

from __future__ import annotations

import functools
import random
from typing import Any, Union

Node = Union[str, "Choice"]


class Choice:
    """One ``[...|...]`` group: a tuple of alternatives, each a sequence of nodes."""

    __slots__ = ("options",)

    def __init__(self, options: tuple[tuple[Node, ...], ...]) -> None:
        self.options = options


class TemplateError(ValueError):
    """A template has unbalanced brackets; the message quotes it."""


def _parse(text: str, pos: int, depth: int) -> tuple[tuple[tuple[Node, ...], ...], int]:
    options: list[tuple[Node, ...]] = []
    current: list[Node] = []
    literal: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "[":
            if literal:
                current.append("".join(literal))
                literal = []
            inner, pos = _parse(text, pos + 1, depth + 1)
            current.append(Choice(inner))
            continue
        if char == "]" and depth > 0:
            if literal:
                current.append("".join(literal))
            options.append(tuple(current))
            return tuple(options), pos + 1
        if char == "|" and depth > 0:
            if literal:
                current.append("".join(literal))
                literal = []
            options.append(tuple(current))
            current = []
            pos += 1
            continue
        if char == "]":
            raise TemplateError(f"unbalanced ']' at {pos} in template {text!r}")
        literal.append(char)
        pos += 1
    if depth > 0:
        raise TemplateError(f"unclosed '[' in template {text!r}")
    if literal:
        current.append("".join(literal))
    options.append(tuple(current))
    return tuple(options), pos


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> tuple[Node, ...]:
    """Parse a template once; the result is cached by its text."""
    options, _ = _parse(text, 0, 0)
    return options[0]


def _render(nodes: tuple[Node, ...], rng: random.Random, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        else:
            options = node.options
            _render(options[int(rng.random() * len(options))], rng, out)


def expand(rng: random.Random, template: str) -> str:
    """Pick alternatives only (no slot filling)."""
    out: list[str] = []
    _render(compile_template(template), rng, out)
    return "".join(out)


def fill(rng: random.Random, template: str, /, **slots: Any) -> str:
    """Pick alternatives, then fill ``{slot}`` placeholders."""
    text = expand(rng, template)
    return text.format_map(slots) if slots else text


def pick(rng: random.Random, templates: list[str] | tuple[str, ...], /, **slots: Any) -> str:
    """Fill one template chosen at random from a list."""
    return fill(rng, templates[int(rng.random() * len(templates))], **slots)
