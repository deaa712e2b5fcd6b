"""The catalog: jobs under an output root, their runs, one run's progress (read side only)."""

from jobs.catalog.runs import RunSummary, check_job, list_jobs, list_runs, run_status, summarize, unknown_run

__all__ = ["RunSummary", "check_job", "list_jobs", "list_runs", "run_status", "summarize", "unknown_run"]
