"""Progress counters the driver updates as shards land; whatever shows them subscribes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from schemas.rows import NUM_OUTPUT_TOKENS


@dataclass
class Progress:
    """Counters the driver updates as shards land; `on_update` redraws whatever shows them."""

    rows_total: int
    rows_done: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    on_update: Callable[[Progress], None] | None = None

    def add(self, table: pa.Table, *, samples: int = 1) -> None:
        self.rows_done += table.num_rows // samples  # input rows: each yields `samples` outputs
        self.output_tokens += pc.sum(table.column(NUM_OUTPUT_TOKENS)).as_py() or 0
        if self.on_update:
            self.on_update(self)
