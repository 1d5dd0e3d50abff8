"""Consistency checks between Terraform and the code, over a repository root (the real one or a
mutated copy). Each check returns a list of problems (empty = consistent); every problem names the file
and the thing that drifted. No terraform binary or cloud account is needed: the .tf files are parsed
with python-hcl2 and the few expressions that tie Terraform to the code's files are resolved here.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import yaml
from hcl2 import SerializationOptions

_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

TERRAFORM = "terraform"
PLATFORM = "terraform/modules/platform"
SCHEMAS_DIR = "include/llmops_factory/warehouse/schemas"
TABLES_FILE = "include/llmops_factory/warehouse/tables.yaml"
METRICS_FILE = "include/llmops_factory/observability/metrics.yaml"
REQUIREMENTS = "requirements.txt"
LOCAL_LOCK = "requirements/local.lock"
SCANNED_FOR_SETTINGS = ("plugins", "include")
# The columns of Vertex AI request-response logging (the table the endpoint creates itself).
VERTEX_LOG_COLUMNS = (
    "endpoint",
    "deployed_model_id",
    "logging_time",
    "request_id",
    "request_payload",
    "response_payload",
)
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")


class TerraformParseError(ValueError):
    """A .tf file does not parse; the message names the file."""


# -- parsing -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _parse_text(text: str) -> dict[str, Any]:
    return hcl2.loads(text, serialization_options=_OPTIONS)


def parse_file(path: Path) -> dict[str, Any]:
    """The parsed file (cached by content: mutated copies re-parse only what changed; do not modify)."""
    try:
        return _parse_text(path.read_text(encoding="utf-8"))
    except Exception as exc:  # python-hcl2 raises lark errors of several kinds
        raise TerraformParseError(f"{path}: does not parse as HCL2: {str(exc).splitlines()[0]}") from exc


def tf_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / TERRAFORM).rglob("*.tf") if ".terraform" not in p.parts)


def module_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for p in tf_files(root)})


@dataclass(frozen=True)
class Block:
    file: Path
    kind: str  # resource type, or "variable", "module", "locals"
    name: str
    body: dict[str, Any]


def _blocks(path: Path, tree: dict[str, Any]) -> Iterator[Block]:
    for resource in tree.get("resource", []):
        for rtype, named in resource.items():
            for name, body in named.items():
                yield Block(path, rtype, name, body)
    for kind in ("variable", "module", "output", "data"):
        for entry in tree.get(kind, []):
            for name, body in entry.items():
                yield Block(path, kind, name, body)
    for entry in tree.get("locals", []):
        for name, value in entry.items():
            yield Block(path, "locals", name, {"value": value})


def blocks(directory: Path, kind: str | None = None) -> list[Block]:
    found = []
    for path in sorted(directory.glob("*.tf")):
        found.extend(b for b in _blocks(path, parse_file(path)) if kind is None or b.kind == kind)
    return found


def _first(value: Any) -> Any:
    """python-hcl2 gives nested blocks as lists of one body."""
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value


def locals_of(directory: Path) -> dict[str, Any]:
    return {b.name: b.body["value"] for b in blocks(directory, "locals")}


def resolve_path(expr: str, directory: Path, local_values: dict[str, Any]) -> Path | None:
    """Resolve a path expression built from path.module and string locals; None if not a path."""
    text = expr
    for _ in range(10):
        match = re.search(r"\$\{local\.([a-z_0-9]+)\}", text)
        if not match:
            break
        value = local_values.get(match.group(1))
        if not isinstance(value, str):
            return None
        inner = (
            value[2:-1]
            if value.startswith("${local.") and value.endswith("}") and value.count("${") == 1
            else value
        )
        text = text.replace(match.group(0), inner if inner != value else value)
    text = text.replace("${path.module}", str(directory))
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        name = text[2:-1]
        if name.startswith("local.") and isinstance(local_values.get(name[6:]), str):
            return resolve_path(local_values[name[6:]], directory, local_values)
    if "${" in text:
        return None
    return Path(text).resolve()


def module_call(root: Path, source_suffix: str) -> tuple[Block, dict[str, Any]]:
    """The platform's call of the module whose source ends with ``source_suffix``, with its locals."""
    platform = root / PLATFORM
    calls = [b for b in blocks(platform, "module") if str(b.body.get("source", "")).endswith(source_suffix)]
    if len(calls) != 1:
        raise AssertionError(
            f"{platform}: expected one module call with source ../{source_suffix}, found {len(calls)}"
        )
    return calls[0], locals_of(platform)


