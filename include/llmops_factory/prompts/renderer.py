"""The one prompt renderer: data preparation, training, evaluation and serving all call ``render``.

Rendering rules (documented in docs/prompts.md, relied on for byte-identical text everywhere):

* ``template.system`` and ``template.user`` are Jinja2 templates (``StrictUndefined``, ``trim_blocks``,
  ``lstrip_blocks``, sandboxed, no autoescape) over the declared variables; each rendered part is
  stripped of leading and trailing whitespace.
* ``template.format`` is a Jinja2 template over exactly ``system`` and ``user`` (the rendered parts),
  rendered verbatim (trailing newline kept). Its result is ``Rendered.text``, the exact model input; the
  model's response follows it directly, so the format ends with a literal response cue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from llmops_factory.prompts.errors import PromptRenderError
from llmops_factory.prompts.models import Prompt, PromptSpec, Rendered, value_matches

FORMAT_VARIABLES = ("system", "user")

_PART_ENV = SandboxedEnvironment(
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    autoescape=False,
)
_FORMAT_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@dataclass(frozen=True)
class TemplateProblem:
    """A problem found while compiling: ``field`` is a dotted document path, ``line`` a template line."""

    field: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class CompiledPrompt:
    """Compiled templates plus the variable table ``render`` checks input against."""

    system: Any
    user: Any
    format: Any
    types: Mapping[str, str]
    required: frozenset[str]
    defaults: Mapping[str, Any]


def _used_names(env: SandboxedEnvironment, source: str) -> tuple[Any, dict[str, int]]:
    """Parse ``source``; return the AST and {free variable: first line it is used on}."""
    ast = env.parse(source)
    free = meta.find_undeclared_variables(ast)
    lines: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.name in free and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    for name in free:  # a free name always has a load site; keep the set complete regardless
        lines.setdefault(name, 1)
    return ast, lines


def _ends_with_literal(ast: Any) -> bool:
    """Whether a parsed format template ends with literal, non-blank text (the response cue)."""
    if not ast.body or not isinstance(ast.body[-1], nodes.Output):
        return False
    last = ast.body[-1].nodes[-1] if ast.body[-1].nodes else None
    return isinstance(last, nodes.TemplateData) and bool(last.data.strip())


def compile_prompt(spec: PromptSpec) -> tuple[CompiledPrompt | None, list[TemplateProblem]]:
    """Compile and statically check the templates of ``spec``.

    Finds template syntax errors (with the template line), variables used but not declared, variables
    declared but never used, and a format that does not join the parts or does not end with a cue.
    Returns ``(None, problems)`` when anything is wrong.
    """
    problems: list[TemplateProblem] = []
    used: dict[str, tuple[str, int]] = {}
    parts: dict[str, str] = {"template.user": spec.template.user}
    if spec.template.system:
        parts = {"template.system": spec.template.system, **parts}
    for where, source in parts.items():
        try:
            _, names = _used_names(_PART_ENV, source)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(where, f"template syntax error: {exc.message}", exc.lineno))
            continue
        for name, line in names.items():
            if name not in spec.variables:
                problems.append(
                    TemplateProblem(
                        where, f"variable {name!r} is used but not declared under variables", line
                    )
                )
            used.setdefault(name, (where, line))
    syntax_failed = any(p.message.startswith("template syntax error") for p in problems)
    if not syntax_failed:
        for name in spec.variables:
            if name not in used:
                problems.append(
                    TemplateProblem(f"variables.{name}", f"variable {name!r} is declared but never used")
                )
    try:
        format_ast, format_names = _used_names(_FORMAT_ENV, spec.template.format)
    except TemplateSyntaxError as exc:
        problems.append(
            TemplateProblem("template.format", f"template syntax error: {exc.message}", exc.lineno)
        )
    else:
        for name, line in format_names.items():
            if name not in FORMAT_VARIABLES:
                problems.append(
                    TemplateProblem(
                        "template.format",
                        f"the format may only use {{{{ system }}}} and {{{{ user }}}}, not {name!r}",
                        line,
                    )
                )
        if "user" not in format_names:
            problems.append(TemplateProblem("template.format", "the format must include {{ user }}"))
        if spec.template.system and "system" not in format_names:
            problems.append(
                TemplateProblem(
                    "template.format", "template.system is set but the format never uses {{ system }}"
                )
            )
        if not _ends_with_literal(format_ast):
            problems.append(
                TemplateProblem(
                    "template.format",
                    "the format must end with literal text (the cue after which the response starts, "
                    "e.g. '### Response:\\n')",
                )
            )
    if problems:
        return None, problems
    compiled = CompiledPrompt(
        system=_PART_ENV.from_string(spec.template.system) if spec.template.system else None,
        user=_PART_ENV.from_string(spec.template.user),
        format=_FORMAT_ENV.from_string(spec.template.format),
        types={name: var.type for name, var in spec.variables.items()},
        required=frozenset(name for name, var in spec.variables.items() if var.required),
        defaults={name: var.default for name, var in spec.variables.items() if not var.required},
    )
    return compiled, []


def _values(prompt: Prompt, variables: Mapping[str, Any]) -> dict[str, Any]:
    compiled: CompiledPrompt = prompt.compiled
    unknown = sorted(set(variables) - set(compiled.types))
    if unknown:
        raise PromptRenderError(
            f"prompt {prompt.ref}: variable(s) {', '.join(map(repr, unknown))} are not declared "
            f"(declared: {', '.join(sorted(compiled.types)) or 'none'})"
        )
    values: dict[str, Any] = {}
    for name, type_name in compiled.types.items():
        value = variables.get(name)
        if value is None:
            if name in compiled.required:
                raise PromptRenderError(f"prompt {prompt.ref}: missing required variable {name!r}")
            value = compiled.defaults[name]
        elif not value_matches(type_name, value):
            raise PromptRenderError(
                f"prompt {prompt.ref}: variable {name!r} must be {type_name}, got {type(value).__name__}"
            )
        values[name] = value
    return values


def render(prompt: Prompt, variables: Mapping[str, Any] | None = None) -> Rendered:
    """Render ``prompt`` with ``variables`` into the exact model input.

    Every declared variable must be given unless it is optional (then its default is used; ``None``
    counts as not given); undeclared names and wrong types are errors. Raises ``PromptRenderError``.
    """
    if variables is not None and not isinstance(variables, Mapping):
        raise PromptRenderError(
            f"prompt {prompt.ref}: variables must be a mapping, got {type(variables).__name__}"
        )
    values = _values(prompt, variables or {})
    compiled: CompiledPrompt = prompt.compiled
    try:
        system = compiled.system.render(values).strip() if compiled.system is not None else ""
        user = compiled.user.render(values).strip()
        text = compiled.format.render(system=system, user=user)
    except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise PromptRenderError(f"prompt {prompt.ref}: rendering failed: {exc}") from exc
    return Rendered(
        text=text,
        system=system,
        user=user,
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        prompt_hash=prompt.hash,
    )
