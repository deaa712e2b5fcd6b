"""The publish gate: decided at commit from the run's scores and error rate."""

from __future__ import annotations

from schemas.manifest import Manifest
from schemas.spec import QUALITY_METRICS, GateSpec


def gate_failures(gate: GateSpec, manifest: Manifest) -> list[str]:
    """One line per part of the gate the run misses (empty: it passes)."""
    found = []
    for metric in QUALITY_METRICS:
        floor = getattr(gate, f"min_{metric}")
        if floor is None:
            continue
        mean = manifest.scores.get(metric).mean if metric in manifest.scores else None
        if mean is None:
            found.append(f"{metric}: no row was scored (min_{metric} {floor})")
        elif mean < floor:
            found.append(f"mean {metric} {mean:g} < min_{metric} {floor:g}")
    if gate.max_error_rate is not None and manifest.totals.outputs:
        rate = manifest.totals.outputs_failed / manifest.totals.outputs
        if rate > gate.max_error_rate:
            found.append(f"error rate {rate:.4g} > max_error_rate {gate.max_error_rate:g}")
    return found
