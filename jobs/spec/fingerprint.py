"""The spec's identity for resume: what a run started with must be what it resumes with."""

from __future__ import annotations

import hashlib
import json

from schemas.spec import JobSpec


def spec_fingerprint(spec: JobSpec) -> str:
    """SHA-256 of the resolved spec, minus where outputs go (moving outputs keeps the identity)."""
    data = spec.model_dump(mode="json", exclude={"output"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
