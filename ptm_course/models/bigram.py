"""Bigram language models: the baseline every later language model is compared with.

A bigram model predicts the next token from the previous one only: P(w_t | w_{t-1}).

* :class:`CountBigramLM` counts pairs and smooths the counts (no training, one pass).
* :class:`BigramLM` learns the same conditional with a neural network: an embedding of the
  previous token and a softmax over the vocabulary, trained with ``ptm_course.train.fit``.

Both are scored by perplexity, exp of the mean negative log-likelihood of the next token:

    ppl = exp( -1/N · Σ_t log P(w_t | w_{t-1}) )

A perplexity of K means the model is, on average, as unsure as a fair choice among K tokens.

    >>> import torch
    >>> ids = torch.tensor([1, 2, 1, 2, 1, 3])
    >>> lm = CountBigramLM.fit(ids, vocab_size=4, smoothing="add_k", k=0.0)
    >>> [round(p, 6) for p in lm.prob(torch.tensor([1, 1]), torch.tensor([2, 3])).tolist()]   # c(1,2)=2, c(1,3)=1, c(1)=3
    [0.666667, 0.333333]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..data.lm import as_id_tensor
from ..metrics import perplexity

__all__ = ["BigramLM", "CountBigramLM", "bigram_loss"]


@dataclass
class CountBigramLM:
    """Smoothed bigram counts, stored sparsely (a 33k-word vocabulary has 10⁹ possible pairs).

    ``smoothing="add_k"``:       P(w|v) = (c(v,w) + k) / (c(v) + k·V)
    ``smoothing="interpolate"``: P(w|v) = λ·c(v,w)/c(v) + (1−λ)·P_uni(w), with an add-one
    unigram P_uni(w) = (c(w) + 1) / (N + V); a context never seen falls back to P_uni.
    """

    vocab_size: int
    pair_keys: torch.Tensor  # sorted unique prev·V + next
    pair_counts: torch.Tensor  # count of each key
    context_counts: torch.Tensor  # c(v) as a context, shape (V,)
    unigram_counts: torch.Tensor  # c(w) as a target, shape (V,)
    smoothing: str = "interpolate"
    k: float = 1.0
    lam: float = 0.8

    @classmethod
    def fit(cls, ids, vocab_size: int, smoothing: str = "interpolate", k: float = 1.0, lam: float = 0.8) -> "CountBigramLM":
        """Count every adjacent pair of the id stream ``ids`` (vectorised: no Python loop)."""
        if smoothing not in ("add_k", "interpolate"):
            raise ValueError(f"smoothing must be 'add_k' or 'interpolate', got {smoothing!r}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {lam}")
        t = as_id_tensor(ids)
        if t.numel() < 2:
            raise ValueError("need at least two tokens to count a bigram")
        if int(t.max()) >= vocab_size or int(t.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {vocab_size}); got range [{int(t.min())}, {int(t.max())}]")
        prev, nxt = t[:-1], t[1:]
        keys, counts = torch.unique(prev * vocab_size + nxt, return_counts=True)  # sorted
        return cls(
            vocab_size=vocab_size,
            pair_keys=keys,
            pair_counts=counts,
            context_counts=torch.bincount(prev, minlength=vocab_size),
            unigram_counts=torch.bincount(nxt, minlength=vocab_size),
            smoothing=smoothing,
            k=k,
            lam=lam,
        )

    def pair_count(self, prev: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        """c(prev, next) for every pair, looked up with a binary search in the sorted keys."""
        query = as_id_tensor(prev.reshape(-1)) * self.vocab_size + as_id_tensor(nxt.reshape(-1))
        pos = torch.searchsorted(self.pair_keys, query).clamp(max=self.pair_keys.numel() - 1)
        found = self.pair_keys[pos] == query
        return torch.where(found, self.pair_counts[pos], torch.zeros_like(query)).reshape(prev.shape)

    def prob(self, prev: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        """P(next | prev), elementwise."""
        c_pair = self.pair_count(prev, nxt).double()
        c_ctx = self.context_counts[prev].double()
        V = self.vocab_size
        if self.smoothing == "add_k":
            if self.k <= 0 and bool((c_ctx == 0).any()):
                raise ValueError("k=0 gives 0/0 for a context never seen in training; use k > 0")
            p = (c_pair + self.k) / (c_ctx + self.k * V)
        else:
            n = self.unigram_counts.sum().double()
            p_uni = (self.unigram_counts[nxt].double() + 1.0) / (n + V)
            p_bi = torch.where(c_ctx > 0, c_pair / c_ctx.clamp(min=1), p_uni)
            p = self.lam * p_bi + (1.0 - self.lam) * p_uni
        return p.float()

    def next_token_distribution(self, prev: int) -> torch.Tensor:
        """P(· | prev) over the whole vocabulary (sums to 1)."""
        nxt = torch.arange(self.vocab_size)
        return self.prob(torch.full_like(nxt, prev), nxt)

    def mean_nll(self, ids) -> float:
        """Mean negative log-likelihood of every next token of ``ids`` (nats)."""
        t = as_id_tensor(ids)
        p = self.prob(t[:-1], t[1:]).double()
        if bool((p <= 0).any()):
            raise ValueError("some next token has probability 0: use smoothing (k > 0 or 'interpolate')")
        return float(-p.log().mean())

    def perplexity(self, ids) -> float:
        return perplexity(self.mean_nll(ids))


class BigramLM(nn.Module):
    """A neural bigram model: logits = W · E[prev] + b.

    The embedding E (V × d) and the output layer W (V × d) factorise the V × V table of bigram
    logits, so the model has 2·V·d + V parameters instead of V². With ``tie_weights`` the
    output layer reuses E.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, tie_weights: bool = False):
        super().__init__()
        if vocab_size < 2 or d_model < 1:
            raise ValueError(f"need vocab_size >= 2 and d_model >= 1, got {vocab_size}, {d_model}")
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, d_model)
        self.out = nn.Linear(d_model, vocab_size)
        if tie_weights:
            self.out.weight = self.embed.weight
        nn.init.normal_(self.embed.weight, std=0.02)
        if not tie_weights:
            nn.init.normal_(self.out.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def forward(self, prev: torch.Tensor) -> torch.Tensor:
        """``prev``: (B,) or (B, 1) token ids → logits (B, V)."""
        if prev.dim() == 2 and prev.size(1) == 1:
            prev = prev[:, 0]
        if prev.dim() != 1:
            raise ValueError(f"BigramLM takes the previous token only: shape (B,) or (B, 1), got {tuple(prev.shape)}")
        return self.out(self.embed(prev))  # (B, d) -> (B, V)


def bigram_loss(model: BigramLM, batch) -> tuple[torch.Tensor, dict]:
    """``loss_fn`` for ``fit``: batch = (prev (B,) or (B,1), next (B,)) → mean cross-entropy."""
    prev, nxt = batch
    logits = model(prev)
    loss = F.cross_entropy(logits.float(), nxt)
    return loss, {"ppl": loss.detach().exp()}
