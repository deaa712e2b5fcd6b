"""Run-end notices waiting for a spec: `{job}/notices/{run}.json`, one per run.

A reader that finds a run's driver gone records the run `failed`/`lost` with `notify_pending` in
its state (jobs.state.run_state), but sends nothing: webhooks go only where a spec its caller
holds says, never where a stored file says. It also leaves a notice here, so the next holder of
the job's spec (the job's next run, the scheduler, a reader given `--spec`) finds pending runs
with one listing, usually empty. The state's `notify_pending`, cleared by compare-and-swap, is
what makes the webhook go once; a notice is only the index to it.
"""

from __future__ import annotations

import contextlib
import json

from jobs.state.paths import JobLayout
from schemas.names import is_run_id
from workers.io import AlreadyExists, Storage, join

NOTICES_DIR = "notices"


def _notice(job: JobLayout, run_id: str) -> str:
    return join(job.job_dir, NOTICES_DIR, f"{run_id}.json")


def leave_notice(storage: Storage, job: JobLayout, run_id: str) -> None:
    """Note that the run's end waits to be told (once; a notice already there stands)."""
    with contextlib.suppress(AlreadyExists):
        storage.write_bytes(_notice(job, run_id), json.dumps({"run_id": run_id}).encode(), if_none_match=True)


def pending_notices(storage: Storage, job: JobLayout) -> list[str]:
    """Run ids with a notice, oldest name first (names that are not run ids are ignored)."""
    prefix = join(job.job_dir, NOTICES_DIR) + "/"
    names = [uri[len(prefix) :] for uri in storage.list_files(join(job.job_dir, NOTICES_DIR))]
    return sorted(n[: -len(".json")] for n in names if n.endswith(".json") and is_run_id(n[: -len(".json")]))


def remove_notice(storage: Storage, job: JobLayout, run_id: str) -> None:
    """Drop a notice once its run's end was told (or needs no telling)."""
    storage.delete(_notice(job, run_id))
