import numpy as np
import pytest
import torch

from ptm_course.data import Vocab, ngram_examples, wikitext_tokens, word_tokenize


def test_word_tokenize_splits_words_and_punctuation():
    assert word_tokenize("The cat sat. The cat ran!") == ["the", "cat", "sat", ".", "the", "cat", "ran", "!"]
    assert word_tokenize("Don't STOP", lower=False) == ["Don't", "STOP"]
    assert word_tokenize("a @-@ b <unk>") == ["a", "@-@", "b", "<unk>"]
    with pytest.raises(TypeError):
        word_tokenize(["a"])


def test_wikitext_tokens_skip_blank_lines_and_add_eos():
    assert wikitext_tokens([" = T = \n", " \n", " A b . \n"]) == ["=", "T", "=", "<eos>", "A", "b", ".", "<eos>"]
    assert wikitext_tokens([" A b \n"], lower=True, eos=None) == ["a", "b"]


def test_vocab_min_count_order_and_unknown_counts():
    v = Vocab.build([["b", "a", "b", "c"], ["a", "b", "d"]], min_count=2)
    assert v.itos == ["<unk>", "b", "a"]
    # c and d were dropped: their 2 occurrences are <unk>'s count
    assert v.counts.tolist() == [2, 3, 2]
    assert v.encode(["a", "zzz"]) == [2, 0]
    assert v.decode([1, 2]) == ["b", "a"]
    assert v["never-seen"] == v.unk_id == 0
    np.testing.assert_allclose(v.frequencies().sum(), 1.0)


def test_vocab_ties_keep_first_appearance_and_max_size():
    v = Vocab.build([["x", "y", "z", "y", "x", "z"]], max_size=2)
    assert v.itos == ["<unk>", "x", "y"]
    assert v.counts[0] == 2  # z went to <unk>


def test_vocab_errors_are_clear(tmp_path):
    with pytest.raises(TypeError, match="token lists"):
        Vocab.build(["a string, not tokens"])
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build([["a"]], min_count=0)
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build([["a"]]).encode("a")
    with pytest.raises(IndexError, match="outside"):
        Vocab.build([["a"]]).decode([7])
    no_unk = Vocab(["a"], [1], unk_token=None)
    with pytest.raises(KeyError):
        no_unk["b"]
    bad = tmp_path / "v.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a vocabulary file"):
        Vocab.load(bad)


def test_vocab_save_load_roundtrip(tmp_path):
    v = Vocab.build([["a", "b", "a"]], specials=("<pad>", "<unk>"))
    path = v.save(tmp_path / "vocab.json")
    w = Vocab.load(path)
    assert w.itos == v.itos and w.counts.tolist() == v.counts.tolist() and w.unk_id == v.unk_id == 1


def test_ngram_examples_are_sliding_windows():
    x, y = ngram_examples([1, 2, 3, 4, 5], context=2)
    assert x.tolist() == [[1, 2], [2, 3], [3, 4]] and y.tolist() == [3, 4, 5]
    x, y = ngram_examples(torch.arange(4), context=1)
    assert x.shape == (3, 1)
    with pytest.raises(ValueError, match="no example"):
        ngram_examples([1, 2], context=2)
    with pytest.raises(ValueError, match="1-D"):
        ngram_examples(torch.zeros(2, 2, dtype=torch.long), context=1)
