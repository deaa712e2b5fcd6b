"""The errors the CLI turns into exit codes: 2 bad spec or input, 1 a failed job, 3 held by another driver.

`PressroomError` and `InputError` live in `workers.errors` (the data plane raises them too).
"""

from __future__ import annotations

from workers.errors import InputError, PressroomError

__all__ = ["HeldElsewhere", "InputError", "JobError", "LeaseHeld", "PressroomError", "SpecError"]


class SpecError(PressroomError):
    """The job spec is invalid (names the file and field)."""

    exit_code = 2


class JobError(PressroomError):
    """The job started but could not finish."""

    exit_code = 1


class LeaseHeld(PressroomError):
    """Another live driver holds the run's lease (or took it over from this one)."""

    exit_code = 3


class HeldElsewhere(LeaseHeld):
    """Another live driver (or a queued submission) has the run: it is in progress elsewhere."""
