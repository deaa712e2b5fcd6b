#!/usr/bin/env python3
"""Generate the example article table used by pressroom's demos and tests.

Writes ``examples/data/articles.parquet`` (or the path given as the first
argument): ~200 short, fictional news articles and reports across ten
categories (business results, product launches, weather, sports, science,
local news, company incidents, policy, health, education).  Each body is
60-180 words of template-built English with internally consistent names and
numbers, so a summary or label produced by a model can be checked by eye.

Everything is derived from ``random.Random(0)`` and written with fixed
Parquet options, so running the script twice gives byte-identical files.
No network access, no dependencies beyond the standard library and pyarrow.

    python examples/make_articles.py                 # default location
    python examples/make_articles.py /tmp/out.parquet
"""

from __future__ import annotations

import datetime as _dt
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "articles.parquet"
N_ARTICLES = 200
MIN_WORDS = 60
MAX_WORDS = 180

SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("title", pa.string()),
        ("category", pa.string()),
        ("published", pa.string()),
        ("body", pa.string()),
    ]
)

# --------------------------------------------------------------------------
# Vocabulary (all names, places and companies are fictional)
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "Amara", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro",
    "Ines", "Jonas", "Keira", "Luis", "Maya", "Nikhil", "Olga", "Pedro",
    "Quinn", "Rosa", "Samir", "Tessa", "Umar", "Vera", "Wes", "Xin",
    "Yara", "Zoltan", "Aisha", "Bruno", "Chloe", "Daniel", "Esther", "Felix",
]
LAST_NAMES = [
    "Adeyemi", "Brennan", "Castillo", "Dubois", "Eriksen", "Fischer",
    "Gallagher", "Haddad", "Ivanova", "Jensen", "Kowalski", "Lindqvist",
    "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi", "Sato",
    "Thornton", "Ueda", "Varga", "Whitfield", "Yilmaz", "Zhang", "Alvarez",
    "Byrne", "Chowdhury", "Delgado", "Marsh",
]
TOWNS = [
    "Millbrook", "Harlow Bay", "Eastwick", "Ravenford", "Stonebridge",
    "Larkspur", "Ashdown", "Kestrel Point", "Willowmere", "Fairhaven",
    "Northgate", "Copperton", "Glenrock", "Brightwater", "Oakhurst",
    "Pinecrest", "Saltmarsh", "Redcliff", "Thornbury", "Silverdale",
]
REGIONS = [
    "the northern valley", "the coastal district", "the lake region",
    "the eastern plains", "the highlands", "the river delta",
]
COMPANY_HEADS = [
    "Northwind", "Bluecrest", "Ironleaf", "Solara", "Veridian", "Kinetica",
    "Harbor", "Quillon", "Trident", "Maplestone", "Aurelia", "Cobalt Ridge",
    "Lumen", "Pioneer Bay", "Greyfield", "Orchid",
]
COMPANY_TAILS = [
    "Logistics", "Foods", "Systems", "Energy", "Retail", "Robotics",
    "Pharma", "Telecom", "Motors", "Software", "Materials", "Airlines",
]
UNIVERSITIES = [
    "the University of Ravenford", "Copperton Institute of Technology",
    "Fairhaven Medical School", "the Glenrock Marine Laboratory",
    "Stonebridge University", "the Northgate Centre for Climate Research",
]
TEAMS = [
    "Millbrook Rovers", "Harlow Bay United", "Eastwick Falcons",
    "Ravenford City", "Stonebridge Athletic", "Larkspur Wanderers",
    "Ashdown Tigers", "Kestrel Point Mariners", "Oakhurst Rangers",
    "Silverdale Comets", "Redcliff Harriers", "Glenrock Rams",
]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
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


# --------------------------------------------------------------------------
# Category generators: each returns (title, body)
# --------------------------------------------------------------------------


