"""Read prompt files: strict YAML (duplicate keys are errors), schema validation with line numbers,
template compilation, and lookup of ``name@version`` in the repository's ``prompts/`` folder.

Repository layout: ``prompts/<name>/<version>.yaml`` (one file per prompt version) and
``prompts/prompts.lock.json`` (content hash of every version, see ``lockfile``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmops_factory.prompts.errors import PromptIssue, PromptNotFoundError, PromptValidationError
from llmops_factory.prompts.models import Prompt, PromptSpec, content_hash
from llmops_factory.prompts.renderer import compile_prompt

PROMPTS_DIR_ENV = "LLMOPS_PROMPTS_DIR"
PROMPT_SUFFIX = ".yaml"


def default_prompts_dir() -> Path:
    """``$LLMOPS_PROMPTS_DIR``, else the ``prompts/`` folder at the repository root."""
    explicit = os.environ.get(PROMPTS_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    from llmops_factory.settings import REPO_ROOT

    return REPO_ROOT / "prompts"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable keys are reported by SafeLoader itself
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass
class LineMap:
    """Where each field of a YAML document is: 1-based line of its key, and how its value starts."""

    key_line: dict[str, int] = field(default_factory=dict)
    value_start: dict[str, tuple[int, bool]] = field(default_factory=dict)  # (0-based line, is block scalar)

    def line_of(self, path: str) -> int | None:
        """Line of ``path`` or of its nearest enclosing field that has one."""
        candidate = path
        while candidate:
            if candidate in self.key_line:
                return self.key_line[candidate]
            cut = max(candidate.rfind("."), candidate.rfind("["))
            candidate = candidate[:cut] if cut > 0 else ""
        return None

    def template_line(self, path: str, template_line: int | None) -> int | None:
        """File line of line ``template_line`` (1-based) of the string value at ``path``."""
        if template_line is None or path not in self.value_start:
            return self.line_of(path)
        start, block = self.value_start[path]
        return start + 1 + template_line if block else start + template_line


def _walk(node: yaml.Node, path: str, lines: LineMap) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines.key_line[child] = key_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode):
                lines.value_start[child] = (value_node.start_mark.line, value_node.style in ("|", ">"))
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines.key_line[child] = item.start_mark.line + 1
            _walk(item, child, lines)


def _loc_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _display(path: Path, prompts_dir: Path | None) -> str:
    if prompts_dir is not None:
        try:
            return str(Path(prompts_dir.name) / path.resolve().relative_to(prompts_dir.resolve()))
        except ValueError:
            pass
    return str(path)


def parse_prompt(
    text: str | bytes,
    *,
    file: str,
    expect_name: str | None = None,
    expect_version: str | None = None,
) -> tuple[Prompt, LineMap]:
    """Parse one prompt document into a compiled ``Prompt``.

    Checks, in order, and reports every problem of the failing stage together: YAML syntax (with line
    and column), duplicate keys, the schema, ``name``/``version`` against where the file was found, and
    the templates (syntax with line, undeclared and unused variables, the format). Raises
    ``PromptValidationError``; ``file`` is the name used in messages and as ``Prompt.source``.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PromptValidationError([PromptIssue(file, "", "", f"not UTF-8 text: {exc}")]) from None
    fallback = f"{expect_name}@{expect_version}" if expect_name and expect_version else ""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" (column {mark.column + 1})" if mark is not None else ""
        line = mark.line + 1 if mark is not None else None
        raise PromptValidationError(
            [PromptIssue(file, fallback, "", f"malformed YAML: {problem}{where}", line=line)]
        ) from None
    finally:
        loader.dispose()
    lines = LineMap()
    if node is not None:
        _walk(node, "", lines)
    if not isinstance(data, dict):
        raise PromptValidationError(
            [
                PromptIssue(
                    file, fallback, "", f"a prompt file must be a YAML mapping, got {type(data).__name__}"
                )
            ]
        )
    label = fallback
    if isinstance(data.get("name"), str) and isinstance(data.get("version"), str):
        label = f"{data['name']}@{data['version']}"
    try:
        spec = PromptSpec.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            path = _loc_path(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "required field is missing"
            elif (
                "input" in err
                and err["type"] not in ("extra_forbidden",)
                and not isinstance(err["input"], dict)
            ):
                shown = repr(err["input"])
                message += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
            issues.append(PromptIssue(file, label, path, message, line=lines.line_of(path)))
        raise PromptValidationError(issues) from None
    issues = []
    if expect_name is not None and spec.name != expect_name:
        issues.append(
            PromptIssue(
                file,
                label,
                "name",
                f"name {spec.name!r} does not match its folder {expect_name!r}",
                line=lines.line_of("name"),
            )
        )
    if expect_version is not None and spec.version != expect_version:
        issues.append(
            PromptIssue(
                file,
                label,
                "version",
                f"version {spec.version!r} does not match the file name {expect_version!r}",
                line=lines.line_of("version"),
            )
        )
    compiled, problems = compile_prompt(spec)
    for problem in problems:
        issues.append(
            PromptIssue(
                file,
                label,
                problem.field,
                problem.message,
                line=lines.template_line(problem.field, problem.line),
                template_line=problem.line,
            )
        )
    if issues:
        raise PromptValidationError(issues)
    return Prompt(spec=spec, hash=content_hash(spec), source=file, compiled=compiled), lines


def prompt_path(name: str, version: str, prompts_dir: Path | None = None) -> Path:
    """Where ``name@version`` lives in the repository."""
    return (prompts_dir or default_prompts_dir()) / name / f"{version}{PROMPT_SUFFIX}"


def load_file(path: str | os.PathLike[str], prompts_dir: Path | None = None) -> tuple[Prompt, LineMap]:
    """Load a prompt file; when it sits at ``<name>/<version>.yaml`` its name and version must match."""
    path = Path(path)
    display = _display(path, prompts_dir)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptNotFoundError(f"{display}: cannot read prompt file: {exc.strerror}") from None
    return parse_prompt(data, file=display, expect_name=path.parent.name, expect_version=path.stem)


def discover(prompts_dir: Path | None = None) -> tuple[list[Path], list[PromptIssue]]:
    """All prompt files under ``prompts_dir`` (sorted), and an issue for each YAML file in the wrong place."""
    root = prompts_dir or default_prompts_dir()
    if not root.is_dir():
        raise PromptNotFoundError(f"prompts folder {root} does not exist")
    files, misplaced = [], []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        relative = path.relative_to(root)
        if len(relative.parts) == 2 and path.suffix == PROMPT_SUFFIX:
            files.append(path)
        else:
            misplaced.append(
                PromptIssue(
                    _display(path, root),
                    "",
                    "",
                    "prompt files must be at prompts/<name>/<version>.yaml; this file is not checked or published",
                )
            )
    return files, misplaced


def available_versions(name: str, prompts_dir: Path | None = None) -> list[str]:
    folder = (prompts_dir or default_prompts_dir()) / name
    return sorted(p.stem for p in folder.glob(f"*{PROMPT_SUFFIX}")) if folder.is_dir() else []
