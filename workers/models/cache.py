"""Copies of `s3://` model and adapter directories, once per node, keyed and verified by hash.

The cache key is the remote listing (keys, sizes, ETags): an unchanged remote directory is
never downloaded twice on one node. The content hash of the local copy is recorded when it is
made and checked whenever a caller expects a particular hash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from workers.home import pressroom_home
from workers.io import storage_for
from workers.models.hashing import directory_sha256

MARKER = ".pressroom-complete"


class ModelCacheError(Exception):
    """The remote directory is empty, or its content is not what the run expects."""


def remote_listing(uri: str) -> list[tuple[str, int, str]]:
    """(relative path, size, identity) of every file under a remote directory: one listing, no
    request per object."""
    prefix = uri.rstrip("/") + "/"
    return [(o.uri[len(prefix) :], o.size, o.identity) for o in storage_for(uri).list_objects(uri)]


def _listing_key(uri: str) -> tuple[str, list[tuple[str, int, str]]]:
    listing = remote_listing(uri)
    if not listing:
        raise ModelCacheError(f"{uri} holds no files")
    return hashlib.sha256(json.dumps([uri, listing]).encode()).hexdigest()[:32], listing


def fetch_directory(uri: str, *, expected_sha256: str | None = None) -> tuple[Path, str]:
    """A local copy of a remote directory and its content hash (downloaded at most once)."""
    key, listing = _listing_key(uri)
    target = pressroom_home() / "cache" / "remote" / key
    if not (target / MARKER).exists():
        _download(uri, listing, target)
    recorded = json.loads((target / MARKER).read_text())["sha256"]
    if directory_sha256(target) != recorded:
        shutil.rmtree(target, ignore_errors=True)  # tampered or torn copy: fetch again next time
        raise ModelCacheError(f"the local copy of {uri} does not match its recorded hash; removed it")
    if expected_sha256 and recorded != expected_sha256:
        raise ModelCacheError(
            f"{uri} changed during the run: content hash {recorded[:12]}, the run expects {expected_sha256[:12]}"
        )
    return target, recorded


def _download(uri: str, listing: list[tuple[str, int, str]], target: Path) -> None:
    storage = storage_for(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for relative, size, _ in listing:
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            storage.download(f"{uri.rstrip('/')}/{relative}", path)  # streamed: weights never sit in memory
            if path.stat().st_size != size:
                raise ModelCacheError(f"{uri}/{relative}: downloaded {path.stat().st_size} bytes, listed {size}")
        (staging / MARKER).write_text(json.dumps({"uri": uri, "sha256": directory_sha256(staging)}))
        try:
            staging.rename(target)
        except OSError:
            if not (target / MARKER).exists():  # a concurrent fetch won only if it finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
