"""NNLM (Bengio, Ducharme, Vincent & Jauvin 2003): a neural n-gram language model.

Predict word t from the n−1 words before it. Each context word is looked up in ONE shared
matrix C (V × m) — the word feature vectors, i.e. the embeddings — the n−1 vectors are
concatenated into x, and

    y = b + W·x + U·tanh(d + H·x)            (Bengio et al. 2003, eq. 1)
    P(w_t = i | context) = softmax(y)_i        (a full softmax over the V words)

W (V × (n−1)m) are the optional "direct connections" from the embeddings to the output; U
(V × h), H (h × (n−1)m), b and d are the rest. The model is trained as a language model
(cross-entropy of the next word, i.e. perplexity); the embedding C is a by-product.

    >>> import torch
    >>> model = NNLM(NNLMConfig.tiny(vocab_size=20))
    >>> x = torch.randint(0, 20, (4, 3))            # 4 contexts of n−1 = 3 words
    >>> model(x).shape                              # logits over the 20 words
    torch.Size([4, 20])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .evaluate import Embeddings

__all__ = ["NNLM", "NNLMConfig", "nnlm_forward", "nnlm_loss"]


def nnlm_forward(
    x: torch.Tensor,
    C: torch.Tensor,
    H: torch.Tensor,
    d: torch.Tensor,
    U: torch.Tensor,
    b: torch.Tensor,
    W: torch.Tensor | None = None,
) -> torch.Tensor:
    """The NNLM's logits from plain tensors: y = b + W·x + U·tanh(d + H·x).

    ``x``: (B, n−1) word ids; ``C``: (V, m); ``H``: (h, (n−1)·m); ``d``: (h,); ``U``: (V, h);
    ``b``: (V,); ``W``: (V, (n−1)·m) or ``None`` (no direct connections). Returns (B, V).
    """
    if x.dim() != 2:
        raise ValueError(f"x must be (batch, n-1) word ids, got shape {tuple(x.shape)}")
    B, n1 = x.shape
    V, m = C.shape
    if H.shape[1] != n1 * m:
        raise ValueError(f"H has {H.shape[1]} input columns but n-1 = {n1} context words × m = {m} give {n1 * m}")
    e = C[x].reshape(B, n1 * m)  # x = [C(w_{t-n+1}); …; C(w_{t-1})], (B, (n−1)·m)
    a = torch.tanh(e @ H.T + d)  # tanh(d + H·x), (B, h)
    y = a @ U.T + b  # b + U·tanh(d + H·x), (B, V)
    if W is not None:
        y = y + e @ W.T  # + W·x, the direct connections
    return y


@dataclass
class NNLMConfig:
    """Sizes of an NNLM. The paper's best Brown model: n = 5, m = 60, h = 100 (or 50) with direct connections."""

    vocab_size: int
    context: int = 4  # n − 1 words of history
    d_emb: int = 60  # m, columns of C
    d_hidden: int = 100  # h
    direct: bool = True  # W: direct connections from x to the output
    dropout: float = 0.0  # on x (not in the paper; useful on small data)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context", "d_emb", "d_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def tiny(cls, vocab_size: int = 50) -> "NNLMConfig":
        """A test-sized model: n−1 = 3, m = 8, h = 16."""
        return cls(vocab_size=vocab_size, context=3, d_emb=8, d_hidden=16)


class NNLM(nn.Module):
    """Bengio's neural probabilistic language model, parameters named as in the paper."""

    def __init__(self, config: NNLMConfig):
        super().__init__()
        self.config = c = config
        V, m, h, n1 = c.vocab_size, c.d_emb, c.d_hidden, c.context
        self.C = nn.Embedding(V, m)  # the shared word feature matrix (the embeddings)
        self.H = nn.Linear(n1 * m, h)  # H, with the hidden bias d as H.bias
        self.U = nn.Linear(h, V, bias=False)  # hidden → output
        self.W = nn.Linear(n1 * m, V, bias=False) if c.direct else None  # direct connections
        self.b = nn.Parameter(torch.zeros(V))  # output biases
        self.drop = nn.Dropout(c.dropout)
        nn.init.normal_(self.C.weight, std=0.1)
        if self.W is not None:
            nn.init.zeros_(self.W.weight)  # start as the plain MLP; the direct path is learned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, n−1) ids of the previous words → logits (B, V) for the next word."""
        if x.dim() != 2 or x.size(1) != self.config.context:
            raise ValueError(f"expected (batch, {self.config.context}) context ids, got shape {tuple(x.shape)}")
        B = x.size(0)
        e = self.drop(self.C(x).reshape(B, -1))  # x = concatenated C(w), (B, (n−1)·m)
        y = self.U(torch.tanh(self.H(e))) + self.b  # b + U·tanh(d + H·x)
        if self.W is not None:
            y = y + self.W(e)  # + W·x
        return y

    def embeddings(self, words: list[str]) -> Embeddings:
        """The rows of C as :class:`Embeddings` (``words`` = the vocabulary, in id order)."""
        return Embeddings(words, self.C.weight)


def nnlm_loss(model: NNLM, batch) -> tuple[torch.Tensor, dict]:
    """``loss_fn`` for ``ptm_course.train.fit``: batch = (x (B, n−1), y (B,)) → mean cross-entropy, perplexity."""
    x, y = batch
    loss = F.cross_entropy(model(x).float(), y)  # −1/B Σ log P(w_t | w_{t−n+1..t−1})
    return loss, {"ppl": loss.detach().exp()}
