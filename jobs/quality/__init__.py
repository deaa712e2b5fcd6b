"""Quality: per-row scores against a reference column (ROUGE-L, BLEU, chrF), CJK-correct."""

from jobs.quality.metrics import METRICS, TOKENIZATION, score, score_rows, tokens

__all__ = ["METRICS", "TOKENIZATION", "score", "score_rows", "tokens"]
