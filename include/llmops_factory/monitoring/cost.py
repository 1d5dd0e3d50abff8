"""Serving cost per 1000 predictions of one deployed model over one day.

``cost = node_hours × hourly rate of one replica (machine + accelerators, settings.prices)
        + tokens_in / 1000 × input token price + tokens_out / 1000 × output token price``
and ``cost per 1000 = cost / requests × 1000``. A deployed model costs its replicas whether or not it
gets traffic, so a model with replicas and no request has an infinite cost per 1000 (reported as such,
not as zero). Prices come from :mod:`llmops_factory.cost` and fail naming a missing price.
"""

from __future__ import annotations

import dataclasses
import math

from llmops_factory.cost import hourly_rate
from llmops_factory.settings import Prices


@dataclasses.dataclass(frozen=True)
class ServingMachine:
    machine_type: str
    accelerator_type: str = "NONE"
    accelerator_count: int = 0
    replicas: int = 1


def day_cost_usd(
    machine: ServingMachine,
    hours: float,
    tokens_in: int,
    tokens_out: int,
    *,
    prices: Prices,
    token_price_in_per_1k: float = 0.0,
    token_price_out_per_1k: float = 0.0,
) -> float:
    if hours < 0:
        raise ValueError(f"serving hours {hours} must be >= 0")
    rate = hourly_rate(
        machine.machine_type, machine.accelerator_type, machine.accelerator_count, machine.replicas, prices
    )
    return (
        rate.total_usd * hours
        + tokens_in / 1000 * token_price_in_per_1k
        + tokens_out / 1000 * token_price_out_per_1k
    )


def cost_per_1k(cost_usd: float, requests: int) -> float:
    """Cost per 1000 predictions; ``inf`` when a model that costs money served nothing, 0 when free."""
    if requests <= 0:
        return math.inf if cost_usd > 0 else 0.0
    return cost_usd / requests * 1000.0
