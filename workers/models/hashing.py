"""Content hashes of model and adapter directories, for lineage and for verifying copies."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from workers.home import pressroom_home


def _file_fingerprint(root: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )


def directory_sha256(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes; cached by (path, size, mtime)."""
    root = root.resolve()
    fingerprint = _file_fingerprint(root)
    cache_key = hashlib.sha256(json.dumps([str(root), fingerprint]).encode()).hexdigest()
    cache = pressroom_home() / "hashes" / f"{cache_key}.txt"
    if cache.exists():
        return cache.read_text().strip()
    digest = hashlib.sha256()
    for relative, _, _ in fingerprint:
        digest.update(relative.encode() + b"\x00")
        with open(root / relative, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    value = digest.hexdigest()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value)
    tmp.replace(cache)
    return value
