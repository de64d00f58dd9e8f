"""Recurrent networks: the RNN and LSTM cells written out, and an LSTM language model.

The cells are for reading and measuring; they compute exactly what ``nn.RNN`` / ``nn.LSTM``
compute (same parameter names and layout, PyTorch gate order i, f, g, o, two bias vectors), so
weights copy across and the outputs agree::

    >>> import torch
    >>> lstm = torch.nn.LSTM(3, 4, batch_first=True)
    >>> cell = LSTMCell.from_torch(lstm)          # copies weight_ih_l0, weight_hh_l0, biases
    >>> x = torch.randn(2, 5, 3)                  # (B, T, input_size)
    >>> ours, (h, c) = unroll(cell, x)
    >>> torch.allclose(ours, lstm(x)[0], atol=1e-6)
    True

The language model (:class:`LSTMLM`) uses ``nn.LSTM`` itself for speed, and is trained with
truncated back-propagation through time (TBPTT): the token stream is cut into ``batch_size``
parallel streams, each read ``bptt`` tokens at a time; the hidden state is carried from one
batch to the next but *detached*, so gradients flow back at most ``bptt`` steps.

    batches = BPTTBatches(train_ids, batch_size=20, bptt=35)     # (x, y, reset) in stream order
    loss_fn = TBPTTLoss()                                         # carries the hidden state
    history = fit(model, batches, loss_fn, max_steps=1_000, grad_clip=0.25)
    ppl = perplexity(evaluate_lm(model, valid_ids))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BPTTBatches",
    "LMBatch",
    "LSTMCell",
    "LSTMLM",
    "LSTMLMConfig",
    "RNNCell",
    "TBPTTLoss",
    "evaluate_lm",
    "gradient_vs_distance",
    "state_changes",
    "unroll",
]


def _check_input(x: torch.Tensor, input_size: int, who: str) -> None:
    if x.dim() != 2 or x.size(-1) != input_size:
        raise ValueError(f"{who} expects x of shape (batch, {input_size}), got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# The cells, written out
# --------------------------------------------------------------------------------------------


class RNNCell(nn.Module):
    """Elman RNN cell: h_t = tanh(W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh).

    Parameters are named and shaped like ``nn.RNN``'s layer 0 (``weight_ih`` (H, I),
    ``weight_hh`` (H, H), ``bias_ih`` (H,), ``bias_hh`` (H,)) and initialised the same way,
    uniform in [-1/√H, 1/√H].

    >>> cell = RNNCell(3, 4)
    >>> cell(torch.zeros(2, 3)).shape            # h_0 defaults to zeros
    torch.Size([2, 4])
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """One step: x (B, I), h (B, H) or None → h_t (B, H)."""
        _check_input(x, self.input_size, "RNNCell")
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)

    @classmethod
    def from_torch(cls, rnn: nn.RNN | nn.RNNCell, layer: int = 0) -> "RNNCell":
        """A cell holding copies of layer ``layer`` of a tanh ``nn.RNN`` (or an ``nn.RNNCell``)."""
        suffix = "" if isinstance(rnn, nn.RNNCell) else f"_l{layer}"
        if getattr(rnn, "nonlinearity", "tanh") != "tanh":
            raise ValueError(f"RNNCell is the tanh RNN; got nonlinearity={rnn.nonlinearity!r}")
        if not getattr(rnn, "bias", True):
            raise ValueError("RNNCell has biases; copy from an nn.RNN built with bias=True")
        w_ih = getattr(rnn, f"weight_ih{suffix}")
        cell = cls(w_ih.size(1), w_ih.size(0))
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(rnn, f"{name}{suffix}"))
        return cell.to(w_ih.device)


