"""Slots claimed from the command line: `submit --slot`, `run --slot`, `schedule trigger`.

An external orchestrator (a KubeRay RayCronJob, Airflow) calls these instead of a scheduler;
they claim the slot exactly as a scheduler would, so a night can never run twice.
"""

from __future__ import annotations

from datetime import datetime, timezone

from jobs import state
from jobs.errors import SpecError
from jobs.schedule.slots import latest_slot, parse_slot, slot_name
from schemas.spec import JobSpec
from schemas.state import SlotClaim


def resolve_slot(spec: JobSpec, text: str, *, now: datetime) -> str:
    """A slot's name from 'latest' (the spec schedule's newest due slot) or an ISO time."""
    if text == "latest":
        if spec.schedule is None:
            raise SpecError(f"--slot latest: job {spec.name} has no schedule in its spec")
        return slot_name(latest_slot(spec.schedule.cron, spec.schedule.timezone, now))
    try:
        return slot_name(parse_slot(text))
    except ValueError as exc:
        raise SpecError(f"--slot {text!r}: {exc}") from None


def claim_for_command(spec: JobSpec, slot: str, *, decision: str, by: str, run_id: str | None = None,
                      now: datetime | None = None) -> tuple[bool, SlotClaim]:
    """Claim a slot (a name, 'latest' or an ISO time) for this command; (took it, the claim that stands)."""
    now = now or datetime.now(timezone.utc)
    name = resolve_slot(spec, slot, now=now)
    from workers.io import storage_for

    claim = SlotClaim(job=spec.name, slot=name, decision=decision, run_id=run_id or name, claimed_by=by,
                      claimed_at=now.isoformat())
    return state.claim_slot(storage_for(spec.output.uri), state.JobLayout(output_uri=spec.output.uri, job=spec.name),
                            claim)
