"""Ray clusters through Ray's job submission API: submit a run, ask after it, stop it, read its logs."""

from jobs.cluster.client import (
    TERMINAL,
    follow_ray_job_logs,
    is_loopback,
    is_loopback_host,
    job_server,
    ray_job_logs,
    ray_job_status,
    redact_url,
    stop_ray_job,
    submission_id,
    submit_ray_job,
)
from jobs.cluster.submit import Submission, submit_run

__all__ = [
    "TERMINAL",
    "follow_ray_job_logs",
    "is_loopback",
    "is_loopback_host",
    "job_server",
    "ray_job_logs",
    "ray_job_status",
    "redact_url",
    "stop_ray_job",
    "submission_id",
    "submit_ray_job",
    "Submission",
    "submit_run",
]
