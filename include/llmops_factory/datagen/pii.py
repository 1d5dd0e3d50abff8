"""Realistic personal data for injection: every value is valid the way a detector would check it.

E-mail addresses, phone numbers that ``phonenumbers`` accepts as valid, card numbers that pass Luhn,
IBANs with correct check digits (validated with ``python-stdnum``), public IPv4 addresses and person
names, each with the sentence that carries it into a customer's message or a document.
"""

from __future__ import annotations

import random

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

PII_KINDS = ("email", "phone", "credit_card", "iban", "ip", "person_name")

FIRST_NAMES = (
    "Maria",
    "James",
    "Sofia",
    "Lukas",
    "Amelia",
    "Mateo",
    "Chloe",
    "Noah",
    "Elena",
    "Oliver",
    "Hannah",
    "Liam",
    "Camille",
    "Jonas",
    "Isabella",
    "Arjun",
    "Fatima",
    "Wei",
    "Yuki",
    "Ahmed",
    "Olga",
    "Kwame",
    "Lucia",
    "Pedro",
    "Ingrid",
    "Tomasz",
    "Aisha",
    "Daniel",
    "Grace",
    "Marco",
)
LAST_NAMES = (
    "Lopez",
    "Smith",
    "Rossi",
    "Schneider",
    "Dubois",
    "Garcia",
    "Novak",
    "Jensen",
    "Kowalski",
    "Murphy",
    "Okafor",
    "Tanaka",
    "Chen",
    "Haddad",
    "Ivanova",
    "Silva",
    "Fischer",
    "Moreau",
    "Patel",
    "Andersson",
    "Costa",
    "Wagner",
    "Bianchi",
    "Nowak",
    "Brown",
    "Martin",
    "Fernandez",
    "Kim",
    "Larsen",
    "Mensah",
)
_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "proton.me",
    "icloud.com",
    "gmx.de",
    "orange.fr",
    "web.de",
)
_PHONE_REGIONS = ("DE", "FR", "ES", "GB", "US", "NL", "IT")
# mobile/geographic prefixes and national number lengths per region (validity is checked per draw)
_PHONE_PREFIXES = {
    "DE": ("151", "152", "160", "170", "171", "176"),
    "FR": ("6", "7"),
    "ES": ("6", "7"),
    "GB": ("7400", "7700", "7911"),
    "US": ("201", "212", "415", "617", "646", "718"),
    "NL": ("6",),
    "IT": ("320", "333", "347", "389"),
}
_PHONE_LENGTHS = {"DE": 11, "FR": 9, "ES": 9, "GB": 10, "US": 10, "NL": 9, "IT": 10}


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES).lower()
    style = rng.randrange(4)
    local = (
        f"{first}.{last}",
        f"{first[0]}{last}",
        f"{first}_{last}{rng.randrange(10, 99)}",
        f"{last}.{first}",
    )[style]
    return f"{local}@{rng.choice(_DOMAINS)}"


def phone(rng: random.Random) -> str:
    """A phone number that ``phonenumbers`` parses as valid, in international or national format."""
    for _ in range(100):
        region = rng.choice(_PHONE_REGIONS)
        prefix = rng.choice(_PHONE_PREFIXES[region])
        rest = "".join(str(rng.randrange(10)) for _ in range(_PHONE_LENGTHS[region] - len(prefix)))
        number = phonenumbers.parse(prefix + rest, region)
        if phonenumbers.is_valid_number(number):
            fmt = (
                phonenumbers.PhoneNumberFormat.INTERNATIONAL
                if rng.random() < 0.7
                else phonenumbers.PhoneNumberFormat.E164
            )
            return phonenumbers.format_number(number, fmt)
    raise RuntimeError("could not draw a valid phone number in 100 tries")  # pragma: no cover