def business(c: Ctx):
    rng = c.rng
    co = c.company()
    ceo, cfo = c.people(2)
    q = (c.published.month - 1) // 3  # quarter that just ended
    quarter, year = (4, c.published.year - 1) if q == 0 else (q, c.published.year)
    prev = rng.uniform(80, 2400)
    growth = rng.choice([-1, 1, 1, 1]) * rng.uniform(2, 24)
    now = prev * (1 + growth / 100)
    seg_up, seg_down = rng.sample(
        ["cloud services", "subscriptions", "international sales", "wholesale",
         "maintenance contracts", "online orders", "advertising", "hardware"], 2)
    seg_up_pct = rng.randint(8, 40)
    seg_down_pct = rng.randint(2, 15)
    margin = rng.uniform(4, 28)
    margin_prev = margin + rng.uniform(-3, 3)
    share = rng.uniform(1, 9) * (1 if growth > 0 else -1)
    verb = "rose" if growth > 0 else "fell"
    title = (f"{co} revenue {verb} {abs(growth):.0f}% in Q{quarter} "
             f"as {seg_up if growth > 0 else seg_down} {'leads' if growth > 0 else 'drags'}")
    required = [
        f"{co} reported revenue of {money_m(now)} for the {['first', 'second', 'third', 'fourth'][quarter - 1]} quarter of {year}, "
        f"{'up' if growth > 0 else 'down'} {abs(growth):.1f}% from {money_m(prev)} a year earlier.",
        f"Sales from {seg_up} grew {seg_up_pct}%, while {seg_down} revenue fell {seg_down_pct}%.",
        f"Operating margin was {margin:.1f}%, compared with {margin_prev:.1f}% in the same period last year.",
        f"\"{rng.choice(['We executed well in a difficult market', 'Our customers kept investing even as budgets tightened', 'The quarter showed where our strategy is working and where it is not'])},\" "
        f"chief executive {ceo} said on a call with analysts.",
    ]
    optional = [
        f"Chief financial officer {cfo} said the company expects full-year revenue growth of "
        f"{(lo := rng.randint(1, 9))} to {lo + rng.randint(2, 5)} percent.",
        f"Shares {'gained' if share > 0 else 'lost'} {abs(share):.1f}% in early trading.",
        f"The company also announced a ${rng.randint(50, 900)} million share buyback programme.",
        f"Headcount stood at {rng.randint(900, 42000):,} employees at the end of the quarter.",
        f"Analysts had expected revenue of about {money_m(now * rng.uniform(0.95, 1.05))}.",
        f"{surname(ceo)} said cost controls introduced last year would continue through {year + 1}.",
        f"The company said {seg_down} had been hurt by {rng.choice(['weaker demand from small customers', 'price cuts by competitors', 'delays to a new contract', 'currency movements'])}.",
        f"{co} ended the quarter with {money_m(prev * rng.uniform(0.1, 0.6))} in cash and no plans to raise new debt.",
    ]
    return title, fit(required, optional, rng)


def product(c: Ctx):
    rng = c.rng
    co = c.company()
    head, analyst = c.people(2)
    kind, feats, prices = rng.choice([
        ("smart thermostat", ["learns household schedules", "cuts heating use", "works without a cloud account"], [129, 179, 249]),
        ("electric cargo bike", ["carries up to 120 kilograms", "has a removable battery", "ships with built-in lights"], [2499, 3299, 4199]),
        ("budgeting app", ["sorts spending automatically", "alerts users before bills are due", "supports shared accounts"], [4, 6, 9]),
        ("noise-cancelling headset", ["lasts 40 hours on a charge", "folds flat", "has a detachable boom microphone"], [79, 149, 299]),
        ("home battery", ["stores 13 kilowatt-hours", "pairs with rooftop solar", "keeps lights on during outages"], [5999, 7499, 8999]),
        ("robot vacuum", ["maps several floors", "empties itself", "avoids cables and pet bowls"], [299, 499, 899]),
        ("compact air purifier", ["filters fine dust and pollen", "runs at 22 decibels", "reports air quality on a small screen"], [89, 149, 229]),
        ("rugged tablet", ["survives two-metre drops", "works with gloves", "has a hot-swappable battery"], [599, 899, 1299]),
    ])
    name = f"{rng.choice(['Aero', 'Nova', 'Pulse', 'Terra', 'Echo', 'Vista', 'Core', 'Flux'])} {rng.choice(['One', 'Go', 'Pro', 'Lite', 'X', '2', 'Max', 'Air'])}"
    price = rng.choice(prices)
    avail = c.later_date(7, 60)
    markets = rng.randint(2, 14)
    title = f"{co} launches {name}, a {price:,}-dollar {kind}"
    f1, f2, f3 = feats
    required = [
        f"{co} on {c.weekday()} unveiled the {name}, {a_an(kind)} that {f1} and {f2}.",
        f"It will cost ${price:,} and go on sale on {avail} in {markets} countries.",
        f"\"{rng.choice(['We built this for people who were tired of compromises', 'Customers told us what annoyed them, and we fixed it', 'This is the product our engineers wanted for themselves'])},\" "
        f"said {head}, who leads the company's product group.",
    ]
    optional = [
        f"It also {f3}.",
        f"{analyst}, an analyst at {c.pick(COMPANY_HEADS)} Research, said the price undercuts most rivals by about {rng.randint(10, 35)}%.",
        f"The company said it had taken {count_k(rng.randint(2, 60))} pre-orders ahead of launch.",
        f"An earlier model was recalled in {c.published.year - 1} over a software fault, which {surname(head)} said had been fully addressed.",
        f"Reviewers who tested early units praised the build quality but noted that setup took longer than advertised.",
        f"A subscription tier with extra features will cost ${rng.choice([3, 5, 8, 10])} a month.",
        f"The {name} was designed in {c.town()} and comes with a {rng.choice(['one', 'two', 'three'])}-year warranty.",
    ]
    return title, fit(required, optional, rng)


