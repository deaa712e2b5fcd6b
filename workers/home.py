"""pressroom's local cache root, shared by the model cache, hashes and run logs."""

from __future__ import annotations

import os
from pathlib import Path


def pressroom_home() -> Path:
    """pressroom's cache root: `$PRESSROOM_HOME`, else `~/.cache/pressroom`."""
    return Path(os.environ.get("PRESSROOM_HOME") or Path.home() / ".cache" / "pressroom")
