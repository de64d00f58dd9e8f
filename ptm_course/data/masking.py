"""BERT's pre-training data: Masked-LM corruption (80/10/10) and Next-Sentence-Prediction pairs.

    ex = make_nsp_examples(docs, max_len=128, cls_id=2, sep_id=3, seed=0)      # list of dicts
    batch = collate_pretraining(ex[:32], special, vocab_size, generator=g)      # tensors, masked

Masked LM (Devlin et al. 2018, §3.1, and ``create_pretraining_data.py``): in every sequence,
15 % of the tokens that are not special ([CLS], [SEP], [PAD]) are selected — at least one —
and each selected token is replaced by [MASK] with probability 0.8, by a random token with
probability 0.1, and left unchanged with probability 0.1. The model predicts the original token
at every selected position (labels are −100 everywhere else).

ERNIE 1.0 (Sun et al. 2019) keeps the corruption and changes the selection: one draw per *unit*
(a word, a phrase, an entity), and a selected unit is masked whole. So masking is two steps,
*select* (:func:`select_tokens` for BERT, :func:`select_units` for ERNIE) and *corrupt*
(:func:`corrupt`, 80/10/10 per token), and :func:`mask_tokens` / :func:`mask_units` are the two
compositions.

Next Sentence Prediction: [CLS] A [SEP] B [SEP]; with probability 0.5, B is the text that
really follows A (label 0, IsNext), otherwise text from another document (label 1, NotNext).
Segment ids are 0 for [CLS] A [SEP] and 1 for B [SEP].
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = [
    "SpecialTokens",
    "collate_pretraining",
    "make_nsp_examples",
    "corrupt",
    "mask_tokens",
    "mask_units",
    "masked_positions",
    "pad_batch",
    "pack_pair",
    "select_tokens",
    "select_units",
]

IGNORE_INDEX = -100
IS_NEXT, NOT_NEXT = 0, 1


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of BERT's special tokens in one vocabulary (the course's WordPiece: 0..4; MiniLM: 0, 100..103)."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.pad, self.unk, self.cls, self.sep, self.mask)


def _check_batch(input_ids: torch.Tensor, mlm_prob: float) -> None:
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
    if not 0.0 < mlm_prob < 1.0:
        raise ValueError(f"mlm_prob must be in (0, 1), got {mlm_prob}")


def _n_to_pick(n: torch.Tensor, mlm_prob: float) -> torch.Tensor:
    """max(1, round(mlm_prob · n)) per row, 0 where a row has nothing to pick (``num_to_predict``)."""
    return torch.where(n > 0, (n.float() * mlm_prob).round().long().clamp(min=1), 0)


def select_tokens(input_ids: torch.Tensor, special: SpecialTokens, mlm_prob: float = 0.15,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """BERT's selection: which tokens to predict. input_ids (B, T) -> selected (B, T) bool.

    Exactly max(1, round(mlm_prob · n)) of the n candidate tokens of each row (the original code's
    ``num_to_predict``), chosen uniformly; special tokens are never selected. Rows with no
    candidate select nothing.
    """
    _check_batch(input_ids, mlm_prob)
    ids = input_ids.cpu()
    B, T = ids.shape
    candidate = torch.ones_like(ids, dtype=torch.bool)
    for s in special.ids:
        candidate &= ids != s
    n_pick = _n_to_pick(candidate.sum(1), mlm_prob)  # (B,)
    # rank the candidates of each row in a random order; pick the first n_pick
    score = torch.rand(B, T, generator=generator).masked_fill(~candidate, 2.0)  # non-candidates last
    rank = score.argsort(1).argsort(1)  # (B, T) position of each token in the random order
    return (rank < n_pick[:, None]).to(input_ids.device)


def _check_unit_dtype(unit_ids: torch.Tensor) -> None:
    if unit_ids.dtype.is_floating_point or unit_ids.dtype == torch.bool:
        raise ValueError(f"unit_ids must be an integer tensor (one unit id per token), got {unit_ids.dtype}")


def select_units(unit_ids: torch.Tensor, mlm_prob: float = 0.15,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """ERNIE's selection: whole units. unit_ids (B, T) -> selected (B, T) bool.

    ``unit_ids[b, t]`` names the unit that token t belongs to (the characters of one word share an
    id; ids need only be distinct within a row) and is −1 for tokens that are never predicted
    ([CLS], [SEP], [PAD]). Each unit gets ONE random draw: exactly max(1, round(mlm_prob · u)) of
    a row's u units are chosen uniformly, and a chosen unit is selected whole — every token of it,
    wherever its tokens sit in the row. With one token per unit this is :func:`select_tokens`.
    """
    _check_batch(unit_ids, mlm_prob)
    _check_unit_dtype(unit_ids)
    units = unit_ids.cpu().long()
    if (units < -1).any():
        raise ValueError("unit_ids must be >= 0 for tokens of a unit and -1 for tokens never predicted "
                         f"([CLS]/[SEP]/[PAD]); found {int(units.min())}")
    B, T = units.shape
    valid = units >= 0
    # one key per (row, unit): row-major, so the units of each row are consecutive after unique()
    keys = torch.arange(B)[:, None] * (int(units.max()) + 2) + units
    uniq, inverse = torch.unique(keys[valid], return_inverse=True)  # (U,), one entry per valid token
    row_of_unit = uniq // (int(units.max()) + 2)  # (U,) sorted
    n_units = torch.bincount(row_of_unit, minlength=B)  # (B,)
    n_pick = _n_to_pick(n_units, mlm_prob)
    score = torch.rand(len(uniq), generator=generator)  # the one draw per unit
    # rank each unit among its row's units: sort by (row, score); rows are contiguous blocks
    order = torch.argsort(row_of_unit.double() * 2.0 + score.double())
    rank_sorted = torch.arange(len(uniq)) - torch.repeat_interleave(torch.cumsum(n_units, 0) - n_units, n_units)
    rank = torch.empty_like(rank_sorted)
    rank[order] = rank_sorted
    unit_selected = rank < n_pick[row_of_unit]  # (U,)
    selected = torch.zeros(B, T, dtype=torch.bool)
    selected[valid] = unit_selected[inverse]
    return selected.to(unit_ids.device)


def corrupt(input_ids: torch.Tensor, selected: torch.Tensor, special: SpecialTokens, vocab_size: int,
            generator: torch.Generator | None = None,
            random_token_range: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 80/10/10 corruption of the selected tokens, shared by BERT and ERNIE.

    Each selected token, independently: 80 % → [MASK], 10 % → a random token from
    ``random_token_range`` (default: every id that is not special), 10 % → unchanged. Labels hold
    the original token at selected positions and −100 elsewhere.
    """
    if selected.shape != input_ids.shape or selected.dtype != torch.bool:
        raise ValueError(f"selected must be a bool tensor shaped like input_ids {tuple(input_ids.shape)}, "
                         f"got {selected.dtype} {tuple(selected.shape)}")
    device = input_ids.device
    ids, selected = input_ids.cpu(), selected.cpu()
    B, T = ids.shape
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[selected] = ids[selected]
    u = torch.rand(B, T, generator=generator)
    to_mask = selected & (u < 0.8)  # 80 %: [MASK]
    to_random = selected & (u >= 0.8) & (u < 0.9)  # 10 %: a random token; the last 10 % stay as they are
    out = ids.clone()
    out[to_mask] = special.mask
    if random_token_range is None:
        pool = torch.tensor([i for i in range(vocab_size) if i not in set(special.ids)])
    else:
        pool = torch.arange(*random_token_range)
    out[to_random] = pool[torch.randint(len(pool), (int(to_random.sum()),), generator=generator)]
    return out.to(device), labels.to(device)