# -- every .tf parses; every variable typed and described -------------------------------------------
def check_parse(root: Path) -> list[str]:
    problems = []
    for path in tf_files(root):
        try:
            parse_file(path)
        except TerraformParseError as exc:
            problems.append(str(exc))
    return problems


def check_variables(root: Path) -> list[str]:
    problems = []
    for directory in module_dirs(root):
        for var in blocks(directory, "variable"):
            where = f"{var.file.relative_to(root)}: variable {var.name!r}"
            if not var.body.get("type"):
                problems.append(f"{where} has no type")
            if not str(var.body.get("description") or "").strip():
                problems.append(f"{where} has no description")
            for validation in var.body.get("validation", []):
                if f"var.{var.name}" not in str(validation.get("condition", "")):
                    problems.append(f"{where}: a validation condition does not test var.{var.name}")
                message = str(validation.get("error_message", ""))
                if not message.startswith(var.name) and var.name not in message:
                    problems.append(f"{where}: validation error_message does not name {var.name!r}")
    return problems


def check_constrained_variables(root: Path, constrained: dict[str, str]) -> list[str]:
    """Each constrained variable (name -> module dir) has a validation whose message names it."""
    problems = []
    for name, directory in constrained.items():
        found = [v for v in blocks(root / directory, "variable") if v.name == name]
        if not found:
            problems.append(f"{directory}: variable {name!r} is missing")
            continue
        validations = found[0].body.get("validation", [])
        if not validations:
            problems.append(f"{directory}: variable {name!r} has no validation block")
        elif not any(name in str(v.get("error_message", "")) for v in validations):
            problems.append(f"{directory}: variable {name!r}: no validation message names it")
    return problems


