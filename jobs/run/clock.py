"""An attempt's timings, in one place: the phases it measures and the marks generated rows carry.

    validate      prepare the run (input, models, plan) and take the lease
    select        choose each shard's rows (copied, fanned out, generated)
    ray_start     start or join Ray
    startup       the graph's start until a loaded engine took the first row (Ray Data, reads, engine load)
    engine_load   the slowest engine load, as the actors measured it
    generate      the first row handed to a loaded engine -> the last shard written
    write         seconds spent writing shards (files and records)
    ray_shutdown  stopping the Ray this driver started
    run           this attempt: start -> every shard written

The manifest's `timings` is `RunClock.timings()`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from schemas.rows import ENGINE_LOAD, GEN_START


class RunClock:
    """Measures the attempt's phases; sees generated batches for the generation window."""

    def __init__(self, started: float | None = None):
        self.started = time.monotonic() if started is None else started
        self._phases: dict[str, float] = {}
        self.pipeline_start: float | None = None  # wall clock: the graph started
        self._first_generate: float | None = None
        self._engine_load = 0.0
        self._write_seconds = 0.0
        self.last_written: float | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name`."""
        began = time.monotonic()
        try:
            yield
        finally:
            self._phases[name] = time.monotonic() - began

    def since_start(self, name: str) -> None:
        """Record phase `name` as the time from the attempt's start to now."""
        self._phases[name] = time.monotonic() - self.started

    def see(self, batch: pa.Table) -> None:
        """A generated batch: its first row's start, and its actor's engine load time."""
        if batch.num_rows:
            start = pc.min(batch.column(GEN_START)).as_py()
            self._first_generate = min(start, self._first_generate or start)
            self._engine_load = max(self._engine_load, pc.max(batch.column(ENGINE_LOAD)).as_py())

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Time a shard's write; the last write ends the generation window."""
        began = time.monotonic()
        try:
            yield
        finally:
            self._write_seconds += time.monotonic() - began
            self.last_written = time.time()

    def timings(self) -> dict[str, float]:
        """Seconds per phase, rounded as the manifest keeps them."""
        found = dict(self._phases)
        if self.pipeline_start is not None:  # the generation window, when an engine ran
            end = self.last_written or time.time()
            first = self._first_generate or end
            found.update(startup=first - self.pipeline_start, engine_load=self._engine_load, generate=end - first,
                         write=self._write_seconds)  # fmt: skip
        return {k: round(v, 3) for k, v in found.items()}
