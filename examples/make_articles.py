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
from pathlib import Path

import pyarrow as pa

# beside this script
from article_words import Ctx
from company_articles import business, incident, product
from fixed_parquet import script_main, write_fixed
from public_articles import education, health, local, policy, science, sports, weather

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "articles.parquet"
N_ARTICLES = 200

# Category -> generator; the order is part of the output (categories are dealt in this order).
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

SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("title", pa.string()),
        ("category", pa.string()),
        ("published", pa.string()),
        ("body", pa.string()),
    ]
)


def build_rows(n: int = N_ARTICLES, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    names = list(GENERATORS)  # dict order is insertion order: deterministic
    cats = [names[i % len(names)] for i in range(n)]
    rng.shuffle(cats)
    start = _dt.date(2025, 1, 1)
    days = sorted(rng.randint(0, 364) for _ in range(n))
    rows = []
    for i, (cat, day) in enumerate(zip(cats, days, strict=True), start=1):
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
    write_fixed(path, rows, schema=SCHEMA, dictionary=["category", "published"])


def main(argv: list[str] | None = None) -> int:
    return script_main(
        argv, doc=__doc__, default_output=DEFAULT_OUTPUT, build_rows=build_rows, write=write, noun="articles"
    )


if __name__ == "__main__":
    raise SystemExit(main())
