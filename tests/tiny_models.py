"""Tiny random models built locally, for tests that need a real engine and no hub access.

`build_tiny_llama` writes a 2-layer random Llama with a locally trained byte-level BPE tokenizer
and a chat template; it loads in vLLM (CPU) and in transformers. `build_lora_adapter` trains a
PEFT LoRA adapter on it for a few steps so greedy output measurably changes.
"""

from __future__ import annotations

import random
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_SUBJECTS = [
    "the report",
    "our team",
    "the market",
    "a customer",
    "the company",
    "revenue",
    "the model",
    "this quarter",
    "the summary",
    "a reader",
    "the editor",
    "sales",
]
_VERBS = [
    "grew",
    "fell",
    "shows",
    "explains",
    "describes",
    "needs",
    "writes",
    "reads",
    "changes",
    "improves",
    "reviews",
    "builds",
]
_OBJECTS = [
    "cloud sales",
    "the new product",
    "a short answer",
    "twelve percent",
    "the data",
    "hardware revenue",
    "a clear title",
    "the press release",
    "four stories",
    "the long article",
    "every page",
    "a careful plan",
]
_ADJECTIVES = [
    "quick",
    "steady",
    "bright",
    "quiet",
    "modern",
    "careful",
    "honest",
    "simple",
    "useful",
    "global",
    "local",
    "strong",
    "weak",
    "early",
    "late",
    "curious",
    "friendly",
    "technical",
    "historic",
    "surprising",
]
_TAILS = [
    "in the third quarter.",
    "for the next year.",
    "with great care.",
    "before noon.",
    "after the meeting.",
    "without delay.",
    "as expected.",
    "by a wide margin.",
]


def corpus_lines(*, seed: int, count: int) -> list[str]:
    """Deterministic English-ish sentences (same seed, same lines)."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_ADJECTIVES)} "
        f"{rng.choice(_OBJECTS)} "
        f"{rng.choice(_TAILS)} Number {rng.randint(0, 999)}."
        for _ in range(count)
    ]


def build_tokenizer(path: Path):
    """Train a byte-level BPE tokenizer on the corpus and save it as a fast tokenizer."""
    from transformers import PreTrainedTokenizerFast

    from workers.models.byte_bpe import train_byte_bpe

    raw = train_byte_bpe(corpus_lines(seed=0, count=400), special_tokens=SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
        model_max_length=2048,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    return tokenizer


def build_tiny_llama(path: Path) -> Path:
    """Write a deterministic tiny random LlamaForCausalLM (bfloat16) plus tokenizer to `path`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(path)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        # head_dim 64: vLLM's CPU attention kernels reject head_dim 16.
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    # Stored as bfloat16: vLLM's CPU backend downcasts float32 to bfloat16 under dtype "auto".
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(path, safe_serialization=True)
    return path


def build_lora_adapter(base: Path, path: Path, *, seed: int, steps: int = 10) -> Path:
    """Train a small LoRA adapter on `base` for `steps` steps; deterministic for a given seed."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    # Each seed teaches one repeated phrase, so two seeds give visibly different outputs.
    phrase = corpus_lines(seed=1000 + seed, count=1)[0]
    batch = tokenizer([" ".join([phrase] * 4)], return_tensors="pt")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    Path(path).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    return Path(path)


def build_random_lora_adapter(base: Path, path: Path, *, seed: int) -> Path:
    """A LoRA adapter with random (not trained) A and B: each seed moves the output its own way."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = LoraConfig(
        r=8,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.save_pretrained(path)
    return Path(path)
