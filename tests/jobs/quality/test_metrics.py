"""Scores from the maintained libraries, with tokens that are right for every script."""

from __future__ import annotations

import pytest

from jobs.quality import score, score_rows, tokens


def test_known_english_pair_matches_the_libraries_published_values():
    hypothesis, reference = "the cat is on the mat", "the cat sat on the mat"
    assert score("rouge_l", hypothesis, reference) == pytest.approx(0.8333, abs=1e-4)
    # sacrebleu publishes 37.99 and 61.93 on its 0..100 scale; pressroom keeps every score on 0..1.
    assert score("bleu", hypothesis, reference) == pytest.approx(0.3799, abs=1e-4)
    assert score("chrf", hypothesis, reference) == pytest.approx(0.6193, abs=1e-4)


@pytest.mark.parametrize(
    "text",
    [
        "猫坐在垫子上。",
        "猫がマットの上に座った",
        "고양이가 매트 위에 앉았다",
        "Кошка сидит на коврике",
        "Le café est très chaud",
    ],
)
def test_an_identical_pair_scores_full_marks_in_every_script(text):
    assert score("rouge_l", text, text) == pytest.approx(1.0)
    assert score("bleu", text, text) == pytest.approx(1.0)  # every metric on 0..1 (sacrebleu's 100 / 100)
    assert score("chrf", text, text) == pytest.approx(1.0)


def test_chinese_is_scored_per_character_and_mixed_text_by_word_and_character():
    assert tokens("我们在 Beijing 开会2026") == ["我", "们", "在", "beijing", "开", "会", "2026"]
    # one character of four differs: LCS 3 of 4 on both sides
    assert score("rouge_l", "今天下雨", "今天下雪") == pytest.approx(0.75)
    assert 0 < score("bleu", "今天下雨", "今天下雪") < 1
    assert score("rouge_l", "AI 模型 works", "AI 模型 fails") == pytest.approx(0.75)


def test_rows_without_text_or_reference_score_null():
    assert score_rows("rouge_l", ["a b", None, "c"], ["a b", "x", None]) == [1.0, None, None]
    with pytest.raises(ValueError, match="unknown metric"):
        score("meteor", "a", "a")


@pytest.mark.parametrize(
    "hypothesis, reference, expected",
    [
        # LCS 6 of 6 and 8 characters: F = 2 * 1 * 0.75 / 1.75
        # BLEU and chrF: sacrebleu's 36.4093 and 29.2188 (0..100) on pressroom's 0..1
        ("猫坐在垫子上", "猫坐在一个垫子上", (0.8571, 0.364093, 0.292188)),
        ("AI 模型在 Beijing 发布了", "AI 模型今天在 Beijing 发布", (0.8235, 0.441248, 0.669671)),
        ("今日は雨が降りました", "今日は雪が降りました", (0.9, 0.658037, 0.544114)),
    ],
)
def test_known_chinese_japanese_and_mixed_pairs(hypothesis, reference, expected):
    got = [score(m, hypothesis, reference) for m in ("rouge_l", "bleu", "chrf")]
    assert got[0] == pytest.approx(expected[0], abs=5e-5)  # ROUGE-L, worked to 4 places
    assert got[1:] == pytest.approx(list(expected[1:]), abs=5e-7)  # sacrebleu's 4 places, / 100


def test_bleu_on_han_text_equals_sacrebleus_own_chinese_tokenizer():
    from sacrebleu.metrics import BLEU

    own = BLEU(tokenize="zh", effective_order=True).sentence_score("猫坐在垫子上", ["猫坐在一个垫子上"]).score
    assert score("bleu", "猫坐在垫子上", "猫坐在一个垫子上") == pytest.approx(own / 100)
