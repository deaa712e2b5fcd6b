"""Run ends recorded where no spec was at hand (a reader found the driver gone), told now by a
caller that holds the job's spec: once, to the spec's webhook, never to one a stored file names."""

from __future__ import annotations

import sys

from jobs import state
from jobs.errors import PressroomError
from jobs.notify.webhook import post_event, run_event
from schemas.spec import JobSpec
from workers.io import Storage


def deliver_pending(spec: JobSpec, storage: Storage) -> list[str]:
    """Send the webhook of every run of the job whose end waits to be told; the runs told.
    A store that fails here costs a warning, never the caller's work."""
    job = state.JobLayout(output_uri=spec.output.uri, job=spec.name)
    told = []
    try:
        for run_id in state.pending_notices(storage, job):
            ended = state.take_pending(storage, job.run(run_id))
            if ended is not None and spec.notify is not None:
                post_event(spec.notify, run_event(ended, manifest=None, manifest_uri=None))
                told.append(run_id)
            state.remove_notice(storage, job, run_id)
    except (OSError, PressroomError) as exc:
        print(f"warning: pending run-end webhooks of job {spec.name} not sent: {exc}", file=sys.stderr)
    return told
