"""Engines: one protocol (load, generate, close), a registry by name, and the implementations.

Importing this package is light: vllm, torch and transformers load inside the engine modules
only, when `build_engine` constructs one (an engine class reports its version without them).
"""

from workers.engines.base import (
    ENGINES,
    Engine,
    EngineConfig,
    Message,
    Request,
    Result,
    RowCountError,
    build_engine,
    engine_class,
    finalize_text,
    generate_checked,
    image_prompt_text,
    load_tokenizer,
    prompt_token_counts,
    samples_per_request,
)
from workers.engines.structured import structured_columns

__all__ = [
    "ENGINES",
    "Engine",
    "EngineConfig",
    "Message",
    "Request",
    "Result",
    "RowCountError",
    "build_engine",
    "engine_class",
    "finalize_text",
    "generate_checked",
    "image_prompt_text",
    "load_tokenizer",
    "prompt_token_counts",
    "samples_per_request",
    "structured_columns",
]
