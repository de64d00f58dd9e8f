"""Interpolated Kneser–Ney: the n-gram baseline a neural language model has to beat (chapter 01).

    lm = KneserNeyLM.fit(train_ids, vocab_size=V, order=3)
    lm.perplexity(valid_ids)

Bengio et al. (2003) compared their NNLM with the best smoothed n-gram models of the day, and
the best was (modified) Kneser–Ney. Two ideas make it good (Chen & Goodman 1999):

1. **Absolute discounting, interpolated.** Take a fixed amount D off every seen count and give
   the mass freed, D · (number of distinct continuations), to the lower order:

   P(w | u v) = max(c(u v w) − D, 0) / c(u v ·) + D · N₁₊(u v ·) / c(u v ·) · P(w | v)

   (a context never seen passes all its mass down: P(w | u v) = P(w | v)).
2. **Continuation counts for the lower orders.** The lower order is used when the longer context
   was rare, so it should ask "how many different words precede w?" rather than "how often
   does w occur?": "Francisco" is frequent, but nearly always after "San", so it makes a poor
   guess after a new word. Below the highest order, counts are replaced by N₁₊(· v w), the number
   of distinct words seen before "v w"; the unigram level is N₁₊(· w) / N₁₊(· ·), interpolated
   with the uniform distribution so that every word of the vocabulary keeps some mass.

D per order is Ney's estimate D = n₁ / (n₁ + 2 n₂), from the numbers n₁, n₂ of n-grams seen once
and twice at that order (of continuation counts below the top). Every conditional distribution
sums to 1 over the vocabulary (a test checks it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import torch

from ..data.lm import as_id_tensor

__all__ = ["KneserNeyLM"]


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    if n1 == 0:
        return 0.5
    return n1 / (n1 + 2 * n2)


@dataclass
class KneserNeyLM:
    """An interpolated Kneser–Ney n-gram model over token ids ``0 … vocab_size − 1``."""

    vocab_size: int
    order: int
    discounts: list[float]  # D for orders 1 … order
    # per order k (1-based): counts of k-grams (raw counts at the top order, continuation counts below)
    counts: list[dict[tuple, int]] = field(repr=False)
    # per order k ≥ 2: for each context (k−1 tokens): (sum of its counts, number of distinct continuations)
    context_totals: list[dict[tuple, tuple[int, int]]] = field(repr=False)

    @classmethod
    def fit(cls, ids, vocab_size: int, order: int = 3) -> "KneserNeyLM":
        """Count the n-grams of the token stream ``ids`` (1-D) for orders 1 … ``order``."""
        if order < 1:
            raise ValueError(f"order must be ≥ 1, got {order}")
        seq = as_id_tensor(ids).tolist()
        if len(seq) < order:
            raise ValueError(f"a stream of {len(seq)} tokens is too short for order {order}")
        if max(seq) >= vocab_size or min(seq) < 0:
            raise ValueError(f"token ids must lie in 0 … {vocab_size - 1}, got {min(seq)} … {max(seq)}")
        top = Counter(tuple(seq[i:i + order]) for i in range(len(seq) - order + 1))
        counts: list[Counter] = [Counter() for _ in range(order)]
        counts[order - 1] = top
        # continuation counts: N1+(· g) for every lower-order n-gram g = the distinct words seen before g
        for k in range(order - 1, 0, -1):  # from order k+1 down to order k
            for gram in counts[k]:
                counts[k - 1][gram[1:]] += 1
        discounts = [_discount(c) for c in counts]
        totals: list[dict] = [{}]
        for k in range(1, order):
            acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
            for gram, c in counts[k].items():
                a = acc[gram[:-1]]
                a[0] += c
                a[1] += 1
            totals.append({ctx: (s, n) for ctx, (s, n) in acc.items()})
        return cls(vocab_size, order, discounts, [dict(c) for c in counts], totals)

    def _unigram(self) -> tuple[float, int, float]:
        if not hasattr(self, "_uni"):
            c1 = self.counts[0]
            self._uni = (float(sum(c1.values())), len(c1), self.discounts[0])
        return self._uni

    def prob(self, context: tuple[int, ...], w: int) -> float:
        """P(w | context), context = the previous ``order − 1`` tokens (fewer: a lower order)."""
        context = tuple(context)[len(context) - (self.order - 1):] if self.order > 1 else ()
        total, distinct, d1 = self._unigram()
        p = max(self.counts[0].get((w,), 0) - d1, 0.0) / total + d1 * distinct / total / self.vocab_size
        for k in range(1, len(context) + 1):  # orders 2 … len(context) + 1, shortest context first
            ctx = context[len(context) - k:]
            s_n = self.context_totals[k].get(ctx)
            if s_n is None:  # context never seen: all its mass goes to the lower order
                continue
            s, n = s_n
            d = self.discounts[k]
            p = max(self.counts[k].get(ctx + (w,), 0) - d, 0.0) / s + d * n / s * p
        return p

    def mean_nll(self, ids, start: int = 1) -> float:
        """Mean −log P(w_t | the previous order − 1 tokens) over tokens ``start`` … end of the stream.

        Tokens before position order − 1 use the shorter contexts they have. ``start`` picks the
        tokens scored: an NNLM with n − 1 words of context scores ``start = n − 1`` onwards.
        """
        seq = as_id_tensor(ids).tolist()
        if not 1 <= start < len(seq):
            raise ValueError(f"start must be in 1 … {len(seq) - 1} for a stream of {len(seq)} tokens, got {start}")
        nll = 0.0
        for t in range(start, len(seq)):
            nll -= math.log(self.prob(tuple(seq[max(0, t - self.order + 1):t]), seq[t]))
        return nll / (len(seq) - start)

    def perplexity(self, ids, start: int = 1) -> float:
        """exp of :meth:`mean_nll`."""
        return math.exp(self.mean_nll(ids, start))

    def distribution(self, context: tuple[int, ...]) -> torch.Tensor:
        """P(· | context) over the whole vocabulary, shape (vocab_size,)."""
        return torch.tensor([self.prob(context, w) for w in range(self.vocab_size)], dtype=torch.float64)