class LSTMCell(nn.Module):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with a forget gate), PyTorch layout.

    The four gates come from one matrix product, stacked in the order **i, f, g, o**::

        [i; f; g; o] = W_ih·x_t + b_ih + W_hh·h_{t-1} + b_hh          (4H,)
        i, f, o = σ(·)   g = tanh(·)
        c_t = f ⊙ c_{t-1} + i ⊙ g          the cell state: the "upper arrow", changes slowly
        h_t = o ⊙ tanh(c_t)                the hidden state: the "lower arrow", changes quickly

    ``forget_bias`` is added to the forget gate's part of ``bias_hh`` at initialisation
    (0 = PyTorch's default; 1 is the usual choice of Jozefowicz et al. 2015, which makes the
    cell state keep its content at the start of training).

    >>> cell = LSTMCell(3, 4)
    >>> h, c = cell(torch.zeros(2, 3))
    >>> h.shape, c.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)
        with torch.no_grad():
            self.bias_hh[hidden_size : 2 * hidden_size] += forget_bias

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, I), state (h, c) each (B, H) or None → (h_t, c_t)."""
        _check_input(x, self.input_size, "LSTMCell")
        if state is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch order: input, forget, cell candidate, output
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # c_t = f ⊙ c_{t-1} + i ⊙ g
        h = o * torch.tanh(c)  # h_t = o ⊙ tanh(c_t)
        return h, c

    @classmethod
    def from_torch(cls, lstm: nn.LSTM | nn.LSTMCell, layer: int = 0) -> "LSTMCell":
        """A cell holding copies of layer ``layer`` of an ``nn.LSTM`` (or an ``nn.LSTMCell``)."""
        if isinstance(lstm, nn.LSTM) and lstm.proj_size:
            raise ValueError("LSTMCell has no projection; copy from an nn.LSTM with proj_size=0")
        if not getattr(lstm, "bias", True):
            raise ValueError("LSTMCell has biases; copy from an nn.LSTM built with bias=True")
        suffix = "" if isinstance(lstm, nn.LSTMCell) else f"_l{layer}"
        w_ih = getattr(lstm, f"weight_ih{suffix}")
        cell = cls(w_ih.size(1), w_ih.size(0) // 4)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(lstm, f"{name}{suffix}"))
        return cell.to(w_ih.device)


def unroll(cell: RNNCell | LSTMCell, x: torch.Tensor, state=None, keep_cells: bool = False):
    """Run ``cell`` over a sequence, one step after the other (the serial computation).

    x: (B, T, I) batch-first. Returns ``(outputs (B, T, H), last_state)`` where ``last_state`` is
    h (RNN) or (h, c) (LSTM). With ``keep_cells=True`` an LSTM also returns the cell states:
    ``(outputs, cells (B, T, H), (h, c))``.
    """
    if x.dim() != 3 or x.size(-1) != cell.input_size:
        raise ValueError(f"unroll expects x of shape (batch, time, {cell.input_size}), got {tuple(x.shape)}")
    outputs, cells = [], []
    for t in range(x.size(1)):
        state = cell(x[:, t], state)
        if isinstance(state, tuple):
            outputs.append(state[0])
            cells.append(state[1])
        else:
            outputs.append(state)
    out = torch.stack(outputs, dim=1)  # (B, T, H)
    if keep_cells:
        if not cells:
            raise ValueError("keep_cells=True needs an LSTMCell (an RNN has no cell state)")
        return out, torch.stack(cells, dim=1), state
    return out, state


# --------------------------------------------------------------------------------------------
# Measurements: the vanishing gradient, and the slow cell state
# --------------------------------------------------------------------------------------------


def gradient_vs_distance(cell: RNNCell | LSTMCell, x: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂h_t‖ for every step t, as a function of the distance T−1−t to the loss.

    The loss looks at the last hidden state only, L = Σ_b u·h_{T-1} with a fixed random unit
    vector u, so every gradient that reaches an earlier h_t has travelled back through
    T−1−t steps of the recurrence (back-propagation through time). Returns a tensor of shape
    (T,): entry d is the gradient norm at distance d, averaged over the batch.

    >>> g = gradient_vs_distance(RNNCell(4, 8), torch.randn(3, 10, 4))
    >>> g.shape, bool(g[0] > 0)
    (torch.Size([10]), True)
    """
    if x.dim() != 3 or x.size(-1) != cell.input_size:
        raise ValueError(f"gradient_vs_distance expects x of shape (batch, time, {cell.input_size}), got {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(cell.hidden_size, generator=gen).to(x)
    u = u / u.norm()
    hiddens: list[torch.Tensor] = []
    state = None
    for t in range(x.size(1)):
        state = cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()  # keep ∂L/∂h_t, which autograd would otherwise free
        hiddens.append(h)
    loss = (hiddens[-1] @ u).sum()  # L = Σ_b u·h_{T-1}
    loss.backward()
    norms = torch.stack([h.grad.norm(dim=-1).mean() for h in hiddens])  # (T,) indexed by t
    return norms.flip(0).detach()  # indexed by distance T-1-t


def state_changes(cell: LSTMCell, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """How much the cell state and the hidden state move at each step of an LSTM.

    Returns ``{"cell": (T-1,), "hidden": (T-1,)}``: the relative change
    ‖s_t − s_{t-1}‖ / ‖s_{t-1}‖ of c_t and of h_t, averaged over the batch. The notes: the upper
    arrow (c) changes slowly, the lower arrow (h) quickly.
    """
    with torch.no_grad():
        h, c, _ = unroll(cell, x, keep_cells=True)

    def rel(s: torch.Tensor) -> torch.Tensor:
        return ((s[:, 1:] - s[:, :-1]).norm(dim=-1) / s[:, :-1].norm(dim=-1).clamp_min(1e-8)).mean(0)

    return {"cell": rel(c), "hidden": rel(h)}


# --------------------------------------------------------------------------------------------
# The LSTM language model
# --------------------------------------------------------------------------------------------


@dataclass
class LSTMLMConfig:
    """Sizes of :class:`LSTMLM`. ``tie_weights`` needs ``d_model == d_hidden``."""

    vocab_size: int
    d_model: int = 256
    d_hidden: int = 256
    n_layers: int = 2
    dropout: float = 0.2
    tie_weights: bool = True
    forget_bias: float = 1.0

    @classmethod
    def tiny(cls, vocab_size: int = 50) -> "LSTMLMConfig":
        """For tests: a model of a few thousand parameters."""
        return cls(vocab_size=vocab_size, d_model=16, d_hidden=16, n_layers=2, dropout=0.0)


class LSTMLM(nn.Module):
    """Embedding → n-layer ``nn.LSTM`` → dropout → softmax layer (weights tied to the embedding).

    ``forward(x, state=None) -> (logits, state)`` with x (B, T) token ids, logits (B, T, V) and
    state = (h, c), each (n_layers, B, d_hidden): pass it back in to continue the streams.

    >>> model = LSTMLM(LSTMLMConfig.tiny(vocab_size=50))
    >>> logits, (h, c) = model(torch.zeros(2, 7, dtype=torch.long))
    >>> logits.shape, h.shape
    (torch.Size([2, 7, 50]), torch.Size([2, 2, 16]))
    """

    def __init__(self, config: LSTMLMConfig):
        super().__init__()
        if config.tie_weights and config.d_model != config.d_hidden:
            raise ValueError(
                f"tie_weights=True needs d_model == d_hidden (the softmax reuses the embedding); "
                f"got d_model={config.d_model}, d_hidden={config.d_hidden}"
            )
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.d_model, config.d_hidden, config.n_layers, batch_first=True,
                            dropout=config.dropout if config.n_layers > 1 else 0.0)
        self.head = nn.Linear(config.d_hidden, config.vocab_size)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        if config.tie_weights:
            self.head.weight = self.embed.weight  # one V × d matrix reads and writes words
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():  # forget-gate bias (the second quarter of each bias_hh)
            H = config.d_hidden
            for layer in range(config.n_layers):
                getattr(self.lstm, f"bias_hh_l{layer}")[H : 2 * H] += config.forget_bias

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        if x.dim() != 2:
            raise ValueError(f"LSTMLM expects token ids of shape (batch, time), got {tuple(x.shape)}")
        if state is not None and state[0].size(1) != x.size(0):
            raise ValueError(f"state is for batch size {state[0].size(1)} but x has batch size {x.size(0)}")
        emb = self.drop(self.embed(x))  # (B, T, d_model)
        out, state = self.lstm(emb, state)  # (B, T, d_hidden); state: 2 × (n_layers, B, d_hidden)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state


class LMBatch(NamedTuple):
    """A TBPTT batch: inputs x (B, T), targets y (B, T) = x shifted by one, and ``reset``
    (True on the first batch of a pass over the data, where the carried state must start over)."""

    x: torch.Tensor
    y: torch.Tensor
    reset: bool


class BPTTBatches:
    """Cut a token stream into ``batch_size`` parallel streams read ``bptt`` tokens at a time.

    The stream of N ids becomes a (batch_size, N // batch_size) matrix, row b being the b-th
    consecutive slice of the text; batch k is columns [k·bptt, (k+1)·bptt) and its targets the
    same columns shifted by one. Row b of batch k+1 continues row b of batch k, which is what
    lets the hidden state be carried across batches.

    >>> batches = BPTTBatches(torch.arange(20), batch_size=2, bptt=4)
    >>> len(batches)
    3
    >>> first = next(iter(batches))
    >>> first.x.tolist(), first.y.tolist(), first.reset
    ([[0, 1, 2, 3], [10, 11, 12, 13]], [[1, 2, 3, 4], [11, 12, 13, 14]], True)
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int):
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(f"ids must be a 1-D stream of token ids, got shape {tuple(ids.shape)}")
        if batch_size <= 0 or bptt <= 0:
            raise ValueError(f"batch_size and bptt must be positive, got {batch_size}, {bptt}")
        n = ids.numel() // batch_size
        if n < 2:
            raise ValueError(f"{ids.numel()} tokens are too few for {batch_size} streams")
        self.data = ids[: n * batch_size].view(batch_size, n)  # (B, N // B)
        self.bptt = bptt

    def __len__(self) -> int:
        return math.ceil((self.data.size(1) - 1) / self.bptt)

    def __iter__(self) -> Iterator[LMBatch]:
        for k, start in enumerate(range(0, self.data.size(1) - 1, self.bptt)):
            end = min(start + self.bptt, self.data.size(1) - 1)
            yield LMBatch(self.data[:, start:end], self.data[:, start + 1 : end + 1], k == 0)


def _detach(state):
    return None if state is None else tuple(s.detach() for s in state)


class TBPTTLoss:
    """``loss_fn(model, batch)`` for :func:`ptm_course.train.fit` that carries the hidden state.

    It feeds the state left by the previous batch into the model, keeps the new state
    *detached* (truncated BPTT: gradients stop at the batch boundary) and starts from zeros
    whenever ``batch.reset`` is true. Returns (mean cross-entropy, {"ppl": exp(loss)}).
    """

    def __init__(self) -> None:
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, model: LSTMLM, batch: LMBatch):
        x, y, reset = batch
        if reset or (self.state is not None and self.state[0].size(1) != x.size(0)):
            self.state = None
        logits, state = model(x, self.state)
        self.state = _detach(state)  # the next batch continues from here, without a gradient path
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
        return loss, {"ppl": torch.exp(loss.detach())}


@torch.no_grad()
def evaluate_lm(model: LSTMLM, ids: torch.Tensor, batch_size: int = 10, bptt: int = 70) -> float:
    """Mean negative log-likelihood per token of a stream, reading it as in training (state carried)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    state, total, count = None, 0.0, 0
    for x, y, _ in BPTTBatches(ids, batch_size, bptt):
        logits, state = model(x.to(device), state)
        total += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.to(device).reshape(-1), reduction="sum"))
        count += y.numel()
    model.train(was_training)
    return total / count
