"""Command line of the prompts package: ``python -m llmops_factory.prompts <command>``.

Exit status: 0 success, 1 a prompt/version/storage problem (the message says which file, prompt and
field), 2 wrong usage.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from llmops_factory.prompts.errors import PromptError

_PROMPTS_DIR = click.option(
    "--prompts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of prompt files (default: $LLMOPS_PROMPTS_DIR, else the repository's prompts/).",
)
_ROOT = click.option(
    "--root",
    default=None,
    metavar="URI",
    help="Storage root (gs://bucket, file:///path or a folder). Default: the current target's storage root.",
)
_TOKENIZER = click.option(
    "--tokenizer",
    default=None,
    metavar="PATH",
    help="Hugging Face tokenizer folder or tokenizer.json for exact token counts "
    "(default: $LLMOPS_PROMPT_TOKENIZER, else a documented approximation).",
)


def _root(root: str | None) -> str:
    if root:
        return root
    from llmops_factory.settings import get_settings

    return get_settings().storage_root


class _Group(click.Group):
    """Turns every ``PromptError`` (and settings error) into one clear message and exit status 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from llmops_factory.settings import SettingsError

        try:
            return super().invoke(ctx)
        except (PromptError, SettingsError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group)
def main() -> None:
    """Prompts as code: validate, version, publish, resolve and render prompt templates."""


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@_PROMPTS_DIR
@_TOKENIZER
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")
def validate(files: tuple[Path, ...], prompts_dir: Path | None, tokenizer: str | None, as_json: bool) -> None:
    """Validate prompt FILES (default: every prompt in the prompts folder)."""
    from llmops_factory.prompts.tokens import token_counter
    from llmops_factory.prompts.validator import validate_prompts

    started = time.perf_counter()
    report = validate_prompts(prompts_dir, paths=list(files) or None, counter=token_counter(tokenizer))
    elapsed = time.perf_counter() - started
    failed = [p for p in report.prompts if not p.ok]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "counter": report.counter,
                    "seconds": round(elapsed, 4),
                    "prompts": [
                        {
                            "file": p.file,
                            "ref": p.ref,
                            "hash": p.hash,
                            "ok": p.ok,
                            "seconds": round(p.seconds, 4),
                            "worst_case_tokens": p.worst_case_tokens,
                            "worst_case_example": p.worst_case_example,
                            "max_prompt_tokens": p.max_prompt_tokens,
                            "issues": [str(i) for i in p.issues],
                        }
                        for p in report.prompts
                    ],
                    "other_issues": [str(i) for i in report.other_issues],
                },
                indent=2,
            )
        )
    else:
        for issue in report.other_issues:
            click.echo(f"FAIL {issue}")
        for p in report.prompts:
            if p.ok:
                click.echo(
                    f"ok   {p.ref:<28} {p.file}  worst case {p.worst_case_tokens}/{p.max_prompt_tokens} tokens "
                    f"(example {p.worst_case_example!r})  {p.seconds * 1000:.1f} ms"
                )
            else:
                click.echo(f"FAIL {p.ref:<28} {p.file}")
                for issue in p.issues:
                    click.echo(f"     {issue}")
        click.echo(
            f"validated {len(report.prompts)} prompt file(s) in {elapsed:.3f} s (token counter: {report.counter}): "
            f"{len(report.prompts) - len(failed)} ok, {len(failed)} failed"
        )
    if not report.ok:
        sys.exit(1)


@main.command("check-versions")
@_PROMPTS_DIR
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Lock file (default: <prompts-dir>/prompts.lock.json).",
)
@click.option(
    "--root",
    default=None,
    metavar="URI",
    help="Also compare with the versions already published at this storage root.",
)
def check_versions_cmd(prompts_dir: Path | None, lock_file: Path | None, root: str | None) -> None:
    """Fail if a prompt's content changed without a version bump (against the lock file)."""
    from llmops_factory.prompts.lockfile import check_versions

    hashes = check_versions(prompts_dir, lock_file, root=root)
    count = sum(len(v) for v in hashes.values())
    click.echo(f"ok: {count} prompt version(s) match the lock file" + (f" and {root}" if root else ""))