def mask_tokens(input_ids: torch.Tensor, special: SpecialTokens, vocab_size: int, mlm_prob: float = 0.15,
                generator: torch.Generator | None = None,
                random_token_range: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for BERT's MLM. input_ids (B, T) -> (corrupted ids (B, T), labels (B, T)).

    :func:`select_tokens` (15 % of the non-special tokens of each row, at least one) then
    :func:`corrupt` (80/10/10). Labels hold the original token at selected positions and −100
    elsewhere. Rows with no candidate are left alone.
    """
    selected = select_tokens(input_ids, special, mlm_prob, generator)
    return corrupt(input_ids, selected, special, vocab_size, generator, random_token_range)


def mask_units(input_ids: torch.Tensor, unit_ids: torch.Tensor, special: SpecialTokens, vocab_size: int,
               mlm_prob: float = 0.15, generator: torch.Generator | None = None,
               random_token_range: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for ERNIE's knowledge masking: whole units, then 80/10/10 per token.

    ``unit_ids`` (B, T) gives each token its unit (see :func:`select_units`; −1 for [CLS], [SEP],
    [PAD]). Basic (character) masking is one unit per token; whole-word, phrase and entity masking
    are the same call with the units of a segmentation, a chunker or a name tagger. Special tokens
    are never selected, whatever their unit id.
    """
    if unit_ids.shape != input_ids.shape:
        raise ValueError(f"unit_ids {tuple(unit_ids.shape)} must have the shape of input_ids "
                         f"{tuple(input_ids.shape)}: one unit id per token")
    _check_batch(input_ids, mlm_prob)
    _check_unit_dtype(unit_ids)
    is_special = torch.zeros_like(input_ids, dtype=torch.bool)
    for s in special.ids:
        is_special |= input_ids == s
    units = unit_ids.to(input_ids.device).masked_fill(is_special, -1)
    selected = select_units(units, mlm_prob, generator)
    return corrupt(input_ids, selected, special, vocab_size, generator, random_token_range)


def masked_positions(labels: torch.Tensor, max_predictions: int) -> torch.Tensor:
    """The masked positions of each row, as a fixed-width index (B, max_predictions).

    The original BERT data format (``masked_lm_positions`` with ``max_predictions_per_seq``):
    every row lists the positions whose label is not −100, in order, then fills up to
    ``max_predictions`` with unmasked positions, whose label is −100 and so costs nothing in
    the loss. Fixed width means fixed shapes: the loss can gather the masked hidden states
    without asking the GPU how many there are (no host sync), and ``torch.compile`` can fuse the
    whole step, or capture it in a CUDA graph.

    >>> labels = torch.tensor([[-100, 7, -100, 9], [5, -100, -100, -100]])
    >>> masked_positions(labels, 3).tolist()
    [[1, 3, 0], [0, 1, 2]]
    >>> labels.gather(1, masked_positions(labels, 3)).tolist()   # targets: −100 = padding
    [[7, 9, -100], [5, -100, -100]]
    """
    if labels.dim() != 2:
        raise ValueError(f"labels must be (batch, seq_len), got shape {tuple(labels.shape)}")
    B, T = labels.shape
    if not 1 <= max_predictions <= T:
        raise ValueError(f"max_predictions must be in [1, seq_len={T}], got {max_predictions}")
    selected = labels != IGNORE_INDEX
    counts = selected.sum(1)
    if B and int(counts.max()) > max_predictions:
        row = int(counts.argmax())
        raise ValueError(f"row {row} has {int(counts[row])} masked tokens, more than max_predictions={max_predictions}; "
                         f"raise max_predictions to at least {int(counts.max())} (round(mlm_prob · seq_len) suffices for "
                         "per-token masking; whole-unit masking can mask more, up to the length of its longest "
                         "units; or collate without max_predictions)")
    # a stable sort of "not selected" puts the selected positions first, each group in order
    order = (~selected).to(torch.uint8).argsort(dim=1, stable=True)  # (B, T)
    return order[:, :max_predictions].contiguous()


def pack_pair(a: Sequence[int], b: Sequence[int] | None, special: SpecialTokens, max_len: int) -> tuple[list[int], list[int]]:
    """[CLS] a [SEP] (b [SEP]) with segment ids; truncates the longer side from the end to fit max_len.

    >>> pack_pair([7, 8, 9], [5], SpecialTokens(0, 1, 2, 3, 4), max_len=6)
    ([2, 7, 8, 3, 5, 3], [0, 0, 0, 0, 1, 1])
    """
    a, b = list(a), (None if b is None else list(b))
    budget = max_len - (3 if b is not None else 2)
    if budget < (2 if b is not None else 1):
        raise ValueError(f"max_len {max_len} is too short for a {'pair' if b is not None else 'sentence'}")
    while len(a) + (len(b) if b is not None else 0) > budget:  # truncate the longer one (the original's rule)
        if b is not None and len(b) > len(a):
            b.pop()
        else:
            a.pop()
    ids = [special.cls, *a, special.sep]
    types = [0] * len(ids)
    if b is not None:
        ids += [*b, special.sep]
        types += [1] * (len(b) + 1)
    return ids, types


def make_nsp_examples(documents: Sequence[Sequence[Sequence[int]]], max_len: int, special: SpecialTokens,
                      seed: int = 0, random_next_prob: float = 0.5) -> list[dict]:
    """NSP examples from documents = lists of sentences = lists of token ids.

    For each document, consecutive sentences are gathered into a chunk of up to max_len − 3
    tokens; the chunk is cut at a random sentence boundary into A and B. With probability
    ``random_next_prob`` B is replaced by consecutive sentences from a random other document
    (label 1, NotNext; the unused sentences go back to be used again), else B is the real
    continuation (label 0, IsNext). Returns dicts with input_ids, token_type_ids, nsp_label.
    """
    if len(documents) < 2:
        raise ValueError("NSP needs at least two documents (random 'next sentences' come from another document)")
    rng = random.Random(seed)
    target = max_len - 3
    examples: list[dict] = []
    for d, doc in enumerate(documents):
        chunk: list[Sequence[int]] = []
        length = 0
        i = 0
        while i < len(doc):
            chunk.append(doc[i])
            length += len(doc[i])
            if i == len(doc) - 1 or length >= target:
                if len(chunk) >= 2 or (chunk and len(chunk[0]) >= 2):
                    split_sentences = len(chunk) >= 2
                    if split_sentences:
                        a_end = rng.randint(1, len(chunk) - 1)
                        a = [t for s in chunk[:a_end] for t in s]
                    else:  # one long sentence: split it inside
                        a_end = 1
                        cut = rng.randint(1, len(chunk[0]) - 1)
                        a, chunk = list(chunk[0][:cut]), [chunk[0][:cut], chunk[0][cut:]]
                    if rng.random() < random_next_prob:
                        other = rng.randrange(len(documents) - 1)
                        other += other >= d  # any document but this one
                        odoc = documents[other]
                        start = rng.randrange(len(odoc))
                        b: list[int] = []
                        for s in odoc[start:]:
                            if len(b) >= target - len(a):
                                break
                            b.extend(s)
                        label = NOT_NEXT
                        if split_sentences:
                            i -= len(chunk) - a_end  # put the unused real continuation back
                    else:
                        b = [t for s in chunk[a_end:] for t in s]
                        label = IS_NEXT
                    if a and b:
                        ids, types = pack_pair(a, b, special, max_len)
                        examples.append({"input_ids": ids, "token_type_ids": types, "nsp_label": label})
                chunk, length = [], 0
            i += 1
    return examples


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad lists of ids to one tensor (B, T) and its attention mask (1 = real token)."""
    T = max(len(s) for s in seqs) if max_len is None else max_len
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for r, s in enumerate(seqs):
        s = list(s)[:T]
        ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    return ids, mask


def collate_pretraining(examples: Sequence[dict], special: SpecialTokens, vocab_size: int, mlm_prob: float = 0.15,
                        generator: torch.Generator | None = None, max_len: int | None = None,
                        max_predictions: int | None = None) -> dict[str, torch.Tensor]:
    """NSP examples -> a padded, freshly masked batch (dynamic masking: a new draw every call).

    ``max_len``: pad every batch to this length (fixed shapes for ``torch.compile``; default:
    the longest example). ``max_predictions``: also return ``mlm_positions`` (B, max_predictions)
    from :func:`masked_positions`, which the losses in :mod:`ptm_course.models.bert` use to
    gather the masked positions without a host sync.
    """
    ids, mask = pad_batch([e["input_ids"] for e in examples], special.pad, max_len)
    types, _ = pad_batch([e["token_type_ids"] for e in examples], 0, max_len)
    masked, labels = mask_tokens(ids, special, vocab_size, mlm_prob, generator=generator)
    batch = {
        "input_ids": masked,
        "token_type_ids": types,
        "attention_mask": mask,
        "mlm_labels": labels,
        "nsp_labels": torch.tensor([e["nsp_label"] for e in examples], dtype=torch.long),
    }
    if max_predictions is not None:
        batch["mlm_positions"] = masked_positions(labels, max_predictions)
    return batch
