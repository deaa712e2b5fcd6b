"""The hf engine against real transformers and PEFT, on a tiny random Llama built locally."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from schemas.rows import ErrorCode
from tests.tiny_models import build_lora_adapter
from workers.engines import EngineConfig, Request, build_engine, generate_checked

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Four prompts of four different token lengths, so a misplaced result is visible.
REQUESTS = [
    Request.from_prompt("Be brief.", "Summarize the report about cloud sales."),
    Request.from_prompt(None, "Write a title for the press release."),
    Request.from_prompt("You are an editor.", "Describe the market in the third quarter in one sentence."),
    Request.from_prompt(None, "hi"),
]


def load_engine(model: Path, *, adapter: Path | None = None, max_model_len: int | None = None, **sampling):
    """A loaded hf engine on `model`; greedy, 16 new tokens unless `sampling` says otherwise."""
    config = EngineConfig(
        model_path=str(model),
        model_name="tiny",
        adapters={"a": str(adapter)} if adapter else {},
        max_model_len=max_model_len,
        sampling={"temperature": 0.0, "max_tokens": 16, **sampling},
    )
    engine = build_engine("hf", config)
    engine.load()
    return engine


def chat_ids(tokenizer, request: Request) -> list[int]:
    """Prompt token ids computed here, independently of the engine: render, then encode."""
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages.append({"role": "user", "content": request.prompt})
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def greedy(tiny_model):
    engine = load_engine(tiny_model)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def adapter(tiny_model, tmp_path_factory) -> Path:
    return build_lora_adapter(tiny_model, tmp_path_factory.mktemp("adapters") / "seed1", seed=1)


def test_one_result_per_request_in_order(greedy, tokenizer):
    results = generate_checked(greedy, REQUESTS)
    expected_counts = [len(chat_ids(tokenizer, r)) for r in REQUESTS]
    assert len(set(expected_counts)) == len(REQUESTS)
    assert [r.num_input_tokens for r in results] == expected_counts
    assert all(r.error_code is None and r.text is not None for r in results)
    assert all(0 < r.num_output_tokens <= 16 for r in results)
    # Same batch, reversed: the engine's internal sort is the same, so results mirror exactly.
    assert greedy.generate(REQUESTS[::-1])[::-1] == results


def test_greedy_is_deterministic_across_loads(greedy, tiny_model):
    fresh = load_engine(tiny_model)
    try:
        assert fresh.generate(REQUESTS) == greedy.generate(REQUESTS)
    finally:
        fresh.close()


def test_seeded_sampling_repeats_and_differs_by_seed(tiny_model):
    outputs = {}
    for seed in (1, 1, 2):
        engine = load_engine(tiny_model, temperature=1.0, top_k=0, seed=seed)
        outputs.setdefault(seed, []).append([r.text for r in engine.generate(REQUESTS)])
        engine.close()
    assert outputs[1][0] == outputs[1][1]
    assert outputs[1][0] != outputs[2][0]


def test_too_long_prompts_fail_alone_and_output_stops_at_the_context(tiny_model, tokenizer):
    context = 128
    huge = Request.from_prompt(None, " ".join(f"word{i % 50}" for i in range(3000)))
    # A prompt that fits with fewer than 16 positions left: its output is cut at the context.
    words = next(
        k for k in range(1, 200) if len(chat_ids(tokenizer, Request.from_prompt(None, "word " * k))) > context - 10
    )
    tight = Request.from_prompt(None, "word " * words)
    tight_len = len(chat_ids(tokenizer, tight))
    assert tight_len < context
    engine = load_engine(tiny_model, max_model_len=context, ignore_eos=True)
    try:
        results = engine.generate([REQUESTS[0], huge, tight, REQUESTS[1]])
    finally:
        engine.close()
    assert results[1].error_code == ErrorCode.PROMPT_TOO_LONG.value
    assert results[1].text is None
    assert results[1].num_input_tokens == len(chat_ids(tokenizer, huge)) > context
    assert (results[2].num_output_tokens, results[2].finish_reason) == (context - tight_len, "length")
    assert [(r.error_code, r.num_output_tokens) for r in (results[0], results[3])] == [(None, 16)] * 2


def test_ignore_eos_runs_every_row_to_max_tokens(tiny_model, tmp_path, tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    # A copy of the model whose EOS list includes the first token it generates for REQUESTS[0].
    plain = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    with torch.inference_mode():
        logits = plain(input_ids=torch.tensor([chat_ids(tokenizer, REQUESTS[0])])).logits
    first = int(logits[0, -1].argmax())
    model = tmp_path / "stops-early"
    shutil.copytree(tiny_model, model)
    generation = json.loads((model / "generation_config.json").read_text())
    generation["eos_token_id"] = [tokenizer.eos_token_id, first]
    (model / "generation_config.json").write_text(json.dumps(generation))

    stopping = load_engine(model)
    stopped = stopping.generate(REQUESTS[:1])[0]
    stopping.close()
    assert (stopped.finish_reason, stopped.num_output_tokens) == ("stop", 1)

    running = load_engine(model, max_tokens=24, ignore_eos=True)
    results = running.generate(REQUESTS)
    running.close()
    assert [(r.num_output_tokens, r.finish_reason) for r in results] == [(24, "length")] * len(REQUESTS)
    # The text is what the unmodified model writes: nothing was cut at the extra EOS.
    original = load_engine(tiny_model, max_tokens=24, ignore_eos=True)
    assert [r.text for r in original.generate(REQUESTS)] == [r.text for r in results]
    original.close()


def test_stop_string_trims_text_and_counts_tokens_used(greedy, tiny_model):
    full = greedy.generate(REQUESTS)
    stop = full[0].text[6:9]
    assert all(stop not in r.text for r in full[1:])
    engine = load_engine(tiny_model, stop=[stop])
    try:
        results = engine.generate(REQUESTS)
    finally:
        engine.close()
    # Row 0 ends early while the others run on: its padding must not count as output.
    assert results[0].finish_reason == "stop"
    assert results[0].text == full[0].text[: full[0].text.find(stop)]
    assert 0 < results[0].num_output_tokens < full[0].num_output_tokens
    assert results[1:] == full[1:]


def test_lora_adapter_changes_output_and_matches_plain_peft(tiny_model, adapter, tokenizer, greedy):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    request = dataclasses.replace(REQUESTS[0], adapter="a")
    engine = load_engine(tiny_model, adapter=adapter)
    try:
        with_adapter = engine.generate([request])[0]
    finally:
        engine.close()
    assert with_adapter.text != greedy.generate([request])[0].text

    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter)
    ids = torch.tensor([chat_ids(tokenizer, request)])
    with torch.inference_mode():
        output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False)
    new = output[0, ids.shape[1] :].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id) + 1]
    assert with_adapter.text == tokenizer.decode(new, skip_special_tokens=True)
    assert with_adapter.num_output_tokens == len(new)


def test_unknown_engine_arg_raises_at_load(tiny_model):
    config = EngineConfig(model_path=str(tiny_model), model_name="tiny", engine_args={"no_such_arg": 1})
    engine = build_engine("hf", config)
    with pytest.raises(TypeError, match="no_such_arg"):
        engine.load()


def test_plain_prompt_without_chat_template(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    model = tmp_path / "no-template"
    shutil.copytree(tiny_model, model)
    (model / "chat_template.jinja").unlink()
    tokenizer = AutoTokenizer.from_pretrained(model)
    assert not tokenizer.chat_template
    engine = load_engine(model, max_tokens=4)
    try:
        results = engine.generate([REQUESTS[0], REQUESTS[1]])
    finally:
        engine.close()
    assert [r.num_input_tokens for r in results] == [
        len(tokenizer.encode("Be brief.\n\nSummarize the report about cloud sales.")),
        len(tokenizer.encode("Write a title for the press release.")),
    ]
