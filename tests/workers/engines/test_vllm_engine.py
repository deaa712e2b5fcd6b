"""The vllm engine in-process on the CPU: order, over-long prompts, and a LoRA adapter whose
greedy tokens match transformers + PEFT."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from schemas.rows import ErrorCode
from tests.builders import VLLM_TEST_ARGS
from tests.tiny_models import build_lora_adapter
from workers.engines import EngineConfig, Request, build_engine, generate_checked

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

REQUESTS = [
    Request.from_prompt("Be brief.", "Summarize the report about cloud sales.", "a"),
    Request.from_prompt(None, "Write a title for the press release.", "a"),
    Request.from_prompt(None, " ".join(["overflowing"] * 600), "a"),  # longer than the 256-token context
    Request.from_prompt("You are an editor.", "Describe the market in the third quarter in one sentence."),  # base
    Request.from_prompt(None, "hi", "a"),
]


def engine_for(name: str, model, adapter, **extra):
    config = EngineConfig(
        model_path=str(model),
        model_name="tiny",
        adapters={"a": str(adapter)},
        max_model_len=256,
        dtype="float32",  # both engines in float32: vLLM's CPU "auto" would pick bfloat16
        engine_args=dict(VLLM_TEST_ARGS) if name == "vllm" else {},
        sampling={"temperature": 0.0, "max_tokens": 12, "ignore_eos": True},
        **extra,
    )
    engine = build_engine(name, config)
    engine.load()
    return engine


def test_vllm_with_lora_matches_transformers_and_peft(tiny_model, tmp_path):
    adapter = build_lora_adapter(tiny_model, tmp_path / "adapter", seed=3)
    hf = engine_for("hf", tiny_model, adapter)
    expected = generate_checked(hf, REQUESTS)
    hf.close()
    vllm = engine_for("vllm", tiny_model, adapter)
    try:
        results = generate_checked(vllm, REQUESTS)
    finally:
        vllm.close()

    assert results[2].error_code == ErrorCode.PROMPT_TOO_LONG.value and results[2].num_input_tokens > 256
    assert expected[2].error_code == ErrorCode.PROMPT_TOO_LONG.value
    for got, want in zip(results, expected, strict=True):
        assert got.num_input_tokens == want.num_input_tokens
        if want.error_code is None:
            assert got.num_output_tokens == want.num_output_tokens == 12
            # transformers ends a text cut inside a UTF-8 character with U+FFFD; vLLM drops it.
            assert got.text.rstrip("\ufffd") == want.text.rstrip("\ufffd")


def test_concurrent_batches_share_the_engine_and_match_one_call(tiny_model, tmp_path):
    """What the generation actor does: batches from several threads at once, base and LoRA rows
    mixed, come back exactly as one serial call gives them."""
    adapter = build_lora_adapter(tiny_model, tmp_path / "adapter", seed=3)
    vllm = engine_for("vllm", tiny_model, adapter)
    try:
        serial = generate_checked(vllm, REQUESTS)
        batches = [REQUESTS[k:] + REQUESTS[:k] for k in range(len(REQUESTS))]
        with ThreadPoolExecutor(len(batches)) as pool:
            concurrent = list(pool.map(lambda batch: generate_checked(vllm, batch), batches))
    finally:
        vllm.close()
    for k, results in enumerate(concurrent):
        assert results == serial[k:] + serial[:k]
