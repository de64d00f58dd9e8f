"""Chapter 06's probes: balancing per word, and a ScalarMix probe that finds the layer with the label."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from ptm_course.encoders import balanced_indices, train_probe


def _tokens(n: int = 8000, n_words: int = 20, seed: int = 0):
    """Words whose label is mostly fixed by the word (90 % or 10 % positive), and two layers:
    layer 0 the word's one-hot (a context-free token layer), layer 1 the label plus noise."""
    g = torch.Generator().manual_seed(seed)
    words = torch.randint(0, n_words, (n,), generator=g)
    rate = torch.where(torch.arange(n_words) % 2 == 0, 0.9, 0.1)
    labels = (torch.rand(n, generator=g) < rate[words]).long()
    token_layer = torch.nn.functional.one_hot(words, n_words).float()
    context_layer = torch.zeros(n, n_words)
    context_layer[:, 0] = 2.0 * labels - 1.0
    context_layer += 0.5 * torch.randn(n, n_words, generator=g)
    return words.tolist(), labels.tolist(), torch.stack([token_layer, context_layer])


def test_balancing_per_word_leaves_every_word_with_as_many_positives_as_negatives():
    words, labels, _ = _tokens()
    idx = balanced_indices(labels, groups=words, seed=0).tolist()
    assert len(set(idx)) == len(idx)
    per_word = Counter((words[i], labels[i]) for i in idx)
    for w in set(words):
        assert per_word[w, 0] == per_word[w, 1] > 0
    # without groups: balanced overall, and the word still predicts the label
    idx = balanced_indices(labels, seed=0).tolist()
    assert sum(labels[i] for i in idx) * 2 == len(idx)
    assert balanced_indices(labels, groups=words, seed=1).tolist() != balanced_indices(labels, groups=words, seed=0).tolist()


def test_per_word_balancing_puts_a_token_only_probe_at_chance_and_the_mix_finds_the_context_layer():
    words, labels, x = _tokens()
    # the word alone predicts the label 90 % of the time: without per-word balancing the token layer scores
    _, acc_word = train_probe(x[:1], labels, 300, seed=0)
    assert acc_word > 0.8
    # balanced per word, the token layer alone knows nothing
    _, acc_token = train_probe(x[:1], labels, 300, groups=words, seed=0)
    assert 0.4 < acc_token < 0.6
    # both layers: the probe reads the label from layer 1, and the mix says so
    weights, acc = train_probe(x, labels, 300, groups=words, seed=0)
    assert acc > 0.9
    assert weights.shape == (2,) and float(weights.sum()) == pytest.approx(1.0) and weights[1] > 0.6


def test_probing_bad_input_is_named():
    with pytest.raises(ValueError, match="one group per label"):
        balanced_indices([0, 1, 1], groups=["a", "b"])
    with pytest.raises(ValueError, match="binary"):
        balanced_indices([0, 2, 1])
    with pytest.raises(ValueError, match="no group has both labels"):
        balanced_indices([0, 1], groups=["a", "b"])
    with pytest.raises(ValueError, match=r"\(layers, tokens, features\)"):
        train_probe(torch.zeros(5, 4), [0, 1, 0, 1, 0], 1)
