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


@cli.command()
@click.option("--requests", "n", type=click.IntRange(min=0), required=True, help="Requests to send.")
@click.option(
    "--off-domain",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of off-domain prompts (drift).",
)
@click.option(
    "--toxic", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Share of abusive prompts."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same requests.")
@click.option(
    "--feedback-rate",
    type=click.FloatRange(0, 1),
    default=0.7,
    show_default=True,
    help="Share of answers the simulated user rates.",
)
@click.option(
    "--satisfaction",
    multiple=True,
    metavar="MODEL_VERSION=P",
    help="Fixed user: P(satisfied) of a model version (repeatable). Without it: the quality user, whose "
    "satisfaction follows each answer (safety, ROUGE-L against the reference).",
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=24, show_default=True)
@click.option("--url", default=None, help="Endpoint URL (default: the local endpoint of the settings).")
def traffic(n, off_domain, toxic, seed, feedback_rate, satisfaction, max_new_tokens, url) -> None:
    """Send a day of traffic to the endpoint: eval-split, off-domain and abusive prompts, with simulated
    user feedback (every comment starts with "simulated:"). Prints the summary as JSON."""
    from llmops_factory.datagen import traffic as gen
    from llmops_factory.endpoint import EndpointClient, endpoint_dir, read_token
    from llmops_factory.settings import get_settings

    settings = get_settings()
    local = settings.local
    fixed: dict[str, float] = {}
    for item in satisfaction:
        version, _, value = item.partition("=")
        try:
            fixed[version] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}: {value!r} is not a number", param_hint="--satisfaction"
            ) from None
    try:
        requests = gen.plan(
            n,
            in_domain=gen.eval_prompts(local.warehouse_path),
            off_domain=gen.off_domain_prompts() if off_domain else (),
            toxic=gen.toxic_prompts() if toxic else (),
            off_domain_share=off_domain,
            toxic_share=toxic,
            seed=seed,
        )
    except gen.TrafficError as exc:
        raise click.ClickException(str(exc)) from None
    user = None if fixed else gen.QualityUser()
    base_url = url or f"http://127.0.0.1:{local.endpoint_port}"
    token = read_token(endpoint_dir(local.home, settings.use_case))
    with EndpointClient(base_url, token) as client:
        summary = gen.send(
            client,
            requests,
            parameters={"max_new_tokens": max_new_tokens},
            feedback_rate=feedback_rate,
            satisfaction=fixed,
            seed=seed,
            user=user,
        )
        client.flush()
    summary["user"] = user.describe() if user else f"fixed user: {fixed}"
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(cli())
