"""Names that become path parts: job names, run ids and slot names, checked by one pattern each.

Every one of them is read back from storage (manifests, plans, leases, states, claims, the
`latest` pointer) and used to build paths under the output root, so each is validated where the
record is parsed: a name that could leave its folder (`..`, `/`, an empty string) or collide
with pressroom's own folders (a leading `_` or `.`) is refused there, once.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

# Letters, digits, '_' and '-', starting with a letter or digit: folders pressroom keeps beside
# jobs (`.pressroom/`, `_`-prefixed ones) can never be a job's.
JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
# Letters, digits, '.', '_' and '-', starting with a letter or digit (so never '.' or '..').
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# A file path inside a run directory: plain segments only (no glob characters, no '..', no scheme).
RUN_FILE_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$"

JobName = Annotated[
    str,
    Field(
        pattern=JOB_NAME_PATTERN, description="Job name: letters, digits, '-', '_', starting with a letter or digit."
    ),
]
RunId = Annotated[
    str,
    Field(
        pattern=RUN_ID_PATTERN,
        description="Run id: letters, digits, '.', '_', '-' (at most 128), starting with a letter or digit.",
    ),
]


def is_job_name(text: str) -> bool:
    """Whether a folder name can be a job's (reserved and foreign folders cannot)."""
    return re.fullmatch(JOB_NAME_PATTERN, text) is not None


def is_run_id(text: str) -> bool:
    """Whether a folder name can be a run's."""
    return re.fullmatch(RUN_ID_PATTERN, text) is not None
