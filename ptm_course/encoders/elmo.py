"""ELMo (Peters et al. 2018): a character CNN, a 2-layer biLSTM language model, and ScalarMix.

Read top to bottom: character ids → :class:`CharCNN` (char embeddings, n-gram filters, max over
characters, :class:`Highway` layers, projection) gives one context-free vector per token;
a forward LSTM stack reads left to right and predicts the next word, a backward stack reads
right to left and predicts the previous word; both share the token layer and the softmax
(:class:`BiLM`). Every layer of the biLM is a representation of each token; a downstream task
mixes them with :class:`ScalarMix`, γ · Σ_k softmax(w)_k · h_k, learning its own proportions.

Character ids follow allenai/bilm-tf with AllenNLP's +1 shift, so that id 0 means "no token"::

    >>> ids = word_char_ids("ok", max_chars=6)
    >>> ids                      # BOW, 'o', 'k', EOW, then PAD (each = byte/marker + 1)
    [259, 112, 108, 260, 261, 261]
    >>> word_char_ids(BOS_TOKEN, max_chars=6)   # the sentence-start token: BOW, BOS, EOW, PAD…
    [259, 257, 260, 261, 261, 261]

Compared with the original: the sizes are configurable (``ELMoConfig.original()`` has the
paper's), the LSTMs are ``nn.LSTM(..., proj_size=d_proj)`` — the LSTMP of the paper — but the
cell and projection clipping of bilm-tf is left out, and the softmax is a full one (bilm-tf
samples it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BOS_CHAR",
    "BOS_TOKEN",
    "BOW_CHAR",
    "EOS_CHAR",
    "EOS_TOKEN",
    "EOW_CHAR",
    "N_CHARS",
    "PAD_CHAR",
    "BiLM",
    "BiLMBatch",
    "BiLMOutput",
    "CharCNN",
    "ELMoConfig",
    "Highway",
    "ScalarMix",
    "batch_to_char_ids",
    "bilm_loss",
    "bilm_targets",
    "make_bilm_batch",
    "reverse_padded",
    "word_char_ids",
]

# bilm-tf's markers (raw values 256..260, after the 256 byte values), shifted by +1 as in AllenNLP
BOS_CHAR = 256 + 1  # beginning of sentence
EOS_CHAR = 257 + 1  # end of sentence
BOW_CHAR = 258 + 1  # beginning of word
EOW_CHAR = 259 + 1  # end of word
PAD_CHAR = 260 + 1  # padding inside a word (after EOW)
N_CHARS = 262  # ids 0..261; 0 = the padding *token* (no word here)
BOS_TOKEN, EOS_TOKEN = "<S>", "</S>"


@lru_cache(maxsize=200_000)
def _word_char_ids(word: str, max_chars: int) -> tuple[int, ...]:
    if word == BOS_TOKEN:
        chars = [BOS_CHAR]
    elif word == EOS_TOKEN:
        chars = [EOS_CHAR]
    else:
        chars = [b + 1 for b in word.encode("utf-8", "ignore")[: max_chars - 2]]  # byte + 1
    ids = [BOW_CHAR, *chars, EOW_CHAR]
    return tuple(ids + [PAD_CHAR] * (max_chars - len(ids)))


def word_char_ids(word: str, max_chars: int = 50) -> list[int]:
    """The ``max_chars`` character ids of one token: BOW, its UTF-8 bytes (truncated to
    ``max_chars − 2``), EOW, then PAD; ``<S>``/``</S>`` are BOW, BOS/EOS, EOW."""
    if not isinstance(word, str) or not word:
        raise ValueError(f"a token must be a non-empty string, got {word!r}")
    if max_chars < 3:
        raise ValueError(f"max_chars must be at least 3 (BOW, one character, EOW), got {max_chars}")
    return list(_word_char_ids(word, max_chars))


def batch_to_char_ids(sentences: Sequence[Sequence[str]], max_chars: int = 50,
                      add_bos_eos: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists → (char_ids (B, T, max_chars), mask (B, T)).

    T is the longest sentence (+2 for ``<S>`` and ``</S>``); shorter sentences are padded with
    all-zero tokens, where the mask is False.
    """
    if not sentences:
        raise ValueError("no sentences")
    rows = [([BOS_TOKEN, *s, EOS_TOKEN] if add_bos_eos else list(s)) for s in sentences]
    T = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), T, max_chars, dtype=torch.long)
    for b, row in enumerate(rows):
        if row:
            ids[b, : len(row)] = torch.tensor([_word_char_ids(w, max_chars) for w in row])
    return ids, ids[..., 0] > 0


