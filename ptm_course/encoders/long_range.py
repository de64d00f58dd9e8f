"""Long-range dependencies: how far back a recurrent network and a self-attention layer can reach.

    g = input_gradient_vs_distance(lambda x: unroll(RNNCell(32, 32), x), torch.randn(8, 100, 32))
    model = LastTokenReader("transformer", vocab_size=16, d_model=64, seq_len=48)
    batches = recall_batches(300, 32, 48, 16, seed=0)     # the answer is the first token
    fit(model, batches, recall_loss, max_steps=300, lr=3e-3)

The notes' encoder table says self-attention solves long-range dependencies (解决长距离依赖)
where an RNN's back-propagation through time makes gradients vanish. Two measurements:

* :func:`input_gradient_vs_distance` — ‖∂L/∂x_t‖ for a loss on the *last* output, against the
  distance T − 1 − t. Through a recurrence the gradient crosses one Jacobian per step; through
  attention every input is one step from every output.
* the **recall task** — read a sequence of random tokens, output the first one at the end
  (:func:`recall_batches`). The answer sits T − 1 steps back; nothing in between helps.
  :class:`LastTokenReader` reads the sequence with one encoder (chapter 05's RNN or LSTM cell,
  or one Transformer layer with learned positions) and predicts from its last position only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .rnn import LSTMCell, RNNCell, unroll

__all__ = ["READER_KINDS", "LastTokenReader", "input_gradient_vs_distance", "recall_accuracy", "recall_batches",
           "recall_loss"]

READER_KINDS = ("rnn", "lstm", "transformer")


def input_gradient_vs_distance(encode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂x_t‖ for every position t, indexed by the distance T − 1 − t to the last position.

    ``encode`` maps inputs (B, T, d) to outputs (B, T, h) (a tuple's first element is taken: an
    unrolled LSTM returns (h, c)). The loss reads the last position only, L = Σ_b u·y_{T−1}, with
    a fixed random unit vector u; returns a tensor (T,), averaged over the batch.

    >>> layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    >>> input_gradient_vs_distance(layer, torch.randn(2, 5, 8)).shape
    torch.Size([5])
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, time, features), got shape {tuple(x.shape)}")
    x = x.detach().clone().requires_grad_(True)
    y = encode(x)
    y = y[0] if isinstance(y, tuple) else y
    if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
        raise ValueError(f"encode must return (batch, time, hidden) for x of shape {tuple(x.shape)}, got {tuple(y.shape)}")
    u = torch.randn(y.size(-1), generator=torch.Generator().manual_seed(0)).to(y)
    (y[:, -1] @ (u / u.norm())).sum().backward()
    return x.grad.norm(dim=-1).mean(0).flip(0).detach()  # (T,), entry k = distance k


class LastTokenReader(nn.Module):
    """Embed tokens, run one encoder over them, classify from the **last** position only.

    ``kind``: ``"rnn"`` / ``"lstm"`` (chapter 05's cells, unrolled; the LSTM's forget-gate bias
    starts at 1) or ``"transformer"`` (learned positions + one ``nn.TransformerEncoderLayer``, no
    dropout). ``d_hidden`` sets the recurrent state's size (to match parameter counts).
    """

    def __init__(self, kind: str, vocab_size: int, d_model: int = 64, seq_len: int = 64, d_hidden: int | None = None,
                 n_heads: int = 4):
        super().__init__()
        if kind not in READER_KINDS:
            raise ValueError(f"kind must be one of {READER_KINDS}, got {kind!r}")
        self.kind, self.seq_len = kind, seq_len
        self.embed = nn.Embedding(vocab_size, d_model)
        if kind == "transformer":
            self.pos = nn.Embedding(seq_len, d_model)
            self.encoder = nn.TransformerEncoderLayer(d_model, n_heads, 2 * d_model, dropout=0.0, batch_first=True)
            width = d_model
        else:
            width = d_hidden or d_model
            self.encoder = RNNCell(d_model, width) if kind == "rnn" else LSTMCell(d_model, width, forget_bias=1.0)
        self.out = nn.Linear(width, vocab_size)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded inputs (B, T, d_model) -> outputs at every position (B, T, width)."""
        if self.kind == "transformer":
            if x.size(1) > self.seq_len:
                raise ValueError(f"sequence length {x.size(1)} exceeds seq_len={self.seq_len}")
            return self.encoder(x + self.pos(torch.arange(x.size(1), device=x.device)))
        out = unroll(self.encoder, x)
        return out[0] if isinstance(out, tuple) else out

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.encode(self.embed(ids))[:, -1])  # (B, vocab): from the last position only


def recall_batches(n_batches: int, batch_size: int, seq_len: int, vocab_size: int, seed: int = 0) -> list[dict]:
    """``n_batches`` batches of the recall task: ``ids`` (B, T) random tokens 1 … V−1, ``target`` = ``ids[:, 0]``."""
    if seq_len < 2 or vocab_size < 3:
        raise ValueError(f"need seq_len ≥ 2 and vocab_size ≥ 3, got {seq_len} and {vocab_size}")
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(1, vocab_size, (batch_size, seq_len), generator=g)
        out.append({"ids": ids, "target": ids[:, 0].clone()})
    return out


def recall_loss(model: LastTokenReader, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of the first token, predicted at the last position; metric ``acc``."""
    logits = model(batch["ids"])
    return F.cross_entropy(logits, batch["target"]), {"acc": (logits.argmax(-1) == batch["target"]).float().mean()}


@torch.no_grad()
def recall_accuracy(model: LastTokenReader, batches: list[dict]) -> float:
    """Fraction of ``batches``' sequences whose first token the model names at the end."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    right = total = 0
    for b in batches:
        right += int((model(b["ids"].to(device)).argmax(-1).cpu() == b["target"]).sum())
        total += b["target"].numel()
    model.train(was_training)
    return right / total