def credit_card(rng: random.Random) -> str:
    """A Luhn-valid Visa, Mastercard or American Express number, grouped like people type it."""
    brand = rng.randrange(3)
    if brand == 0:
        body = "4" + "".join(str(rng.randrange(10)) for _ in range(14))
    elif brand == 1:
        body = str(rng.randrange(51, 56)) + "".join(str(rng.randrange(10)) for _ in range(13))
    else:
        body = rng.choice(("34", "37")) + "".join(str(rng.randrange(10)) for _ in range(12))
    number = body + luhn.calc_check_digit(body)
    separator = rng.choice((" ", "-", ""))
    if len(number) == 15:
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, 16, 4)]
    return separator.join(groups)


def _iban_check(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


def iban(rng: random.Random) -> str:
    """An IBAN with valid check digits (DE, AT, NL, IE, BE), printed in groups of four or compact."""
    for _ in range(100):
        country = rng.choice(("DE", "AT", "NL", "IE", "BE"))
        if country == "DE":
            bban = "".join(str(rng.randrange(10)) for _ in range(18))
        elif country == "AT":
            bban = "".join(str(rng.randrange(10)) for _ in range(16))
        elif country == "NL":
            bban = rng.choice(("ABNA", "INGB", "RABO", "TRIO")) + "".join(
                str(rng.randrange(10)) for _ in range(10)
            )
        elif country == "IE":
            bban = rng.choice(("AIBK", "BOFI")) + "".join(str(rng.randrange(10)) for _ in range(14))
        else:  # BE: 10-digit account + 2-digit national mod-97 check
            account = "".join(str(rng.randrange(10)) for _ in range(10))
            check = int(account) % 97 or 97
            bban = f"{account}{check:02d}"
        value = country + _iban_check(country, bban) + bban
        if stdnum_iban.is_valid(value):
            if rng.random() < 0.6:
                return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
            return value
    raise RuntimeError("could not draw a valid IBAN in 100 tries")  # pragma: no cover


def ip_address(rng: random.Random) -> str:
    """A public-looking IPv4 address (no private, loopback or multicast ranges)."""
    while True:
        first = rng.randrange(11, 224)
        if first in (127, 172, 192, 100, 169, 198, 203):
            continue
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


GENERATORS = {
    "email": email,
    "phone": phone,
    "credit_card": credit_card,
    "iban": iban,
    "ip": ip_address,
    "person_name": person_name,
}

# Sentences that carry a value into a customer's message ({v} is the value).
CUSTOMER_SENTENCES = {
    "email": ("My e-mail is {v} if you need it.", "You can reach me at {v}.", "The account e-mail is {v}."),
    "phone": ("You can call me on {v}.", "My phone number is {v}.", "Text me at {v} if that is easier."),
    "credit_card": (
        "The card you charged is {v}.",
        "My card number is {v}, can you check it?",
        "I paid with card {v}.",
    ),
    "iban": ("Please send the refund to IBAN {v}.", "My bank account is {v}.", "The IBAN on file is {v}."),
    "ip": ("I'm connecting from {v}.", "The error shows my IP as {v}.", "My router's IP is {v}."),
    "person_name": ("Hi, I'm {v}.", "Hello, my name is {v}.", "Hi there, this is {v}."),
}
# Sentences that leak a value into a document section (an author's note left in an article).
DOCUMENT_SENTENCES = {
    "email": ("Questions about this page go to {v}.", "Draft reviewed by {v}."),
    "phone": ("Escalations: call {v}.", "Internal hotline for this topic: {v}."),
    "credit_card": ("Test card used for the screenshots: {v}.",),
    "iban": ("Refund test account: {v}.",),
    "ip": ("Screenshots taken from host {v}.",),
    "person_name": ("Written by {v}.", "Last reviewed by {v}."),
}


def draw(kind: str, rng: random.Random) -> str:
    """A fresh value of one PII kind."""
    try:
        return GENERATORS[kind](rng)
    except KeyError:
        raise ValueError(f"unknown PII kind {kind!r}; expected one of {', '.join(PII_KINDS)}") from None