def weather(c: Ctx):
    rng = c.rng
    town = c.town()
    region = c.pick(REGIONS)
    forecaster = c.person()
    month = c.published.month
    if month in (12, 1, 2):
        kinds = ["storm", "snow", "flood", "fog", "frost"]
    elif month in (6, 7, 8):
        kinds = ["storm", "heatwave", "flood"]
    else:
        kinds = ["storm", "flood", "fog"]
    kind = rng.choice(kinds)
    if kind == "storm":
        gust = rng.randint(70, 140)
        rain = rng.randint(30, 120)
        title = f"Storm brings {gust} km/h gusts to {town}"
        req = [
            f"A storm swept across {region} overnight, with gusts of up to {gust} km/h recorded at {town}.",
            f"Up to {rain} millimetres of rain fell in twelve hours, and about {count_k(rng.randint(2, 40))} homes lost power.",
        ]
        advice = "stay away from the coast and avoid driving unless necessary"
    elif kind == "heatwave":
        temp = rng.randint(36, 46)
        title = f"{town} records {temp} degrees as heatwave continues"
        req = [
            f"Temperatures in {town} reached {temp} degrees Celsius on {c.weekday()}, the {rng.choice(['third', 'fourth', 'fifth', 'sixth'])} day of a heatwave across {region}.",
            f"Night-time temperatures stayed above {rng.randint(24, 29)} degrees, and cooling centres opened in {rng.randint(3, 18)} towns.",
        ]
        advice = "drink water regularly and check on elderly neighbours"
    elif kind == "snow":
        depth = rng.randint(15, 70)
        title = f"Heavy snow closes roads around {town}"
        req = [
            f"Up to {depth} centimetres of snow fell on {town} and {region}, closing {rng.randint(3, 25)} roads and {rng.randint(10, 90)} schools.",
            f"Rail services were cut by about half, and the regional airport cancelled {rng.randint(12, 140)} flights.",
        ]
        advice = "delay travel until gritting crews have cleared main routes"
    elif kind == "flood":
        river = rng.choice(["Avel", "Merrow", "Tane", "Kessel", "Ord"])
        rise = rng.uniform(1.2, 4.5)
        title = f"River {river} floods parts of {town}"
        req = [
            f"The River {river} rose {rise:.1f} metres above its normal level and burst its banks in {town} on {c.weekday()}.",
            f"Emergency crews evacuated {rng.randint(40, 900)} residents, and {rng.randint(2, 12)} bridges were closed as a precaution.",
        ]
        advice = "not walk or drive through flood water"
    elif kind == "fog":
        vis = rng.choice([50, 80, 100, 150, 200])
        title = f"Dense fog disrupts travel in {region}"
        req = [
            f"Dense fog cut visibility to {vis} metres across {region} on {c.weekday()} morning, delaying ferries and flights from {town}.",
            f"Police reported {rng.randint(4, 30)} minor collisions on the main highway before nine o'clock.",
        ]
        advice = "use dipped headlights and leave extra distance on the roads"
    else:
        low = -rng.randint(6, 22)
        title = f"Hard frost hits {town}, lowest reading {low} degrees"
        req = [
            f"Temperatures fell to {low} degrees Celsius in {town} overnight, the coldest reading of the season in {region}.",
            f"Burst water pipes were reported in {rng.randint(20, 300)} homes, and several bus routes were suspended because of ice.",
        ]
        advice = "protect outdoor pipes and watch for black ice"
    req.append(f"\"People should {advice},\" said {forecaster}, a forecaster with the national weather service.")
    optional = [
        f"A weather warning remains in place until {c.later_date(1, 3)}.",
        f"Conditions are expected to ease by the weekend, with temperatures returning closer to the seasonal average.",
        f"Local authorities said they had {rng.randint(5, 60)} crews on standby.",
        f"It is the {rng.choice(['second', 'third', 'fourth'])} such event in {region} this year.",
        f"Insurers said it was too early to estimate the cost of the damage.",
        f"Forecasters said the pattern was linked to {rng.choice(['a slow-moving low-pressure system', 'a blocking high over the continent', 'unusually warm sea temperatures'])}.",
    ]
    return title, fit(req, optional, rng)


