"""The Nimbus fact table: loading, validation and the atomic fact items built from it.

``facts.yaml`` beside this module is the single source of truth for everything the corpus generator
writes and for the multiple-choice benchmark built later from the same facts. ``load_facts()`` reads and
validates it; ``Facts`` wraps it with the lookups the text builders need (formatted prices, plans);
``fact_items()`` turns it into atomic question/answer items (with distractors for a benchmark) that the
FAQ source is generated from.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FACTS_FILE = Path(__file__).resolve().parent / "facts.yaml"
CURRENCIES = ("EUR", "USD")
CYCLES = ("monthly", "annual")
_REQUIRED_SECTIONS = (
    "company",
    "currencies",
    "plans",
    "trial",
    "billing",
    "payment_methods",
    "payment_failure",
    "cancellation",
    "refund",
    "plan_change",
    "pause",
    "devices",
    "sign_in",
    "retention",
)
_PLAN_FIELDS = (
    "id",
    "name",
    "monthly",
    "annual",
    "streams",
    "devices",
    "profiles",
    "video_quality",
    "downloads",
)


class FactsError(ValueError):
    """The fact table is missing a section or holds an invalid value; the message names it."""


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise FactsError(f"cannot read the fact table {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise FactsError(f"fact table {path} is not valid YAML: {exc}") from exc
    validate_facts(data, where=path)
    return data


def load_facts(path: str | Path | None = None) -> dict[str, Any]:
    """Read and validate the fact table (``facts.yaml`` beside this module unless ``path`` is given).

    Returns a fresh deep copy, so callers may modify it freely.
    """
    return copy.deepcopy(_load_cached(str(Path(path) if path else FACTS_FILE)))


def validate_facts(data: Any, where: str = "facts") -> None:
    """Raise ``FactsError`` naming the first missing section or invalid value."""
    if not isinstance(data, dict):
        raise FactsError(f"{where}: the fact table must be a mapping, got {type(data).__name__}")
    for section in _REQUIRED_SECTIONS:
        if section not in data:
            raise FactsError(f"{where}: missing section {section!r}")
    for currency in CURRENCIES:
        if currency not in data["currencies"]:
            raise FactsError(f"{where}: currencies.{currency} is missing")
    plans = data["plans"]
    if not isinstance(plans, list) or len(plans) < 2:
        raise FactsError(f"{where}: plans must be a list of at least two plans")
    ids = set()
    for index, plan in enumerate(plans):
        for name in _PLAN_FIELDS:
            if name not in plan:
                raise FactsError(f"{where}: plans[{index}] has no field {name!r}")
        if plan["id"] in ids:
            raise FactsError(f"{where}: plans[{index}].id={plan['id']!r} is duplicated")
        ids.add(plan["id"])
        for cycle in CYCLES:
            for currency in CURRENCIES:
                price = plan[cycle].get(currency) if isinstance(plan[cycle], dict) else None
                if not isinstance(price, (int, float)) or price <= 0:
                    raise FactsError(
                        f"{where}: plans[{index}].{cycle}.{currency}={price!r} must be a positive number"
                    )
    if data["trial"]["plan"] not in ids:
        raise FactsError(f"{where}: trial.plan={data['trial']['plan']!r} is not a plan id")


def money(amount: float, currency: str) -> str:
    """``€12.99`` / ``$13.99``: the one way prices are written in the corpus."""
    symbol = {"EUR": "€", "USD": "$"}[currency]
    return f"{symbol}{amount:,.2f}"


class Facts:
    """Read-only lookups over the fact table used by the text builders."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data if data is not None else load_facts()
        self.plans = {plan["id"]: plan for plan in self.data["plans"]}
        self.plan_ids = tuple(self.plans)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def plan(self, plan_id: str) -> dict[str, Any]:
        return self.plans[plan_id]

    def price(self, plan_id: str, cycle: str, currency: str) -> str:
        return money(self.plans[plan_id][cycle][currency], currency)

    def price_value(self, plan_id: str, cycle: str, currency: str) -> float:
        return float(self.plans[plan_id][cycle][currency])

    @property
    def name(self) -> str:
        return self.data["company"]["name"]


@dataclass(frozen=True)
class FactItem:
    """One atomic fact as a question with its correct short answer and wrong alternatives.

    ``questions`` are paraphrases; ``answer`` is the full-sentence reference answer the FAQ source uses;
    ``short_answer`` and ``distractors`` make a multiple-choice item.
    """

    key: str
    topic: str
    questions: tuple[str, ...]
    answer: str
    short_answer: str
    distractors: tuple[str, ...] = field(default_factory=tuple)


def _others(values: list[str], correct: str, count: int = 3) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        if value != correct and value not in seen:
            seen.append(value)
    return tuple(seen[:count])


