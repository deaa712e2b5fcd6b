"""Slot claims: one claim per cron slot, taken with If-None-Match, and the pause mark.

Any number of schedulers (and external orchestrators through `submit --slot` / `run --slot`)
race for a slot's claim; exactly one write lands, so exactly one of them submits the night.
"""

from __future__ import annotations

import json

from jobs.errors import InputError
from jobs.retry import with_retries
from jobs.state.paths import PAUSED_NAME, JobLayout
from jobs.state.read import check_identity, parse_record
from schemas.state import SlotClaim
from workers.io import AlreadyExists, Storage


def claim_slot(storage: Storage, job: JobLayout, claim: SlotClaim) -> tuple[bool, SlotClaim]:
    """(True, claim) if this call took the slot; (False, the claim that stands) if someone else did."""
    uri = job.slot_claim(claim.slot)
    try:
        with_retries(lambda: storage.write_bytes(uri, claim.model_dump_json(indent=2).encode(), if_none_match=True))
    except AlreadyExists:
        return False, _parse_claim(storage.read_bytes(uri), uri=uri, job=job, slot=claim.slot)
    return True, claim


def _parse_claim(data: bytes, *, uri: str, job: JobLayout, slot: str) -> SlotClaim:
    """A slot claim, validated and checked against its job folder and file name."""
    claim = parse_record(SlotClaim, data, uri=uri)
    check_identity(claim, uri=uri, job=job.job)
    if claim.slot != slot:
        raise InputError(f"{uri} claims slot {claim.slot}: a claim lies under its own slot's name")
    return claim


def read_claim(storage: Storage, job: JobLayout, slot: str) -> SlotClaim | None:
    """The slot's claim, or None if nobody claimed it."""
    uri = job.slot_claim(slot)
    try:
        data = storage.read_bytes(uri)
    except FileNotFoundError:
        return None
    return _parse_claim(data, uri=uri, job=job, slot=slot)


def read_claims(storage: Storage, job: JobLayout) -> list[SlotClaim]:
    """The job's slot claims, oldest slot first."""
    claims = []
    for uri in storage.list_files(job.schedule_dir):
        name = uri.rsplit("/", 1)[1]
        if name.endswith(".json") and name != PAUSED_NAME:
            claims.append(_parse_claim(storage.read_bytes(uri), uri=uri, job=job, slot=name[: -len(".json")]))
    return sorted(claims, key=lambda c: c.slot)


def is_paused(storage: Storage, job: JobLayout) -> bool:
    """Whether `pressroom schedule pause` paused the job (the spec's `paused` is the other way)."""
    return storage.exists(job.paused)


def set_paused(storage: Storage, job: JobLayout, paused: bool, *, by: str, at: str) -> None:
    """Pause (write the mark) or resume (delete it) the job's schedule."""
    if paused:
        storage.write_bytes(job.paused, json.dumps({"paused_by": by, "at": at}).encode())
    else:
        storage.delete(job.paused)
