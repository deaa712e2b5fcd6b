"""The code version recorded in every manifest."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def package_version() -> str:
    """pressroom's installed package version."""
    try:
        return version("pressroom")
    except PackageNotFoundError:
        return "0+unknown"


@cache
def code_version() -> str:
    """pressroom's package version, plus the git commit when running from a checkout."""
    base = package_version()
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return base
    return f"{base}+g{commit}" if commit else base