def sports(c: Ctx):
    rng = c.rng
    home, away = rng.sample(TEAMS, 2)
    coach, s1, s2 = c.people(3)
    sport = rng.choice(["football", "basketball", "marathon"])
    if sport == "football":
        hg, ag = rng.randint(0, 4), rng.randint(0, 4)
        while hg == ag:
            ag = rng.randint(0, 4)
        win, lose = (home, away) if hg > ag else (away, home)
        wg, lg = max(hg, ag), min(hg, ag)
        title = f"{win} beat {lose} {wg}-{lg}"
        req = [
            f"{win} beat {lose} {wg}-{lg} on {c.weekday()} in front of {count_k(rng.randint(4, 48))} spectators at {poss(home)} home ground.",
            f"{s1} opened the scoring in the {rng.randint(3, 40)}th minute, and {s2} added {'another' if wg > 1 else 'a late chance that was saved'} after the break.",
            f"The result moves {win} to {rng.choice(['first', 'second', 'third', 'fourth', 'fifth'])} in the league with {rng.randint(6, 15)} games left.",
        ]
    elif sport == "basketball":
        hp = rng.randint(88, 124)
        ap = hp + rng.choice([-1, 1]) * rng.randint(1, 18)
        win, lose = (home, away) if hp > ap else (away, home)
        wp, lp = max(hp, ap), min(hp, ap)
        title = f"{win} hold off {lose} {wp}-{lp}"
        req = [
            f"{win} defeated {lose} {wp}-{lp} on {c.weekday()} night.",
            f"{s1} led all scorers with {rng.randint(22, 41)} points, and {s2} added {rng.randint(8, 16)} rebounds.",
            f"{lose} trailed by {rng.randint(12, 25)} points in the third quarter before a late run cut the gap.",
        ]
    else:
        win = s1
        mins = rng.randint(6, 22)
        secs = rng.randint(0, 59)
        title = f"{s1} wins the {c.town()} marathon in 2:{mins:02d}:{secs:02d}"
        req = [
            f"{s1} won the {title.split(' the ')[1].split(' in ')[0]} on {c.weekday()} in two hours, {mins} minutes and {secs} seconds, "
            f"{rng.randint(5, 90)} seconds ahead of {s2}.",
            f"About {count_k(rng.randint(3, 28))} runners started the race, which was held in {rng.choice(['cool, dry', 'humid', 'windy', 'wet'])} conditions.",
            f"The winning time was {rng.choice(['a course record', 'the second fastest in the event', 'slower than last year'])}.",
        ]
    req.append(
        f"\"{rng.choice(['We stuck to the plan', 'It was not pretty, but we got the job done', 'The effort in the second half was outstanding', 'There is still plenty to improve'])},\" "
        f"said {coach}, {'head coach of ' + win if sport != 'marathon' else 'the winner' + chr(39) + 's coach'}."
    )
    optional = [
        f"The next fixture is on {c.later_date(3, 10)}.",
        f"{s2} left the field with a minor ankle injury and will be assessed this week.",
        f"It was the {rng.choice(['second', 'third', 'fifth'])} meeting between the sides this season.",
        f"Ticket sales for the rest of the season have risen sharply, organisers said.",
        f"Local broadcasters reported their largest audience of the year for the event.",
    ]
    return title, fit(req, optional, rng)


