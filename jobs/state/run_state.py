"""`_state.json`, the run's state and its history: the only module that writes it.

Writers are the submitter (`queued`), the lease holder (`running`, `committing`, and how the run
ended), and a reader that finds a `running` run whose lease is no longer live (`failed`, reason
`lost`, its webhook pending for the next holder of the job's spec: see jobs.state.notices). Every
change is a compare-and-swap on the version just read, so concurrent writers never lose a
transition; a committed run's state (`succeeded`, `rejected`) never changes again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from jobs.retry import conflicts, swap, with_retries
from jobs.state.lease import is_live, read_lease
from jobs.state.notices import leave_notice
from jobs.state.paths import RunLayout
from jobs.state.read import check_identity, parse_record
from schemas.state import FINAL, FailureReason, RunState, RunStateName, Transition
from workers.io import Storage

ATTEMPTS = 20


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read_state(storage: Storage, layout: RunLayout) -> RunState | None:
    """The run's recorded state, or None if nothing was ever recorded."""
    found = _read(storage, layout)
    return found[0] if found else None


def _read(storage: Storage, layout: RunLayout) -> tuple[RunState, str] | None:
    try:
        data, version = with_retries(partial(storage.read_versioned, layout.state))
    except FileNotFoundError:
        return None
    current = parse_record(RunState, data, uri=layout.state)
    check_identity(current, uri=layout.state, job=layout.job, run_id=layout.run_id)
    return current, version


TRANSITION_FIELDS = ("attempt", "reason", "message")  # what each step records besides its state and time


def record_state(
    storage: Storage, layout: RunLayout, state: RunStateName, *, only_from: set[RunStateName] | None = None, **fields
) -> RunState | None:
    """Record a transition to `state`, with its `attempt`, `reason` and `message` (each optional)
    and any other RunState field; returns the new state, or None when it does not apply (the run
    is already committed, or its current state is not in `only_from`)."""
    attempt, reason, message = (fields.pop(name, None) for name in TRANSITION_FIELDS)
    for try_ in conflicts(ATTEMPTS):  # another writer may move it between our read and write
        with try_:
            found = _read(storage, layout)
            current, version = found if found else (None, None)
            if current is not None and current.state in FINAL:
                return None
            if only_from is not None and (current.state if current else None) not in only_from:
                return None
            step = Transition(state=state, at=_now(), attempt=attempt, reason=reason, message=message)
            base = current or RunState(job=layout.job, run_id=layout.run_id, state=state)
            updated = base.model_copy(
                update={
                    "state": state,
                    "reason": reason,
                    "message": message,
                    "history": [*base.history, step],
                    **({"attempt": attempt} if attempt is not None else {}),
                    **fields,
                }
            )
            swap(storage, layout.state, updated.model_dump_json(indent=2).encode(), version=version)
            return updated


def observe(storage: Storage, layout: RunLayout) -> tuple[RunState | None, bool]:
    """The run's state as a reader should report it, and whether this call recorded a loss.

    A `running` or `committing` run whose lease is no longer live lost its driver: the reader
    records `failed`, reason `lost` (whoever records it first is the one to notify).
    """
    current = read_state(storage, layout)
    if current is None or current.state not in (RunStateName.RUNNING, RunStateName.COMMITTING):
        return current, False
    lease = read_lease(storage, layout)
    if lease is not None and is_live(lease[0]):
        return current, False
    attempt = lease[0].attempt if lease else current.attempt
    lost = record_state(
        storage,
        layout,
        RunStateName.FAILED,
        reason=FailureReason.LOST,
        attempt=attempt,
        message=f"attempt {attempt} stopped renewing its lease without recording an end (driver killed or lost)",
        only_from={RunStateName.RUNNING, RunStateName.COMMITTING},
        notify_pending=True,
    )
    if lost is not None:  # told by the next holder of the job's spec, never from this file's contents
        leave_notice(storage, layout, layout.run_id)
    return (lost or read_state(storage, layout)), lost is not None


def take_pending(storage: Storage, layout: RunLayout) -> RunState | None:
    """Clear the run's `notify_pending` by compare-and-swap; the state if this call cleared it
    (the one caller that then sends the webhook), else None."""
    for try_ in conflicts(ATTEMPTS):
        with try_:
            found = _read(storage, layout)
            if found is None or not found[0].notify_pending:
                return None
            current, version = found
            cleared = current.model_copy(update={"notify_pending": False})
            swap(storage, layout.state, cleared.model_dump_json(indent=2).encode(), version=version)
            return current
    raise AssertionError("unreachable")
