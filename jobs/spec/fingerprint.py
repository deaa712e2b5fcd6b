"""The spec's identity for resume: what changes outputs must be what the run started with.

Operational settings are left out, so raising a replica count (or, later, a budget) and
resuming works: where outputs go, resources, and the keys later issues add for budgets,
notifications, schedules, publishing, quality gates and retention.
"""

from __future__ import annotations

import hashlib
import json

from schemas.spec import JobSpec

OPERATIONAL = frozenset({"output", "resources", "budget", "notify", "schedule", "publish", "retention"})
OPERATIONAL_NESTED = {"quality": {"gate"}}


def spec_fingerprint(spec: JobSpec) -> str:
    """SHA-256 of the resolved spec minus its operational settings."""
    data = spec.model_dump(mode="json", exclude=set(OPERATIONAL))
    for section, keys in OPERATIONAL_NESTED.items():
        if isinstance(data.get(section), dict):
            data[section] = {k: v for k, v in data[section].items() if k not in keys}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
