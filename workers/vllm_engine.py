"""The vllm engine: offline `vllm.LLM`, prompts tokenized once here with the chat template."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path
from typing import Any

from schemas.rows import ErrorCode
from workers.engine import EngineConfig, Request, Result

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

    name = "vllm"

    def __init__(self, config: EngineConfig):
        self.config = config
        self._llm = None
        self._tokenizer = None
        self._max_len = 0

    def version(self) -> str:
        import vllm

        return vllm.__version__

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
        if self.config.adapter_path:
            args.update(enable_lora=True, max_loras=1, max_lora_rank=_lora_rank(self.config.adapter_path))
        args.update(self.config.engine_args)
        self._llm = LLM(**args)
        self._tokenizer = self._llm.get_tokenizer()
        self._max_len = self._llm.llm_engine.model_config.max_model_len

    def _lora(self):
        if not self.config.adapter_path:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("adapter", 1, self.config.adapter_path)

    def _sampling_params(self):
        from vllm import SamplingParams

        s = self.config.sampling
        return SamplingParams(
            temperature=s.get("temperature", 0.0),
            top_p=s.get("top_p", 1.0),
            top_k=s.get("top_k", 0) or -1,
            max_tokens=s.get("max_tokens", 128),
            seed=s.get("seed"),
            stop=list(s.get("stop", [])) or None,
            ignore_eos=s.get("ignore_eos", False),
        )

    def _token_ids(self, request: Request) -> list[int]:
        tokenizer = self._tokenizer
        if getattr(tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": request.system}] if request.system else []
            messages.append({"role": "user", "content": request.prompt})
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=False
            )
            return list(ids)
        text = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
        return tokenizer.encode(text)

    def generate(self, requests: list[Request]) -> list[Result]:
        from vllm.inputs import TokensPrompt

        results: list[Result | None] = [None] * len(requests)
        pending: list[tuple[int, list[int]]] = []
        for i, request in enumerate(requests):
            ids = self._token_ids(request)
            if len(ids) >= self._max_len:
                message = f"prompt has {len(ids)} tokens; the model's context is {self._max_len}"
                results[i] = Result.failed(ErrorCode.PROMPT_TOO_LONG, message, num_input_tokens=len(ids))
            else:
                pending.append((i, ids))
        params = self._sampling_params()
        prompts = [TokensPrompt(prompt_token_ids=ids) for _, ids in pending]
        try:
            outputs = self._llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora()) if prompts else []
        except Exception:  # isolate the row(s) the engine rejects; the rest still generate
            outputs = [self._generate_one(prompt, params) for prompt in prompts]
        for (i, ids), output in zip(pending, outputs, strict=True):
            results[i] = output if isinstance(output, Result) else self._result(output, len(ids))
        return results

    def _generate_one(self, prompt, params):
        try:
            return self._llm.generate([prompt], params, use_tqdm=False, lora_request=self._lora())[0]
        except Exception as exc:
            tokens = len(prompt["prompt_token_ids"])
            return Result.failed(ErrorCode.ENGINE_ERROR, f"{type(exc).__name__}: {exc}", num_input_tokens=tokens)

    @staticmethod
    def _result(output, num_input_tokens: int) -> Result:
        completion = output.outputs[0]
        return Result(
            text=completion.text,
            finish_reason=completion.finish_reason,
            num_input_tokens=num_input_tokens,
            num_output_tokens=len(completion.token_ids),
        )

    def close(self) -> None:
        if self._llm is not None:
            engine = getattr(self._llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None
            )
            if shutdown:
                shutdown()
        self._llm = None
        gc.collect()
