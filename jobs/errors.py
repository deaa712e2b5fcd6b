"""The errors the CLI turns into exit codes: 2 for bad spec or input, 1 for a failed job."""

from __future__ import annotations


class PressroomError(Exception):
    """Base for errors with a one-line message meant for the user."""

    exit_code = 1


class SpecError(PressroomError):
    """The job spec is invalid (names the file and field)."""

    exit_code = 2


class InputError(PressroomError):
    """The input table is unusable (names the file and column)."""

    exit_code = 2


class JobError(PressroomError):
    """The job started but could not finish."""

    exit_code = 1
