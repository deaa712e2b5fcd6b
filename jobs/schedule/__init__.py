"""Schedules: cron slots in a time zone, claimed once in object storage, submitted by schedulers."""

from jobs.schedule.claims import SlotTurn, claim_for_command, slot_turn
from jobs.schedule.scheduler import Scheduler
from jobs.schedule.slots import latest_slot, parse_slot, slot_name, slots_between

__all__ = [
    "Scheduler",
    "SlotTurn",
    "claim_for_command",
    "slot_turn",
    "latest_slot",
    "parse_slot",
    "slot_name",
    "slots_between",
]
