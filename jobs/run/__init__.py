"""One run: prepare -> lease -> stages (Ray Data) -> shard sink -> commit; and what sizes a run
before it runs (a dry run's estimate, a capacity plan)."""

from jobs.run.attempt import RUN_ID_PATTERN, RunOptions, RunResult, check_run_id, new_run_id, run_job
from jobs.run.budget import BudgetExceeded
from jobs.run.capacity import Capacity, parse_duration, size_capacity
from jobs.run.estimate import Estimate, estimate_run
from jobs.run.pipeline import init_ray, shutdown_ray
from jobs.run.progress import Progress

__all__ = [
    "RUN_ID_PATTERN",
    "BudgetExceeded",
    "Capacity",
    "Estimate",
    "parse_duration",
    "size_capacity",
    "Progress",
    "estimate_run",
    "check_run_id",
    "RunOptions",
    "RunResult",
    "init_ray",
    "new_run_id",
    "run_job",
    "shutdown_ray",
]
