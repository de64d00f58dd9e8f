"""The encoder table, runnable: five sentence encoders behind one interface.

Every encoder maps word vectors x (B, T, d) and a mask (B, T) — True at real tokens, False at
padding — to one sentence vector (B, out_dim). The classifier owns the word embedding and the
output layer, so the encoders are interchangeable on the same input::

    >>> import torch
    >>> enc = make_encoder("cnn", d_model=8)
    >>> model = SentenceClassifier(vocab_size=20, encoder=enc, d_model=8, n_classes=2)
    >>> ids = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0]])      # 0 is padding
    >>> model(ids).shape                                        # logits
    torch.Size([2, 2])

| encoder | class | computation | position information |
|---|---|---|---|
| MLP (bag of embeddings) | :class:`MLPEncoder` | feed-forward, parallel | none: a mean is order-blind |
| CNN (n-gram convolutions) | :class:`CNNEncoder` | feed-forward, parallel | local: n-gram windows |
| RNN, LSTM | :class:`RecurrentEncoder` | recurrent, serial | by construction (step order) |
| Transformer encoder layer | :class:`TransformerEncoder` | feed-forward, parallel | only through the added positions |
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ENCODER_KINDS",
    "CNNEncoder",
    "MLPEncoder",
    "RecurrentEncoder",
    "SentenceClassifier",
    "TransformerEncoder",
    "classification_loss",
    "classify_accuracy",
    "encode_texts",
    "make_encoder",
    "sequential_steps",
    "shuffle_tokens",
    "time_forward_backward",
]

ENCODER_KINDS = ("mlp", "cnn", "rnn", "lstm", "transformer")


def _check(x: torch.Tensor, mask: torch.Tensor, d_model: int, who: str) -> None:
    if x.dim() != 3 or x.size(-1) != d_model:
        raise ValueError(f"{who} expects x of shape (batch, time, {d_model}), got {tuple(x.shape)}")
    if mask.shape != x.shape[:2]:
        raise ValueError(f"{who} expects mask of shape {tuple(x.shape[:2])} (batch, time), got {tuple(mask.shape)}")


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, T, d) over the positions where mask (B, T) is True → (B, d)."""
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class MLPEncoder(nn.Module):
    """Bag of embeddings + MLP: s = W₂·relu(W₁·mean_t(x_t) + b₁) + b₂ (NNLM/word2vec-style).

    The mean over tokens is the same for every order of the tokens: the encoder cannot see
    position (不考虑位置信息).
    """

    def __init__(self, d_model: int, d_hidden: int | None = None):
        super().__init__()
        self.d_model = d_model
        self.out_dim = d_hidden or d_model
        self.mlp = nn.Sequential(nn.Linear(d_model, self.out_dim), nn.ReLU(), nn.Linear(self.out_dim, self.out_dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask, self.d_model, "MLPEncoder")
        return self.mlp(_masked_mean(x, mask))


class CNNEncoder(nn.Module):
    """n-gram convolutions (Kim 2014): for each width n, Conv1d over the sequence, relu, max over time.

    A width-n filter sees n consecutive words: local order matters (n-gram局部上下文编码), the
    position of the n-gram in the sentence does not (max-pooling). Output: len(widths)·n_filters.
    """

    def __init__(self, d_model: int, n_filters: int = 64, widths: Sequence[int] = (1, 2, 3)):
        super().__init__()
        self.d_model, self.widths = d_model, tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(d_model, n_filters, w, padding=w - 1) for w in self.widths)
        self.out_dim = n_filters * len(self.widths)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask, self.d_model, "CNNEncoder")
        x = x * mask.unsqueeze(-1).to(x.dtype)  # padding contributes zeros
        xt = x.transpose(1, 2)  # (B, d, T): Conv1d wants channels first
        pooled = []
        for w, conv in zip(self.widths, self.convs):
            h = F.relu(conv(xt))  # (B, F, T + w - 1): window j covers tokens j-w+1 .. j
            # a window is valid when it touches at least one real token
            valid = F.max_pool1d(F.pad(mask.to(x.dtype).unsqueeze(1), (w - 1, w - 1)), w, stride=1) > 0  # (B, 1, T+w-1)
            h = h.masked_fill(~valid, 0.0)  # after relu, 0 is the floor: padding never wins the max
            pooled.append(h.max(dim=-1).values)  # (B, F)
        return torch.cat(pooled, dim=-1)  # (B, F · n_widths)


class RecurrentEncoder(nn.Module):
    """An RNN or LSTM read left to right; the sentence vector is the hidden state at the last real token.

    ``cell="rnn"`` (tanh) or ``"lstm"``. Padded batches are packed, so padding never enters the
    recurrence. The computation is serial: step t needs step t−1 (循环+串行).
    """

    def __init__(self, d_model: int, d_hidden: int | None = None, cell: str = "lstm"):
        super().__init__()
        self.d_model = d_model
        self.out_dim = d_hidden or d_model
        if cell == "rnn":
            self.rnn = nn.RNN(d_model, self.out_dim, batch_first=True)
        elif cell == "lstm":
            self.rnn = nn.LSTM(d_model, self.out_dim, batch_first=True)
        else:
            raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}")
        self.cell = cell

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask, self.d_model, "RecurrentEncoder")
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if self.cell == "lstm" else state  # (1, B, H): the state after each sequence's last token
        return h[-1]


