"""Generation keys: one hash per row of everything that changes the row's output.

A row's key covers its prompt hash (system prompt, rendered prompt and image bytes: see
`prompt_sha256` and `image_prompt_sha256`), its adapter (name and content hash), and the run
key: model content hash, engine name and version, dtype, engine_args, max_model_len, sampling
(n included) and the output schema. Equal keys mean the engine is asked exactly the same thing,
so an incremental run may copy the row and a run may generate identical rows once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

KEY_FORMAT = 1  # bump when what the key covers changes: every earlier row then regenerates
DECODING = ("dtype", "engine_args", "max_model_len", "sampling")  # decoding's parts, each in the key


def run_key(
    *,
    model_sha256: str,
    engine: str,
    engine_version: str,
    decoding: Mapping[str, Any],
    output_schema: dict[str, Any] | None,
) -> str:
    """The part of every row's key the run shares. `decoding` holds the model's dtype,
    engine_args, max_model_len and the sampling (n included)."""
    data = {
        "format": KEY_FORMAT,
        "model_sha256": model_sha256,
        "engine": engine,
        "engine_version": engine_version,
        **{name: decoding[name] for name in DECODING},
        "output_schema": output_schema,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def generation_keys(
    prompt_hashes: list[str | None],
    adapters: list[str | None] | None,
    *,
    run_key: str,
    adapter_sha256s: dict[str, str],
) -> pa.Array:
    """Each row's key; null where the row has no prompt (it failed to render)."""
    adapters = adapters or [None] * len(prompt_hashes)
    keys: list[str | None] = []
    for prompt_hash, adapter in zip(prompt_hashes, adapters, strict=True):
        if prompt_hash is None:
            keys.append(None)
            continue
        parts = [run_key, prompt_hash, adapter or "", adapter_sha256s.get(adapter, "") if adapter else ""]
        keys.append(hashlib.sha256("\x00".join(parts).encode()).hexdigest())
    return pa.array(keys, pa.string())
