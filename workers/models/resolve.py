"""Resolve a model or adapter source to a local directory, with a content hash for lineage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workers.models.cache import ModelCacheError, fetch_directory, remote_listing
from workers.models.default_model import default_model_dir
from workers.models.default_vlm import SOURCE as DEFAULT_VLM
from workers.models.default_vlm import prepare_default_vlm
from workers.models.hashing import directory_sha256


class ModelSourceError(Exception):
    """The model source cannot be resolved to a loadable directory."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model directory ready to load, and the hash of its files."""

    source: str
    path: str
    sha256: str


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
                f"the default model is not prepared at {path}: run `make setup` (or `python -m workers.models`)"
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
    """None if the source looks loadable, without hashing, loading or downloading it; else the reason."""
    if source.startswith("s3://"):
        try:
            names = {relative for relative, _, _ in remote_listing(source)}
        except OSError as exc:
            return f"cannot list {source}: {exc}"
        if not names:
            return f"{source} holds no files"
        return None if "config.json" in names else f"{source} has no config.json"
    if source == "default":
        path = default_model_dir()
        return (
            None
            if (path / "config.json").exists()
            else f"the default model is not prepared at {path}: run `make setup`"
        )
    if source == DEFAULT_VLM:
        return None  # built on first use
    if Path(source).exists():
        return (
            None if (Path(source) / "config.json").exists() else f"{source} is not a model directory (no config.json)"
        )
    if source.startswith(("/", ".")):
        return (
            f"model directory {source} does not exist (a relative model.source resolves against the spec file's folder)"
        )
    return None  # a hub id: checked when the run resolves it
