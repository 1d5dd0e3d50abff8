"""Support scenarios: what customers ask and how agents answer, stated from the fact table.

Each scenario has an ``intent`` (billing, cancellation, refund, plan change, login problems, device
limits, pause, payment failure, retention offer, trial, payment methods), the opening exchange, a pool of
follow-up exchanges and ticket subjects. Templates use the ``[a|b]`` alternation syntax of
``templates.py``; ``{slots}`` are filled from a customer context whose values come from ``facts.yaml``
(see ``content.customer_context``), so every agent reply states the facts correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Exchange = tuple[tuple[str, ...], tuple[str, ...]]

_ACK = (
    "[Thanks for reaching out|Thanks for your message|Happy to help with that|Thanks for contacting {name} support"
    "|I can help with that|Thanks for getting in touch|Good to hear from you|Thanks for the details]"
)
_CASE = (
    "[I've opened case {ref} for this|Your case reference is {ref}|I've noted this under case {ref}"
    "|For reference, this is case {ref}|This is logged as case {ref}|Keep case {ref} handy if you write again]"
)


@dataclass(frozen=True)
class Scenario:
    """One support situation. ``needs`` constrains the customer context (cycle, plan order...)."""

    key: str
    intent: str
    opening: Exchange
    followups: tuple[Exchange, ...]
    subjects: tuple[str, ...]
    needs: dict[str, str] = field(default_factory=dict)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "billing_date",
        "billing",
        (
            (
                "[Hi|Hello|Hey], [when|on which day] [will|do] I get [charged|billed] next? I'm on the {plan} plan, paying {cycle}.",
                "[Quick question|Hello]: what date does my {plan} subscription renew? I [think|believe] I signed up on the {signup_day}.",
                "I [can't|cannot] find my next billing date anywhere. [Can you tell me|Could you check] when {name} charges me [again|next]?",
            ),
            (
                _ACK
                + ". {name} bills you on the same calendar day each month as the day you signed up. Your {plan} plan renews on {next_date} and the charge will be {plan_price}. "
                + _CASE
                + ".",
                _ACK
                + ". "
                + _CASE
                + ". Your next {plan} payment of {plan_price} is due on {next_date}: we always bill on the same day of the month as your sign-up day, and accounts that signed up on the 29th, 30th or 31st are billed on the last day of shorter months.",
            ),
        ),
        (
            (
                (
                    "[Where|How] can I [download|get] my invoices?",
                    "Do you send receipts? I need one for my [employer|accountant|expense report].",
                ),
                (
                    "You'll find every invoice in {invoice_path}, one for each payment.",
                    "[Sure!|Yes.] Each payment has an invoice in {invoice_path} that you can download as a PDF.",
                ),
            ),
            (
                (
                    "Can I move my billing date to [the 1st|the 15th|payday|the end of the month]?",
                    "Is it possible to change the day I'm billed?",
                ),
                (
                    "Yes: {billing_change}.",
                    "[You can|It is possible]: {billing_change}. The next charge is then taken on the new day.",
                ),
            ),
            (
                (
                    "Does the price include tax?",
                    "Why is the amount on my statement different from {plan_price}?",
                ),
                (
                    "For {currency} accounts {tax_note}. Your plan price is {plan_price}.",
                    "{plan} is {plan_price} per {cycle_unit} in {currency}; {tax_note}.",
                ),
            ),
        ),
        ("Next billing date", "When am I charged?", "Question about my renewal date", "Billing day"),
    ),
    Scenario(
        "cancel",
        "cancellation",
        (
            (
                "[Hi|Hello]. I [want|would like|need] to cancel my {name} subscription. [How do I do that?|What do I need to do?]",
                "[How|Where] do I cancel? I'm on {plan} ({cycle}) and [I don't use it anymore|I'm moving abroad|I'm cutting back on subscriptions|we barely watch anything].",
                "Please cancel my membership. [I don't want to be charged again.|No more renewals please.]",
            ),
            (
                _ACK
                + ". You can cancel any time in {cancel_path}. There is no cancellation fee, and your {plan} access continues until the end of the current billing period, on {next_date}. "
                + _CASE
                + ".",
                "[Sorry to see you go|I'm sorry to hear that]. "
                + _CASE
                + ". To cancel, open {cancel_path}. Nothing else is charged, there's no fee, and you can keep watching until {next_date}.",
            ),
        ),
        (
            (
                (
                    "Will I lose my profiles and watch history?",
                    "What happens to my [watchlist|profiles] after I cancel?",
                ),
                (
                    "We keep profiles and watch history for {retention_months} months after you cancel. If you resubscribe within {retention_months} months, everything is restored.",
                    "Nothing is deleted right away: your profiles and history stay for {retention_months} months, and resubscribing in that time restores them.",
                ),
            ),
            (
                ("Is there a fee for cancelling early?", "Do I have to pay anything to cancel?"),
                (
                    "No, {name} has no cancellation fee.",
                    "There's no fee at all; you simply won't be charged again after {next_date}.",
                ),
            ),
            (
                ("Can I come back later?", "If I change my mind, can I restart?"),
                (
                    "Of course. You can resubscribe any time from {account}, and within {retention_months} months your profiles come back too.",
                    "Yes, any time. Just pick a plan again in {account}.",
                ),
            ),
        ),
        ("Cancel my subscription", "Cancellation request", "Please cancel", "How to cancel"),
    ),
    Scenario(
        "refund_annual",
        "refund",
        (
            (
                "[Hi|Hello], I was charged {plan_price} for the annual {plan} plan {days_since} days ago [but I meant to cancel|and I don't want it|by mistake]. Can I get a refund?",
                "I [forgot|didn't realise] my yearly plan would renew. The {plan_price} charge was {days_since} days ago. [Refund please?|Is a refund possible?]",
            ),
            (
                _ACK
                + ". Annual plans are refunded in full within {refund_days} days of the annual charge, so you qualify. "
                + _CASE
                + ". The refund of {plan_price} goes back to your original payment method within {processing} business days.",
                "[Good news|Yes, you're covered]: because the annual charge was only {days_since} days ago, well within our {refund_days}-day window, you get a full refund of {plan_price}. "
                + _CASE
                + "; expect it on your original payment method in {processing} business days.",
            ),
        ),
        (
            (
                ("Do I keep access after the refund?", "Will my account stop working right away?"),
                (
                    "A refunded annual plan ends when the refund is issued, so access stops then. You can pick a monthly plan instead if you'd like to keep watching.",
                    "Once the refund goes through the annual plan is closed. If you want to keep watching, a monthly plan starts straight away.",
                ),
            ),
            (
                ("How long until I see the money?", "When will the refund arrive?"),
                (
                    "Refunds take {processing} business days and go back to the original payment method.",
                    "Allow {processing} business days; your bank may show it as pending first.",
                ),
            ),
        ),
        ("Refund for annual renewal", "Annual plan refund", "Charged for a year by mistake"),
        {"cycle": "annual", "days_since": "within"},
    ),
    Scenario(
        "refund_annual_late",
        "refund",
        (
            (
                "I paid for the annual {plan} plan {days_since} days ago and [I want my money back|I'd like a refund for the rest of the year].",
                "Can I get a [partial|prorated] refund on my yearly plan? It renewed {days_since} days ago.",
            ),
            (
                _ACK
                + ". "
                + _CASE
                + ". Annual plans can be refunded in full only within {refund_days} days of the annual charge. Your renewal was {days_since} days ago, so a refund isn't possible, but you can cancel now and keep access until the annual term ends.",
                "[I understand|I see]. Our policy refunds annual plans within {refund_days} days of the charge; at {days_since} days that window has passed. "
                + _CASE
                + ". If you cancel in {cancel_path}, you won't be renewed and you keep {plan} until the end of the term.",
            ),
        ),
        (
            (
                ("That's not fair. Is there really nothing you can do?", "Can you make an exception?"),
                (
                    "I'm sorry for the disappointment. The {refund_days}-day window applies to every annual plan, but switching to monthly billing at the end of the term keeps your costs flexible.",
                    "I can't make an exception to the {refund_days}-day rule, but I can make sure you won't be renewed and that you keep access until the term ends.",
                ),
            ),
        ),
        ("Refund request annual plan", "Money back for yearly plan"),
        {"cycle": "annual", "days_since": "after"},
    ),
    Scenario(
        "refund_monthly",
        "refund",
        (
            (
                "I was charged {plan_price} this month but [I haven't used Nimbus at all|I wanted to cancel before the renewal]. Can I get that back?",
                "[Hi|Hello], can I get a refund for the rest of this month? I'm on the monthly {plan} plan.",
            ),
            (
                _ACK
                + ". Monthly plans aren't refunded for partial months. "
                + _CASE
                + ". You can cancel in {cancel_path} so you're not charged again, and you keep access until {next_date}.",
                "[I'm sorry|Apologies] for the frustration. "
                + _CASE
                + ". Monthly subscriptions aren't refunded for partial months, but cancelling now stops future charges and your {plan} access runs until {next_date}.",
            ),
        ),
        (
            (
                ("What if I was charged twice?", "And if there's a double charge?"),
                (
                    "Duplicate charges are always refunded in full, within {processing} business days.",
                    "A duplicate charge is a different case: we always refund it in full to the original payment method.",
                ),
            ),
        ),
        ("Refund for this month", "Monthly refund", "Partial refund request"),
        {"cycle": "monthly"},
    ),
    Scenario(
        "refund_duplicate",
        "refund",
        (
            (
                "I was charged twice for {plan} this month, two payments of {plan_price} on [the same day|{charge_date}]. Please fix this.",
                "[Help,|Hi,] my bank statement shows a double charge of {plan_price} from {name}. [Invoice|Reference] {invoice}.",
            ),
            (
                "[I'm sorry about that|Apologies for the double charge]. "
                + _CASE
                + ". Duplicate charges are always refunded in full: the extra {plan_price} goes back to your original payment method within {processing} business days.",
                _ACK
                + ", and sorry for the trouble. I've confirmed the duplicate payment and issued a full refund of {plan_price} under case {ref}. It will reach your original payment method within {processing} business days.",
            ),
        ),
        (
            (
                ("Will this happen again next month?", "How do I make sure it doesn't happen again?"),
                (
                    "It shouldn't. If it does, tell us and the duplicate is refunded in full again.",
                    "The duplicate came from a payment retry on our side; your next charge on {next_date} will be a single payment.",
                ),
            ),
        ),
        ("Charged twice", "Double charge", "Duplicate payment"),
    ),
    Scenario(
        "upgrade",
        "plan_change",
        (
            (
                "I'd like to upgrade from {plan} to {target}. [When does it start?|How much will I pay?|What happens to my bill?]",
                "[Can I|How do I] switch to {target}? I'm on {plan} and [want 4K|need more screens|need more profiles for the kids].",
            ),
            (
                _ACK
                + ". Upgrades take effect immediately: open {change_path} and choose {target}. You pay the prorated difference the same day, and from {next_date} the {target} price of {target_price} applies. "
                + _CASE
                + ".",
                "[Great choice|Sure].  "
                + _CASE
                + ". An upgrade to {target} is immediate, with the prorated difference charged today; after that you pay {target_price} per {cycle_unit} from {next_date}. Go to {change_path} to confirm.",
            ),
        ),
        (
            (
                ("How many screens do I get with {target}?", "What do I get with {target} exactly?"),
                (
                    "{target} allows {target_streams} simultaneous streams, up to {target_devices} registered devices and {target_quality}.",
                    "With {target} you get {target_streams} streams at the same time, {target_quality}, and room for {target_devices} devices.",
                ),
            ),
        ),
        ("Upgrade my plan", "Change to a bigger plan", "Plan upgrade"),
        {"target": "higher"},
    ),
    Scenario(
        "downgrade",
        "plan_change",
        (
            (
                "I want to move down from {plan} to {target}. [Is that possible?|When would it start?]",
                "Please downgrade me to {target}, {plan} is [too expensive|more than I need].",
            ),
            (
                _ACK
                + ". Downgrades take effect on your next billing date, {next_date}. Until then you keep {plan}, and from {next_date} you pay {target_price} per {cycle_unit}. "
                + _CASE
                + ".",
                "[No problem|Sure]. "
                + _CASE
                + ". Choose {target} in {change_path}; the change applies on {next_date}, your next billing date, and the new price is {target_price}.",
            ),
        ),
        (
            (
                ("Will I lose anything?", "What changes with {target}?"),
                (
                    "{target} allows {target_streams} simultaneous streams and {target_devices} devices in {target_quality}, so extra devices may need to be removed.",
                    "On {target} you'll have {target_streams} streams and up to {target_devices} registered devices.",
                ),
            ),
        ),
        ("Downgrade", "Switch to a cheaper plan"),
        {"target": "lower"},
    ),
    Scenario(
        "to_annual",
        "plan_change",
        (
            (
                "Can I switch my {plan} plan to yearly billing? [How much is it?|Does it save money?]",
                "I'd like to pay annually instead of monthly for {plan}.",
            ),
            (
                _ACK
                + ". {plan} costs {annual_price} per year instead of {monthly_price} per month. A switch from monthly to annual billing starts on your next renewal date, {next_date}. "
                + _CASE
                + ".",
                "[Sure|Good idea]. "
                + _CASE
                + ". Annual {plan} is {annual_price} per year; the switch from monthly billing starts at your next renewal on {next_date}, so nothing changes before then.",
            ),
        ),
        (
            (
                ("Can I get a refund if I change my mind about the year?", "What if I regret it?"),
                (
                    "Annual plans are refunded in full within {refund_days} days of the annual charge.",
                    "You have {refund_days} days after the annual charge to get a full refund.",
                ),
            ),
        ),
        ("Switch to annual billing", "Yearly plan"),
        {"cycle": "monthly"},
    ),
    Scenario(
        "password",
        "login",
        (
            (
                "I forgot my password and [can't sign in|can't log in|am locked out of the app].",
                "[Hi|Hello], how do I reset my password? [The app keeps saying it's wrong.|I changed phones and don't remember it.]",
                "The password reset e-mail never arrived. [What now?|Can you help?]",
            ),
            (
                _ACK
                + ". Use the \"Forgot password?\" link on the sign-in page; we e-mail you a reset link that's valid for {link_minutes} minutes. If it doesn't arrive within a few minutes, check your spam folder. "
                + _CASE
                + ".",
                "[No worries|Let's get you back in]. "
                + _CASE
                + '. Tap "Forgot password?" on the sign-in page and follow the link we send; it works for {link_minutes} minutes, so request a new one if it has expired.',
            ),
        ),
        (
            (
                ("It says my account is locked.", "Now I'm locked out after too many tries."),
                (
                    "After {lockout_attempts} failed sign-in attempts the account is locked for {lockout_minutes} minutes. Wait {lockout_minutes} minutes and then use the reset link.",
                    "That's a safety lock: {lockout_attempts} wrong passwords lock the account for {lockout_minutes} minutes. It unlocks by itself.",
                ),
            ),
            (
                ("The link says it expired.", "The reset link doesn't work anymore."),
                (
                    "Reset links are valid for {link_minutes} minutes. Request a new one from the sign-in page and use it right away.",
                    "Each link lasts {link_minutes} minutes; a new request sends a fresh one.",
                ),
            ),
        ),
        ("Can't sign in", "Password reset", "Locked out", "Reset e-mail not received"),
    ),
    Scenario(
        "two_factor",
        "login",
        (
            (
                "I lost my phone with the authenticator app and can't sign in to {name}.",
                "[Help,|Hi,] my two-factor codes [don't work|are gone] since I [got a new phone|reset my phone].",
            ),
            (
                _ACK
                + ". Sign in with one of your 10 one-time backup codes instead of the authenticator code. Then set up the app on your new phone and create fresh codes in {backup_path}. "
                + _CASE
                + ".",
                "[Sorry about that|That's stressful, I know]. "
                + _CASE
                + ". When you set up two-factor sign-in you got 10 one-time backup codes: use one on the sign-in page, then reconnect your authenticator app and print new codes in {backup_path}.",
            ),
        ),
        (
            (
                ("I don't have the backup codes either.", "I never saved the backup codes."),
                (
                    "Then we verify you through the help centre contact form at {help}; a specialist replies within {first_response_hours} hours.",
                    "In that case, use the contact form at {help} so we can verify the account; the first reply comes within {first_response_hours} hours.",
                ),
            ),
        ),
        ("Two-factor problem", "Lost authenticator", "2FA codes not working"),
    ),
    Scenario(
        "device_limit",
        "devices",
        (
            (
                'My {device} says "Device limit reached" and won\'t play anything.',
                "I can't add my new {device} to {name}. [It says I have too many devices.|There's a device limit error.]",
            ),
            (
                _ACK
                + ". Your {plan} plan allows up to {devices} registered devices. Remove one you no longer use in {devices_path}, then sign in on the {device} again. "
                + _CASE
                + ".",
                "[That message means|This happens when] you've reached the {devices}-device limit of the {plan} plan. "
                + _CASE
                + ". Open {devices_path}, remove an old device, and your {device} will work.",
            ),
        ),
        (
            (
                ("Is there a limit on removing devices?", "Can I remove all of them?"),
                (
                    "You can remove up to {removals} devices per month.",
                    "Yes: up to {removals} removals per month.",
                ),
            ),
            (
                ("Which plan gives me more devices?", "How do I get more devices?"),
                (
                    "{target} allows {target_devices} devices and costs {target_price} per {cycle_unit}; an upgrade takes effect immediately.",
                    "Upgrading to {target} raises the limit to {target_devices} devices, for {target_price} per {cycle_unit}.",
                ),
            ),
        ),
        ("Device limit reached", "Can't add new device", "Too many devices"),
        {"target": "higher"},
    ),
    Scenario(
        "pause",
        "pause",
        (
            (
                "Can I pause my subscription for [a month|two months|the summer] instead of cancelling?",
                "[I'm travelling|I'll be away|I'm busy with exams] for a while. Is there a way to pause {name}?",
            ),
            (
                _ACK
                + ". Yes: monthly plans can be paused for {durations} months, {pause_frequency}. Go to {pause_path}. The subscription resumes automatically and billing restarts on the resume date. "
                + _CASE
                + ".",
                "[Good news|Yes, you can]. "
                + _CASE
                + ". In {pause_path} you can pause your {plan} plan for {durations} months, {pause_frequency}; it comes back on its own and billing restarts then.",
            ),
        ),
        (
            (
                ("Can I pause during the free trial?", "Does pause work on annual plans too?"),
                ("Pausing is for {pause_eligibility}.", "No, pause is available for {pause_eligibility}."),
            ),
            (
                ("Will I be charged while paused?", "Do I pay during the pause?"),
                (
                    "No charges while paused; billing restarts on the resume date.",
                    "Nothing is charged during the pause.",
                ),
            ),
        ),
        ("Pause subscription", "Pause instead of cancel", "Taking a break"),
        {"cycle": "monthly"},
    ),
    Scenario(
        "payment_failed",
        "payment_failure",
        (
            (
                "My payment failed and [the app says|I got an e-mail saying] my account is on hold. [What happens now?|Will I lose access?]",
                "[Hi|Hello], my {method} was declined for the {plan_price} renewal. [What should I do?|Can you try again?]",
            ),
            (
                _ACK
                + ". We retry a failed payment after {retry1} and {retry2} days, and you keep access for a {grace}-day grace period. Update your payment method in {update_path} to fix it now. "
                + _CASE
                + ".",
                "[No need to worry yet|Don't worry]. "
                + _CASE
                + ". Failed payments are retried after {retry1} and {retry2} days and your access continues during the {grace}-day grace period; after {suspend} days the account is suspended. You can update the card in {update_path}.",
            ),
        ),
        (
            (
                ("What happens if it's still not paid?", "And after the grace period?"),
                (
                    "After {suspend} days without payment the account is suspended; {suspended_note}.",
                    "The account is suspended after {suspend} days, but {suspended_note}.",
                ),
            ),
            (
                ("Which payment methods can I use instead?", "Can I use PayPal instead?"),
                ("We accept {methods}. {sepa_note}.", "Any of these works: {methods}."),
            ),
        ),
        ("Payment failed", "Card declined", "Account on hold"),
    ),
    Scenario(
        "retention",
        "retention",
        (
            (
                "{name} is getting too expensive for me, I want to cancel.",
                "[Honestly|To be honest] {plan_price} a {cycle_unit} is too much right now. [Please cancel.|I'm leaving.]",
            ),
            (
                "[I understand|Thanks for telling me]. Before you go: since you've been with us for {tenure} months, you can get {discount}% off your next {discount_months} months. You could also downgrade to Basic for {basic_price} per month or pause for up to 3 months. "
                + _CASE
                + ".",
                _ACK
                + ". "
                + _CASE
                + ". As a customer of {tenure} months you qualify for {discount}% off the next {discount_months} months (we offer this {retention_frequency}). Other options are the Basic plan at {basic_price} a month or a pause.",
            ),
        ),
        (
            (
                ("OK, I'll take the discount.", "The discount sounds good, let's do that."),
                (
                    "Done: {discount}% off is applied to your next {discount_months} months, starting on {next_date}.",
                    "Great, the {discount}% discount now applies to your next {discount_months} payments from {next_date}.",
                ),
            ),
            (
                ("No thanks, please just cancel.", "I still want to cancel."),
                (
                    "Understood. Cancel in {cancel_path}; you keep access until {next_date} and there is no fee.",
                    "Of course. Your plan stays active until {next_date}, and cancelling in {cancel_path} stops all future charges.",
                ),
            ),
        ),
        ("Too expensive", "Thinking of cancelling", "Price too high"),
        {"tenure": "eligible", "cycle": "monthly"},
    ),
    Scenario(
        "trial",
        "trial",
        (
            (
                "How does the free trial work? [Do I need a card?|Is it really free?]",
                "[Hi|Hello], I'm thinking of trying {name}. How long is the trial and [which plan is it|what happens at the end]?",
            ),
            (
                _ACK
                + ". New customers get a {trial_days}-day free trial of the {trial_plan} plan. A payment card is required, we remind you {reminder} days before it ends, and if you cancel before the last day you're not charged. "
                + _CASE
                + ".",
                "[Great to hear!|Welcome!] "
                + _CASE
                + ". The trial lasts {trial_days} days on {trial_plan}; you add a card at sign-up, get a reminder {reminder} days before the end, and only pay {trial_price} per month if you keep it.",
            ),
        ),
        (
            (
                (
                    "Can I have a second trial with another e-mail?",
                    "My partner had a trial, can I get one too?",
                ),
                ("There is {trial_limit}.", "Sorry, the rule is {trial_limit}."),
            ),
            (
                ("Can I pause during the trial?", "Can I pause the trial?"),
                (
                    "Pausing isn't available during a free trial; it's for {pause_eligibility}.",
                    "No, pause only applies to {pause_eligibility}.",
                ),
            ),
        ),
        ("Free trial question", "Trial length", "How does the trial work"),
    ),
    Scenario(
        "payment_methods",
        "payment_methods",
        (
            (
                "Which payment methods do you accept?",
                "Can I pay {name} with [SEPA direct debit|PayPal|a gift card|Apple Pay]?",
            ),
            (
                _ACK
                + ". We accept {methods}. {sepa_note}. You can change your payment method in {update_path}. "
                + _CASE
                + ".",
                "[Sure|Good question]. "
                + _CASE
                + ". The accepted methods are {methods}; note that {sepa_note_lower}. Change it any time in {update_path}.",
            ),
        ),
        (
            (
                (
                    "How do gift cards work with my subscription?",
                    "I have a gift card, will it be used first?",
                ),
                ("Yes: {gift_card_note}.", "Redeem it in {update_path}; {gift_card_note}."),
            ),
        ),
        ("Payment methods", "Pay with direct debit", "Gift card payment"),
    ),
)

CLOSINGS: tuple[Exchange, ...] = (
    (
        ("Thanks, that's all!", "Perfect, thank you.", "Great, thanks for the help.", "OK, got it. Thanks!"),
        (
            "You're welcome! Case {ref} stays open for 7 days if anything else comes up.",
            "Glad I could help. Enjoy {name}!",
            "Happy to help. Have a great day!",
            "Anytime. If you need us again, mention case {ref}.",
        ),
    ),
)

# Customer context said before or after the opening question (makes every conversation its own).
USER_CONTEXT = (
    "I've been a member since {member_since}.",
    "I'm on {plan}, billed {cycle} in {currency}.",
    "I mostly watch on my {device}.",
    "[We've had|I've had] {name} since {member_since} [and never had an issue|and like it a lot|].",
    "[Account|My account] is on the {plan} plan [since {member_since}|].",
    "[Writing from|I'm using] the {channel_name} [right now|].",
    "[It's|This is] about my {plan} subscription.",
    "[My|Our] household uses it on a {device} [mostly|and a phone].",
)
# How an agent shows they looked at the account, before the answer.
AGENT_CONTEXT = (
    "I can see your {plan} account, {cycle} in {currency}, with us since {member_since}.",
    "I've pulled up your account: {plan}, member since {member_since}.",
    "Looking at your account ({plan}, {currency}), everything else is in order.",
    "[Thanks for your patience|Thanks for waiting] while I checked your {plan} account.",
    "I see you've been with us since {member_since}, thanks for that.",
    "",
)
# How an agent rounds off the first answer.
AGENT_CLOSERS = (
    "",
    "Anything else I can do for you today?",
    "Is there anything else about your {plan} plan I can check?",
    "I've also sent a summary to the e-mail on your account.",
    "Let me know if your {device} still gives you trouble.",
    "Feel free to reply here if something isn't clear.",
    "You'll find the same steps in the help centre at {help}.",
    "Thanks for being with us since {member_since}.",
    "Hope that helps!",
    "Just reply to this chat if you need more help.",
)
USER_TURN_LEADS = (
    "",
    "",
    "OK. ",
    "Thanks. ",
    "Got it. ",
    "One more thing. ",
    "Another question. ",
    "Right. ",
    "Hmm. ",
    "Sorry, one more. ",
)
AGENT_TURN_LEADS = (
    "",
    "",
    "Sure. ",
    "Good question. ",
    "Of course. ",
    "Happy to explain. ",
    "Let me check. ",
    "Right. ",
)

SYSTEM_PROMPTS = (
    "You are a support agent for {name}, {product}. Answer accurately and politely.",
    "You are {name} Support. Use the help centre facts; be brief and friendly.",
    "Customer support assistant for {name}.",
)

CHANNELS = ("web_chat", "ios_app", "android_app", "tv_app", "email")
DEVICES = (
    "Samsung smart TV",
    "LG TV",
    "iPad",
    "iPhone",
    "Android phone",
    "Fire TV Stick",
    "Roku",
    "PlayStation 5",
    "Xbox",
    "Chromebook",
    "MacBook",
    "Windows laptop",
    "Apple TV",
    "Android tablet",
    "Chromecast",
)
TICKET_STATUSES = ("solved", "closed", "pending")

TICKET_OPENERS = ("Hello,", "Hi,", "Dear support,", "Hello {name} team,", "Hi there,")
TICKET_CLOSERS = ("Thanks", "Thank you", "Regards", "Best", "Cheers", "Thanks in advance")
TICKET_AGENT_OPENERS = ("Hello,", "Hi,", "Hi there,", "Thanks for writing to us.")
TICKET_AGENT_SIGNATURE = "Best regards,\nThe {name} Support Team"