def science(c: Ctx):
    rng = c.rng
    lead, other = c.people(2)
    uni = c.pick(UNIVERSITIES)
    n = rng.choice([48, 120, 312, 860, 1500, 4200, 12000])
    topic = rng.choice([
        ("a coating that slows battery wear", f"cells kept {rng.randint(80, 95)}% of their capacity after {rng.randint(800, 3000):,} charge cycles", "battery cells", "Materials Frontiers"),
        ("a new species of cave beetle", f"the beetle is about {rng.randint(2, 9)} millimetres long and has no eyes", "specimens", "the Journal of Applied Ecology Letters"),
        ("a link between late-night screen use and shorter sleep", f"participants slept on average {rng.randint(14, 46)} minutes less on nights with heavy screen use", "volunteers", "the Review of Sleep Medicine"),
        ("a seagrass planting method", f"restored plots held {rng.randint(20, 70)}% more carbon after two years than bare seabed", "test plots", "Coastal Science Quarterly"),
        ("a cheaper catalyst for producing hydrogen", f"the material costs about one-{rng.choice(['third', 'fifth', 'tenth'])} as much as platinum", "samples", "Energy Systems Research"),
        ("a blood test for early kidney damage", f"the test detected damage about {rng.randint(6, 30)} months earlier than standard checks", "patients", "the Annals of Public Health Data"),
        ("changes in songbird migration timing", f"birds now arrive on average {rng.randint(4, 15)} days earlier in spring than in the 1990s", "birds", "the Journal of Applied Ecology Letters"),
        ("a faster way to detect leaks in water mains", f"the acoustic method located {rng.randint(70, 96)}% of known leaks in city pipes", "pipe sections", "Energy Systems Research"),
    ])
    what, finding, unit, journal = topic
    title = f"Researchers at {uni.replace('the ', '')} report {what}"
    title = title[0].upper() + title[1:]
    req = [
        f"Researchers at {uni} have reported {what}, in a study published this week in {journal}.",
        f"The team, led by {lead}, examined {n:,} {unit} and found that {finding}.",
        f"\"{rng.choice(['The result surprised us', 'This is an early step, not a finished product', 'We need larger studies before drawing firm conclusions', 'The effect was consistent across every group we looked at'])},\" {surname(lead)} said.",
    ]
    optional = [
        f"{other}, who was not involved in the work, called the findings promising but said they need to be repeated by other groups.",
        f"The study was funded by a ${rng.randint(1, 9)}.{rng.randint(0, 9)} million public research grant.",
        f"The authors plan a follow-up study starting in {c.published.year + 1}.",
        f"Data and code from the project have been made publicly available.",
        f"The researchers noted that the work was limited to a single site and season.",
        f"{surname(lead)} said the next step is a trial {rng.choice(['outside the laboratory', 'with a larger and more diverse group', 'over several years'])}.",
    ]
    return title, fit(req, optional, rng)


def local(c: Ctx):
    rng = c.rng
    town = c.town()
    councillor, resident = c.people(2)
    project, detail, lo, hi = rng.choice([
        ("a new public library", "with a children's wing and a community kitchen", 4, 18),
        ("a protected bike lane along the high street", "separated from traffic by planters", 0.8, 4),
        ("the renovation of the town swimming pool", "including a new roof and accessible changing rooms", 2, 9),
        ("a skate park in Riverside Park", "designed with input from local teenagers", 0.3, 1.2),
        ("the conversion of an old warehouse into affordable flats", f"providing {rng.randint(24, 140)} homes", 6, 30),
        ("a weekly farmers' market in the town square", "with space for up to 40 stalls", 0.1, 0.4),
        ("extended opening hours at the recycling centre", "including Sunday afternoons", 0.1, 0.6),
    ])
    cost = rng.uniform(lo, hi)
    start = c.published + _dt.timedelta(days=rng.randint(30, 500))
    yes = rng.randint(7, 15)
    no = rng.randint(1, yes - 1)
    title = f"{town} council approves {project.replace('the ', '', 1) if project.startswith('the ') else project}"
    req = [
        f"{town} council voted {yes} to {no} on {c.weekday()} to approve {project}, {detail}.",
        f"The plan is expected to cost about ${cost:.1f} million, with {'work due to start' if rng.random() < 0.5 else 'the changes in place by'} {MONTHS[start.month - 1]} {start.year}.",
        f"\"{rng.choice(['This is what residents asked us for', 'It has taken years, but we got there', 'This investment will pay off for decades'])},\" said councillor {councillor}.",
    ]
    optional = [
        f"Some residents objected. \"{rng.choice(['The money would be better spent fixing potholes', 'Nobody asked the people who live on that street', 'I worry about parking'])},\" said {resident}, who lives nearby.",
        f"A public consultation drew {rng.randint(150, 3200):,} responses, about {rng.randint(55, 85)}% in favour.",
        f"Part of the funding comes from a regional grant of ${rng.randint(100, 900)} thousand.",
        f"Opponents have until {c.later_date(14, 40)} to request a review of the decision.",
        f"The council will publish a detailed timetable next month.",
    ]
    return title, fit(req, optional, rng)


