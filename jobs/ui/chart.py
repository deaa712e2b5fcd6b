"""A small server-rendered SVG of a job's nights: throughput bars and an error-rate line.

Plain geometry (no chart library, no script): the page's policy forbids scripts, and two
series over at most a few dozen nights do not need one.
"""

from __future__ import annotations

WIDTH, HEIGHT, PAD = 640, 160, 24
SHOWN = 30  # the newest nights


def night_chart(runs: list[dict]) -> dict:
    """Bars (tokens/s) and points (error rate) for the newest nights, oldest left."""
    runs = runs[-SHOWN:]
    if not runs:
        return {"width": WIDTH, "height": HEIGHT, "bars": [], "points": "", "max_rate": 0}
    rates = [r["output_tokens_per_second"] or 0.0 for r in runs]
    errors = [(r["outputs_failed"] / r["outputs"]) if r["outputs"] else 0.0 for r in runs]
    top = max(rates) or 1.0
    step = (WIDTH - 2 * PAD) / len(runs)
    usable = HEIGHT - 2 * PAD
    bars, points = [], []
    for i, (run, rate, error) in enumerate(zip(runs, rates, errors, strict=True)):
        height = usable * rate / top
        x = PAD + i * step
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(HEIGHT - PAD - height, 1),
                "width": round(step * 0.7, 1),
                "height": round(height, 1),
                "run_id": run["run_id"],
                "rate": rate,
                "error_rate": error,
            }
        )
        points.append(f"{round(x + step / 2, 1)},{round(HEIGHT - PAD - usable * error, 1)}")
    return {"width": WIDTH, "height": HEIGHT, "bars": bars, "points": " ".join(points), "max_rate": round(top, 1)}
