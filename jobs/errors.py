"""The errors the CLI turns into exit codes: 2 for bad spec or input, 1 for a failed job.

`PressroomError` and `InputError` live in `workers.errors` (the data plane raises them too).
"""

from __future__ import annotations

from workers.errors import InputError, PressroomError

__all__ = ["InputError", "JobError", "PressroomError", "SpecError"]


class SpecError(PressroomError):
    """The job spec is invalid (names the file and field)."""

    exit_code = 2


class JobError(PressroomError):
    """The job started but could not finish."""

    exit_code = 1
