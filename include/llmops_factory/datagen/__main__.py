"""Command line of the corpus generator.

python -m llmops_factory.datagen generate --root file:///path/storage --ds 2026-03-01 [--days 3]
python -m llmops_factory.datagen generate --root gs://bucket --ds 2026-03-01 --end 2026-03-31
python -m llmops_factory.datagen facts   # print the fact table as JSON
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from llmops_factory.datagen.defects import KINDS, RatesError
from llmops_factory.datagen.facts import load_facts
from llmops_factory.datagen.generator import (
    DEFAULT_SCALE,
    DEFAULT_SHARD_SIZE,
    SOURCES,
    GenerationError,
    date_range,
    generate_day,
)
from llmops_factory.layout import LayoutError, partition_date


def _parse_rates(values: tuple[str, ...], no_defects: bool) -> dict[str, float] | None:
    rates: dict[str, float] = {kind: 0.0 for kind in KINDS} if no_defects else {}
    for item in values:
        kind, sep, number = item.partition("=")
        if not sep:
            raise click.BadParameter(
                f"{item!r} is not KIND=RATE (kinds: {', '.join(KINDS)})", param_hint="--rate"
            )
        try:
            rates[kind.strip()] = float(number)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {number!r} is not a number", param_hint="--rate") from None
    return rates or None


@click.group()
def cli() -> None:
    """Realistic raw support data for the Nimbus subscription business."""


@cli.command()
@click.option("--root", required=True, help="Storage root: gs://bucket, file:///abs/path or a folder.")
@click.option("--ds", required=True, help="First (or only) date to generate, YYYY-MM-DD.")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Generate this many days from --ds.")
@click.option("--end", "end", default=None, help="Generate every day from --ds to this date (inclusive).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; same seed and date, same bytes.")
@click.option(
    "--scale",
    type=click.IntRange(min=1),
    default=DEFAULT_SCALE,
    show_default=True,
    help="Raw records per day across sources.",
)
@click.option("--rate", "rate", multiple=True, metavar="KIND=RATE", help="Override one injection rate.")
@click.option("--no-defects", is_flag=True, help="Inject nothing (rates 0 unless --rate sets one).")
@click.option("--sources", default=",".join(SOURCES), show_default=True, help="Comma-separated sources.")
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=DEFAULT_SHARD_SIZE,
    show_default=True,
    help="Records per JSONL/CSV shard.",
)
def generate(root, ds, days, end, seed, scale, rate, no_defects, sources, shard_size) -> None:
    """Write raw/<source>/dt=<ds>/ and reports/datagen/dt=<ds>/ for one day or a range of days."""
    if days is not None and end is not None:
        raise click.UsageError("use --days or --end, not both")
    try:
        partition_date(ds)
        if end is not None:
            dates = date_range(ds, end)
        elif days is not None:
            dates = date_range(ds, _shift(ds, days - 1))
        else:
            dates = date_range(ds, ds)
        rates = _parse_rates(rate, no_defects)
        chosen = [s.strip() for s in sources.split(",") if s.strip()]
        for day in dates:
            summary = generate_day(
                root, day, seed=seed, scale=scale, rates=rates, sources=chosen, shard_size=shard_size
            )
            click.echo(
                json.dumps(
                    {"ds": day, "records": summary["records"], "injections": summary["injections_total"]}
                )
            )
    except (GenerationError, RatesError, LayoutError) as exc:
        raise click.ClickException(str(exc)) from None


def _shift(ds: str, days: int) -> str:
    return (dt.date.fromisoformat(partition_date(ds)) + dt.timedelta(days=days)).isoformat()


@cli.command()
def facts() -> None:
    """Print the fact table the corpus is generated from, as JSON."""
    click.echo(json.dumps(load_facts(), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(cli())
