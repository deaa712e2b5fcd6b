"""Cron slots: when a schedule is due, in its time zone, named by their UTC instant.

The cron arithmetic is cronsim's (it fires a fixed-time job once on a DST fall-back night and
at the next valid minute on a spring-forward night, like Debian's cron); this module adds the
naming of slots (the aliases cronsim rejects are translated by `schemas.spec.cron_fields`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.spec import cron_fields

SLOT_FORMAT = "%Y%m%dT%H%M%SZ"


def latest_slot(expression: str, zone: str, now: datetime) -> datetime:
    """The newest slot at or before `now` (UTC)."""
    from cronsim import CronSim

    local = now.astimezone(ZoneInfo(zone))
    # cronsim's reverse walk starts strictly before its start time: nudge past `now` by a second.
    walk = CronSim(cron_fields(expression), local.replace(microsecond=0) + timedelta(seconds=1), reverse=True)
    return next(walk).astimezone(UTC)


def slots_between(expression: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """Slots in (after, until], UTC, oldest first."""
    from cronsim import CronSim

    found = []
    for slot in CronSim(cron_fields(expression), after.astimezone(ZoneInfo(zone))):
        slot = slot.astimezone(UTC)
        if slot > until:
            break
        found.append(slot)
    return found


def slot_name(slot: datetime) -> str:
    """'20261201T010000Z': the slot's UTC instant, the same for every scheduler and orchestrator."""
    return slot.astimezone(UTC).strftime(SLOT_FORMAT)


def parse_slot(text: str) -> datetime:
    """A slot named by its UTC instant ('20261201T010000Z') or any ISO 8601 time with an offset."""
    try:
        return datetime.strptime(text, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            raise ValueError(f"slot {text!r} has no UTC offset: name the instant (e.g. 2026-12-01T01:00:00Z)") from None
        return parsed.astimezone(UTC)
