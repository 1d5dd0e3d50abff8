"""The prompt file format (pydantic models), the content hash, and the runtime ``Prompt`` / ``Rendered`` objects.

One YAML file holds one version of one prompt: ``prompts/<name>/<version>.yaml``. The schema is strict
(unknown keys are errors, types are not coerced) so that a typo never silently changes what a model sees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from llmops_factory.prompts.refs import NAME_PATTERN, VERSION_PATTERN

VARIABLE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"

#: Bumped only if the canonical serialisation below changes (it would change every hash).
HASH_SCHEME = "llmops-prompt-v1"

PromptName = Annotated[str, StringConstraints(pattern=rf"^{NAME_PATTERN}$", max_length=64)]
SemVer = Annotated[str, StringConstraints(pattern=rf"^{VERSION_PATTERN}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
VariableName = Annotated[str, StringConstraints(pattern=rf"^{VARIABLE_PATTERN}$")]
Scalar = str | int | float | bool

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a MAJOR.MINOR.PATCH version (non-versions sort first, by text)."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (-1,)


def value_matches(type_name: str, value: Any) -> bool:
    """Whether ``value`` is of the declared variable type (bool is not an int here)."""
    if isinstance(value, bool) and type_name != "bool":
        return False
    return isinstance(value, _PY_TYPES[type_name])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class VariableSpec(_Strict):
    """A declared input variable of the template."""

    type: Literal["str", "int", "float", "bool"]
    description: NonEmpty
    required: bool = True
    default: Scalar | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> VariableSpec:
        if self.required and self.default is not None:
            raise ValueError("a required variable takes no default (set required: false to give one)")
        if not self.required and self.default is None:
            raise ValueError("an optional variable (required: false) needs a default")
        if self.default is not None and not value_matches(self.type, self.default):
            raise ValueError(f"default {self.default!r} is not of type {self.type}")
        return self


class TemplateSpec(_Strict):
    """Jinja2 templates of the two chat parts and the format that joins them into the model input.

    ``format`` sees only ``system`` and ``user`` (the rendered parts, stripped of surrounding
    whitespace) and must end with the literal cue after which the model's response starts.
    """

    system: str = ""
    user: NonEmpty
    format: NonEmpty


class GenerationSpec(_Strict):
    """Decoding parameters; serving uses exactly these."""

    max_new_tokens: int = Field(ge=1, le=32768)
    temperature: float = Field(ge=0.0, le=2.0)
    top_p: float = Field(gt=0.0, le=1.0)
    stop: list[NonEmpty]


class BudgetSpec(_Strict):
    """Token budget of the rendered model input (checked on the worst-case example)."""

    max_prompt_tokens: int = Field(ge=1)
    context_window: int | None = Field(default=None, ge=1)


class ExpectedSpec(_Strict):
    """Expected rendering of an example; give at least one of the three parts."""

    text: str | None = None
    system: str | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> ExpectedSpec:
        if self.text is None and self.system is None and self.user is None:
            raise ValueError("give at least one of text, system, user")
        return self


class ExampleSpec(_Strict):
    """A worked example: variables in, the exact expected rendering out."""

    name: NonEmpty
    variables: dict[VariableName, Scalar]
    expected: ExpectedSpec


class PromptSpec(_Strict):
    """One version of one prompt, as written in ``prompts/<name>/<version>.yaml``."""

    name: PromptName
    version: SemVer
    description: NonEmpty
    owner: NonEmpty
    variables: dict[VariableName, VariableSpec]
    template: TemplateSpec
    generation: GenerationSpec
    budget: BudgetSpec
    examples: list[ExampleSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_example_names(self) -> PromptSpec:
        seen: set[str] = set()
        for example in self.examples:
            if example.name in seen:
                raise ValueError(f"example name {example.name!r} is used twice")
            seen.add(example.name)
        return self


def canonical_json(spec: PromptSpec) -> str:
    """The canonical serialisation the hash is taken over.

    The parsed, validated content (not the file bytes): comments, key order, quoting style, block
    scalar style and line endings do not matter; fields left at their default are omitted so that
    writing a default explicitly, or a new optional field added to the schema, does not change it.
    """
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def content_hash(spec: PromptSpec) -> str:
    """sha256 (hex) of ``HASH_SCHEME`` + newline + the canonical JSON; the same on every machine."""
    payload = f"{HASH_SCHEME}\n{canonical_json(spec)}".encode()
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Rendered:
    """The result of rendering a prompt: ``text`` is the exact model input; the response follows it."""

    text: str
    system: str
    user: str
    prompt_name: str
    prompt_version: str
    prompt_hash: str

    @property
    def prompt_ref(self) -> str:
        return f"{self.prompt_name}@{self.prompt_version}"


@dataclass(frozen=True)
class Prompt:
    """A loaded, structurally valid prompt version, ready to render.

    ``source`` says where it came from (a repository file or a bundle URI). ``compiled`` holds the
    compiled templates (built once at load time by the renderer).
    """

    spec: PromptSpec
    hash: str
    source: str
    compiled: Any = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def ref(self) -> str:
        return f"{self.spec.name}@{self.spec.version}"

    @property
    def generation(self) -> dict[str, Any]:
        """Decoding parameters for serving: max_new_tokens, temperature, top_p, stop (a fresh copy)."""
        return self.spec.generation.model_dump()

    @property
    def budget(self) -> BudgetSpec:
        return self.spec.budget

    @property
    def variables(self) -> dict[str, VariableSpec]:
        return dict(self.spec.variables)
