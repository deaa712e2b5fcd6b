"""Slots claimed from the command line: `submit --slot`, `run --slot`, `schedule trigger`.

An external orchestrator (a KubeRay RayCronJob, Airflow) calls these instead of a scheduler;
they claim the slot exactly as a scheduler would, so a night can never run twice. A claimed
night is never lost either: when the slot is claimed already, the caller looks at the claimed
run. Committed, or a deliberate skip: nothing to do. Otherwise the caller resumes that run (its
driver crashed, its RayJob was retried, its submission never happened), and the run's lease
decides who generates: a live driver holding it means the night is in progress elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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


@dataclass(frozen=True)
class SlotTurn:
    """What a `--slot` caller does: `run` the claim's run (new or resumed), or nothing (`done`, with why)."""

    claim: SlotClaim
    took: bool  # this call made the claim
    done: str | None = None  # why there is nothing to run: committed, or skipped

    @property
    def run_id(self) -> str | None:
        return self.claim.run_id


def slot_turn(
    spec: JobSpec, slot: str, *, decision: str, by: str, run_id: str | None = None, now: datetime | None = None
) -> SlotTurn:
    """Claim the slot, or find the claim that stands and say whether its run still needs running."""
    took, claim = claim_for_command(spec, slot, decision=decision, by=by, run_id=run_id, now=now)
    if took:
        return SlotTurn(claim=claim, took=True)
    if claim.decision == "skipped" or claim.run_id is None:
        return SlotTurn(
            claim=claim,
            took=False,
            done=f"skipped by {claim.claimed_by}" + (f" ({claim.reason})" if claim.reason else ""),
        )
    from workers.io import storage_for

    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=claim.run_id)
    manifest = state.read_manifest(storage_for(spec.output.uri), layout)
    if manifest is not None:
        return SlotTurn(claim=claim, took=False, done=f"run {claim.run_id} is committed ({manifest.state})")
    return SlotTurn(claim=claim, took=False)


def claim_for_command(
    spec: JobSpec, slot: str, *, decision: str, by: str, run_id: str | None = None, now: datetime | None = None
) -> tuple[bool, SlotClaim]:
    """Claim a slot (a name, 'latest' or an ISO time) for this command; (took it, the claim that stands)."""
    now = now or datetime.now(UTC)
    name = resolve_slot(spec, slot, now=now)
    from workers.io import storage_for

    claim = SlotClaim(
        job=spec.name, slot=name, decision=decision, run_id=run_id or name, claimed_by=by, claimed_at=now.isoformat()
    )
    return state.claim_slot(
        storage_for(spec.output.uri), state.JobLayout(output_uri=spec.output.uri, job=spec.name), claim
    )
