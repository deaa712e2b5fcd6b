"""A small server-rendered SVG of a job's nights: throughput bars and an error-rate line.

Plain geometry (no chart library, no script): the page's policy forbids scripts, and two
series over at most a few dozen nights do not need one.
"""

from __future__ import annotations

WIDTH, HEIGHT, PAD = 640, 160, 24
SHOWN = 30  # the newest nights
BAR_MAX = 48  # one night is a bar, not a block across the chart
LABELLED = 8  # up to this many nights each get their date under the axis; more: the first and last


def night_chart(runs: list[dict]) -> dict:
    """Bars (tokens/s) and points (error rate) for the newest nights, oldest left."""
    runs = runs[-SHOWN:]
    if not runs:
        return {
            "width": WIDTH,
            "height": HEIGHT,
            "bars": [],
            "points": "",
            "max_rate": 0,
            "labels": [],
            "axis": _axis(),
        }
    rates = [r["output_tokens_per_second"] or 0.0 for r in runs]
    errors = [(r["outputs_failed"] / r["outputs"]) if r["outputs"] else 0.0 for r in runs]
    top = max(rates) or 1.0
    step = (WIDTH - 2 * PAD) / len(runs)
    usable = HEIGHT - 2 * PAD
    bars, points = [], []
    for i, (run, rate, error) in enumerate(zip(runs, rates, errors, strict=True)):
        height = usable * rate / top
        x = PAD + i * step
        width = min(step * 0.7, BAR_MAX)
        bars.append(
            {
                "x": round(x + (step - width) / 2, 1),
                "y": round(HEIGHT - PAD - height, 1),
                "width": round(width, 1),
                "height": round(height, 1),
                "run_id": run["run_id"],
                "rate": rate,
                "error_rate": error,
            }
        )
        points.append(f"{round(x + step / 2, 1)},{round(HEIGHT - PAD - usable * error, 1)}")
    shown = range(len(runs)) if len(runs) <= LABELLED else (0, len(runs) - 1)
    labels = [
        {"x": round(PAD + i * step + step / 2, 1), "y": HEIGHT - 6, "text": (runs[i].get("finished_at") or "")[:10]}
        for i in shown
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "points": " ".join(points),
        "max_rate": round(top, 1),
        "labels": labels,
        "axis": _axis(),
    }


def _axis() -> dict:
    """The x axis (the nights) and the y axis (0 at the bottom) as two lines."""
    return {"x1": PAD, "y1": HEIGHT - PAD, "x2": WIDTH - PAD, "y2": PAD}
