"""Interpolated Kneser–Ney (chapter 01's n-gram baseline): hand-computed values, normalisation, behaviour."""

from __future__ import annotations

import math

import pytest
import torch

from ptm_course.models import CountBigramLM
from ptm_course.models import KneserNeyLM

TOY = [0, 1, 2, 0, 1, 3, 0, 1, 2]


def test_a_bigram_probability_computed_by_hand():
    lm = KneserNeyLM.fit(TOY, vocab_size=5, order=2)
    # bigram counts 3, 2, 1, 1, 1 -> n1 = 3, n2 = 1, D2 = 3/5; continuation counts N1+(.w): 0:2, 1:1, 2:1, 3:1 -> D1 = 3/5
    assert lm.discounts == pytest.approx([0.6, 0.6])
    p1_2 = (1 - 0.6) / 5 + 0.6 * 4 / 5 / 5  # continuation unigram of 2, with its share of the uniform
    assert lm.prob((1,), 2) == pytest.approx((2 - 0.6) / 3 + 0.6 * 2 / 3 * p1_2)
    assert lm.prob((4,), 2) == pytest.approx(p1_2)  # a context never seen passes all its mass down
    assert lm.prob((), 4) == pytest.approx(0.6 * 4 / 5 / 5)  # a word never seen keeps a share of the uniform


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_conditional_distribution_sums_to_one(order):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30, (3000,), generator=g) % torch.randint(5, 30, (3000,), generator=g)  # skewed
    lm = KneserNeyLM.fit(ids, vocab_size=31, order=order)
    for ctx in [(), (1,), (2, 3), (1, 2, 3), (30, 30, 30), tuple(ids[10:13].tolist())]:
        assert float(lm.distribution(ctx).sum()) == pytest.approx(1.0, abs=1e-9)


def test_continuation_counts_beat_raw_counts_for_a_word_that_follows_one_word_only():
    # "francisco" (5) is frequent but always after "san" (4); "dog" (6) is rarer but follows many words
    stream = []
    for i in range(200):
        stream += [4, 5, i % 3, 6]
    lm = KneserNeyLM.fit(stream, vocab_size=8, order=2)
    assert lm.prob((7,), 6) > lm.prob((7,), 5)  # after an unseen context: the word with many predecessors


def test_kneser_ney_beats_the_interpolated_bigram_on_text_like_data():
    g = torch.Generator().manual_seed(1)
    # a stream from a random sparse trigram process over 50 tokens
    table = torch.randint(0, 50, (50, 50, 3), generator=g)
    seq = [0, 1]
    for _ in range(30000):
        seq.append(int(table[seq[-2], seq[-1], torch.randint(0, 3, (1,), generator=g)]))
    train, valid = torch.tensor(seq[:25000]), torch.tensor(seq[25000:])
    kn = KneserNeyLM.fit(train, 50, order=3).perplexity(valid)
    bigram = CountBigramLM.fit(train, 50, smoothing="interpolate", lam=0.7).perplexity(valid)
    assert kn < 0.8 * bigram
    assert math.isfinite(kn) and kn < 50


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="order must be"):
        KneserNeyLM.fit(TOY, 5, order=0)
    with pytest.raises(ValueError, match="token ids must lie in 0 … 2"):
        KneserNeyLM.fit(TOY, 3, order=2)
    with pytest.raises(ValueError, match="too short"):
        KneserNeyLM.fit([1, 2], 5, order=3)
    with pytest.raises(ValueError, match="start must be in 1 … 8"):
        KneserNeyLM.fit(TOY, 5, order=2).mean_nll(TOY, start=9)


def test_start_scores_the_same_tokens_as_a_model_with_that_much_context():
    lm = KneserNeyLM.fit(TOY * 5, 5, order=3)
    seq = TOY * 2
    by_hand = -sum(math.log(lm.prob(tuple(seq[t - 2:t]), seq[t])) for t in range(4, len(seq))) / (len(seq) - 4)
    assert lm.mean_nll(seq, start=4) == pytest.approx(by_hand)