def incident(c: Ctx):
    rng = c.rng
    co = c.company()
    spokes, other = c.people(2)
    kind = rng.choice(["outage", "breach", "recall", "fire", "spill"])
    if kind == "outage":
        hours = rng.randint(2, 19)
        users = rng.randint(40, 2600)  # thousands
        cause = rng.choice(["a faulty configuration change", "a failed storage upgrade", "an expired security certificate", "a power failure at a data centre"])
        title = f"{co} services down for {hours} hours after {cause.split(' ', 1)[1]}"
        req = [
            f"Customers of {co} were unable to log in or place orders for about {hours} hours on {c.weekday()}.",
            f"The company said about {count_k(users)} accounts were affected and blamed {cause}.",
        ]
    elif kind == "breach":
        recs = rng.randint(12, 4800)
        title = f"{co} says data of {count_k(recs)} customers exposed"
        req = [
            f"{co} said names, email addresses and order histories of about {count_k(recs)} customers were exposed after attackers accessed an internal database.",
            f"The company said payment card numbers and passwords were not affected and that it had notified the data protection regulator.",
        ]
    elif kind == "recall":
        units = rng.randint(3, 420)
        defect, short = rng.choice([
            ("a battery that can overheat", "overheating risk"),
            ("a latch that can fail", "faulty latch"),
            ("mislabelled allergen information", "allergen labelling error"),
            ("a brake cable that can fray", "brake cable defect"),
        ])
        title = f"{co} recalls {count_k(units)} products over {short}"
        req = [
            f"{co} is recalling about {count_k(units)} products sold since {MONTHS[rng.randint(0, 11)]} {c.published.year - 1} because of {defect}.",
            f"The company said it knew of {rng.randint(0, 40)} incidents and {rng.choice(['no injuries', 'two minor injuries', 'one minor injury'])}.",
        ]
    elif kind == "fire":
        town = c.town()
        title = f"Fire halts production at {co} plant in {town}"
        req = [
            f"A fire broke out at {poss(co)} plant in {town} early on {c.weekday()}, halting production.",
            f"All {rng.randint(40, 600)} workers on shift were evacuated and no one was seriously hurt; {rng.randint(4, 30)} fire engines attended.",
        ]
    else:
        litres = rng.randint(300, 60000)
        town = c.town()
        title = f"{co} reports chemical spill near {town}"
        req = [
            f"About {litres:,} litres of {rng.choice(['diesel', 'cleaning solvent', 'liquid fertiliser', 'hydraulic oil'])} leaked from a storage tank at a {co} site near {town}.",
            f"Environmental officials said part of the spill reached a nearby stream, and fishing has been suspended along a {rng.randint(1, 9)}-kilometre stretch.",
        ]
    req.append(
        f"\"{rng.choice(['We apologise to everyone affected', 'Safety is our first priority and we are cooperating fully with the authorities', 'We are investigating how this happened and will share what we learn'])},\" said {spokes}, a company spokesperson."
    )
    optional = [
        f"The company said it would publish a full incident report within {rng.randint(2, 6)} weeks.",
        f"{other}, an industry analyst, said the incident could cost the company {money_m(rng.uniform(2, 300))}.",
        f"Shares in {co} fell {rng.uniform(0.5, 7):.1f}% after the announcement.",
        f"It is the company's {rng.choice(['first', 'second', 'third'])} serious incident in three years.",
    ]
    if kind in ("outage", "breach", "recall"):
        optional.append("Customers can check whether they are affected on the company's website.")
    return title, fit(req, optional, rng)


