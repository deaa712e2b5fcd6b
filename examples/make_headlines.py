#!/usr/bin/env python3
"""Generate the hand-labelled financial headline set used by the ``label`` task.

Writes ``examples/data/headlines.parquet`` (or the path given as the first
argument): 62 short, fictional financial news headlines, each labelled by
hand with a ``sentiment`` (negative / neutral / positive) and a ``topic``
(earnings, mergers, markets, macro, regulation, products, management).
The label definitions and how the set was labelled are described in
``examples/data/headlines.labels.md``; read it before quoting an accuracy.

All company names are invented.  The headlines are a literal list below (no
randomness, no network), written with fixed Parquet options, so running the
script twice gives byte-identical files.

    python examples/make_headlines.py                 # default location
    python examples/make_headlines.py /tmp/out.parquet
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from fixed_parquet import script_main, write_fixed  # beside this script

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "headlines.parquet"

SENTIMENTS = ("negative", "neutral", "positive")
TOPICS = ("earnings", "mergers", "markets", "macro", "regulation", "products", "management")

SCHEMA = pa.schema(
    [
        ("headline_id", pa.string()),
        ("headline", pa.string()),
        ("sentiment", pa.string()),
        ("topic", pa.string()),
    ]
)

# (headline, sentiment, topic) -- labelled by hand, one pass.  Ids are
# assigned in this order ("h-001", ...), so append new rows at the end.
# Tricky rows carry a short note on why the label is what it is.
HEADLINES: list[tuple[str, str, str]] = [
    # --- earnings ---------------------------------------------------------
    ("Halvard Foods quarterly profit jumps 18% on strong export demand", "positive", "earnings"),
    (
        "Tessaline Robotics beats estimates but cuts full-year guidance",
        "negative",
        "earnings",
    ),  # guidance cut dominates
    ("Orrin Telecom losses narrow for third straight quarter", "positive", "earnings"),  # improving trend
    ("Brightmoor Retail to report second-quarter results on August 7", "neutral", "earnings"),  # scheduled
    ("Caldermoor Mining swings to a loss as ore grades disappoint", "negative", "earnings"),
    ("Quell Software revenue in line with forecasts; outlook unchanged", "neutral", "earnings"),
    ("Pemberton Airlines warns third-quarter profit will fall short", "negative", "earnings"),
    ("Ferrovia Steel posts record margins and lifts its dividend", "positive", "earnings"),
    ("Lowmark Chemicals profit falls less than feared; shares climb", "positive", "earnings"),  # better than feared
    ("Ashgrove Bank's net interest income slips as deposit costs rise", "negative", "earnings"),
    ("Wexley Foods declares regular quarterly dividend of 22 cents", "neutral", "earnings"),  # routine
    # --- mergers (deals, bids, spin-offs, and decisions on them) ----------
    ("Fenwick Freight shares soar after Marlow Logistics bids at 40% premium", "positive", "mergers"),
    ("Regulators block Corvane's takeover of Delmont Chemicals", "negative", "mergers"),  # deal is the subject
    ("Sunvale Media and Rookwood Press call off merger talks", "negative", "mergers"),
    ("Kestrelmoor Energy completes acquisition of Brynmor Solar", "neutral", "mergers"),  # closing an agreed deal
    ("Valtri Pharma sets date for shareholder vote on Ostrava Biotech deal", "neutral", "mergers"),
    ("Hollins Group to spin off consumer division as separately listed company", "neutral", "mergers"),
    ("Graniteview Capital raises offer for Westerly Hotels amid bidding war", "positive", "mergers"),
    ("Investors balk as Tolland Motors pays up for battery start-up", "negative", "mergers"),
    # --- markets (prices, indices, trading, single-stock moves) -----------
    ("Stocks rally to record close as tech shares rebound", "positive", "markets"),
    ("Bond yields climb for fifth session, pressuring equities", "negative", "markets"),
    ("Early rally fizzles as stocks give back gains into the close", "negative", "markets"),  # "rally" but down
    ("Trading volumes thin ahead of holiday weekend", "neutral", "markets"),
    ("Small caps shrug off rate fears to extend winning streak", "positive", "markets"),  # "fears" but up
    ("Exchange to extend trading hours starting next month", "neutral", "markets"),
    ("Carrow Industries shares tumble 12% after short-seller report", "negative", "markets"),
    ("Volatility index falls to lowest level since spring", "positive", "markets"),  # calmer markets
    ("Gold little changed as investors await central bank decision", "neutral", "markets"),
    # --- macro (economy-wide data and policy rates) -----------------------
    ("Inflation cools more than expected in June", "positive", "macro"),
    ("Unemployment rises to 5.8%, highest in three years", "negative", "macro"),
    ("Central bank holds rates steady, as widely forecast", "neutral", "macro"),
    ("Factory output contracts for fourth consecutive month", "negative", "macro"),
    ("Consumer confidence hits two-year high", "positive", "macro"),
    ("Statistics office to publish revised GDP figures on Thursday", "neutral", "macro"),
    ("Jobless claims drop to lowest level since 2019", "positive", "macro"),  # "jobless" + "drop" = good
    ("Finance ministry to present budget plans to parliament on March 3", "neutral", "macro"),
    ("Trade deficit widens as imports surge", "negative", "macro"),
    ("Retail sales beat forecasts as shoppers return to malls", "positive", "macro"),
    # --- regulation (rules, supervisors, approvals, enforcement, courts) --
    ("Watchdog fines Larkfield Bank $45 million over money-laundering lapses", "negative", "regulation"),
    ("Regulator clears Sorrel Health's diabetes drug for sale", "positive", "regulation"),  # approval decision
    ("Senate committee to hold hearing on crypto custody rules next week", "neutral", "regulation"),
    ("Antitrust probe into Vexa Cloud's pricing closed with no action", "positive", "regulation"),
    ("New capital rules will force mid-sized banks to raise billions", "negative", "regulation"),
    ("Securities regulator opens consultation on climate disclosure", "neutral", "regulation"),
    ("Safety agency orders Harwick Motors to halt sales pending brake inquiry", "negative", "regulation"),
    ("Court dismisses shareholder lawsuit against Pellam Foods", "positive", "regulation"),
    # --- products (launches, sales of a product, reviews, delays) --------
    ("Nimbletech's new laptop chip draws record pre-orders", "positive", "products"),
    ("Orla Beverages pulls flavoured water line after weak sales", "negative", "products"),
    ("Dunmore Appliances to unveil fridge range at September trade fair", "neutral", "products"),
    ("Reviewers pan Sabrewing Mobile's flagship phone over battery life", "negative", "products"),
    ("Corrigan Software renames its accounting suite; pricing unchanged", "neutral", "products"),
    ("Hale & Finch budget trainers sell out within hours of release", "positive", "products"),
    ("Delays push Arkwright Aerospace's new regional jet back to 2027", "negative", "products"),
    ("Lumeo streaming adds 3 million subscribers after cheaper plan launch", "positive", "products"),
    # --- management (executives, boards, governance) ---------------------
    ("Ridgeway Pharma CEO resigns amid accounting review", "negative", "management"),
    ("Thornvale names former Ostrum finance chief as CFO", "neutral", "management"),
    ("Kilbride Retail turnaround chief wins shareholder backing for second term", "positive", "management"),
    ("Pell & Moss founder to step down at year end, as planned", "neutral", "management"),  # orderly succession
    ("Brockhurst shares jump as activist-backed chairman takes over", "positive", "management"),
    ("Emberline Energy board ousts chief executive after failed expansion", "negative", "management"),
    ("Corlett Bank reshuffles regional leadership, effective July 1", "neutral", "management"),
    ("Harlan Utilities board to meet Tuesday on chief executive succession", "neutral", "management"),
]


def build_rows() -> list[dict]:
    rows = []
    for i, (headline, sentiment, topic) in enumerate(HEADLINES, start=1):
        if sentiment not in SENTIMENTS:
            raise ValueError(f"h-{i:03d}: bad sentiment {sentiment!r}")
        if topic not in TOPICS:
            raise ValueError(f"h-{i:03d}: bad topic {topic!r}")
        rows.append(
            {
                "headline_id": f"h-{i:03d}",
                "headline": headline,
                "sentiment": sentiment,
                "topic": topic,
            }
        )
    dupes = [h for h, n in Counter(r["headline"] for r in rows).items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate headlines: {dupes}")
    return rows


def write(path: Path, rows: list[dict]) -> None:
    write_fixed(path, rows, schema=SCHEMA, dictionary=["sentiment", "topic"])


def main(argv: list[str] | None = None) -> int:
    return script_main(
        argv, doc=__doc__, default_output=DEFAULT_OUTPUT, build_rows=build_rows, write=write, noun="headlines"
    )


if __name__ == "__main__":
    raise SystemExit(main())