def fact_items(facts: Facts | None = None) -> list[FactItem]:
    """All atomic fact items of the table, in a stable order (plans first, then policies)."""
    f = facts or Facts()
    name = f.name
    items: list[FactItem] = []
    plans = list(f.plans.values())
    for plan in plans:
        for cycle in CYCLES:
            unit = "month" if cycle == "monthly" else "year"
            for currency in CURRENCIES:
                price = f.price(plan["id"], cycle, currency)
                alternatives = [f.price(p["id"], cycle, currency) for p in plans]
                items.append(
                    FactItem(
                        key=f"price.{plan['id']}.{cycle}.{currency}",
                        topic="pricing",
                        questions=(
                            f"How much does the {plan['name']} plan cost per {unit} in {currency}?",
                            f"What is the {cycle} price of {name} {plan['name']} in {currency}?",
                            f"If I pay in {currency}, what does {plan['name']} cost with {cycle} billing?",
                        ),
                        answer=(
                            f"The {plan['name']} plan costs {price} per {unit} when billed {cycle} in "
                            f"{currency}; {f['currencies'][currency]['tax_note']}."
                        ),
                        short_answer=price,
                        distractors=_others(alternatives, price),
                    )
                )
        streams = str(plan["streams"])
        items.append(
            FactItem(
                key=f"plan.{plan['id']}.streams",
                topic="plans",
                questions=(
                    f"How many screens can watch at the same time on the {plan['name']} plan?",
                    f"How many simultaneous streams does {name} {plan['name']} allow?",
                ),
                answer=(
                    f"The {plan['name']} plan allows {streams} simultaneous stream"
                    f"{'s' if plan['streams'] != 1 else ''} and up to {plan['profiles']} profile"
                    f"{'s' if plan['profiles'] != 1 else ''}."
                ),
                short_answer=streams,
                distractors=_others([str(p["streams"]) for p in plans] + ["3", "8"], streams),
            )
        )
        devices = str(plan["devices"])
        items.append(
            FactItem(
                key=f"plan.{plan['id']}.devices",
                topic="devices",
                questions=(
                    f"How many devices can I register on the {plan['name']} plan?",
                    f"What is the device limit of the {plan['name']} plan?",
                ),
                answer=(
                    f"You can register up to {devices} devices on the {plan['name']} plan. Manage them in "
                    f"{f['devices']['path']}."
                ),
                short_answer=devices,
                distractors=_others([str(p["devices"]) for p in plans] + ["3", "20"], devices),
            )
        )
        quality = plan["video_quality"]
        items.append(
            FactItem(
                key=f"plan.{plan['id']}.quality",
                topic="plans",
                questions=(
                    f"What video quality do I get with the {plan['name']} plan?",
                    f"Does the {plan['name']} plan include 4K?",
                ),
                answer=f"The {plan['name']} plan streams in {quality}.",
                short_answer=quality,
                distractors=_others([p["video_quality"] for p in plans] + ["SD (480p)", "8K"], quality),
            )
        )
    trial = f["trial"]
    trial_plan = f.plan(trial["plan"])["name"]
    cancel = f["cancellation"]
    refund = f["refund"]
    pause = f["pause"]
    failure = f["payment_failure"]
    sign_in = f["sign_in"]
    retention = f["retention"]
    change = f["plan_change"]
    billing = f["billing"]
    methods = f["payment_methods"]
    durations = ", ".join(str(d) for d in pause["durations_months"][:-1])
    durations += f" or {pause['durations_months'][-1]}"
    policy = [
        (
            "trial.days",
            "trial",
            ("How long is the free trial?", f"How many days is the {name} free trial?"),
            f"New customers get a {trial['days']}-day free trial of the {trial_plan} plan; {trial['limit']}.",
            f"{trial['days']} days",
            ("7 days", "30 days", "1 month"),
        ),
        (
            "trial.reminder",
            "trial",
            ("Will I be reminded before my free trial ends?", "When do you remind me that my trial ends?"),
            f"Yes, we send a reminder {trial['reminder_days_before_end']} days before the trial ends. "
            "Cancel before the last day and you are not charged.",
            f"{trial['reminder_days_before_end']} days before it ends",
            ("1 day before it ends", "7 days before it ends", "no reminder is sent"),
        ),
        (
            "billing.day",
            "billing",
            ("On which day am I billed each month?", "When does my subscription renew?"),
            f"You are billed on {billing['billing_day']}; {billing['short_month_rule']}.",
            "the same day of the month as the sign-up day",
            ("the first day of every month", "the last day of every month", "every 30 days from the trial"),
        ),
        (
            "billing.invoices",
            "billing",
            ("Where can I download my invoices?", "How do I get a receipt for my subscription?"),
            f"Invoices are in {billing['invoice_path']}, one for every payment.",
            billing["invoice_path"],
            ("Account > Devices", "Account > Security", "Account > Subscription > Pause subscription"),
        ),
        (
            "payment.sepa",
            "payment_methods",
            ("Can I pay by SEPA Direct Debit?", "Is direct debit available?"),
            f"{methods['sepa_note']}. We also accept {', '.join(methods['accepted'][:-2])}.",
            "yes, for accounts billed in EUR",
            ("yes, in every currency", "no, never", "only on annual plans"),
        ),
        (
            "payment_failure.retries",
            "payment_failure",
            ("What happens if my payment fails?", "My card was declined. When do you try again?"),
            f"We retry the payment after {failure['retry_after_days'][0]} and "
            f"{failure['retry_after_days'][1]} days; you keep access for a {failure['grace_period_days']}-day "
            f"grace period and the account is suspended after {failure['suspend_after_days']} days.",
            f"after {failure['retry_after_days'][0]} and {failure['retry_after_days'][1]} days",
            ("after 1 and 2 days", "after 7 and 14 days", "payments are not retried"),
        ),
        (
            "cancellation.fee",
            "cancellation",
            ("Is there a cancellation fee?", "Does it cost anything to cancel?"),
            f"No. There is no cancellation fee and {cancel['access']}.",
            "no fee",
            ("one month's price", f"{money(9.99, 'EUR')}", "the rest of the annual term"),
        ),
        (
            "cancellation.retention",
            "cancellation",
            (
                "How long do you keep my profiles after I cancel?",
                "Is my watch history deleted when I cancel?",
            ),
            f"Profiles and watch history are kept for {cancel['data_retention_months']} months after "
            f"cancellation; {cancel['reactivation']}.",
            f"{cancel['data_retention_months']} months",
            ("30 days", "6 months", "they are deleted immediately"),
        ),
        (
            "refund.annual",
            "refund",
            ("Can I get a refund on an annual plan?", "I paid for a year. Can I get my money back?"),
            f"Annual plans are refunded in full within {refund['annual_full_refund_days']} days of the annual "
            f"charge; {refund['method']} within {refund['processing_business_days']} business days.",
            f"within {refund['annual_full_refund_days']} days of the charge",
            ("within 30 days of the charge", "within 48 hours", "never"),
        ),
        (
            "refund.processing",
            "refund",
            ("How long does a refund take?", "When will I see my refund?"),
            f"Refunds take {refund['processing_business_days']} business days; {refund['method']}.",
            f"{refund['processing_business_days']} business days",
            ("1 to 2 business days", "30 days", "until the next billing date"),
        ),
        (
            "plan_change.upgrade",
            "plan_change",
            ("When does an upgrade take effect?", "If I upgrade my plan, when do I get the new features?"),
            f"{change['upgrade'].capitalize()}.",
            "immediately, with a prorated charge",
            ("on the next billing date", "after 14 days", "at the end of the annual term"),
        ),
        (
            "plan_change.downgrade",
            "plan_change",
            ("When does a downgrade take effect?", "If I move to a cheaper plan, when does it start?"),
            f"{change['downgrade'].capitalize()}; until then you keep your current plan.",
            "on the next billing date",
            ("immediately", "after 30 days", "at the end of the calendar year"),
        ),
        (
            "pause.durations",
            "pause",
            ("Can I pause my subscription?", "For how long can I pause Nimbus?"),
            f"Yes, for {durations} months, {pause['frequency']}; pausing is for {pause['eligibility']}.",
            f"{durations} months",
            ("up to 6 months", "2 weeks", "pausing is not possible"),
        ),
        (
            "devices.removals",
            "devices",
            ("How many devices can I remove each month?", "Is there a limit on removing devices?"),
            f"You can remove up to {f['devices']['removals_per_month']} devices per month in "
            f"{f['devices']['path']}.",
            str(f["devices"]["removals_per_month"]),
            ("1", "3", "10"),
        ),
        (
            "sign_in.reset_link",
            "sign_in",
            ("How long is the password reset link valid?", "My reset link expired. How long does it last?"),
            f"Use {sign_in['reset_path']}; the link in the e-mail is valid for "
            f"{sign_in['reset_link_valid_minutes']} minutes.",
            f"{sign_in['reset_link_valid_minutes']} minutes",
            ("15 minutes", "24 hours", "7 days"),
        ),
        (
            "sign_in.lockout",
            "sign_in",
            ("Why is my account locked?", "How long am I locked out after too many wrong passwords?"),
            f"After {sign_in['lockout_after_failed_attempts']} failed sign-in attempts the account is locked "
            f"for {sign_in['lockout_minutes']} minutes.",
            f"{sign_in['lockout_minutes']} minutes",
            ("5 minutes", "24 hours", "until support unlocks it"),
        ),
        (
            "retention.offer",
            "retention",
            ("Is there a discount if I stay?", "Do you have any offer for customers who want to leave?"),
            f"Customers subscribed for at least {retention['min_tenure_months']} months can get "
            f"{retention['discount_percent']}% off the next {retention['discount_months']} months, "
            f"{retention['frequency']}.",
            f"{retention['discount_percent']}% off for {retention['discount_months']} months",
            ("25% off for 6 months", "one free month", "a free upgrade to Premium"),
        ),
    ]
    for key, topic, questions, answer, short, distractors in policy:
        items.append(FactItem(key, topic, tuple(questions), answer, short, tuple(distractors)))
    return items
