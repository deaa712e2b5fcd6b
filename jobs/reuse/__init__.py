"""Which rows a run takes instead of generating them: rows of the run it reuses from (incremental
mode, retries), and rows identical to one it generates (fan-out). It decides; the run's shard
sink (`jobs.run.sink`) puts the rows together."""

from jobs.reuse.previous import FILE, POSITION, PreviousRun, previous_run
from jobs.reuse.select import Dedup, ShardChoice, choose_rows, select_rows

__all__ = ["FILE", "POSITION", "Dedup", "PreviousRun", "ShardChoice", "choose_rows", "previous_run", "select_rows"]
