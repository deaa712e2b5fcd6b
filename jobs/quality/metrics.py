"""Per-row scores against a reference, every one on 0..1: ROUGE-L F, BLEU and chrF (sacrebleu's
0..100 divided by 100, so one gate scale and one column scale hold for every metric).

The maintained libraries compute the metrics; what they lack is tokenization for text without
spaces. `rouge-score`'s own tokenizer keeps only [a-z0-9] (an identical Chinese pair scores 0),
and sacrebleu's `zh` tokenizer splits Han characters but leaves kana and Hangul runs whole. So
both ROUGE-L and BLEU get the same tokens from `tokens()`: every Han, kana and Hangul character
on its own, every other run of letters and digits (any script: Cyrillic, Arabic, accented Latin)
as one lowercased word, so mixed Chinese-English text is split correctly too. chrF works on
characters already and is called as it is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pyarrow as pa

from schemas.rows import ERROR_CODE, REFERENCE, SCORE_PREFIX, TEXT

METRICS = ("rouge_l", "bleu", "chrf")
# Han (with extensions and compatibility forms), kana, Hangul: scripts written without spaces.
_CJK = (
    r"\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    r"\u4e00-\u9fff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\uf900-\ufaff\uff66-\uff9f"
    r"\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)
TOKENIZATION = {
    "rouge_l": "rouge-score RougeScorer(rougeL) over pressroom tokens: each Han/kana/Hangul character alone, "
    "other letter-digit runs as lowercased words (NFKC)",
    "bleu": "sacrebleu sentence BLEU (effective order, exp smoothing, tokenize=none) over the same tokens",
    "chrf": "sacrebleu sentence chrF (character 6-grams, beta 2), on the raw text",
}


def tokens(text: str) -> list[str]:
    """Characters of scripts written without spaces, words of the others; lowercased, NFKC."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


class _Tokenizer:
    """rouge-score's tokenizer protocol."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


@lru_cache(maxsize=1)
def _bleu():
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="none", effective_order=True)


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def score(metric: str, hypothesis: str, reference: str) -> float:
    """One metric for one pair."""
    if metric == "rouge_l":
        return _rouge().score(reference, hypothesis)["rougeL"].fmeasure
    if metric == "bleu":
        return _bleu().sentence_score(" ".join(tokens(hypothesis)), [" ".join(tokens(reference))]).score / 100
    if metric == "chrf":
        return _chrf().sentence_score(hypothesis, [reference]).score / 100
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def score_rows(metric: str, hypotheses: list[str | None], references: list[str | None]) -> list[float | None]:
    """A metric per row; None where the row has no text or no reference."""
    return [
        score(metric, h, r) if h is not None and r is not None and r.strip() else None
        for h, r in zip(hypotheses, references, strict=True)
    ]


def score_table(rows: pa.Table, *, metrics: list[str]) -> dict[str, pa.Array]:
    """score_<metric> columns for output rows holding text, error_code and `_reference`: null on error
    rows and rows without a reference."""
    codes = rows.column(ERROR_CODE).to_pylist()
    texts = [t if c is None else None for t, c in zip(rows.column(TEXT).to_pylist(), codes, strict=True)]
    references = rows.column(REFERENCE).to_pylist()
    return {f"{SCORE_PREFIX}{m}": pa.array(score_rows(m, texts, references), pa.float64()) for m in metrics}