class TransformerEncoder(nn.Module):
    """Learned positions + ``nn.TransformerEncoderLayer`` (self-attention + FFN), mean-pooled.

    Self-attention itself is order-blind (a permutation of the inputs permutes the outputs):
    the word order reaches it only through the position embeddings added to x. With
    ``positions=False`` the mean-pooled output is as position-blind as the MLP's.
    """

    def __init__(self, d_model: int, n_heads: int = 4, n_layers: int = 1, max_len: int = 512,
                 dropout: float = 0.1, positions: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model, self.max_len, self.out_dim = d_model, max_len, d_model
        self.pos = nn.Embedding(max_len, d_model) if positions else None
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True)
            for _ in range(n_layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check(x, mask, self.d_model, "TransformerEncoder")
        if x.size(1) > self.max_len:
            raise ValueError(f"sequence length {x.size(1)} exceeds max_len={self.max_len}")
        if self.pos is not None:
            x = x + self.pos(torch.arange(x.size(1), device=x.device))  # x_t + p_t
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)  # True in src_key_padding_mask = ignore
        return _masked_mean(x, mask)


def make_encoder(kind: str, d_model: int, d_hidden: int | None = None, max_len: int = 512) -> nn.Module:
    """One of :data:`ENCODER_KINDS` with the course's default sizes (plain if/elif)."""
    if kind == "mlp":
        return MLPEncoder(d_model, d_hidden)
    if kind == "cnn":
        return CNNEncoder(d_model, n_filters=d_hidden or d_model)
    if kind in ("rnn", "lstm"):
        return RecurrentEncoder(d_model, d_hidden, cell=kind)
    if kind == "transformer":
        return TransformerEncoder(d_model, n_heads=4 if d_model % 4 == 0 else 1, max_len=max_len)
    raise ValueError(f"unknown encoder {kind!r}; use one of {ENCODER_KINDS}")


def sequential_steps(kind: str, seq_len: int, n_layers: int = 1) -> int:
    """Length of the critical path: how many steps must run one after the other for one sentence.

    >>> [sequential_steps(k, 100) for k in ENCODER_KINDS]
    [1, 1, 100, 100, 1]
    """
    if kind not in ENCODER_KINDS:
        raise ValueError(f"unknown encoder {kind!r}; use one of {ENCODER_KINDS}")
    return seq_len * n_layers if kind in ("rnn", "lstm") else n_layers


class SentenceClassifier(nn.Module):
    """Embedding → encoder → dropout → Linear: logits over ``n_classes``.

    ``forward(ids, mask=None)``: ids (B, T) with ``pad_id`` at padding; the mask defaults to
    ``ids != pad_id``. ``encode(ids, mask)`` returns the sentence vectors (B, out_dim).
    """

    def __init__(self, vocab_size: int, encoder: nn.Module, d_model: int, n_classes: int = 2,
                 pad_id: int = 0, dropout: float = 0.1):
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.out_dim, n_classes)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (batch, time), got {tuple(ids.shape)}")
        if mask is None:
            mask = ids != self.pad_id
        return self.encoder(self.drop(self.embed(ids)), mask)  # (B, out_dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.drop(self.encode(ids, mask)))  # (B, n_classes)


def classification_loss(model: SentenceClassifier, batch) -> tuple[torch.Tensor, dict]:
    """``loss_fn`` for :func:`ptm_course.train.fit`: batch = (ids (B, T), labels (B,))."""
    ids, labels = batch
    logits = model(ids)
    loss = F.cross_entropy(logits.float(), labels)
    return loss, {"acc": (logits.argmax(-1) == labels).float().mean()}


@torch.no_grad()
def classify_accuracy(model: nn.Module, ids: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Accuracy of ``model(ids)`` on (N, T) ids and (N,) labels, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for s in range(0, ids.size(0), batch_size):
        pred = model(ids[s : s + batch_size].to(device)).argmax(-1).cpu()
        correct += int((pred == labels[s : s + batch_size]).sum())
    model.train(was_training)
    return correct / ids.size(0)


def encode_texts(token_lists: Sequence[Sequence[str]], vocab, max_len: int, pad_id: int = 0) -> torch.Tensor:
    """Token lists → (N, L) ids, L = min(max_len, longest), right-padded with ``pad_id``, truncated.

    >>> from ptm_course.data import Vocab
    >>> v = Vocab.build([["a", "b"]], specials=["<pad>", "<unk>"])  # <pad> = 0, <unk> = 1
    >>> encode_texts([["a", "b", "a"], ["b"]], v, max_len=2).tolist()
    [[2, 3], [3, 0]]
    """
    if not token_lists:
        raise ValueError("no texts to encode")
    L = max(1, min(max_len, max(len(t) for t in token_lists)))
    out = torch.full((len(token_lists), L), pad_id, dtype=torch.long)
    for i, tokens in enumerate(token_lists):
        ids = vocab.encode(list(tokens)[:L])
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def shuffle_tokens(ids: torch.Tensor, pad_id: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """The same sentences with their real tokens in a random order (padding stays at the end)."""
    out = ids.clone()
    for i in range(ids.size(0)):
        n = int((ids[i] != pad_id).sum())
        perm = torch.randperm(n, generator=generator)
        out[i, :n] = ids[i, :n][perm]
    return out


def time_forward_backward(model: nn.Module, batch_size: int, seq_len: int, vocab_size: int,
                          repeats: int = 3, device: str | torch.device = "cpu") -> float:
    """Median seconds of one forward + backward pass on a random (batch_size, seq_len) batch."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab_size, (batch_size, seq_len), generator=gen).to(device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    model.to(device).train()

    def sync() -> None:  # CUDA runs asynchronously: wait for the kernels before reading the clock
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for i in range(repeats + 1):  # the first run warms up (allocations, kernels)
        sync()
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        sync()
        if i:
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    return sorted(times)[len(times) // 2]
