"""The errors the CLI turns into exit codes: 2 bad spec or input, 1 a failed job, 3 held by another driver.

`PressroomError` and `InputError` live in `workers.errors` (the data plane raises them too).
"""

from __future__ import annotations

from workers.errors import InputError, PressroomError

__all__ = ["HeldElsewhere", "InputError", "JobError", "LeaseHeld", "PressroomError", "SpecError", "not_found"]


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


def not_found(kind: str, name: str, known: list[str], where: str) -> InputError:
    """An unknown job or run (exit 2) naming the close matches, or what there is when none is close:
    a typo must never read as an empty answer."""
    from difflib import get_close_matches

    close = get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(close) + "?"
    elif known:
        shown = ", ".join(known[-5:]) + (f" (and {len(known) - 5} more)" if len(known) > 5 else "")
        hint = f"{kind}s there: {shown}"
    else:
        hint = f"no {kind} there at all"
    return InputError(f"no {kind} {name} under {where}; {hint}")
