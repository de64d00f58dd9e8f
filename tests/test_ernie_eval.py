"""Chapter 09's measurement: the same words blanked one character at a time or whole."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.ernie_inputs import UnitExample
from ptm_course.data.masking import SpecialTokens
from ptm_course.models.bigram import CountBigramLM
from ptm_course.models.ernie import bigram_fill_in_accuracy, fill_in_accuracy, fill_in_batches

SP = SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)


def _examples(n=40, seed=0):
    """Sequences of words of 1-3 tokens; ids 5.. ; word ids as units."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids, units = [SP.cls], [-1]
        for w in range(int(torch.randint(4, 12, (1,), generator=g))):
            for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
                ids.append(int(torch.randint(5, 60, (1,), generator=g)))
                units.append(w)
        out.append(UnitExample(ids + [SP.sep], [], units + [-1]))
    return out


def test_char_and_word_blanks_ask_about_the_same_words():
    exs = _examples()
    char = fill_in_batches(exs, "char", SP, batch_size=16, seed=3)
    word = fill_in_batches(exs, "word", SP, batch_size=16, seed=3)
    assert len(char) == len(word)
    for bc, bw in zip(char, word):
        assert torch.equal(bc["attention_mask"], bw["attention_mask"])
        blank_c, blank_w = bc["mlm_labels"] != -100, bw["mlm_labels"] != -100
        assert (blank_c <= blank_w).all()  # each char blank lies inside a blanked word
        assert (bc["input_ids"][blank_c] == SP.mask).all() and (bw["input_ids"][blank_w] == SP.mask).all()
        assert torch.equal(bc["input_ids"][~blank_w], bw["input_ids"][~blank_w])  # the rest is the same text
        assert (blank_c.sum(1) >= 1).all()
        # word blanks are whole words of >= 2 tokens; char blanks are exactly one token of each
        units = bw["unit_ids"]
        for r in range(units.shape[0]):
            for u in units[r][blank_w[r]].unique().tolist():
                at = units[r] == u
                assert blank_w[r][at].all() and at.sum() >= 2
                assert blank_c[r][at].sum() == 1  # its word-mates stay visible
        assert blank_w.sum() > blank_c.sum()


def test_single_token_words_and_unknown_tokens_are_never_blanked():
    exs = [UnitExample([2, 10, 11, 12, 1, 13, 3], [], [-1, 0, 1, 1, 2, 2, -1])]  # word 2 holds [UNK]
    for kind in ("char", "word"):
        for seed in range(10):
            [b] = fill_in_batches(exs, kind, SP, seed=seed)
            blank = (b["mlm_labels"][0] != -100).tolist()
            assert not blank[1] and not blank[4] and not blank[5]
            assert blank[2] or blank[3]
    assert fill_in_batches([UnitExample([2, 10, 3], [], [-1, 0, -1])], "word", SP) == []
    with pytest.raises(ValueError, match="kind"):
        fill_in_batches(exs, "phrase", SP)


class _Constant(torch.nn.Module):
    """Always predicts token 7."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        logits = torch.zeros(*input_ids.shape, 60)
        logits[..., 7] = 1.0
        return logits


def test_fill_in_accuracy_counts_blanked_tokens():
    exs = _examples()
    batches = fill_in_batches(exs, "word", SP, seed=1)
    labels = torch.cat([b["mlm_labels"][b["mlm_labels"] != -100] for b in batches])
    assert fill_in_accuracy(_Constant(), batches) == pytest.approx(float((labels == 7).float().mean()))
    with pytest.raises(ValueError, match="no blanks"):
        fill_in_accuracy(_Constant(), [])


def test_the_bigram_baseline_fills_a_character_from_its_visible_neighbours():
    # a corpus where 10 is always followed by 11 and 11 by 12: "10 11 12" is one word
    seq = [SP.cls, 10, 11, 12, 20, SP.sep] * 50
    lm = CountBigramLM.fit(torch.tensor(seq), vocab_size=30)
    exs = [UnitExample([2, 10, 11, 12, 20, 3], [], [-1, 0, 0, 0, 1, -1])]
    hits = [bigram_fill_in_accuracy(lm, fill_in_batches(exs, "char", SP, seed=s), SP) for s in range(6)]
    assert hits == [1.0] * 6  # one visible neighbour pins each character down
    acc_word = bigram_fill_in_accuracy(lm, fill_in_batches(exs, "word", SP), SP)
    assert acc_word == pytest.approx(2 / 3)  # 10 and 12 from their outer neighbours; the middle 11 falls back
