"""The hf engine: transformers `generate` (optionally with a PEFT adapter), batched and left-padded.

Slower than vLLM but needs nothing beyond transformers; also the reference the vllm engine is
checked against. Prompts are tokenized the same way as in the vllm engine (chat template when
the tokenizer has one), so both engines see identical token ids.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from typing import Any

from schemas.rows import ErrorCode
from schemas.spec import EngineName
from workers.engines.base import (
    NOT_A_VLM,
    EngineConfig,
    Request,
    Result,
    chat_token_ids,
    decode_image,
    image_prompt_text,
    is_vision_language,
    load_processor,
    package_version,
    samples_per_request,
)

# Rows per model.generate call: bounds padding waste and activation memory.
MAX_SUB_BATCH = 32


@dataclass(frozen=True)
class _Pending:
    """A request that fits the context, waiting to be generated."""

    index: int
    ids: list[int]
    budget: int  # new tokens allowed: max_tokens, capped so prompt + output fits the context
    adapter: str | None  # PEFT adapter name, None for the base model
    text: str | None = None  # an image row's prompt text (the processor tokenizes it with the image)
    image: Any = None  # an image row's PIL image


def _torch_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16")
    return dtype


class HfEngine:
    """transformers + PEFT behind the pressroom engine protocol."""

    name = EngineName.HF
    concurrent = False  # one batched generate() at a time

    def __init__(self, config: EngineConfig):
        self.config = config
        self._model = None
        self._tokenizer = None
        self._processor = None  # vision-language models only
        self._device = "cpu"
        self._max_len: int | None = None

    @classmethod
    def version(cls) -> str:
        """The transformers distribution and its version."""
        return package_version("transformers")

    def load(self) -> None:
        """Tokenizer, model and optional PEFT adapter; unknown engine_args raise here."""
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

        config = self.config
        self._device = "cuda" if config.gpus > 0 and torch.cuda.is_available() else "cpu"
        model_class = AutoModelForCausalLM
        if is_vision_language(config.model_path):
            model_class = AutoModelForImageTextToText
            self._processor = load_processor(config.model_path)
            self._processor.tokenizer.padding_side = "left"
            tokenizer = self._processor.tokenizer
        else:
            tokenizer = AutoTokenizer.from_pretrained(config.model_path, padding_side="left")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = model_class.from_pretrained(
            config.model_path, dtype=_torch_dtype(config.dtype, self._device), **config.engine_args
        )
        if config.adapters:
            from peft import PeftModel

            names = sorted(config.adapters)
            model = PeftModel.from_pretrained(model, config.adapters[names[0]], adapter_name=names[0])
            for name in names[1:]:
                model.load_adapter(config.adapters[name], adapter_name=name)
        model.to(self._device).eval()
        self._model = model
        self._tokenizer = tokenizer
        self._max_len = config.max_model_len or getattr(model.config.get_text_config(), "max_position_embeddings", None)

    def generate(self, requests: list[Request]) -> list[Result]:
        """n results per request, request-major, same order; too-long prompts become error rows."""
        max_tokens = self.config.sampling.max_tokens
        n = samples_per_request(self.config)
        results: list[list[Result] | None] = [None] * len(requests)
        pending: list[_Pending] = []
        for i, request in enumerate(requests):
            if request.image is not None and self._processor is None:
                results[i] = [Result.failed(ErrorCode.ENGINE_ERROR, NOT_A_VLM)] * n
                continue
            text, image = (None, None) if request.image is None else self._image_inputs(request)
            ids = chat_token_ids(self._tokenizer, request) if image is None else self._image_token_ids(text, image)
            if self._max_len is not None and len(ids) >= self._max_len:
                results[i] = [Result.too_long(len(ids), context=self._max_len)] * n
                continue
            if request.adapter is not None and request.adapter not in self.config.adapters:
                results[i] = [
                    Result.failed(
                        ErrorCode.ENGINE_ERROR, f"unknown adapter {request.adapter!r}", num_input_tokens=len(ids)
                    )
                ] * n
                continue
            room = max_tokens if self._max_len is None else self._max_len - len(ids)
            pending.append(_Pending(i, ids, min(max_tokens, room), request.adapter, text, image))
        # Same adapter, kind and budget, similar length per sub-batch: little padding, no row past the context.
        pending.sort(key=lambda p: (p.adapter or "", p.image is not None, p.budget, len(p.ids)))
        for chunk in _chunks(pending):
            for row, samples in zip(chunk, self._generate_chunk(chunk, n), strict=True):
                results[row.index] = samples
        return [result for per_request in results for result in per_request]

    def _image_inputs(self, request: Request) -> tuple[str, Any]:
        return image_prompt_text(self._processor, request), decode_image(request.image)

    def _image_token_ids(self, text: str, image) -> list[int]:
        """The prompt ids with the image placeholder expanded, as the model will see them."""
        # The processor runs again per sub-batch (padding): image tensors are model-specific to batch.
        return self._processor(text=[text], images=[[image]])["input_ids"][0]

    def _model_inputs(self, chunk: list[_Pending]) -> tuple[dict[str, Any], int]:
        """Left-padded model inputs for a sub-batch, and their padded width."""
        import torch

        if chunk[0].image is not None:
            inputs = self._processor(
                text=[row.text for row in chunk],
                images=[[row.image] for row in chunk],
                padding=True,
                return_tensors="pt",
            ).to(self._device)
            return dict(inputs), inputs["input_ids"].shape[1]
        pad_id = self._tokenizer.pad_token_id
        width = max(len(row.ids) for row in chunk)
        input_ids = [[pad_id] * (width - len(row.ids)) + row.ids for row in chunk]
        mask = [[0] * (width - len(row.ids)) + [1] * len(row.ids) for row in chunk]
        inputs = {
            "input_ids": torch.tensor(input_ids, device=self._device),
            "attention_mask": torch.tensor(mask, device=self._device),
        }
        return inputs, width

    def _adapter_scope(self, name: str | None):
        """Run under the named adapter, or with adapters disabled for the base model."""
        if not self.config.adapters:
            return contextlib.nullcontext()
        if name is None:
            return self._model.disable_adapter()
        self._model.set_adapter(name)
        return contextlib.nullcontext()

    def _eos_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        if eos is None:
            eos = self._tokenizer.eos_token_id
        if eos is None:
            return set()
        return {eos} if isinstance(eos, int) else set(eos)

    def _generate_kwargs(self, budget: int) -> dict[str, Any]:
        """Keyword arguments for model.generate; they override the model's generation_config.json."""
        sampling = self.config.sampling
        temperature = sampling.temperature
        if temperature > 0:
            # top_k 0 turns top-k off; left unset, transformers would apply its default of 50.
            knobs = {"temperature": temperature, "top_p": sampling.top_p, "top_k": sampling.top_k}
        else:
            # transformers' neutral values: they silence its warnings about a model's own defaults.
            knobs = {"temperature": 1.0, "top_p": 1.0, "top_k": 50}
        return {
            **knobs,
            "do_sample": temperature > 0,
            "max_new_tokens": budget,
            "pad_token_id": self._tokenizer.pad_token_id,
            # As in vLLM, ignore_eos lets EOS be sampled but never ends the row.
            "eos_token_id": None if sampling.ignore_eos else (sorted(self._eos_ids()) or None),
            "stop_strings": list(sampling.stop) or None,
            "tokenizer": self._tokenizer,
        }

    def _generate_chunk(self, chunk: list[_Pending], n: int) -> list[list[Result]]:
        import torch

        inputs, width = self._model_inputs(chunk)
        seed = self.config.sampling.seed
        if seed is not None:
            torch.manual_seed(seed)
        kwargs = self._generate_kwargs(chunk[0].budget)
        # Greedy decoding gives the same text n times; sampling draws n sequences per row.
        copies = n if kwargs["do_sample"] else 1
        with torch.inference_mode(), self._adapter_scope(chunk[0].adapter):
            output = self._model.generate(**inputs, num_return_sequences=copies, **kwargs)
        eos_ids = set() if self.config.sampling.ignore_eos else self._eos_ids()
        stops = list(self.config.sampling.stop)
        per_row = []
        for k, row in enumerate(chunk):
            samples = [
                self._result(output[k * copies + j, width:].tolist(), len(row.ids), eos_ids=eos_ids, stops=stops)
                for j in range(copies)
            ]
            per_row.append(samples if copies == n else samples * n)
        return per_row

    def _result(self, new: list[int], num_input: int, *, eos_ids: set[int], stops: list[str]) -> Result:
        # A row that hit neither EOS nor a stop string ran its whole budget: no padding to drop.
        end = next((j + 1 for j, token in enumerate(new) if token in eos_ids), None)
        tokens = new if end is None else new[:end]
        text = self._decode(tokens)
        cut = _first_stop(text, stops)
        if cut is not None:
            used = self._tokens_until_stop(tokens, stops)
            return Result(text[:cut], "stop", num_input, used)
        return Result(text, "length" if end is None else "stop", num_input, len(tokens))

    def _tokens_until_stop(self, tokens: list[int], stops: list[str]) -> int:
        """Shortest prefix whose text holds a stop string: the tokens the row really used."""
        low, high = 1, len(tokens)
        while low < high:
            mid = (low + high) // 2
            if _first_stop(self._decode(tokens[:mid]), stops) is None:
                low = mid + 1
            else:
                high = mid
        return low

    def _decode(self, tokens: list[int]) -> str:
        return self._tokenizer.decode(tokens, skip_special_tokens=True)

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        on_cuda = self._device == "cuda"
        self._model = None
        self._tokenizer = None
        self._processor = None
        gc.collect()
        if on_cuda:
            import torch

            torch.cuda.empty_cache()


def _chunks(rows: list[_Pending]) -> list[list[_Pending]]:
    """Consecutive runs of rows with the same budget, adapter and kind (text or image), at most
    MAX_SUB_BATCH long."""
    chunks: list[list[_Pending]] = []
    for row in rows:
        last = chunks[-1][0] if chunks else None
        same = last and (last.budget, last.adapter, last.image is None) == (row.budget, row.adapter, row.image is None)
        if same and len(chunks[-1]) < MAX_SUB_BATCH:
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return chunks


def _first_stop(text: str, stops: list[str]) -> int | None:
    """Index where the earliest stop string starts in `text`, or None."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None
