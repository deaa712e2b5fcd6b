"""Model and adapter sources -> local directories with content hashes, and the default models.

Light to import: torch and transformers load only when a default model is built.
"""

from workers.models.cache import ModelCacheError, fetch_directory
from workers.models.default_model import default_model_dir, prepare_default_model
from workers.models.default_vlm import SOURCE as DEFAULT_VLM
from workers.models.default_vlm import prepare_default_vlm
from workers.models.hashing import directory_sha256
from workers.models.resolve import (
    ModelSourceError,
    ResolvedModel,
    check_model_source,
    local_copy,
    resolve_adapter,
    resolve_model,
)

__all__ = [
    "DEFAULT_VLM",
    "ModelCacheError",
    "ModelSourceError",
    "ResolvedModel",
    "check_model_source",
    "default_model_dir",
    "directory_sha256",
    "fetch_directory",
    "local_copy",
    "prepare_default_model",
    "prepare_default_vlm",
    "resolve_adapter",
    "resolve_model",
]