@main.command()
@_PROMPTS_DIR
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Lock file (default: <prompts-dir>/prompts.lock.json).",
)
def lock(prompts_dir: Path | None, lock_file: Path | None) -> None:
    """Rewrite the lock file: add new versions, drop removed ones; never re-hash an existing version."""
    from llmops_factory.prompts.lockfile import write_lock

    change = write_lock(prompts_dir, lock_file)
    for ref in change.added:
        click.echo(f"added   {ref}")
    for ref in change.removed:
        click.echo(f"removed {ref}")
    click.echo(f"wrote {change.path}" + ("" if change.added or change.removed else " (no change)"))


@main.command()
@click.argument("refs", nargs=-1)
@_ROOT
@_PROMPTS_DIR
@_TOKENIZER
def publish(refs: tuple[str, ...], root: str | None, prompts_dir: Path | None, tokenizer: str | None) -> None:
    """Validate, check versions, then publish REFS (name@version; default all) as immutable bundles."""
    from llmops_factory.prompts.publish import publish_repo

    target = _root(root)
    for result in publish_repo(target, prompts_dir=prompts_dir, refs=list(refs) or None, tokenizer=tokenizer):
        click.echo(f"{result.status:<10} {result.name}@{result.version}  {result.hash[:12]}  {result.uri}")


@main.command()
@click.argument("ref")
@_ROOT
def resolve(ref: str, root: str | None) -> None:
    """Resolve REF (name@version or name@alias) against published bundles; print JSON."""
    from llmops_factory.prompts.resolution import resolve as resolve_ref

    click.echo(json.dumps(resolve_ref(ref, _root(root)).to_dict(), indent=2))


@main.command()
@click.argument("ref")
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="A string variable (repeatable)."
)
@click.option(
    "--root",
    default=None,
    metavar="URI",
    help="Render a published bundle (aliases allowed) instead of the repository file.",
)
@click.option("--part", type=click.Choice(["text", "system", "user"]), default="text", show_default=True)
@_PROMPTS_DIR
def render(
    ref: str, variables: tuple[str, ...], root: str | None, part: str, prompts_dir: Path | None
) -> None:
    """Render REF with --var values and print the exact model input (or one part)."""
    from llmops_factory.prompts.renderer import render as render_prompt
    from llmops_factory.prompts.resolution import load_prompt

    values: dict[str, str] = {}
    for item in variables:
        if "=" not in item:
            raise click.UsageError(f"--var {item!r} must be NAME=VALUE")
        key, value = item.split("=", 1)
        values[key] = value
    prompt = load_prompt(ref, root=root, prompts_dir=prompts_dir)
    click.echo(getattr(render_prompt(prompt, values), part), nl=False)


@main.command("list")
@click.argument("name")
@_ROOT
def list_cmd(name: str, root: str | None) -> None:
    """List the published versions and aliases of prompt NAME."""
    from llmops_factory.prompts.aliases import list_aliases
    from llmops_factory.prompts.bundles import published_versions

    target = _root(root)
    click.echo(
        json.dumps(
            {
                "name": name,
                "root": target,
                "versions": published_versions(name, target),
                "aliases": list_aliases(name, target),
            },
            indent=2,
        )
    )


@main.group()
def alias() -> None:
    """Read or move alias pointers (production, candidate); deployment DAGs move them."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@_ROOT
@click.option("--set-by", default=None, help="Who moves it (e.g. the DAG run id), stored in the pointer.")
@click.option("--reason", default=None, help="Why, stored in the pointer.")
def alias_set(
    name: str, alias_name: str, version: str, root: str | None, set_by: str | None, reason: str | None
) -> None:
    """Point NAME@ALIAS at published VERSION."""
    from llmops_factory.prompts.aliases import set_alias

    change = set_alias(name, alias_name, version, _root(root), set_by=set_by, reason=reason)
    state = "moved" if change.changed else "unchanged"
    click.echo(f"{state}: {name}@{alias_name} -> {version} (was {change.previous_version or 'unset'})")


@alias.command("get")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@_ROOT
def alias_get(name: str, alias_name: str, root: str | None) -> None:
    """Print the pointer of NAME@ALIAS as JSON."""
    from llmops_factory.prompts.aliases import get_alias

    click.echo(json.dumps(get_alias(name, alias_name, _root(root)), indent=2))