# -- BigQuery tables from the code's schema files -----------------------------------------------------
def check_bigquery(root: Path) -> list[str]:
    problems: list[str] = []
    schemas_dir, tables_file = root / SCHEMAS_DIR, root / TABLES_FILE
    code_tables = set(yaml.safe_load(tables_file.read_text(encoding="utf-8")) or {})
    schema_files = {p.stem for p in schemas_dir.glob("*.json")}
    for name in sorted(code_tables - schema_files):
        problems.append(f"{TABLES_FILE}: table {name!r} has no schema file {SCHEMAS_DIR}/{name}.json")
    for name in sorted(schema_files - code_tables):
        problems.append(f"{SCHEMAS_DIR}/{name}.json: table {name!r} is not in {TABLES_FILE}")

    call, platform_locals = module_call(root, "/bigquery")
    platform = root / PLATFORM
    for arg, want in (("schemas_dir", schemas_dir), ("tables_file", tables_file)):
        got = resolve_path(str(call.body.get(arg, "")), platform, platform_locals)
        if got != want.resolve():
            problems.append(
                f"{PLATFORM}: module bigquery {arg} resolves to {got}, not the code's {want.relative_to(root)}"
            )

    external = []
    for item in call.body.get("externally_created_tables", []):
        match = re.fullmatch(r"\$\{local\.([a-z_0-9]+)\}", str(item))
        external.append(platform_locals.get(match.group(1)) if match else str(item))

    # The table resources of the module: each built from the schema file of the table it is keyed by.
    module_dir = root / TERRAFORM / "modules" / "bigquery"
    module_locals = locals_of(module_dir)
    tables = [b for b in blocks(module_dir) if b.kind == "google_bigquery_table"]
    if [b.name for b in tables] != ["main"]:
        problems.append(
            f"{module_dir.relative_to(root)}: expected one google_bigquery_table 'main' keyed by table, found {[b.name for b in tables]}"
        )
    for table in tables:
        where = f"{table.file.relative_to(root)}: google_bigquery_table.{table.name}"
        body = table.body
        for_each = str(body.get("for_each", ""))
        source = module_locals.get(for_each[8:-1]) if for_each.startswith("${local.") else None
        specs = module_locals.get("table_specs", "")
        if not (
            source
            and "local.table_specs" in str(source)
            and "yamldecode(file(var.tables_file))" in str(specs)
        ):
            problems.append(f"{where}: for_each must be the tables of var.tables_file, got {for_each}")
        if "var.externally_created_tables" not in str(source):
            problems.append(f"{where}: for_each does not leave out var.externally_created_tables")
        expected = {
            "schema": '${file("${var.schemas_dir}/${each.key}.json")}',
            "table_id": "${each.key}",
            "clustering": "${each.value.clustering}",
            "description": "${each.value.description}",
        }
        for attr, want in expected.items():
            if body.get(attr) != want:
                problems.append(
                    f"{where}: {attr} is {body.get(attr)!r}, not {want!r} (built from the code's files)"
                )
        partitioning = _first(body.get("time_partitioning")) or {}
        for attr in ("type", "field"):
            want = f"${{each.value.time_partitioning.{attr}}}"
            if partitioning.get(attr) != want:
                problems.append(
                    f"{where}: time_partitioning.{attr} is {partitioning.get(attr)!r}, not {want!r}"
                )

    created = code_tables - set(external)
    for name in sorted(set(external) - code_tables):
        problems.append(f"{PLATFORM}: externally created table {name!r} is not a table of {TABLES_FILE}")

    # Tables created elsewhere must be the endpoint's request-response log, with Vertex's columns.
    endpoint_call, _ = module_call(root, "/vertex_endpoint")
    log_table = _first(endpoint_call.body.get("log_table")) or {}
    log_name = str(log_table.get("table", ""))
    match = re.fullmatch(r"\$\{local\.([a-z_0-9]+)\}", log_name)
    log_name = platform_locals.get(match.group(1), log_name) if match else log_name
    for name in external:
        if name != log_name:
            problems.append(
                f"{PLATFORM}: table {name!r} is neither created by Terraform nor the endpoint's log table ({log_name!r})"
            )
        elif (schemas_dir / f"{name}.json").is_file():
            columns = tuple(
                f["name"] for f in json.loads((schemas_dir / f"{name}.json").read_text(encoding="utf-8"))
            )
            if columns != VERTEX_LOG_COLUMNS:
                problems.append(
                    f"{SCHEMAS_DIR}/{name}.json: columns {columns} are not Vertex AI's request-response log {VERTEX_LOG_COLUMNS}"
                )
    if not created and not problems:
        problems.append(f"{TABLES_FILE}: Terraform creates no table")
    return problems


def terraform_tables(root: Path) -> set[str]:
    """The tables Terraform creates (for reports): tables.yaml minus those created by the endpoint."""
    call, platform_locals = module_call(root, "/bigquery")
    external = {platform_locals.get(str(i)[8:-1], i) for i in call.body.get("externally_created_tables", [])}
    return set(yaml.safe_load((root / TABLES_FILE).read_text(encoding="utf-8"))) - external


