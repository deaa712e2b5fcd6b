"""Errors with a one-line message for the user, raised in the data plane and above it.

The CLI maps `exit_code` to the process's exit status: 2 for unusable input, 1 for failures.
"""

from __future__ import annotations


class PressroomError(Exception):
    """Base for errors with a one-line message meant for the user."""

    exit_code = 1


class InputError(PressroomError):
    """The input table is unusable (names the file and column)."""

    exit_code = 2