def policy(c: Ctx):
    rng = c.rng
    minister, critic, supporter = c.people(3)
    rule, who, cost = rng.choice([
        ("require large employers to publish pay gaps by job level", "companies with more than 250 staff", "compliance costs"),
        ("cap rent increases at 5% a year", "landlords with more than three properties", "lost rental income"),
        ("ban single-use plastic cutlery in restaurants", "food outlets of every size", "higher packaging costs"),
        ("double the tax credit for home insulation", "homeowners and small landlords", "lost tax revenue"),
        ("introduce a four-day school week pilot", "about 60 secondary schools", "childcare costs for parents"),
        ("require age checks on online gambling sites", "licensed operators", "verification costs"),
        ("allow pharmacists to prescribe for minor infections", "community pharmacies", "training costs"),
        ("raise the minimum wage by 6%", "about 1.4 million workers", "higher wage bills"),
        ("make bus travel free for under-18s", "regional transport operators", "lost fare income"),
        ("require new homes to include heat pumps", "housebuilders", "higher construction costs"),
        ("limit shop opening hours on public holidays", "retailers with more than 20 staff", "lost sales"),
    ])
    when = f"{MONTHS[rng.randint(0, 11)]} {c.published.year + 1}"
    budget = rng.uniform(15, 900)
    title = rng.choice([f"Government plans to {rule}", f"Ministers move to {rule} from {when}", f"New rules would {rule}"])
    req = [
        f"The government on {c.weekday()} announced plans to {rule}, affecting {who}.",
        f"The measure would take effect in {when} and is expected to cost about {money_m(budget)} over four years, mostly in {cost}.",
        f"\"{rng.choice(['This is a fair and practical step', 'People have waited long enough for this', 'We listened to the evidence and acted on it'])},\" said minister {minister}.",
    ]
    optional = [
        f"{critic}, who speaks for the opposition, said the plan was \"{rng.choice(['rushed and poorly costed', 'a gimmick', 'too timid to make a difference'])}\".",
        f"{supporter} of a national consumer group welcomed the announcement but asked for clearer enforcement.",
        f"A public consultation will run for {rng.randint(6, 12)} weeks before legislation is drafted.",
        f"A similar rule introduced in a neighbouring country in {c.published.year - rng.randint(2, 6)} was later softened.",
        f"Business groups said they had not been consulted on the details.",
        f"Officials estimate that {rng.randint(5, 60)}% of those affected already meet most of the requirements.",
    ]
    return title, fit(req, optional, rng)


def health(c: Ctx):
    rng = c.rng
    town = c.town()
    director, nurse = c.people(2)
    hospital = f"{town} General Hospital"
    kind = rng.choice(["waits", "vaccines", "clinic"] if c.published.month >= 9 else ["waits", "clinic", "staffing"])
    if kind == "waits":
        before = rng.randint(6, 20)
        after = before - rng.randint(1, max(1, before - 3))
        title = f"Waiting times at {hospital} fall to {after} weeks"
        req = [
            f"The average wait for planned surgery at {hospital} fell to {after} weeks in the last quarter, down from {before} weeks a year ago.",
            f"Hospital managers credited {rng.randint(2, 5)} new operating theatres and weekend lists.",
        ]
    elif kind == "vaccines":
        pct = rng.randint(41, 78)
        title = f"{pct}% of over-65s in {town} vaccinated as flu season begins"
        req = [
            f"About {pct}% of residents aged over 65 in {town} have received this season's flu vaccine, health officials said on {c.weekday()}.",
            f"That compares with {pct + rng.randint(-8, 8)}% at the same point last year; pharmacies have joined the campaign for the first time.",
        ]
    elif kind == "staffing":
        hired = rng.randint(30, 220)
        title = f"{hospital} hires {hired} nurses in recruitment drive"
        req = [
            f"{hospital} has hired {hired} nurses since {MONTHS[rng.randint(0, c.published.month - 1)]}, part of a drive to reduce its reliance on agency staff.",
            f"Spending on agency workers fell by {rng.randint(10, 45)}% over the same period, the hospital said.",
        ]
    else:
        title = f"New walk-in clinic opens in {town}"
        req = [
            f"A walk-in clinic opened in {town} on {c.weekday()}, offering treatment for minor injuries {rng.choice(['seven days a week', 'from 8 a.m. to 8 p.m.', 'on weekday evenings and weekends'])}.",
            f"Officials hope it will take about {rng.randint(40, 160)} patients a day away from the emergency department at {hospital}.",
        ]
    req.append(
        f"\"{rng.choice(['Our staff have worked incredibly hard', 'There is more to do, but the trend is right', 'We want people to get care closer to home'])},\" said {director}, the hospital's medical director."
    )
    optional = [
        f"{nurse}, a senior nurse, said staffing remained tight, with {rng.randint(20, 140)} vacancies still unfilled.",
        f"The regional health board has set aside {money_m(rng.uniform(1, 40))} for the next phase.",
        f"Patients can book appointments online or by phone.",
        f"Local patient groups said {rng.choice(['the change was overdue', 'they would watch closely whether the gains last', 'transport to the hospital remained a problem'])}.",
        f"A review of the programme is planned for {c.later_date(60, 200)}.",
    ]
    return title, fit(req, optional, rng)


