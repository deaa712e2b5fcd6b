"""The job spec: load and resolve YAML, task presets, and the fingerprint a resume must match."""

from jobs.spec.fingerprint import spec_fingerprint
from jobs.spec.load import load_spec
from jobs.spec.presets import PRESETS, Preset, resolve_task

__all__ = ["PRESETS", "Preset", "load_spec", "resolve_task", "spec_fingerprint"]
