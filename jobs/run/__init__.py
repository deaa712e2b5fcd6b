"""One run attempt: plan -> Ray Data pipeline -> shard writes -> manifest commit."""

from jobs.run.attempt import RUN_ID_PATTERN, RunResult, check_run_id, new_run_id, run_job
from jobs.run.budget import BudgetExceeded
from jobs.run.capacity import CapacityPlan, parse_duration, plan_capacity
from jobs.run.estimate import Estimate, estimate_run
from jobs.run.pipeline import init_ray, shutdown_ray
from jobs.run.progress import Progress

__all__ = [
    "RUN_ID_PATTERN",
    "BudgetExceeded",
    "CapacityPlan",
    "Estimate",
    "parse_duration",
    "plan_capacity",
    "Progress",
    "estimate_run",
    "check_run_id",
    "RunResult",
    "init_ray",
    "new_run_id",
    "run_job",
    "shutdown_ray",
]
