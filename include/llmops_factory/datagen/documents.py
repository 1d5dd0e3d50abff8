"""Help-centre articles (Markdown) and policy documents (plain text), written from the fact table.

An article is a title plus ``## Section`` headings, each with a paragraph or a list; a policy is a title
line plus numbered paragraphs. Wording varies from day to day (``[a|b]`` alternations), the facts never do.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmops_factory.datagen.facts import CURRENCIES, Facts

Section = tuple[str, tuple[str, ...]]  # (heading template, body templates)


@dataclass(frozen=True)
class DocumentSpec:
    slug: str
    titles: tuple[str, ...]
    sections: tuple[Section, ...]


def _plan_rows(f: Facts) -> str:
    rows = []
    for plan in f.plans.values():
        prices = ", ".join(
            f"{f.price(plan['id'], 'monthly', c)} per month or {f.price(plan['id'], 'annual', c)} per year"
            for c in CURRENCIES
        )
        rows.append(
            f"- **{plan['name']}**: {prices}; {plan['streams']} simultaneous "
            f"stream{'s' if plan['streams'] != 1 else ''}, up to {plan['devices']} devices, "
            f"{plan['profiles']} profile{'s' if plan['profiles'] != 1 else ''}, {plan['video_quality']}."
        )
    return "\n".join(rows)


def doc_slots(f: Facts) -> dict[str, str]:
    """Slots shared by articles and policies (facts only, no customer data)."""
    trial = f["trial"]
    failure = f["payment_failure"]
    pause = f["pause"]
    durations = (
        ", ".join(str(d) for d in pause["durations_months"][:-1]) + f" or {pause['durations_months'][-1]}"
    )
    return {
        "name": f.name,
        "product": f["company"]["product"],
        "help": f["company"]["help_centre"],
        "account": f["company"]["account_page"],
        "channels": f["company"]["support_channels"],
        "first_response_hours": str(f["company"]["first_response_hours"]),
        "plan_rows": _plan_rows(f),
        "eur_tax": f["currencies"]["EUR"]["tax_note"],
        "usd_tax": f["currencies"]["USD"]["tax_note"],
        "trial_days": str(trial["days"]),
        "trial_plan": f.plan(trial["plan"])["name"],
        "reminder": str(trial["reminder_days_before_end"]),
        "trial_limit": trial["limit"],
        "billing_day": f["billing"]["billing_day"],
        "short_month_rule": f["billing"]["short_month_rule"],
        "invoice_path": f["billing"]["invoice_path"],
        "billing_change": f["billing"]["billing_day_change"],
        "renewal_reminder": str(f["billing"]["annual_renewal_reminder_days"]),
        "methods": ", ".join(f["payment_methods"]["accepted"]),
        "sepa_note": f["payment_methods"]["sepa_note"],
        "gift_card_note": f["payment_methods"]["gift_card_note"],
        "update_path": f["payment_methods"]["update_path"],
        "retry1": str(failure["retry_after_days"][0]),
        "retry2": str(failure["retry_after_days"][1]),
        "grace": str(failure["grace_period_days"]),
        "suspend": str(failure["suspend_after_days"]),
        "suspended_note": failure["suspended_note"],
        "cancel_path": f["cancellation"]["path"],
        "cancel_access": f["cancellation"]["access"],
        "retention_months": str(f["cancellation"]["data_retention_months"]),
        "reactivation": f["cancellation"]["reactivation"],
        "refund_monthly": f["refund"]["monthly"],
        "refund_days": str(f["refund"]["annual_full_refund_days"]),
        "duplicate_charge": f["refund"]["duplicate_charge"],
        "outage_credit": f["refund"]["outage_credit"],
        "processing": f["refund"]["processing_business_days"],
        "refund_method": f["refund"]["method"],
        "change_path": f["plan_change"]["path"],
        "upgrade": f["plan_change"]["upgrade"],
        "downgrade": f["plan_change"]["downgrade"],
        "to_annual": f["plan_change"]["monthly_to_annual"],
        "to_monthly": f["plan_change"]["annual_to_monthly"],
        "durations": durations,
        "pause_frequency": pause["frequency"],
        "pause_eligibility": pause["eligibility"],
        "pause_path": pause["path"],
        "pause_resume": pause["resume"],
        "devices_path": f["devices"]["path"],
        "removals": str(f["devices"]["removals_per_month"]),
        "limit_message": f["devices"]["limit_message"],
        "reset_path": f["sign_in"]["reset_path"],
        "link_minutes": str(f["sign_in"]["reset_link_valid_minutes"]),
        "lockout_attempts": str(f["sign_in"]["lockout_after_failed_attempts"]),
        "lockout_minutes": str(f["sign_in"]["lockout_minutes"]),
        "two_factor": f["sign_in"]["two_factor"],
        "backup_path": f["sign_in"]["backup_codes_path"],
        "discount": str(f["retention"]["discount_percent"]),
        "discount_months": str(f["retention"]["discount_months"]),
        "min_tenure": str(f["retention"]["min_tenure_months"]),
        "retention_frequency": f["retention"]["frequency"],
        "basic_monthly_eur": f.price("basic", "monthly", "EUR") if "basic" in f.plans else "",
    }


ARTICLES: tuple[DocumentSpec, ...] = (
    DocumentSpec(
        "plans-and-prices",
        ("Plans and prices", "[Compare|Choosing between] {name} plans"),
        (
            ("[Our plans|Plans at a glance]", ("{name} has four plans:\n\n{plan_rows}",)),
            ("Taxes", ("For accounts billed in EUR, {eur_tax}. For accounts billed in USD, {usd_tax}.",)),
            (
                "[Monthly or annual?|Annual billing]",
                (
                    "Annual billing costs ten times the monthly price, so you get two months free. {to_annual_cap}.",
                ),
            ),
            (
                "Changing plans later",
                (
                    "[You can change your plan at any time|Plans can be changed whenever you like] in {change_path}. {upgrade_cap}; {downgrade}.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "cancel-your-subscription",
        ("[How to cancel|Cancel] your subscription", "Cancelling {name}"),
        (
            (
                "How to cancel",
                (
                    "1. Go to {account}.\n2. Open {cancel_path}.\n3. Confirm. [You'll get an e-mail confirmation.|A confirmation e-mail follows.]",
                ),
            ),
            (
                "What happens after you cancel",
                (
                    "There is no cancellation fee and {cancel_access}. [After that, you won't be charged again.|No further payments are taken.]",
                ),
            ),
            (
                "Your profiles and history",
                ("We keep your profiles and watch history for {retention_months} months; {reactivation}.",),
            ),
            (
                "[Alternatives to cancelling|Before you cancel]",
                (
                    "Monthly plans can be paused for {durations} months, {pause_frequency}. Customers subscribed for at least {min_tenure} months may be offered {discount}% off the next {discount_months} months.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "refunds",
        ("Refund policy [explained|in short]", "Refunds"),
        (
            (
                "Monthly plans",
                ("[In short:|Please note:] {refund_monthly}. Cancelling stops the next renewal.",),
            ),
            (
                "Annual plans",
                (
                    "Annual plans are refunded in full within {refund_days} days of the annual charge. After {refund_days} days there is no refund, but you keep access until the annual term ends.",
                ),
            ),
            ("Duplicate charges and outages", ("{duplicate_charge_cap}. {outage_credit_cap}.",)),
            (
                "[When the money arrives|Refund timing]",
                ("Refunds take {processing} business days; {refund_method}.",),
            ),
        ),
    ),
    DocumentSpec(
        "reset-your-password",
        ("Reset your password", "[Can't sign in?|Trouble signing in?] Reset your password"),
        (
            (
                "Request a reset link",
                (
                    "Use {reset_path}. We send an e-mail with a reset link that is valid for {link_minutes} minutes.",
                ),
            ),
            (
                "If the e-mail doesn't arrive",
                (
                    "Check your spam folder, then request a new link. [Only the newest link works.|Older links stop working when you request a new one.]",
                ),
            ),
            (
                "Locked accounts",
                (
                    "After {lockout_attempts} failed sign-in attempts your account is locked for {lockout_minutes} minutes. It unlocks by itself.",
                ),
            ),
            (
                "Two-factor sign-in",
                (
                    "Two-factor sign-in uses {two_factor}. Lost your phone? Sign in with a backup code and create new codes in {backup_path}.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "devices-and-streams",
        ("Devices and streams", "Manage your devices"),
        (
            ("Device limits by plan", ("{device_rows}",)),
            (
                "Remove a device",
                (
                    "Open {devices_path} and choose Remove next to the device. You can remove up to {removals} devices per month.",
                ),
            ),
            (
                '"{limit_message}"',
                (
                    "This message means the plan's device limit is reached. Remove a device or upgrade; {upgrade}.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "pause-your-subscription",
        ("Pause your subscription", "Taking a break from {name}"),
        (
            ("How long you can pause", ("You can pause for {durations} months, {pause_frequency}.",)),
            ("Who can pause", ("Pausing is available for {pause_eligibility}.",)),
            ("How to pause", ("Go to {pause_path} and choose the length. {pause_resume_cap}.",)),
        ),
    ),
    DocumentSpec(
        "failed-payments",
        ("When a payment fails", "Failed payments and account holds"),
        (
            ("Automatic retries", ("We retry a failed payment after {retry1} and {retry2} days.",)),
            (
                "Grace period",
                (
                    "You keep full access during a {grace}-day grace period. After {suspend} days without payment the account is suspended; {suspended_note}.",
                ),
            ),
            (
                "Fix it now",
                ("Update your card or choose another method in {update_path}. We accept {methods}.",),
            ),
        ),
    ),
    DocumentSpec(
        "billing-and-invoices",
        ("Billing dates and invoices", "Understanding your bill"),
        (
            ("When you are billed", ("You are billed on {billing_day}; {short_month_rule}.",)),
            ("Change your billing day", ("{billing_change_cap}.",)),
            (
                "Invoices",
                (
                    "Download invoices in {invoice_path}. Annual plans get a renewal reminder {renewal_reminder} days before the charge.",
                ),
            ),
            ("Payment methods", ("We accept {methods}. {sepa_note_cap}; {gift_card_note}.",)),
        ),
    ),
    DocumentSpec(
        "free-trial",
        ("Free trial", "Start your free trial"),
        (
            (
                "How the trial works",
                (
                    "New customers get {trial_days} days of {trial_plan} for free. A payment card is required at sign-up.",
                ),
            ),
            (
                "Reminders",
                (
                    "We remind you {reminder} days before the trial ends. Cancel before the last day and you pay nothing.",
                ),
            ),
            (
                "Who can get a trial",
                ("There is {trial_limit}. Pausing is not available during a free trial.",),
            ),
        ),
    ),
    DocumentSpec(
        "contact-support",
        ("Contact support", "Getting help from {name}"),
        (
            ("Channels", ("Reach us through {channels}.",)),
            (
                "Response times",
                (
                    "The first reply to a contact form request comes within {first_response_hours} hours. Chat replies are usually immediate.",
                ),
            ),
            (
                "Before you write",
                (
                    "Most answers are in the help centre at {help}. Have your case reference ready if you already have one.",
                ),
            ),
        ),
    ),
)

POLICIES: tuple[DocumentSpec, ...] = (
    DocumentSpec(
        "subscription-terms",
        ("{name} Subscription Terms",),
        (
            (
                "",
                (
                    "1. Plans. {name} offers Basic, Plus, Premium and Family plans, billed monthly or annually. Prices are listed in the help centre; for EUR accounts {eur_tax} and for USD accounts {usd_tax}.",
                ),
            ),
            ("", ("2. Billing. You are billed on {billing_day}; {short_month_rule}. {billing_change_cap}.",)),
            ("", ("3. Changes. {upgrade_cap}. {downgrade_cap}. {to_annual_cap}; {to_monthly}.",)),
            (
                "",
                (
                    "4. Pausing. Subscriptions can be paused for {durations} months, {pause_frequency}, for {pause_eligibility}. {pause_resume_cap}.",
                ),
            ),
            (
                "",
                (
                    "5. Free trial. The free trial lasts {trial_days} days on the {trial_plan} plan; {trial_limit}.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "cancellation-and-refund-policy",
        ("Cancellation and Refund Policy",),
        (
            (
                "",
                (
                    "1. Cancellation. You may cancel at any time in {cancel_path}. There is no fee and {cancel_access}.",
                ),
            ),
            (
                "",
                (
                    "2. Data after cancellation. Profiles and watch history are kept for {retention_months} months; {reactivation}.",
                ),
            ),
            ("", ("3. Monthly plans. {refund_monthly_cap}.",)),
            (
                "",
                (
                    "4. Annual plans. Annual plans are refunded in full within {refund_days} days of the annual charge and not refunded afterwards.",
                ),
            ),
            (
                "",
                (
                    "5. Exceptions. {duplicate_charge_cap}. {outage_credit_cap}. {refund_method_cap}, within {processing} business days.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "payment-policy",
        ("Payment Policy",),
        (
            ("", ("1. Methods. We accept {methods}. {sepa_note_cap}.",)),
            ("", ("2. Gift cards. {gift_card_note_cap}.",)),
            (
                "",
                (
                    "3. Failed payments. Failed payments are retried after {retry1} and {retry2} days, with a {grace}-day grace period.",
                ),
            ),
            (
                "",
                (
                    "4. Suspension. Accounts without a successful payment for {suspend} days are suspended; {suspended_note}.",
                ),
            ),
        ),
    ),
    DocumentSpec(
        "account-security-policy",
        ("Account Security Policy",),
        (
            ("", ("1. Passwords. Password reset links are valid for {link_minutes} minutes.",)),
            (
                "",
                (
                    "2. Lockout. {lockout_attempts} failed sign-in attempts lock the account for {lockout_minutes} minutes.",
                ),
            ),
            ("", ("3. Two-factor sign-in. We support {two_factor}.",)),
            (
                "",
                (
                    "4. Devices. Each plan has a device limit; up to {removals} devices can be removed per month in {devices_path}.",
                ),
            ),
        ),
    ),
)


def article_slots(f: Facts) -> dict[str, str]:
    """Document slots plus capitalised variants (``<slot>_cap``) and the device table."""
    slots = doc_slots(f)
    for key in list(slots):
        value = slots[key]
        slots[f"{key}_cap"] = value[:1].upper() + value[1:]
    slots["device_rows"] = "\n".join(
        f"- {p['name']}: up to {p['devices']} registered devices, {p['streams']} at the same time."
        for p in f.plans.values()
    )
    return slots
