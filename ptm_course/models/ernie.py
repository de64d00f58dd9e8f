"""ERNIE 1.0 is BERT plus a masking function: what this file adds is how to *measure* the claim.

The notes: 因为中文中盖掉一些字很容易猜出来,因此我们盖掉一些词汇 — in Chinese a single masked
character is easy to guess (its word-mates give it away), so ERNIE masks whole words. The model
is :class:`ptm_course.models.bert.BertForMaskedLM` (``BertConfig.ernie()`` for ERNIE 1.0's sizes),
trained with ``fit`` and ``mlm_loss`` unchanged; the masking is
:func:`ptm_course.data.masking.mask_units`. To compare models fairly, this file builds one fixed
evaluation set per kind of blank:

* ``"char"``: one character of a multi-character word is masked, its word-mates stay visible
  (what character masking trains on);
* ``"word"``: the whole word is masked (what word masking trains on).

Both kinds blank the *same* words of the same held-out text, every blank is [MASK] (no 80/10/10
at evaluation), and the answer is scored per masked character. :func:`bigram_fill_in_accuracy`
is the count baseline: how much of "easy to guess" is only the neighbouring characters.

    ev = fill_in_batches(valid_examples, "char", special, batch_size=64, seed=0)
    fill_in_accuracy(model, ev)                      # fraction of masked characters recovered
    bigram_fill_in_accuracy(CountBigramLM.fit(train_ids, V), ev, special)
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

from ..data.masking import IGNORE_INDEX, SpecialTokens, pad_batch, select_units
from .bigram import CountBigramLM

__all__ = ["FILL_IN_KINDS", "bigram_fill_in_accuracy", "fill_in_accuracy", "fill_in_batches"]

FILL_IN_KINDS = ("char", "word")


def fill_in_batches(examples: Sequence, kind: str, special: SpecialTokens, batch_size: int = 64,
                    mlm_prob: float = 0.15, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """A fixed evaluation set: blanks in multi-token words, one character or the whole word.

    ``examples`` carry ``input_ids`` and word-level ``unit_ids`` (see
    :func:`ptm_course.data.ernie_inputs.encode_units`). In every sequence, ``mlm_prob`` of the
    words of two or more tokens (none of them [UNK]) are chosen — the same words for both kinds
    at the same ``seed`` — and either one of their tokens (``"char"``) or all of them (``"word"``)
    become [MASK]. Sequences without such a word are left out. Returns batches with
    ``input_ids``, ``attention_mask``, ``token_type_ids``, ``mlm_labels`` and ``unit_ids``.
    """
    if kind not in FILL_IN_KINDS:
        raise ValueError(f"kind must be one of {FILL_IN_KINDS}, got {kind!r}")
    g = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        ids, mask = pad_batch([e.input_ids for e in chunk], special.pad)
        units, _ = pad_batch([e.unit_ids for e in chunk], -1)
        eligible = units.clone()
        for r in range(len(chunk)):
            row = units[r]
            for u in row[row >= 0].unique().tolist():
                at = row == u
                if at.sum() < 2 or (ids[r][at] == special.unk).any():
                    eligible[r][at] = -1  # single-character words and words with [UNK] are not asked
        keep = (eligible >= 0).any(1)
        if not keep.any():
            continue
        ids, mask, units, eligible = ids[keep], mask[keep], units[keep], eligible[keep]
        chosen = select_units(eligible, mlm_prob, g)  # whole chosen words, the same for both kinds
        pick = torch.rand(ids.shape, generator=g)  # drawn for both kinds, so the words chosen agree
        if kind == "char":  # keep one token of each chosen word: the one with the highest draw
            blank = torch.zeros_like(chosen)
            for r, t in chosen.nonzero().tolist():
                at = (eligible[r] == eligible[r, t]) & chosen[r]
                blank[r, t] = bool(pick[r, t] == pick[r][at].max())
        else:
            blank = chosen
        labels = torch.where(blank, ids, torch.full_like(ids, IGNORE_INDEX))
        batches.append({"input_ids": ids.masked_fill(blank, special.mask), "attention_mask": mask,
                        "token_type_ids": torch.zeros_like(ids), "mlm_labels": labels, "unit_ids": units})
    return batches


@torch.no_grad()
def fill_in_accuracy(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> float:
    """Fraction of the blanked tokens whose original token is the model's top prediction."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    right = total = 0
    try:
        for b in batches:
            logits = model(b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device),
                           token_type_ids=b["token_type_ids"].to(device))
            labels = b["mlm_labels"].to(device)
            at = labels != IGNORE_INDEX
            right += int((logits[at].argmax(-1) == labels[at]).sum())
            total += int(at.sum())
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("no blanks in these batches")
    return right / total


def bigram_fill_in_accuracy(lm: CountBigramLM, batches: Iterable[dict[str, torch.Tensor]],
                            special: SpecialTokens) -> float:
    """The count baseline: fill each blank from its visible neighbours with character bigrams.

    A blank's guess maximises log P(c | left) + log P(right | c) over the non-special tokens c,
    using each neighbour only where it is visible (a neighbour that is itself a blank is not);
    with neither visible the guess is the most frequent token.
    """
    V = lm.vocab_size
    cand = torch.ones(V, dtype=torch.bool)
    cand[list(special.ids)] = False
    every = torch.arange(V)
    unigram = torch.log(lm.unigram_counts.double() + 1.0).masked_fill(~cand, -float("inf"))
    right_count = total = 0
    for b in batches:
        ids, labels = b["input_ids"], b["mlm_labels"]
        blank = labels != IGNORE_INDEX
        for r, t in blank.nonzero().tolist():
            score = torch.zeros(V, dtype=torch.double)
            seen = False
            if t > 0 and not blank[r, t - 1]:
                score += lm.prob(ids[r, t - 1].expand(V), every).double().log()
                seen = True
            if t + 1 < ids.shape[1] and not blank[r, t + 1] and b["attention_mask"][r, t + 1]:
                score += lm.prob(every, ids[r, t + 1].expand(V)).double().log()
                seen = True
            score = score.masked_fill(~cand, -float("inf")) if seen else unigram
            right_count += int(score.argmax() == labels[r, t])
            total += 1
    if total == 0:
        raise ValueError("no blanks in these batches")
    return right_count / total
