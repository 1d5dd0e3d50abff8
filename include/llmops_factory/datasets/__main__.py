"""Command line of snapshot assembly.

python -m llmops_factory.datasets snapshot --root file:///path/storage --start 2026-03-01 --end 2026-03-07
"""

from __future__ import annotations

import json
import sys

import click

from llmops_factory.datasets.snapshot import DEFAULT_NEAR_DUP_THRESHOLD, SnapshotError, build_snapshot
from llmops_factory.layout import LayoutError


@click.group()
def cli() -> None:
    """Versioned training snapshots of the instruction dataset."""


@cli.command()
@click.option("--root", required=True, help="Storage root: gs://bucket, file:///abs/path or a folder.")
@click.option("--start", required=True, help="First source date of the window, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last source date of the window (inclusive), YYYY-MM-DD.")
@click.option(
    "--eval-fraction",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=None,
    help="Re-split groups by a stable hash of group_key; default keeps the daily splits.",
)
@click.option(
    "--near-dup-threshold",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=DEFAULT_NEAR_DUP_THRESHOLD,
    show_default=True,
    help="MinHash LSH Jaccard threshold.",
)
@click.option(
    "--allow-missing", is_flag=True, help="Skip dates without a daily partition instead of failing."
)
def snapshot(root, start, end, eval_fraction, near_dup_threshold, allow_missing) -> None:
    """Write datasets/<snapshot_version>/ and print its manifest summary as JSON."""
    try:
        manifest = build_snapshot(
            root,
            start,
            end,
            eval_fraction=eval_fraction,
            near_dup_threshold=near_dup_threshold,
            allow_missing=allow_missing,
        )
    except (SnapshotError, LayoutError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        json.dumps(
            {
                k: manifest[k]
                for k in (
                    "snapshot_version",
                    "uri",
                    "partitions",
                    "train_examples",
                    "eval_examples",
                    "counts",
                )
            }
        )
    )


if __name__ == "__main__":
    sys.exit(cli())