# --------------------------------------------------------------------------------------------
# The token layer: character CNN + highway + projection
# --------------------------------------------------------------------------------------------


class Highway(nn.Module):
    """Highway layers (Srivastava et al. 2015), AllenNLP layout.

    For each layer: [n; g] = W·x + b (one Linear to 2d), then
    y = σ(g) ⊙ x + (1 − σ(g)) ⊙ relu(n): the gate σ(g) decides how much of x to carry through.
    The gate's bias starts at 1, so a fresh layer mostly carries its input.

    >>> hw = Highway(4, n_layers=2)
    >>> hw(torch.zeros(3, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(self, d: int, n_layers: int = 2):
        super().__init__()
        self.d = d
        self.layers = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(n_layers))
        for layer in self.layers:
            with torch.no_grad():
                layer.bias[d:].fill_(1.0)  # gate bias: carry the input at first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(-1) != self.d:
            raise ValueError(f"Highway expects a last dimension of {self.d}, got shape {tuple(x.shape)}")
        for layer in self.layers:
            n, g = layer(x).chunk(2, dim=-1)  # (..., d) each
            g = torch.sigmoid(g)
            x = g * x + (1 - g) * F.relu(n)  # y = σ(g)·x + (1 − σ(g))·relu(n)
        return x


@dataclass
class ELMoConfig:
    """Sizes of the biLM. ``filters`` are (width, number of filters) pairs."""

    vocab_size: int  # the softmax's word vocabulary
    char_dim: int = 16
    filters: tuple[tuple[int, int], ...] = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256))
    n_highway: int = 2
    d_proj: int = 128  # the token layer and each LSTM's output (the LSTMP projection)
    d_hidden: int = 512  # each LSTM's cell size
    n_layers: int = 2
    dropout: float = 0.1
    max_chars: int = 50

    @classmethod
    def tiny(cls, vocab_size: int = 50) -> "ELMoConfig":
        """For tests: a few thousand parameters."""
        return cls(vocab_size, char_dim=4, filters=((1, 4), (2, 4), (3, 8)), n_highway=1, d_proj=8,
                   d_hidden=12, dropout=0.0, max_chars=12)

    @classmethod
    def original(cls, vocab_size: int = 793_471) -> "ELMoConfig":
        """The paper's biLM (bilm-tf's ``options.json``): 4096-cell LSTMs projected to 512."""
        return cls(vocab_size, char_dim=16,
                   filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)),
                   n_highway=2, d_proj=512, d_hidden=4096, n_layers=2, dropout=0.1, max_chars=50)


class CharCNN(nn.Module):
    """Character ids (B, T, C) → token vectors (B, T, d_proj): the context-free token layer.

    For each (width w, n filters): Conv1d over the C characters, max over positions, relu;
    concatenate, highway, project (bilm-tf order: max-pool, then activation).
    """

    def __init__(self, config: ELMoConfig):
        super().__init__()
        self.max_chars = config.max_chars
        self.char_embed = nn.Embedding(N_CHARS, config.char_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(config.char_dim, n, w) for w, n in config.filters)
        n_total = sum(n for _, n in config.filters)
        self.highway = Highway(n_total, config.n_highway)
        self.proj = nn.Linear(n_total, config.d_proj)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        if char_ids.dim() != 3 or char_ids.size(-1) != self.max_chars:
            raise ValueError(f"CharCNN expects char ids of shape (batch, time, {self.max_chars}), got {tuple(char_ids.shape)}")
        B, T, C = char_ids.shape  # batch, tokens, characters per token
        x = self.char_embed(char_ids.view(B * T, C)).transpose(1, 2)  # (B·T, char_dim, C)
        feats = [F.relu(conv(x).max(dim=-1).values) for conv in self.convs]  # each (B·T, n_filters)
        h = self.highway(torch.cat(feats, dim=-1))  # (B·T, Σ n_filters)
        return self.proj(h).view(B, T, -1)  # (B, T, d_proj)


# --------------------------------------------------------------------------------------------
# The biLM
# --------------------------------------------------------------------------------------------


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end.

    >>> reverse_padded(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])).tolist()
    [[3, 2, 1], [5, 4, 0]]
    """
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).expand(B, T)  # (B, T)
    L = lengths.to(x.device).view(B, 1)
    idx = torch.where(t < L, L - 1 - t, t)  # position t of the reversed row reads position idx
    idx = idx.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class BiLMOutput(NamedTuple):
    """``layers``: n_layers + 1 tensors (B, T, 2·d_proj) — layer 0 is the token layer twice
    [x; x], layer k is [forward_k; backward_k]; ``mask`` (B, T)."""

    layers: list[torch.Tensor]
    forward_top: torch.Tensor  # (B, T, d_proj): predicts token t+1
    backward_top: torch.Tensor  # (B, T, d_proj): predicts token t-1
    mask: torch.Tensor


