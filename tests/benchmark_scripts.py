"""Run a benchmark script as a user would, for the smoke tests."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r"^ratio=(\d+\.\d{3})$")


def run_script(name: str, *args: str, timeout: int) -> list[str]:
    """Run benchmarks/<name> as a user would; return its stdout lines (asserting exit 0)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout.strip().splitlines()


def last_ratio(lines: list[str]) -> float:
    match = RATIO.match(lines[-1])
    assert match, f"last line is not ratio=<float>: {lines[-1]!r}"
    value = float(match.group(1))
    assert math.isfinite(value) and value > 0
    return value
