"""Example articles about companies (results, launches, incidents); each generator returns
(title, body).
"""

from __future__ import annotations

from article_words import (  # beside this module
    COMPANY_HEADS,
    MONTHS,
    Ctx,
    a_an,
    count_k,
    fit,
    money_m,
    poss,
    surname,
)


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
        [
            "cloud services",
            "subscriptions",
            "international sales",
            "wholesale",
            "maintenance contracts",
            "online orders",
            "advertising",
            "hardware",
        ],
        2,
    )
    seg_up_pct = rng.randint(8, 40)
    seg_down_pct = rng.randint(2, 15)
    margin = rng.uniform(4, 28)
    margin_prev = margin + rng.uniform(-3, 3)
    share = rng.uniform(1, 9) * (1 if growth > 0 else -1)
    verb = "rose" if growth > 0 else "fell"
    title = (
        f"{co} revenue {verb} {abs(growth):.0f}% in Q{quarter} "
        f"as {seg_up if growth > 0 else seg_down} {'leads' if growth > 0 else 'drags'}"
    )
    required = [
        f"{co} reported revenue of {money_m(now)} for the {['first', 'second', 'third', 'fourth'][quarter - 1]} quarter of {year}, "
        f"{'up' if growth > 0 else 'down'} {abs(growth):.1f}% from {money_m(prev)} a year earlier.",
        f"Sales from {seg_up} grew {seg_up_pct}%, while {seg_down} revenue fell {seg_down_pct}%.",
        f"Operating margin was {margin:.1f}%, compared with {margin_prev:.1f}% in the same period last year.",
        f'"{rng.choice(["We executed well in a difficult market", "Our customers kept investing even as budgets tightened", "The quarter showed where our strategy is working and where it is not"])}," '
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
    kind, feats, prices = rng.choice(
        [
            (
                "smart thermostat",
                ["learns household schedules", "cuts heating use", "works without a cloud account"],
                [129, 179, 249],
            ),
            (
                "electric cargo bike",
                ["carries up to 120 kilograms", "has a removable battery", "ships with built-in lights"],
                [2499, 3299, 4199],
            ),
            (
                "budgeting app",
                ["sorts spending automatically", "alerts users before bills are due", "supports shared accounts"],
                [4, 6, 9],
            ),
            (
                "noise-cancelling headset",
                ["lasts 40 hours on a charge", "folds flat", "has a detachable boom microphone"],
                [79, 149, 299],
            ),
            (
                "home battery",
                ["stores 13 kilowatt-hours", "pairs with rooftop solar", "keeps lights on during outages"],
                [5999, 7499, 8999],
            ),
            ("robot vacuum", ["maps several floors", "empties itself", "avoids cables and pet bowls"], [299, 499, 899]),
            (
                "compact air purifier",
                ["filters fine dust and pollen", "runs at 22 decibels", "reports air quality on a small screen"],
                [89, 149, 229],
            ),
            (
                "rugged tablet",
                ["survives two-metre drops", "works with gloves", "has a hot-swappable battery"],
                [599, 899, 1299],
            ),
        ]
    )
    name = f"{rng.choice(['Aero', 'Nova', 'Pulse', 'Terra', 'Echo', 'Vista', 'Core', 'Flux'])} {rng.choice(['One', 'Go', 'Pro', 'Lite', 'X', '2', 'Max', 'Air'])}"
    price = rng.choice(prices)
    avail = c.later_date(7, 60)
    markets = rng.randint(2, 14)
    title = f"{co} launches {name}, a {price:,}-dollar {kind}"
    f1, f2, f3 = feats
    required = [
        f"{co} on {c.weekday()} unveiled the {name}, {a_an(kind)} that {f1} and {f2}.",
        f"It will cost ${price:,} and go on sale on {avail} in {markets} countries.",
        f'"{rng.choice(["We built this for people who were tired of compromises", "Customers told us what annoyed them, and we fixed it", "This is the product our engineers wanted for themselves"])}," '
        f"said {head}, who leads the company's product group.",
    ]
    optional = [
        f"It also {f3}.",
        f"{analyst}, an analyst at {c.pick(COMPANY_HEADS)} Research, said the price undercuts most rivals by about {rng.randint(10, 35)}%.",
        f"The company said it had taken {count_k(rng.randint(2, 60))} pre-orders ahead of launch.",
        f"An earlier model was recalled in {c.published.year - 1} over a software fault, which {surname(head)} said had been fully addressed.",
        "Reviewers who tested early units praised the build quality but noted that setup took longer than advertised.",
        f"A subscription tier with extra features will cost ${rng.choice([3, 5, 8, 10])} a month.",
        f"The {name} was designed in {c.town()} and comes with a {rng.choice(['one', 'two', 'three'])}-year warranty.",
    ]
    return title, fit(required, optional, rng)


def incident(c: Ctx):
    rng = c.rng
    co = c.company()
    spokes, other = c.people(2)
    kind = rng.choice(["outage", "breach", "recall", "fire", "spill"])
    if kind == "outage":
        hours = rng.randint(2, 19)
        users = rng.randint(40, 2600)  # thousands
        cause = rng.choice(
            [
                "a faulty configuration change",
                "a failed storage upgrade",
                "an expired security certificate",
                "a power failure at a data centre",
            ]
        )
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
            "The company said payment card numbers and passwords were not affected and that it had notified the data protection regulator.",
        ]
    elif kind == "recall":
        units = rng.randint(3, 420)
        defect, short = rng.choice(
            [
                ("a battery that can overheat", "overheating risk"),
                ("a latch that can fail", "faulty latch"),
                ("mislabelled allergen information", "allergen labelling error"),
                ("a brake cable that can fray", "brake cable defect"),
            ]
        )
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
        f'"{rng.choice(["We apologise to everyone affected", "Safety is our first priority and we are cooperating fully with the authorities", "We are investigating how this happened and will share what we learn"])}," said {spokes}, a company spokesperson.'
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
