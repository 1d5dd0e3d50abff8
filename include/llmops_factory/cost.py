"""Cost of a training run from wall time, the machine and accelerator, and the prices in settings.

``cost = hours × replicas × (machine price + accelerator price × accelerators per replica)``, with the
hourly list prices of ``get_settings().prices``. A machine or accelerator without a price is an error
that names the setting, so a run never reports a cost of zero by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmops_factory.settings import Prices, SettingsError, get_settings

NO_ACCELERATOR = ("", "NONE", "ACCELERATOR_TYPE_UNSPECIFIED")


@dataclass(frozen=True)
class HourlyRate:
    """Price of one hour of the whole job (every replica)."""

    machine_usd: float
    accelerator_usd: float
    replica_count: int

    @property
    def total_usd(self) -> float:
        return self.replica_count * (self.machine_usd + self.accelerator_usd)


def hourly_rate(
    machine_type: str,
    accelerator_type: str = "NONE",
    accelerator_count: int = 0,
    replica_count: int = 1,
    prices: Prices | None = None,
) -> HourlyRate:
    """The job's hourly rate; raises ``SettingsError`` naming a missing price."""
    prices = prices or get_settings().prices
    if replica_count < 1 or accelerator_count < 0:
        raise ValueError(f"replica_count={replica_count} must be >= 1, accelerator_count >= 0")
    if machine_type not in prices.machine_hourly_usd:
        raise SettingsError(
            f"no price for machine type {machine_type!r}: set prices.machine_hourly_usd.{machine_type} "
            f"(known: {', '.join(sorted(prices.machine_hourly_usd)) or 'none'})"
        )
    accel = 0.0
    if accelerator_type not in NO_ACCELERATOR and accelerator_count > 0:
        if accelerator_type not in prices.accelerator_hourly_usd:
            raise SettingsError(
                f"no price for accelerator {accelerator_type!r}: set "
                f"prices.accelerator_hourly_usd.{accelerator_type}"
            )
        accel = prices.accelerator_hourly_usd[accelerator_type] * accelerator_count
    return HourlyRate(prices.machine_hourly_usd[machine_type], accel, replica_count)


def run_cost_usd(
    wall_time_s: float,
    machine_type: str,
    accelerator_type: str = "NONE",
    accelerator_count: int = 0,
    replica_count: int = 1,
    prices: Prices | None = None,
) -> float:
    """Cost in USD of ``wall_time_s`` seconds of the job."""
    if wall_time_s < 0:
        raise ValueError(f"wall_time_s={wall_time_s} must be >= 0")
    rate = hourly_rate(machine_type, accelerator_type, accelerator_count, replica_count, prices)
    return round(wall_time_s / 3600.0 * rate.total_usd, 6)
