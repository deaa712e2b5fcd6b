"""Run state records other than the manifest: the run lease and the run's state."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.manifest import RecordModel
from schemas.names import RUN_ID_PATTERN, JobName, RunId
from schemas.spec import NotifySpec


class LeaseHolder(RecordModel):
    """The driver process holding a lease: enough to tell, on its own host, whether it still runs."""

    host: str = Field(description="Host name of the driver.")
    boot_id: str = Field(description="The host's boot id (Linux); a reboot makes pids meaningless.")
    pid: int = Field(ge=0, description="The driver's process id.")
    started: str = Field(description="The process's start time in clock ticks since boot (Linux).")


class Lease(RecordModel):
    """`_lease.json`: which attempt of a run is generating, by whom, until when."""

    job: JobName
    run_id: RunId
    attempt: int = Field(ge=1, description="Attempt number: 1 for the first driver, +1 per takeover.")
    token: str = Field(description="Unique per acquisition.")
    holder: LeaseHolder
    acquired_at: str = Field(description="UTC time this attempt took the lease (ISO 8601).")
    expires_at: float = Field(description="Unix time after which another driver may take the lease over.")
    released: bool = Field(default=False, description="The holder finished with the run (committed or failed).")


class RunStateName(StrEnum):
    """Where a run is in its life. `succeeded` and `rejected` are final: the run is committed."""

    QUEUED = "queued"
    RUNNING = "running"
    COMMITTING = "committing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class FailureReason(StrEnum):
    """Why a run failed."""

    INPUT = "input"  # the spec or the input table is unusable (exit 2)
    ENGINE = "engine"  # generation or the pipeline failed
    BUDGET = "budget"  # the next shard would exceed the spec's budget
    LOST = "lost"  # its driver stopped renewing the lease without recording an end
    SUBMISSION = "submission"  # the cluster's job ended without the driver recording an end


FINAL = frozenset({RunStateName.SUCCEEDED, RunStateName.REJECTED})
ENDED = FINAL | {RunStateName.FAILED, RunStateName.CANCELLED}


class Transition(RecordModel):
    """One change of state, as recorded."""

    state: RunStateName
    at: str = Field(description="UTC time of the change (ISO 8601).")
    attempt: int | None = Field(default=None, description="The attempt that made it, if a driver did.")
    reason: FailureReason | None = None
    message: str | None = Field(default=None, description="One line: why, for failed and cancelled.")


class RunState(RecordModel):
    """`_state.json`: the run's current state and every transition, written only by jobs.state."""

    job: JobName
    run_id: RunId
    state: RunStateName
    reason: FailureReason | None = None
    message: str | None = None
    attempt: int | None = Field(default=None, description="The newest attempt that took the lease.")
    submission_id: str | None = Field(default=None, description="Ray job submission id of the newest submit.")
    cluster: str | None = Field(default=None, description="The job server's address of the newest submit.")
    code_version: str | None = Field(default=None, description="pressroom version of the newest driver.")
    notify: NotifySpec | None = Field(
        default=None,
        description="Written by releases before 0.2 and never used since: pressroom sends webhooks only "
        "from a spec its caller holds, never from a stored state file.",
    )
    notify_pending: bool = Field(
        default=False,
        description="The run ended (e.g. lost) where no spec was at hand: the next holder of the job's "
        "spec (a run, the scheduler, a reader given --spec) sends the webhook once and clears this.",
    )
    history: list[Transition] = Field(default_factory=list)


class SlotClaim(RecordModel):
    """`{job}/schedule/{slot}.json`: who took one cron slot and what they did with it (written once)."""

    job: JobName
    slot: str = Field(
        pattern=RUN_ID_PATTERN, description="The slot's UTC instant, e.g. 20261201T010000Z (or a manual trigger's)."
    )
    decision: Literal["submitted", "run", "skipped"] = Field(
        description="Submitted to a cluster, run here, or skipped."
    )
    reason: str | None = Field(default=None, description="Why it was skipped.")
    run_id: RunId | None = Field(default=None, description="The run the slot became.")
    claimed_by: str = Field(description="'scheduler host:pid', 'submit', 'run' or 'trigger'.")
    claimed_at: str = Field(description="UTC time of the claim (ISO 8601).")


class PublishRecord(RecordModel):
    """`_published.json`: the Iceberg snapshot a committed run became (written once, by its publisher)."""

    job: JobName
    run_id: RunId
    table: str = Field(description="namespace.name of the Iceberg table.")
    catalog_name: str
    snapshot_id: int = Field(description="The table snapshot that holds exactly this run's rows.")
    published_at: str = Field(description="UTC time of the Iceberg commit (ISO 8601).")


class LatestPointer(RecordModel):
    """`{job}/latest`: the job's newest committed run (moved by compare-and-swap, never backwards)."""

    run_id: RunId
    finished_at: str = Field(description="The run's manifest's finished_at: `latest` never moves to an older run.")
