"""Shared, expensive fixtures: one tiny model per test run, one local Ray per session.

Fixtures and session setup only; the shared builders (tables, specs, committed runs) are in
tests/builders.py, and no test module imports from this one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ray_head import ray_head  # noqa: F401  (shared fixture)
from tests.s3 import faulty_s3, s3_bucket, s3_server  # noqa: F401  (shared fixtures)

# Hub access fails here and in CI; every engine must load from local directories.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama with a local BPE tokenizer and chat template (built once)."""
    from tests.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the in-process job tests; jobs see it running and leave it up."""
    from jobs.run.pipeline import init_ray, shutdown_ray

    started = init_ray(verbose=False)
    yield
    if started:
        shutdown_ray()
