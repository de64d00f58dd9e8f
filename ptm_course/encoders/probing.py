"""Probing a layered encoder (chapter 06): which layers does a task read, and is the label in them?

A probe is a small classifier trained on frozen features. Here it is ELMo's own downstream recipe
(Peters et al. 2018, eq. 1): a :class:`ScalarMix` over the K layers, then a linear classifier;
the learned proportions s_k say how much of each layer the task uses.

A probe can score well without any context: if a word's label is nearly always the same (most
"the"s follow no determiner), the token layer alone predicts it. :func:`balanced_indices` with
``groups`` (the word of every token) keeps, *within every word type*, as many positive as
negative tokens, so that a feature of the word alone predicts no better than chance and what the
probe learns beyond chance comes from the context.

    idx = balanced_indices(labels, groups=words, seed=0)
    weights, accuracy = train_probe(features, labels, steps=400, groups=words, seed=0)
"""

from __future__ import annotations

from typing import Hashable, Sequence

import torch
import torch.nn.functional as F

from .elmo import ScalarMix

__all__ = ["balanced_indices", "train_probe"]


def balanced_indices(labels: Sequence[bool | int], groups: Sequence[Hashable] | None = None,
                     seed: int = 0) -> torch.Tensor:
    """Indices of a balanced subset of binary ``labels``, shuffled.

    Without ``groups``: all of the rarer class and as many of the other, drawn at random. With
    ``groups`` (one key per label, e.g. the token's word): the same within every group, and groups
    with only one class dropped, so that the group alone tells nothing about the label.

    >>> idx = balanced_indices([1, 0, 0, 0, 1, 1, 0], groups="aabbbcc", seed=0)
    >>> sorted("aabbbcc"[i] for i in idx)  # one positive and one negative of every group
    ['a', 'a', 'b', 'b', 'c', 'c']
    """
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"groups has {len(groups)} entries for {len(labels)} labels: give one group per label")
    g = torch.Generator().manual_seed(seed)
    by_group: dict = {}
    for i, lab in enumerate(labels):
        if lab not in (0, 1):
            raise ValueError(f"labels must be binary (0/1 or False/True); label {i} is {lab!r}")
        by_group.setdefault(groups[i] if groups is not None else None, ([], []))[int(lab)].append(i)
    idx = []
    for neg, pos in by_group.values():
        n = min(len(neg), len(pos))
        if n:
            idx += [torch.tensor(neg)[torch.randperm(len(neg), generator=g)[:n]],
                    torch.tensor(pos)[torch.randperm(len(pos), generator=g)[:n]]]
    if not idx:
        raise ValueError("no group has both labels: nothing to balance")
    idx = torch.cat(idx)
    return idx[torch.randperm(len(idx), generator=g)]


def train_probe(x: torch.Tensor, labels: Sequence[bool | int], steps: int, groups: Sequence[Hashable] | None = None,
                seed: int = 0, lr: float = 1e-2, train_fraction: float = 0.8) -> tuple[torch.Tensor, float]:
    """Train a ScalarMix over the K layers of ``x`` (K, N, D) and a linear classifier on the
    balanced tokens (:func:`balanced_indices`), full batch with Adam for ``steps``; returns (the
    mix's proportions s (K,), accuracy on the held-out ``1 - train_fraction`` of them)."""
    if x.dim() != 3 or x.size(1) != len(labels):
        raise ValueError(f"x must be (layers, tokens, features) with one token per label; got {tuple(x.shape)} "
                         f"for {len(labels)} labels")
    idx, y = balanced_indices(labels, groups, seed), torch.tensor([int(v) for v in labels])
    split = int(train_fraction * len(idx))
    tr, te = idx[:split], idx[split:]
    torch.manual_seed(seed)
    mix, clf = ScalarMix(x.size(0)), torch.nn.Linear(x.size(-1), 2)
    opt = torch.optim.Adam([*mix.parameters(), *clf.parameters()], lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(clf(mix(x[:, tr])), y[tr])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((clf(mix(x[:, te])).argmax(-1) == y[te]).float().mean())
    return mix.weights().detach(), acc
