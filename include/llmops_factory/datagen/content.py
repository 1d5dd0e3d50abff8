"""Clean records of every source: conversations, tickets, FAQ entries, articles and policies.

Everything is drawn from a seeded ``random.Random`` and the fact table; nothing reads the clock. The
builders return plain Python structures; ``generator.py`` serialises them, and ``defects.py`` turns some
of them into the bad records real data has.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import string
from dataclasses import dataclass
from typing import Any

from llmops_factory.datagen import scenarios as sc
from llmops_factory.datagen.documents import ARTICLES, POLICIES, DocumentSpec, article_slots
from llmops_factory.datagen.facts import CURRENCIES, FactItem, Facts, fact_items
from llmops_factory.datagen.templates import fill, pick

_REF_ALPHABET = "".join(c for c in string.ascii_uppercase + string.digits if c not in "O0I1")


def ref_code(rng: random.Random, prefix: str = "NB", length: int = 6) -> str:
    """A case reference like ``NB-7QK2M9`` (letters and digits, never a long digit run)."""
    return f"{prefix}-" + "".join(rng.choice(_REF_ALPHABET) for _ in range(length))


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _long_date(day: dt.date) -> str:
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def _next_billing(today: dt.date, billing_day: int) -> dt.date:
    year, month = today.year, today.month
    for _ in range(2):
        last = calendar.monthrange(year, month)[1]
        candidate = dt.date(year, month, min(billing_day, last))
        if candidate > today:
            return candidate
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
    return candidate  # pragma: no cover - two months always contain a later billing day


@dataclass
class Conversation:
    """A clean support conversation: scenario, customer context and (user, assistant) turns."""

    scenario: sc.Scenario
    context: dict[str, str]
    system: str
    turns: list[tuple[str, str]]


class ContentBuilder:
    """Builds clean records from the fact table for one day (``ds``)."""

    def __init__(self, facts: Facts, ds: str) -> None:
        self.f = facts
        self.ds = ds
        self.day = dt.date.fromisoformat(ds)
        self.plan_ids = facts.plan_ids
        self.base = self._base_slots()
        self.doc_slots = article_slots(facts)
        self.items: list[FactItem] = fact_items(facts)

    def _base_slots(self) -> dict[str, str]:
        f = self.f
        methods = f["payment_methods"]
        pause = f["pause"]
        durations = ", ".join(str(d) for d in pause["durations_months"][:-1])
        durations += f" or {pause['durations_months'][-1]}"
        trial = f["trial"]
        return {
            "name": f.name,
            "product": f["company"]["product"],
            "help": f["company"]["help_centre"],
            "account": f["company"]["account_page"],
            "first_response_hours": str(f["company"]["first_response_hours"]),
            "invoice_path": f["billing"]["invoice_path"],
            "billing_change": f["billing"]["billing_day_change"],
            "cancel_path": f["cancellation"]["path"],
            "retention_months": str(f["cancellation"]["data_retention_months"]),
            "refund_days": str(f["refund"]["annual_full_refund_days"]),
            "processing": f["refund"]["processing_business_days"],
            "change_path": f["plan_change"]["path"],
            "link_minutes": str(f["sign_in"]["reset_link_valid_minutes"]),
            "lockout_attempts": str(f["sign_in"]["lockout_after_failed_attempts"]),
            "lockout_minutes": str(f["sign_in"]["lockout_minutes"]),
            "backup_path": f["sign_in"]["backup_codes_path"],
            "devices_path": f["devices"]["path"],
            "removals": str(f["devices"]["removals_per_month"]),
            "durations": durations,
            "pause_frequency": pause["frequency"],
            "pause_eligibility": pause["eligibility"],
            "pause_path": pause["path"],
            "retry1": str(f["payment_failure"]["retry_after_days"][0]),
            "retry2": str(f["payment_failure"]["retry_after_days"][1]),
            "grace": str(f["payment_failure"]["grace_period_days"]),
            "suspend": str(f["payment_failure"]["suspend_after_days"]),
            "suspended_note": f["payment_failure"]["suspended_note"],
            "update_path": methods["update_path"],
            "methods": ", ".join(methods["accepted"][:-1]) + f" and {methods['accepted'][-1]}",
            "sepa_note": methods["sepa_note"],
            "sepa_note_lower": methods["sepa_note"][:1].lower() + methods["sepa_note"][1:],
            "gift_card_note": methods["gift_card_note"],
            "discount": str(f["retention"]["discount_percent"]),
            "discount_months": str(f["retention"]["discount_months"]),
            "retention_frequency": f["retention"]["frequency"],
            "trial_days": str(trial["days"]),
            "trial_plan": f.plan(trial["plan"])["name"],
            "trial_price": "",  # set per currency in customer_context
            "reminder": str(trial["reminder_days_before_end"]),
            "trial_limit": trial["limit"],
        }

    # -- customers and conversations ------------------------------------------------------------
    def customer_context(self, rng: random.Random, scenario: sc.Scenario) -> dict[str, str]:
        """Slots describing one customer, constrained by what the scenario ``needs``."""
        f, needs = self.f, scenario.needs
        ids = self.plan_ids
        target_id = None
        if needs.get("target") == "higher":
            index = rng.randrange(len(ids) - 1)
            target_id = ids[rng.randrange(index + 1, len(ids))]
        elif needs.get("target") == "lower":
            index = rng.randrange(1, len(ids))
            target_id = ids[rng.randrange(index)]
        else:
            index = rng.randrange(len(ids))
        plan_id = ids[index]
        cycle = needs.get("cycle") or ("monthly" if rng.random() < 0.75 else "annual")
        currency = CURRENCIES[0] if rng.random() < 0.6 else CURRENCIES[1]
        signup_day = rng.randrange(1, 29) if rng.random() < 0.9 else rng.randrange(29, 32)
        if cycle == "monthly":
            next_date = _next_billing(self.day, signup_day)
        else:
            next_date = self.day + dt.timedelta(days=rng.randrange(1, 365))
        refund_days = int(f["refund"]["annual_full_refund_days"])
        if needs.get("days_since") == "within":
            days_since = rng.randrange(1, refund_days)
        elif needs.get("days_since") == "after":
            days_since = rng.randrange(refund_days + 1, 300)
        else:
            days_since = rng.randrange(1, 30)
        min_tenure = int(f["retention"]["min_tenure_months"])
        tenure = rng.randrange(min_tenure, 61) if needs.get("tenure") == "eligible" else rng.randrange(1, 61)
        plan = f.plan(plan_id)
        slots = dict(self.base)
        slots.update(
            plan=plan["name"],
            cycle=cycle,
            cycle_unit="month" if cycle == "monthly" else "year",
            currency=currency,
            tax_note=f["currencies"][currency]["tax_note"],
            plan_price=f.price(plan_id, cycle, currency),
            monthly_price=f.price(plan_id, "monthly", currency),
            annual_price=f.price(plan_id, "annual", currency),
            basic_price=f.price(ids[0], "monthly", currency),
            trial_price=f.price(f["trial"]["plan"], "monthly", currency),
            devices=str(plan["devices"]),
            streams=str(plan["streams"]),
            signup_day=_ordinal(signup_day),
            next_date=_long_date(next_date),
            charge_date=_long_date(self.day - dt.timedelta(days=rng.randrange(0, 5))),
            days_since=str(days_since),
            tenure=str(tenure),
            device=rng.choice(sc.DEVICES),
            method=rng.choice(("card", "Visa card", "Mastercard", "PayPal payment", "direct debit")),
            ref=ref_code(rng),
            member_since=f"{calendar.month_name[rng.randrange(1, 13)]} {self.day.year - rng.randrange(1, 7)}",
            channel_name=rng.choice(("app", "website", "TV app", "phone app", "tablet app")),
            invoice=ref_code(rng, "INV", 8),
        )
        if target_id is not None:
            target = f.plan(target_id)
            slots.update(
                target=target["name"],
                target_price=f.price(target_id, cycle, currency),
                target_streams=str(target["streams"]),
                target_devices=str(target["devices"]),
                target_quality=target["video_quality"],
            )
        slots["_plan_id"] = plan_id
        slots["_target_id"] = target_id or ""
        return slots

    def conversation(self, rng: random.Random, scenario: sc.Scenario | None = None) -> Conversation:
        """A clean multi-turn conversation with 1 to 4 assistant turns."""
        scenario = scenario or rng.choice(sc.SCENARIOS)
        ctx = self.customer_context(rng, scenario)
        wanted = rng.choices((1, 2, 3, 4), weights=(30, 30, 25, 15))[0]
        users, agents = scenario.opening
        question = pick(rng, users, **ctx)
        said = pick(rng, sc.USER_CONTEXT, **ctx)
        if rng.random() < 0.5:
            more = pick(rng, sc.USER_CONTEXT, **ctx)
            said = f"{said} {more}" if more != said else said
        user = f"{said} {question}" if rng.random() < 0.5 else f"{question} {said}"
        agent = pick(rng, agents, **ctx)
        personal = pick(rng, sc.AGENT_CONTEXT, **ctx)
        if personal:
            first, _, rest = agent.partition(". ")
            agent = f"{first}. {personal} {rest}" if rest else f"{agent} {personal}"
        closer = pick(rng, sc.AGENT_CLOSERS, **ctx)
        agent = f"{agent} {closer}" if closer else agent
        turns = [(user.replace(" .", ".").replace("  ", " "), agent.replace("  ", " "))]
        pool = list(scenario.followups)
        rng.shuffle(pool)
        exchanges = pool[: wanted - 1]
        if len(exchanges) < wanted - 1:
            exchanges.append(sc.CLOSINGS[0])
        for users_, agents_ in exchanges:
            turns.append(
                (
                    rng.choice(sc.USER_TURN_LEADS) + pick(rng, users_, **ctx),
                    rng.choice(sc.AGENT_TURN_LEADS) + pick(rng, agents_, **ctx),
                )
            )
        system = pick(rng, sc.SYSTEM_PROMPTS, **ctx)
        return Conversation(scenario, ctx, system, turns)

    # -- serialised shapes ----------------------------------------------------------------------
    def support_chat(self, rng: random.Random, record_id: str) -> tuple[dict[str, Any], Conversation]:
        """OpenAI-style chat record."""
        conv = self.conversation(rng)
        messages = [{"role": "system", "content": conv.system}] if rng.random() < 0.7 else []
        for user, assistant in conv.turns:
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        record = {
            "id": record_id,
            "created_at": self.timestamp(rng),
            "channel": rng.choice(sc.CHANNELS),
            "messages": messages,
        }
        return record, conv

    def chat_export(self, rng: random.Random, record_id: str) -> tuple[dict[str, Any], Conversation]:
        """ShareGPT-style chat record."""
        conv = self.conversation(rng)
        turns = [{"from": "system", "value": conv.system}] if rng.random() < 0.3 else []
        for user, assistant in conv.turns:
            turns.append({"from": "human", "value": user})
            turns.append({"from": "gpt", "value": assistant})
        return {"id": record_id, "conversations": turns}, conv

    def ticket(self, rng: random.Random, record_id: str) -> tuple[dict[str, str], Conversation]:
        """A support ticket row (e-mail-like, multi-line message and reply)."""
        conv = self.conversation(rng)
        ctx = conv.context
        asked = [conv.turns[0][0]] + (
            [conv.turns[1][0]] if len(conv.turns) > 1 and rng.random() < 0.5 else []
        )
        answered = [conv.turns[0][1]] + ([conv.turns[1][1]] if len(asked) > 1 else [])
        customer = (
            fill(rng, rng.choice(sc.TICKET_OPENERS), **ctx)
            + "\n\n"
            + " ".join(asked)
            + "\n\n"
            + rng.choice(sc.TICKET_CLOSERS)
        )
        agent = (
            rng.choice(sc.TICKET_AGENT_OPENERS)
            + "\n\n"
            + "\n\n".join(answered)
            + "\n\n"
            + fill(rng, sc.TICKET_AGENT_SIGNATURE, **ctx)
        )
        row = {
            "ticket_id": record_id,
            "created_at": self.timestamp(rng),
            "subject": rng.choice(conv.scenario.subjects)
            + (f" ({ctx['invoice']})" if rng.random() < 0.3 else ""),
            "customer_message": customer,
            "agent_reply": agent,
            "status": rng.choice(sc.TICKET_STATUSES),
        }
        return row, conv

    def faq_entries(self, rng: random.Random, count: int) -> list[tuple[dict[str, str], FactItem]]:
        """``count`` distinct FAQ entries (one per fact item, a question paraphrase per day)."""
        items = list(self.items)
        rng.shuffle(items)
        out = []
        for item in items[:count]:
            question = rng.choice(item.questions)
            record = {"id": f"faq-{item.key}", "instruction": question, "input": "", "output": item.answer}
            out.append((record, item))
        return out

    def timestamp(self, rng: random.Random) -> str:
        seconds = rng.randrange(86400)
        return f"{self.ds}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"

    # -- documents --------------------------------------------------------------------------------
    def document(self, rng: random.Random, spec: DocumentSpec) -> tuple[str, list[tuple[str, str]]]:
        """Title and (heading, body) sections of one article or policy, wording varied by ``rng``."""
        slots = self.doc_slots
        title = pick(rng, spec.titles, **slots)
        sections = [
            (fill(rng, heading, **slots), pick(rng, bodies, **slots)) for heading, bodies in spec.sections
        ]
        return title, sections

    @staticmethod
    def articles() -> tuple[DocumentSpec, ...]:
        return ARTICLES

    @staticmethod
    def policies() -> tuple[DocumentSpec, ...]:
        return POLICIES


# -- bad content: other languages, toxicity, oversized payloads ----------------------------------------

FOREIGN: dict[str, tuple[tuple[str, str], ...]] = {
    "es": (
        (
            "Hola, quiero cancelar mi suscripción {plan}. ¿Cómo lo hago? No quiero que me cobren otra vez.",
            "Gracias por escribirnos. Puedes cancelar cuando quieras en la sección de tu cuenta; no hay ninguna penalización y sigues teniendo acceso hasta el final del periodo de facturación. Tu caso es {ref}.",
        ),
        (
            "Me han cobrado dos veces {plan_price} este mes. Por favor, devuélveme el dinero lo antes posible.",
            "Lo siento mucho por las molestias. Los cobros duplicados siempre se reembolsan por completo en un plazo de cinco a diez días hábiles. He abierto el caso {ref}.",
        ),
        (
            "No puedo iniciar sesión y el correo para restablecer la contraseña nunca llega. ¿Qué puedo hacer?",
            "Revisa la carpeta de correo no deseado y solicita un enlace nuevo; cada enlace es válido durante sesenta minutos. Tu número de caso es {ref}.",
        ),
    ),
    "de": (
        (
            "Hallo, ich möchte mein {plan} Abo kündigen. Wie funktioniert das und muss ich eine Gebühr zahlen?",
            "Danke für Ihre Nachricht. Sie können jederzeit in Ihrem Konto kündigen, es fällt keine Gebühr an und Sie behalten den Zugang bis zum Ende des Abrechnungszeitraums. Ihre Fallnummer lautet {ref}.",
        ),
        (
            "Mir wurde {plan_price} doppelt abgebucht. Bitte erstatten Sie mir den Betrag so schnell wie möglich.",
            "Das tut mir leid. Doppelte Abbuchungen werden immer vollständig erstattet, das Geld ist innerhalb von fünf bis zehn Werktagen wieder auf Ihrem Konto. Fall {ref}.",
        ),
        (
            "Auf meinem Fernseher steht, dass das Gerätelimit erreicht ist. Was soll ich jetzt machen?",
            "Entfernen Sie unter Konto und Geräte ein Gerät, das Sie nicht mehr nutzen, und melden Sie sich danach erneut an. Ihre Fallnummer ist {ref}.",
        ),
    ),
    "fr": (
        (
            "Bonjour, je voudrais résilier mon abonnement {plan}. Comment faire et est-ce que je vais payer des frais ?",
            "Merci pour votre message. Vous pouvez résilier à tout moment depuis votre compte, sans aucuns frais, et vous gardez l'accès jusqu'à la fin de la période de facturation. Votre dossier est le {ref}.",
        ),
        (
            "On m'a prélevé deux fois {plan_price} ce mois-ci. Je voudrais être remboursé rapidement, s'il vous plaît.",
            "Je suis désolé pour ce désagrément. Les doubles prélèvements sont toujours remboursés intégralement sous cinq à dix jours ouvrés. Votre dossier porte le numéro {ref}.",
        ),
        (
            "Est-ce que je peux mettre mon abonnement en pause pendant les vacances au lieu de le résilier ?",
            "Oui, les abonnements mensuels peuvent être mis en pause pendant un, deux ou trois mois, une fois tous les douze mois. Votre dossier est le {ref}.",
        ),
    ),
    "it": (
        (
            "Buongiorno, vorrei disdire il mio abbonamento {plan}. Come posso fare senza pagare penali?",
            "Grazie per averci scritto. Puoi disdire in qualsiasi momento dal tuo account, non ci sono penali e mantieni l'accesso fino alla fine del periodo di fatturazione. Pratica {ref}.",
        ),
        (
            "Mi avete addebitato due volte {plan_price} questo mese. Vorrei il rimborso il prima possibile, grazie.",
            "Mi dispiace molto. Gli addebiti doppi vengono sempre rimborsati per intero entro cinque-dieci giorni lavorativi. La tua pratica è {ref}.",
        ),
    ),
    "pt": (
        (
            "Olá, quero cancelar a minha assinatura {plan}. Como faço isso e vou pagar alguma multa?",
            "Obrigado pela mensagem. Pode cancelar a qualquer momento na sua conta, não há multa e mantém o acesso até ao fim do período de faturação. O seu caso é {ref}.",
        ),
        (
            "Fui cobrado duas vezes {plan_price} este mês. Quero o reembolso o mais rápido possível, por favor.",
            "Peço desculpa pelo incómodo. As cobranças duplicadas são sempre reembolsadas na totalidade em cinco a dez dias úteis. O seu caso é {ref}.",
        ),
    ),
}
FOREIGN_SUBJECTS = {
    "es": "Problema con mi suscripción",
    "de": "Problem mit meinem Abo",
    "fr": "Problème avec mon abonnement",
    "it": "Problema con il mio abbonamento",
    "pt": "Problema com a minha assinatura",
}
FOREIGN_HEADINGS = {
    "es": "Preguntas frecuentes",
    "de": "Häufige Fragen",
    "fr": "Questions fréquentes",
    "it": "Domande frequenti",
    "pt": "Perguntas frequentes",
}
LANGUAGES = tuple(FOREIGN)

# Each phrase holds at least one word a profanity filter flags (better-profanity's default list).
TOXIC_PHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("This is bullshit.", ("bullshit",)),
    ("Your damn app charged me AGAIN.", ("damn",)),
    ("What a stupid, crap service.", ("stupid", "crap")),
    ("I'm sick of this shitty app.", ("shitty",)),
    ("Fix your fucking billing already!", ("fucking",)),
    ("You people are morons and this is a scam, you jerk.", ("jerk",)),
    ("Are you stupid or what?", ("stupid",)),
    ("This shit keeps happening.", ("shit",)),
)


def oversized_log(rng: random.Random, min_chars: int) -> str:
    """A pasted player log longer than ``min_chars`` characters (what customers paste into a chat)."""
    lines = []
    size = 0
    while size <= min_chars:
        line = (
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d} "
            f"ERROR player session={rng.getrandbits(48):012x} code=E{rng.randrange(1000, 9999)} "
            f"buffer_underrun position={rng.randrange(10**6)}ms bitrate={rng.randrange(800, 16000)}kbps"
        )
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def oversized_table(rng: random.Random, min_chars: int) -> str:
    """A huge device compatibility list (one Markdown list, no blank lines) over ``min_chars``."""
    brands = ("Samsung", "LG", "Sony", "Philips", "Hisense", "TCL", "Panasonic", "Sharp", "Vizio", "Toshiba")
    rows = []
    size = 0
    while size <= min_chars:
        row = (
            f"- {rng.choice(brands)} model {ref_code(rng, 'TV', 5)} ({rng.randrange(2015, 2027)}): "
            f"supported, firmware {rng.randrange(1, 9)}.{rng.randrange(0, 40)}, max {rng.choice(('HD', 'Full HD', '4K'))}"
        )
        rows.append(row)
        size += len(row) + 1
    return "\n".join(rows)
