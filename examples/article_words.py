"""The words behind examples/make_articles.py: fictional vocabulary, per-article random
helpers (`Ctx`), number formatting, and `fit`, which sizes a body to MIN_WORDS..MAX_WORDS.

Every choice goes through the `random.Random` handed in (via `Ctx`), so the caller's seed alone
decides the output.
"""

from __future__ import annotations

import datetime as _dt
import random

MIN_WORDS = 60
MAX_WORDS = 180

# --------------------------------------------------------------------------
# Vocabulary (all names, places and companies are fictional)
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Keira",
    "Luis",
    "Maya",
    "Nikhil",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Samir",
    "Tessa",
    "Umar",
    "Vera",
    "Wes",
    "Xin",
    "Yara",
    "Zoltan",
    "Aisha",
    "Bruno",
    "Chloe",
    "Daniel",
    "Esther",
    "Felix",
]
LAST_NAMES = [
    "Adeyemi",
    "Brennan",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gallagher",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rossi",
    "Sato",
    "Thornton",
    "Ueda",
    "Varga",
    "Whitfield",
    "Yilmaz",
    "Zhang",
    "Alvarez",
    "Byrne",
    "Chowdhury",
    "Delgado",
    "Marsh",
]
TOWNS = [
    "Millbrook",
    "Harlow Bay",
    "Eastwick",
    "Ravenford",
    "Stonebridge",
    "Larkspur",
    "Ashdown",
    "Kestrel Point",
    "Willowmere",
    "Fairhaven",
    "Northgate",
    "Copperton",
    "Glenrock",
    "Brightwater",
    "Oakhurst",
    "Pinecrest",
    "Saltmarsh",
    "Redcliff",
    "Thornbury",
    "Silverdale",
]
REGIONS = [
    "the northern valley",
    "the coastal district",
    "the lake region",
    "the eastern plains",
    "the highlands",
    "the river delta",
]
COMPANY_HEADS = [
    "Northwind",
    "Bluecrest",
    "Ironleaf",
    "Solara",
    "Veridian",
    "Kinetica",
    "Harbor",
    "Quillon",
    "Trident",
    "Maplestone",
    "Aurelia",
    "Cobalt Ridge",
    "Lumen",
    "Pioneer Bay",
    "Greyfield",
    "Orchid",
]
COMPANY_TAILS = [
    "Logistics",
    "Foods",
    "Systems",
    "Energy",
    "Retail",
    "Robotics",
    "Pharma",
    "Telecom",
    "Motors",
    "Software",
    "Materials",
    "Airlines",
]
UNIVERSITIES = [
    "the University of Ravenford",
    "Copperton Institute of Technology",
    "Fairhaven Medical School",
    "the Glenrock Marine Laboratory",
    "Stonebridge University",
    "the Northgate Centre for Climate Research",
]
TEAMS = [
    "Millbrook Rovers",
    "Harlow Bay United",
    "Eastwick Falcons",
    "Ravenford City",
    "Stonebridge Athletic",
    "Larkspur Wanderers",
    "Ashdown Tigers",
    "Kestrel Point Mariners",
    "Oakhurst Rangers",
    "Silverdale Comets",
    "Redcliff Harriers",
    "Glenrock Rams",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


class Ctx:
    """Per-article random helpers bound to the shared generator."""

    def __init__(self, rng: random.Random, published: _dt.date):
        self.rng = rng
        self.published = published

    def pick(self, seq):
        return self.rng.choice(seq)

    def person(self) -> str:
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def people(self, n: int) -> list[str]:
        seen: list[str] = []
        while len(seen) < n:
            p = self.person()
            if p not in seen and p.split()[1] not in [s.split()[1] for s in seen]:
                seen.append(p)
        return seen

    def company(self) -> str:
        return f"{self.pick(COMPANY_HEADS)} {self.pick(COMPANY_TAILS)}"

    def town(self) -> str:
        return self.pick(TOWNS)

    def weekday(self) -> str:
        return WEEKDAYS[self.published.weekday()]

    def later_date(self, min_days: int, max_days: int) -> str:
        d = self.published + _dt.timedelta(days=self.rng.randint(min_days, max_days))
        return f"{MONTHS[d.month - 1]} {d.day}"


def money_m(x: float) -> str:
    """Format a value in millions: 1234.5 -> '$1.23 billion', 84.25 -> '$84.3 million'."""
    if x >= 1000:
        return f"${x / 1000:.2f} billion"
    return f"${x:.1f} million"


def count_k(thousands: int) -> str:
    """Format a count given in thousands: 240 -> '240,000', 3187 -> '3.2 million'."""
    if thousands >= 1000:
        return f"{thousands / 1000:.1f} million"
    return f"{thousands * 1000:,}"


def a_an(word: str) -> str:
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


def poss(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def surname(full: str) -> str:
    return full.split()[1]


def fit(required: list[str], optional: list[str], rng: random.Random) -> str:
    """Join sentences into a body of MIN_WORDS..MAX_WORDS words.

    ``required`` sentences always appear (in order); a random subset of
    ``optional`` sentences is appended, then sentences are added or dropped
    until the word count is within bounds.
    """
    keep = rng.uniform(0.25, 0.95)
    chosen = [s for s in optional if rng.random() < keep]
    rest = [s for s in optional if s not in chosen]
    sentences = list(required) + chosen

    def words(ss):
        return sum(len(s.split()) for s in ss)

    while words(sentences) < MIN_WORDS and rest:
        sentences.append(rest.pop(0))
    while words(sentences) > MAX_WORDS and len(sentences) > len(required):
        sentences.pop()
    body = " ".join(sentences)
    n = len(body.split())
    if not MIN_WORDS <= n <= MAX_WORDS:
        raise AssertionError(f"body has {n} words: {body!r}")
    return body
