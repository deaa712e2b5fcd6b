"""Byte-level BPE trained on a fixed corpus: the vocabulary of the small models built locally."""

from __future__ import annotations

from collections.abc import Iterable


def train_byte_bpe(corpus: Iterable[str], *, special_tokens: list[str], unk_token: str | None = None):
    """A `tokenizers.Tokenizer` with 1,024 entries; the same corpus gives the same vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    raw = Tokenizer(models.BPE(unk_token=unk_token))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(corpus, trainer=trainer)
    return raw
