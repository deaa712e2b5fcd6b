"""The terminal progress line: rows done/total, tokens/s since the first shard landed, ETA."""

from __future__ import annotations

import io

from jobs.cli.progress import TerminalProgress
from jobs.run import Progress


def test_progress_line_shows_rows_rate_and_eta(monkeypatch):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr("jobs.cli.progress.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    bar = TerminalProgress(stream, width=10)
    progress = Progress(rows_total=40, started=90.0, on_update=bar.update)
    progress.rows_done, progress.output_tokens = 10, 100
    bar.update(progress)  # first shard at t=100: no rate yet
    progress.rows_done, progress.output_tokens = 20, 600
    bar.update(progress)  # t=110: 500 tokens in 10 s; half done after 20 s -> 20 s left
    bar.close()
    assert stream.getvalue() == (
        "\r[##........] 10/40 rows  -- tok/s  ETA 0:30\r[#####.....] 20/40 rows  50 tok/s  ETA 0:20\n"
    )