class BiLM(nn.Module):
    """ELMo's bidirectional language model.

    forward LM:  h→_{k,t} from x_1..x_t     → softmax → P(w_{t+1} | w_1..w_t)
    backward LM: h←_{k,t} from x_t..x_T     → softmax → P(w_{t-1} | w_t..w_T)
    The token layer (CharCNN) and the softmax are shared; the two LSTM stacks are not. Between
    LSTM layers a residual connection adds each layer's input to its output (from layer 2 on).

    >>> model = BiLM(ELMoConfig.tiny(vocab_size=30))
    >>> ids, mask = batch_to_char_ids([["a", "b"], ["c"]], max_chars=12)
    >>> out = model(ids, mask)
    >>> len(out.layers), tuple(out.layers[0].shape)      # token layer + 2 LSTM layers
    (3, (2, 4, 16))
    """

    def __init__(self, config: ELMoConfig):
        super().__init__()
        self.config = config
        d = config.d_proj
        if config.d_hidden < d:
            raise ValueError(f"d_hidden ({config.d_hidden}) must be at least d_proj ({d}): the LSTM state is projected down to d_proj")
        # LSTMP: the cell of size d_hidden is projected to d_proj, and the projection is what recurs.
        # With d_hidden == d_proj there is nothing to project (and PyTorch's faster kernels apply).
        proj = d if config.d_hidden > d else 0
        self.token_layer = CharCNN(config)
        self.forward_lstms = nn.ModuleList(
            nn.LSTM(d, config.d_hidden, batch_first=True, proj_size=proj) for _ in range(config.n_layers))
        self.backward_lstms = nn.ModuleList(
            nn.LSTM(d, config.d_hidden, batch_first=True, proj_size=proj) for _ in range(config.n_layers))
        self.drop = nn.Dropout(config.dropout)
        self.softmax = nn.Linear(d, config.vocab_size)  # shared by both directions

    def _stack(self, lstms: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for k, lstm in enumerate(lstms):
            h, _ = lstm(self.drop(x))  # (B, T, d_proj)
            if k > 0:
                h = h + x  # residual connection between LSTM layers
            outs.append(h)
            x = h
        return outs

    def forward(self, char_ids: torch.Tensor, mask: torch.Tensor | None = None) -> BiLMOutput:
        if mask is None:
            mask = char_ids[..., 0] > 0
        if mask.shape != char_ids.shape[:2]:
            raise ValueError(f"mask must have shape {tuple(char_ids.shape[:2])}, got {tuple(mask.shape)}")
        lengths = mask.sum(1)
        x = self.token_layer(char_ids)  # (B, T, d)
        fwd = self._stack(self.forward_lstms, x)  # padding is at the end: it never reaches real tokens
        bwd_rev = self._stack(self.backward_lstms, reverse_padded(x, lengths))  # read right to left
        bwd = [reverse_padded(h, lengths) for h in bwd_rev]  # back to left-to-right positions
        layers = [torch.cat([x, x], dim=-1)] + [torch.cat([f, b], dim=-1) for f, b in zip(fwd, bwd)]
        return BiLMOutput(layers, fwd[-1], bwd[-1], mask)

    def lm_logits(self, out: BiLMOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """(forward logits, backward logits), each (B, T, vocab_size), from the shared softmax."""
        return self.softmax(self.drop(out.forward_top)), self.softmax(self.drop(out.backward_top))

    @torch.no_grad()
    def embed(self, sentences: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token lists → (layers (n_layers+1, B, T, 2·d_proj), mask (B, T)), without ``<S>``/``</S>``."""
        was_training = self.training
        self.eval()
        ids, mask = batch_to_char_ids(sentences, self.config.max_chars)
        device = next(self.parameters()).device
        out = self(ids.to(device), mask.to(device))
        self.train(was_training)
        layers = torch.stack(out.layers)[:, :, 1:-1]  # drop <S> (first) and the last column
        lengths = mask.sum(1) - 2  # real words per sentence
        keep = torch.arange(layers.size(2)).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T-2)
        return layers * keep[None, :, :, None].to(layers), keep  # zeros at padding


def bilm_targets(word_ids: torch.Tensor, ignore_index: int = -100) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of the two LMs from word ids (B, T) (padding = ``ignore_index``).

    The forward LM at t predicts the word at t+1; the backward LM at t predicts the word at t−1.

    >>> f, b = bilm_targets(torch.tensor([[5, 6, 7]]))
    >>> f.tolist(), b.tolist()
    ([[6, 7, -100]], [[-100, 5, 6]])
    """
    if word_ids.dim() != 2:
        raise ValueError(f"word_ids must have shape (batch, time), got {tuple(word_ids.shape)}")
    fill = torch.full_like(word_ids[:, :1], ignore_index)
    forward = torch.cat([word_ids[:, 1:], fill], dim=1)  # y→_t = w_{t+1}
    backward = torch.cat([fill, word_ids[:, :-1]], dim=1)  # y←_t = w_{t-1}
    return forward, backward


class BiLMBatch(NamedTuple):
    char_ids: torch.Tensor  # (B, T, max_chars)
    word_ids: torch.Tensor  # (B, T) softmax ids, -100 at padding


def make_bilm_batch(sentences: Sequence[Sequence[str]], vocab, max_chars: int = 50) -> BiLMBatch:
    """Token lists → a :class:`BiLMBatch`: ``<S>``/``</S>`` added; words outside ``vocab`` map to its unk."""
    char_ids, mask = batch_to_char_ids(sentences, max_chars)
    word_ids = torch.full(mask.shape, -100, dtype=torch.long)
    for b, s in enumerate(sentences):
        word_ids[b, : len(s) + 2] = torch.tensor(vocab.encode([BOS_TOKEN, *s, EOS_TOKEN]))
    return BiLMBatch(char_ids, word_ids)


def bilm_loss(model: BiLM, batch: BiLMBatch) -> tuple[torch.Tensor, dict]:
    """``loss_fn`` for :func:`ptm_course.train.fit`: the forward + backward LM losses (Peters et al. 2018, eq. 1).

    The paper maximises the sum of the two directions' log-likelihoods. Here each direction's
    cross-entropy is a mean over its tokens, and their sum is halved so that the value reads on
    the scale of one language model; a constant factor does not change the minimum. The metrics
    are each direction's cross-entropy in nats (``nll_forward``, ``nll_backward``): exp gives
    its perplexity.
    """
    char_ids, word_ids = batch
    out = model(char_ids, word_ids != -100)
    logits_f, logits_b = model.lm_logits(out)
    y_f, y_b = bilm_targets(word_ids)
    V = logits_f.size(-1)
    loss_f = F.cross_entropy(logits_f.reshape(-1, V).float(), y_f.reshape(-1))
    loss_b = F.cross_entropy(logits_b.reshape(-1, V).float(), y_b.reshape(-1))
    loss = (loss_f + loss_b) / 2
    return loss, {"nll_forward": loss_f.detach(), "nll_backward": loss_b.detach()}


# --------------------------------------------------------------------------------------------
# ScalarMix
# --------------------------------------------------------------------------------------------


class ScalarMix(nn.Module):
    """ELMo_task = γ · Σ_k s_k · h_k with s = softmax(w): one learned weight per layer.

    w starts at 0 (equal proportions) and γ at 1. Each downstream task learns its own w and γ.

    >>> mix = ScalarMix(3)
    >>> mix([torch.ones(2, 4), torch.zeros(2, 4), torch.zeros(2, 4)])[0, 0].item()  # γ·(1/3)
    0.3333333432674408
    """

    def __init__(self, n_layers: int):
        super().__init__()
        self.n_layers = n_layers
        self.w = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def weights(self) -> torch.Tensor:
        """s = softmax(w): the proportions of the layers (they sum to 1)."""
        return torch.softmax(self.w, dim=0)

    def forward(self, layers: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        if len(layers) != self.n_layers:
            raise ValueError(f"ScalarMix was built for {self.n_layers} layers, got {len(layers)}")
        s = self.weights()
        return self.gamma * sum(s[k] * h for k, h in enumerate(layers))  # γ · Σ_k s_k h_k
