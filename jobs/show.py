"""Read a committed run: readers trust only files its manifest lists."""

from __future__ import annotations

from jobs.commit import MANIFEST_NAME, sha256_hex
from jobs.errors import InputError
from jobs.storage import join, storage_for
from schemas.manifest import Manifest


def load_committed(target: str) -> tuple[Manifest, str]:
    """The manifest and run directory for a run directory or a manifest path."""
    run_dir = target[: -len(MANIFEST_NAME)].rstrip("/") if target.endswith(MANIFEST_NAME) else target.rstrip("/")
    storage = storage_for(run_dir)
    manifest_uri = join(run_dir, MANIFEST_NAME)
    if not storage.exists(manifest_uri):
        raise InputError(f"{run_dir} has no {MANIFEST_NAME}: the run is not committed (or not a run directory)")
    return Manifest.model_validate_json(storage.read_bytes(manifest_uri)), run_dir


def verify_files(manifest: Manifest, run_dir: str) -> list[str]:
    """Problems found re-reading every listed file: missing, wrong size, wrong sha256."""
    storage = storage_for(run_dir)
    problems: list[str] = []
    for entry in manifest.files:
        uri = join(run_dir, entry.path)
        if not storage.exists(uri):
            problems.append(f"{entry.path}: missing")
            continue
        data = storage.read_bytes(uri)
        if len(data) != entry.bytes:
            problems.append(f"{entry.path}: {len(data)} bytes, manifest says {entry.bytes}")
        elif sha256_hex(data) != entry.sha256:
            problems.append(f"{entry.path}: sha256 mismatch")
    return problems
