"""Earlier work a run takes instead of generating: rows of the run it reuses from (incremental
mode), and rows identical to one it generates (fan-out)."""

from jobs.reuse.assemble import ShardAssembler, check_rows
from jobs.reuse.previous import PreviousRun, previous_run
from jobs.reuse.select import Dedup, ShardChoice, choose_rows, select_rows

__all__ = [
    "Dedup",
    "PreviousRun",
    "ShardAssembler",
    "ShardChoice",
    "check_rows",
    "choose_rows",
    "previous_run",
    "select_rows",
]
