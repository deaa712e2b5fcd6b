"""Quality: per-row scores against a reference column (ROUGE-L, BLEU, chrF), CJK-correct."""

from jobs.quality.gate import gate_failures
from jobs.quality.metrics import METRICS, TOKENIZATION, score, score_rows, score_table, tokens

__all__ = ["METRICS", "gate_failures", "TOKENIZATION", "score", "score_rows", "score_table", "tokens"]