# -- alert policies on the metrics the code writes ---------------------------------------------------
def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _tfvars(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((root / TERRAFORM).rglob("*.tfvars*")):
        try:
            yield path, _parse_text(path.read_text(encoding="utf-8"))
        except Exception as exc:
            raise TerraformParseError(f"{path}: does not parse as HCL2: {str(exc).splitlines()[0]}") from exc


def check_alerts(root: Path) -> list[str]:
    from llmops_factory import observability

    problems: list[str] = []
    metrics_file = root / METRICS_FILE
    try:
        catalogue = observability.load(metrics_file)
    except observability.MetricsFileError as exc:
        return [str(exc)]
    known_types = {m.type for m in catalogue.metrics.values()}
    alerting = {name for name, m in catalogue.metrics.items() if m.alert is not None}

    call, platform_locals = module_call(root, "/monitoring")
    got = resolve_path(str(call.body.get("metrics_file", "")), root / PLATFORM, platform_locals)
    if got != metrics_file.resolve():
        problems.append(
            f"{PLATFORM}: module monitoring metrics_file resolves to {got}, not the code's {METRICS_FILE}"
        )

    # Any metric type spelled out anywhere in Terraform must be one the code writes.
    pattern = re.compile(r"custom\.googleapis\.com/[A-Za-z0-9_/.-]+")
    for path in tf_files(root):
        for text in _strings(parse_file(path)):
            for metric_type in pattern.findall(text):
                if metric_type not in known_types:
                    problems.append(
                        f"{path.relative_to(root)}: metric {metric_type} is not in {METRICS_FILE}"
                    )

    # Every alert policy's filter: the descriptor of the metric it is keyed by, or a known literal type.
    module_dir = root / TERRAFORM / "modules" / "monitoring"
    module_locals = locals_of(module_dir)
    policies = [b for d in module_dirs(root) for b in blocks(d) if b.kind == "google_monitoring_alert_policy"]
    if not policies:
        problems.append(f"{TERRAFORM}: no google_monitoring_alert_policy")
    for policy in policies:
        where = f"{policy.file.relative_to(root)}: google_monitoring_alert_policy.{policy.name}"
        for condition in policy.body.get("conditions", []):
            threshold = _first(condition.get("condition_threshold")) or {}
            flt = str(threshold.get("filter", ""))
            literal = pattern.findall(flt)
            keyed = "google_monitoring_metric_descriptor.main[each.key].type" in flt
            if not literal and not keyed:
                problems.append(f"{where}: filter {flt!r} names no metric of {METRICS_FILE}")
            if keyed:
                for_each = str(policy.body.get("for_each", ""))
                source = str(module_locals.get(for_each[8:-1], "")) if for_each.startswith("${local.") else ""
                if (
                    policy.file.parent != module_dir
                    or "local.metrics" not in source
                    or "yamldecode(file(var.metrics_file))" not in str(module_locals.get("catalogue", ""))
                ):
                    problems.append(
                        f"{where}: for_each {for_each} is not the alerting metrics of var.metrics_file"
                    )
    descriptors = [b for b in blocks(module_dir) if b.kind == "google_monitoring_metric_descriptor"]
    for descriptor in descriptors:
        if (
            descriptor.body.get("type") != "${local.catalogue.prefix}/${each.key}"
            or descriptor.body.get("for_each") != "${local.metrics}"
        ):
            problems.append(
                f"{descriptor.file.relative_to(root)}: metric descriptor is not built from the metrics file"
            )

    # Threshold overrides (env main.tf arguments and example tfvars) only for metrics that alert.
    overrides: list[tuple[Path, dict[str, Any]]] = list(_tfvars(root))
    for directory in module_dirs(root):
        for call_block in blocks(directory, "module"):
            if isinstance(call_block.body.get("alert_thresholds"), dict):
                overrides.append((call_block.file, {"alert_thresholds": call_block.body["alert_thresholds"]}))
    for path, values in overrides:
        for name in values.get("alert_thresholds") or {}:
            if name not in alerting:
                problems.append(
                    f"{path.relative_to(root)}: alert_thresholds names {name!r}, not an alerting metric of {METRICS_FILE} ({', '.join(sorted(alerting))})"
                )
    return problems


# -- Composer environment variables cover the settings the code requires ----------------------------
def required_settings(root: Path) -> dict[str, list[str]]:
    """Dotted settings passed to ``.require("...")`` anywhere under plugins/ and include/, with where."""
    found: dict[str, list[str]] = {}
    for top in SCANNED_FOR_SETTINGS:
        for path in sorted((root / top).rglob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except SyntaxError as exc:
                raise AssertionError(f"{path}: cannot be scanned for settings: {exc}") from exc
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "require"
                ):
                    for arg in node.args:
                        if (
                            isinstance(arg, ast.Constant)
                            and isinstance(arg.value, str)
                            and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+|[a-z_]+", arg.value)
                        ):
                            found.setdefault(arg.value, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def env_var(dotted: str) -> str:
    """The environment variable of a dotted setting, as settings.py maps it (prefix LLMOPS_, nested __)."""
    return "LLMOPS_" + dotted.upper().replace(".", "__")


def settings_field_for(env: str) -> str | None:
    """The dotted setting an LLMOPS_* variable sets, or None if no field of Settings has that name."""
    from pydantic import BaseModel

    from llmops_factory.settings import Settings

    if not env.startswith("LLMOPS_"):
        return None
    model: type[BaseModel] = Settings
    parts = env[len("LLMOPS_") :].lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            model = annotation
    return ".".join(parts)


def composer_env(root: Path) -> dict[str, Any]:
    platform_locals = locals_of(root / PLATFORM)
    settings_env = platform_locals.get("settings_env")
    merged: dict[str, Any] = {}
    # settings_env = merge({...}, cond ? {...} : {}): python-hcl2 gives the merge call as text.
    text = settings_env if isinstance(settings_env, str) else json.dumps(settings_env)
    for key, value in re.findall(
        r"\b(LLMOPS_[A-Z0-9_]+|AIRFLOW_VAR_[A-Z0-9_]+)\b\"?\s*[=:]\s*(\"[^\"]*\"|[^,\n}]+)", text
    ):
        merged[key] = value.strip().strip('"')
    if isinstance(settings_env, dict):
        merged.update(settings_env)
    return merged


def check_composer_env(root: Path) -> list[str]:
    problems: list[str] = []
    call, platform_locals = module_call(root, "/composer")
    if call.body.get("env_variables") != "${local.settings_env}":
        problems.append(
            f"{PLATFORM}: module composer env_variables is {call.body.get('env_variables')!r}, not local.settings_env"
        )
    env = composer_env(root)
    if not env:
        return problems + [f"{PLATFORM}: local settings_env sets no LLMOPS_* variable"]
    if env.get("LLMOPS_TARGET") != "gcp":
        problems.append(
            f'{PLATFORM}: settings_env must set LLMOPS_TARGET = "gcp", got {env.get("LLMOPS_TARGET")!r}'
        )
    for dotted, where in sorted(required_settings(root).items()):
        if env_var(dotted) not in env:
            problems.append(
                f"setting {dotted} (required at {', '.join(where)}) is not set by the Composer environment: add {env_var(dotted)} to settings_env in {PLATFORM}/main.tf"
            )
    for name in sorted(env):
        if name.startswith("LLMOPS_") and settings_field_for(name) is None:
            problems.append(
                f"{PLATFORM}: settings_env sets {name}, which is no field of llmops_factory.settings.Settings (it would be ignored)"
            )
    return problems


# -- Composer PyPI packages from requirements.txt ------------------------------------------------------
def check_requirements(root: Path) -> list[str]:
    problems: list[str] = []
    requirements = root / REQUIREMENTS
    call, platform_locals = module_call(root, "/composer")
    got = resolve_path(str(call.body.get("requirements_file", "")), root / PLATFORM, platform_locals)
    if got != requirements.resolve():
        problems.append(
            f"{PLATFORM}: module composer requirements_file resolves to {got}, not {REQUIREMENTS}"
        )
    lock = {}
    for line in (root / LOCAL_LOCK).read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            lock[re.sub(r"[-_.]+", "-", name.lower())] = version.strip()
    for number, raw in enumerate(requirements.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not PIN.match(line):
            problems.append(
                f"{REQUIREMENTS}:{number}: {line!r} is not one pin name[extras]==version (Composer's pypi_packages)"
            )
            continue
        name, version = re.split(r"(?:\[[^\]]*\])?==", line, maxsplit=1)
        key = re.sub(r"[-_.]+", "-", name.lower())
        if key not in lock:
            problems.append(
                f"{REQUIREMENTS}:{number}: {name} is not in {LOCAL_LOCK} (resolve it with the local stack first)"
            )
        elif lock[key] != version:
            problems.append(
                f"{REQUIREMENTS}:{number}: {name}=={version} differs from {LOCAL_LOCK} ({lock[key]})"
            )
    return problems
