"""The tiny random Idefics3 from tests/tiny_vlm.py runs in transformers and in vLLM (CPU, no
torchvision): both see the image, and their greedy token ids match in float32."""

from __future__ import annotations

import gc
import os

import pytest

from tests.builders import VLLM_TEST_ARGS
from tests.tiny_vlm import (
    IMAGE_PROMPT_TOKENS,
    IMAGE_SEQ_LEN,
    IMAGE_TOKEN,
    build_tiny_idefics3,
    idefics3_prompt,
    make_test_images,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NEW_TOKENS = 12
QUESTION = "Describe the image."


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    return build_tiny_idefics3(tmp_path_factory.mktemp("models") / "tiny-idefics3")


@pytest.fixture(scope="module")
def images():
    # Different sizes and shapes; the processor resizes every one to 64x64.
    return make_test_images(4, seed=0)


@pytest.fixture(scope="module")
def hf_outputs(vlm, images):
    """(prompt token ids, new token ids) per image from transformers, greedy, float32."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(vlm)
    assert type(processor).__name__ == "Idefics3Processor"
    assert type(processor.image_processor).__name__ == "Idefics3ImageProcessorPil"
    model = AutoModelForImageTextToText.from_pretrained(vlm, dtype=torch.float32).eval()
    prompt = idefics3_prompt(processor, QUESTION)
    results = []
    with torch.inference_mode():
        for image in images:
            inputs = processor(text=prompt, images=[image], return_tensors="pt")
            output = model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
            prompt_ids = inputs["input_ids"][0].tolist()
            results.append((prompt_ids, output[0, len(prompt_ids) :].tolist()))
    del model
    gc.collect()
    return results


@pytest.fixture(scope="module")
def vllm_outputs(vlm, images, hf_outputs):  # after transformers: vLLM lowers torch's thread count
    """(prompt token ids, new token ids) per image from vLLM in-process, greedy, float32, plus the
    same for `LLM.chat` with an `image_pil` part on the first image."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(vlm), max_model_len=256, dtype="float32", limit_mm_per_prompt={"image": 1}, **VLLM_TEST_ARGS)
    try:
        params = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS, ignore_eos=True)
        prompt = idefics3_prompt(llm.get_tokenizer(), QUESTION)
        outputs = llm.generate(
            [{"prompt": prompt, "multi_modal_data": {"image": image}} for image in images],
            params,
            use_tqdm=False,
        )
        chat = llm.chat(
            [
                {
                    "role": "user",
                    "content": [{"type": "image_pil", "image_pil": images[0]}, {"type": "text", "text": QUESTION}],
                }
            ],
            params,
            use_tqdm=False,
        )[0]
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()
    return {
        "generate": [(list(o.prompt_token_ids), list(o.outputs[0].token_ids)) for o in outputs],
        "chat": (list(chat.prompt_token_ids), list(chat.outputs[0].token_ids)),
    }


def test_transformers_generates_from_image_and_text(vlm, hf_outputs):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(vlm)
    prompt = idefics3_prompt(tokenizer, QUESTION)
    assert prompt.count(IMAGE_TOKEN) == 1
    text_only = len(tokenizer(prompt.replace(IMAGE_TOKEN, ""))["input_ids"])
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    for prompt_ids, new_ids in hf_outputs:
        assert len(new_ids) == NEW_TOKENS
        # One image = <fake_token_around_image><global-img> + IMAGE_SEQ_LEN x <image> + <fake...>.
        assert len(prompt_ids) == text_only + IMAGE_PROMPT_TOKENS
        assert prompt_ids.count(image_id) == IMAGE_SEQ_LEN


def test_vllm_generates_from_image_and_text(vllm_outputs):
    for _, new_ids in vllm_outputs["generate"]:
        assert len(new_ids) == NEW_TOKENS
    assert vllm_outputs["chat"] == vllm_outputs["generate"][0]


def test_vllm_and_transformers_greedy_ids_match(hf_outputs, vllm_outputs):
    assert vllm_outputs["generate"] == hf_outputs


def test_different_images_give_different_outputs(hf_outputs, vllm_outputs):
    # Same text prompt for every image, so only the pixels can change the continuation.
    assert len({tuple(prompt) for prompt, _ in hf_outputs}) == 1
    for outputs in (hf_outputs, vllm_outputs["generate"]):
        assert len({tuple(new) for _, new in outputs}) == len(outputs)