def education(c: Ctx):
    rng = c.rng
    town = c.town()
    head, parent = c.people(2)
    school = f"{town} {rng.choice(['High School', 'Academy', 'Community College', 'Primary School'])}"
    kind = rng.choice(["results", "program", "funding"])
    if kind == "results":
        pass_rate = rng.randint(62, 97)
        prev = pass_rate - rng.randint(-6, 12)
        title = f"{school} pass rate rises to {pass_rate}%" if pass_rate >= prev else f"{school} pass rate slips to {pass_rate}%"
        req = [
            f"{pass_rate}% of students at {school} passed their final exams this year, compared with {prev}% last year.",
            f"Results in mathematics {rng.choice(['improved most', 'held steady', 'remained the weakest area'])}, the school said.",
        ]
    elif kind == "program":
        subj = rng.choice(["coding", "robotics", "financial literacy", "first aid", "Spanish", "climate science"])
        title = f"{school} adds compulsory {subj} classes"
        req = [
            f"{school} will make {subj} classes compulsory for all first-year students from next term.",
            f"The course runs for {rng.randint(1, 3)} hours a week and was designed with {rng.randint(2, 8)} local employers.",
        ]
    else:
        amt = rng.uniform(0.3, 12)
        title = f"{school} receives ${amt:.1f} million for new buildings"
        req = [
            f"{school} has been awarded ${amt:.1f} million to replace {rng.randint(3, 14)} temporary classrooms with a permanent building.",
            f"Construction is due to finish by {MONTHS[rng.randint(0, 11)]} {c.published.year + rng.randint(1, 2)}.",
        ]
    req.append(
        f"\"{rng.choice(['Our students and teachers deserve the credit', 'This gives our pupils skills they will actually use', 'We have been asking for this for a long time'])},\" said head teacher {head}."
    )
    optional = [
        f"{parent}, whose {rng.choice(['son', 'daughter'])} attends the school, said families had been {rng.choice(['consulted early', 'left out of the discussion', 'broadly supportive'])}.",
        f"The school has {(pupils := rng.randint(300, 2200)):,} students and {pupils // rng.randint(12, 19)} teachers.",
        f"Enrolment has grown by {rng.randint(2, 18)}% over the past five years.",
        f"The regional education office said it would use the school as a model for others.",
    ]
    return title, fit(req, optional, rng)


GENERATORS = {
    "business": business,
    "product": product,
    "weather": weather,
    "sports": sports,
    "science": science,
    "local": local,
    "incident": incident,
    "policy": policy,
    "health": health,
    "education": education,
}


def build_rows(n: int = N_ARTICLES, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    names = list(GENERATORS)  # dict order is insertion order: deterministic
    cats = [names[i % len(names)] for i in range(n)]
    rng.shuffle(cats)
    start = _dt.date(2025, 1, 1)
    days = sorted(rng.randint(0, 364) for _ in range(n))
    rows = []
    for i, (cat, day) in enumerate(zip(cats, days), start=1):
        published = start + _dt.timedelta(days=day)
        title, body = GENERATORS[cat](Ctx(rng, published))
        rows.append(
            {
                "article_id": f"a-{i:04d}",
                "title": title,
                "category": cat,
                "published": published.isoformat(),
                "body": body,
            }
        )
    return rows


def write(path: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed writer options so the bytes depend only on the data.
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=9,
        row_group_size=len(rows),
        use_dictionary=["category", "published"],
        write_statistics=True,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out = Path(argv[0]) if argv else DEFAULT_OUTPUT
    rows = build_rows()
    write(out, rows)
    print(f"wrote {len(rows)} articles to {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
