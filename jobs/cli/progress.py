"""A one-line progress bar for terminals: rows done/total, tokens/s, ETA."""

from __future__ import annotations

import time
from typing import TextIO


class TerminalProgress:
    """Redraws one stderr line; used only when stderr is a terminal."""

    def __init__(self, stream: TextIO, *, width: int = 30):
        self._stream = stream
        self._width = width
        self._drawn = False
        self._first: tuple[float, int] | None = None  # (time, tokens) when the first rows landed

    def update(self, progress) -> None:
        """Redraw from a runner Progress (rows_total, rows_done, output_tokens, started)."""
        total = max(progress.rows_total, 1)
        fraction = min(progress.rows_done / total, 1.0)
        now = time.monotonic()
        elapsed = now - progress.started
        # Rate over the shards written so far, not the engine start-up before the first one.
        if self._first is None:
            self._first = (now, progress.output_tokens)
        span = now - self._first[0]
        rate_text = f"{(progress.output_tokens - self._first[1]) / span:,.0f} tok/s" if span > 1 else "-- tok/s"
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        filled = int(self._width * fraction)
        bar = "#" * filled + "." * (self._width - filled)
        eta_text = f"ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else "ETA --:--"
        self._stream.write(f"\r[{bar}] {progress.rows_done}/{progress.rows_total} rows  {rate_text}  {eta_text}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
