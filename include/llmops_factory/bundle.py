"""Build the exact Cloud Composer upload bundle.

Composer syncs three folders of its bucket: ``dags/`` (the DAG files; on ``sys.path``), ``plugins/``
(on ``sys.path``) and ``data/`` (mounted at ``/home/airflow/gcs/data``, not on ``sys.path``). The bundle:

    dags/<dag files>.py, dags/.airflowignore
    plugins/llmops_plugins/   Airflow glue (steps, target switch, notifier)
    plugins/llmops_factory/   domain logic, config files, warehouse schemas
    plugins/llmops_review_plugin.py  the Review page UI plugin (the one module the plugin manager loads)
    plugins/.airflowignore    keeps the plugin manager from importing those packages as plugins
    data/beam_jobs/           Beam driver + setup.py + packages, for Dataflow's --setup_file
    data/prompts/             prompt sources (published bundles live in the main bucket)
    requirements.txt          PyPI packages of the Composer environment

    python -m llmops_factory.bundle build --out build/composer
    gcloud storage rsync --recursive --delete-unmatched-destination-objects build/composer/dags gs://<composer-bucket>/dags
    (same for plugins/ and data/)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import click

from llmops_factory.settings import REPO_ROOT

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", "build", "dist")


#: test/demo-only code of ``llmops_factory`` that Dataflow workers never run. (Composer keeps ``datagen``:
#: evaluation reads the domain facts table and the toxic probe phrases from it.)
NOT_SHIPPED = ("datagen",)
_IGNORE_FACTORY = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", "build", "dist", *NOT_SHIPPED
)


def _copytree(src: Path, dst: Path, ignore=_IGNORE) -> None:
    if not src.exists():
        raise click.ClickException(f"bundle source {src} does not exist")
    shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=False)


def build(out: Path, repo: Path = REPO_ROOT) -> dict[str, object]:
    """Write the bundle to ``out`` (replaced), return its manifest (files and hashes)."""
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "dags").mkdir(parents=True)
    for dag_file in sorted((repo / "dags").glob("*.py")):
        shutil.copy2(dag_file, out / "dags" / dag_file.name)
    (out / "dags" / ".airflowignore").write_text("__pycache__\n")

    plugins = out / "plugins"
    _copytree(repo / "plugins" / "llmops_plugins", plugins / "llmops_plugins")
    _copytree(repo / "include" / "llmops_factory", plugins / "llmops_factory")
    for plugin_file in sorted((repo / "plugins").glob("*.py")):  # Airflow plugins (the Review page)
        shutil.copy2(plugin_file, plugins / plugin_file.name)
    (plugins / ".airflowignore").write_text("llmops_plugins/\nllmops_factory/\n")

    data = out / "data"
    beam = data / "beam_jobs"
    _copytree(repo / "beam_jobs", beam)
    _copytree(repo / "include" / "llmops_factory", beam / "llmops_factory", _IGNORE_FACTORY)
    _copytree(repo / "prompts", data / "prompts")
    shutil.copy2(repo / "requirements.txt", out / "requirements.txt")

    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = {
        "files": {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    (out / "bundle-manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


@click.group()
def cli() -> None:
    """Cloud Composer bundle."""


@cli.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=Path("build/composer"), show_default=True)
def build_cmd(out: Path) -> None:
    """Write the Composer upload bundle."""
    manifest = build(out)
    click.echo(f"bundle written to {out} ({len(manifest['files'])} files)")


if __name__ == "__main__":
    cli()
