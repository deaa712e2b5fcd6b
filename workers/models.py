"""Resolve a model or adapter source to a local directory, with a content hash for lineage."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from workers.default_model import default_model_dir, pressroom_home
from workers.default_vlm import SOURCE as DEFAULT_VLM, prepare_default_vlm


class ModelSourceError(Exception):
    """The model source cannot be resolved to a loadable directory."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory ready to load, and the hash of its files."""

    source: str
    path: str
    sha256: str


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


def _hub_snapshot(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except Exception as exc:  # offline, unknown repo, auth: all mean "not loadable here"
        raise ModelSourceError(
            f"model source {repo_id!r} is not a local directory and could not be fetched from "
            f"the hub ({type(exc).__name__})"
        ) from None


def _remote(uri: str, *, required: str) -> ResolvedModel:
    from workers.model_cache import ModelCacheError, fetch_directory

    try:
        path, sha256 = fetch_directory(uri)
    except (ModelCacheError, OSError) as exc:
        raise ModelSourceError(f"cannot fetch {uri}: {exc}") from None
    if not (path / required).exists():
        raise ModelSourceError(f"{uri} has no {required}")
    return ResolvedModel(source=uri, path=str(path), sha256=sha256)


def local_copy(path: str, *, expected_sha256: str | None) -> str:
    """The local directory for an engine: remote sources are fetched (once per node) and verified."""
    if not path.startswith("s3://"):
        return path
    from workers.model_cache import fetch_directory

    return str(fetch_directory(path, expected_sha256=expected_sha256)[0])


def resolve_model(source: str) -> ResolvedModel:
    """'default' -> the prepared SmolLM2 directory; 'default-vlm' -> the tiny random Idefics3
    (built if absent); a directory -> itself; else a hub snapshot."""
    if source.startswith("s3://"):
        return _remote(source, required="config.json")
    if source == "default":
        path = default_model_dir()
        if not (path / "config.json").exists():
            raise ModelSourceError(
                f"the default model is not prepared at {path}: run `make setup` "
                "(or `python -m workers.default_model`)"
            )
    elif source == DEFAULT_VLM:
        path = prepare_default_vlm()  # local and deterministic: built on first use (seconds)
    elif Path(source).is_dir():
        path = Path(source)
    elif Path(source).exists() or source.startswith(("/", ".")):
        raise ModelSourceError(f"model source {source} is not a directory")
    else:
        path = _hub_snapshot(source)
    if not (path / "config.json").exists():
        raise ModelSourceError(f"model directory {path} has no config.json")
    return ResolvedModel(source=source, path=str(path.resolve()), sha256=directory_sha256(path))


def resolve_adapter(path: str) -> ResolvedModel:
    """A LoRA adapter directory in PEFT format, hashed."""
    if path.startswith("s3://"):
        return _remote(path, required="adapter_config.json")
    root = Path(path)
    if not (root / "adapter_config.json").exists():
        raise ModelSourceError(f"adapter {path} is not a PEFT adapter directory (no adapter_config.json)")
    return ResolvedModel(source=path, path=str(root.resolve()), sha256=directory_sha256(root))


def check_model_source(source: str) -> str | None:
    """None if the source looks loadable, without hashing or loading it; else the reason."""
    if source.startswith("s3://"):
        return _remote(source, required="config.json")
    if source == "default":
        path = default_model_dir()
        return None if (path / "config.json").exists() else f"the default model is not prepared at {path}: run `make setup`"
    if source == DEFAULT_VLM:
        return None  # built on first use
    if Path(source).exists():
        return None if (Path(source) / "config.json").exists() else f"{source} is not a model directory (no config.json)"
    if source.startswith(("/", ".")):
        return f"model directory {source} does not exist"
    return None  # a hub id: checked when the run resolves it
