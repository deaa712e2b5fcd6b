"""Schedules: cron slots in a time zone, claimed once in object storage, submitted by schedulers."""

from jobs.schedule.claims import claim_for_command
from jobs.schedule.scheduler import Scheduler
from jobs.schedule.slots import latest_slot, parse_slot, slot_name, slots_between

__all__ = ["Scheduler", "claim_for_command", "latest_slot", "parse_slot", "slot_name", "slots_between"]
