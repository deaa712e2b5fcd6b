"""Quality: per-row scores against a reference column (ROUGE-L, BLEU, chrF), CJK-correct; the
publish gate; and the warning for outputs cut off at max_tokens."""

from jobs.quality.gate import gate_failures
from jobs.quality.metrics import METRICS, TOKENIZATION, score, score_rows, score_table, tokens
from jobs.quality.truncation import truncated_share, truncation_warning

__all__ = [
    "METRICS",
    "TOKENIZATION",
    "gate_failures",
    "score",
    "score_rows",
    "score_table",
    "tokens",
    "truncated_share",
    "truncation_warning",
]
