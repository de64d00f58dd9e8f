"""GloVe (Pennington, Socher & Manning 2014): factorise the global co-occurrence matrix.

Word2vec slides a window over the corpus and updates as it goes (local). GloVe first counts,
over the *whole* corpus, how often each word j appears near each word i — the co-occurrence
matrix X (global) — then fits vectors to it by weighted least squares:

    J = Σ_{i,j: X_ij>0} f(X_ij) · (w_i·w̃_j + b_i + b̃_j − log X_ij)²                    (eq. 8)

    f(x) = (x / x_max)^α  if x < x_max  else 1        (α = 0.75; x_max = 100, or 10 on small corpora)

f gives rare pairs (noisy counts) little weight and caps frequent ones; pairs never seen
(X_ij = 0, most of the V² cells) cost nothing. What this file follows from the reference C code
(stanfordnlp/GloVe ``cooccur.c`` and ``glove.c``):

* symmetric window (default 15 words each side) within a line; unknown words are skipped, and
  each co-occurrence adds 1/distance;
* AdaGrad with η = 0.05 and squared-gradient sums starting at 1.0; each gradient component is
  clipped to ±``grad_clip`` (100); a record whose error is not finite is skipped; like glove.c,
  the biases are updated with fdiff/√G (no η) — a quirk of the reference, kept here so the
  update equals it;
* initial values (vectors and biases) uniform in ±0.5/(d+1): glove.c's ``initialize_parameters``
  divides by ``vector_size`` after incrementing it to make room for the bias, i.e. by d + 1;
* the exported vectors are W + W̃ (word + context), which the paper found slightly better.

What differs: glove.c updates one record at a time (several threads, no locks). Here a batch of
records is updated at once from the same parameters with ``index_add_`` — tensor code that runs
on CPU and GPU. And the order: the reference pipeline shuffles the co-occurrence records once,
with its ``shuffle`` tool, before training, and every epoch of glove.c reads that one shuffled
file in the same order; here the non-zero cells are put in a new random order every epoch
(``torch.randperm``, seeded by ``GloVeConfig.seed``).

    >>> X = cooccurrence_matrix(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 0, 0]), 3, window=2)
    >>> X.toarray().round(2).tolist()    # 0 1 2 0: pairs at distance 1 add 1, at distance 2 add 1/2
    [[0.0, 1.5, 1.5], [1.5, 0.0, 1.0], [1.5, 1.0, 0.0]]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import sparse

from ..data.vocab import Vocab
from ..train import History
from .evaluate import Embeddings
from ..data.corpus import build_vocab, encode_corpus
from ..utils import num_threads

__all__ = [
    "GloVe",
    "GloVeConfig",
    "GloVeReport",
    "cooccurrence_matrix",
    "glove_adagrad_step",
    "glove_loss",
    "glove_weight",
]


# =============================================================================================
# The global co-occurrence matrix
# =============================================================================================


def cooccurrence_matrix(
    ids: torch.Tensor | np.ndarray,
    sentence: torch.Tensor | np.ndarray,
    vocab_size: int,
    window: int = 15,
    symmetric: bool = True,
    distance_weighting: bool = True,
) -> sparse.csr_matrix:
    """X_ij = Σ over occurrences of j within ``window`` words of i (same line) of 1/distance.

    ``ids`` (N,): the corpus as word ids (unknown words already removed); ``sentence`` (N,):
    the line of each id (windows never cross lines). Built offset by offset: for distance
    k = 1..window, all N−k pairs (ids[t], ids[t+k]) at once, summed into a sparse matrix —
    a handful of vectorised passes, no Python loop over pairs. ``symmetric`` also counts the
    word on the right as a context of the word on the left (glove.c's default); otherwise
    X_ij only counts j to the left of i.
    """
    ids = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64)
    sentence = np.asarray(sentence.cpu() if isinstance(sentence, torch.Tensor) else sentence)
    if ids.ndim != 1 or ids.shape != sentence.shape:
        raise ValueError(f"ids and sentence must be 1-D and equal in shape, got {ids.shape}, {sentence.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size})")
    left_ctx = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)  # A[r, l]: l is k to the left of r
    for k in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        same = sentence[k:] == sentence[:-k]
        right, left = ids[k:][same], ids[:-k][same]
        weight = np.full(len(right), 1.0 / k if distance_weighting else 1.0)
        left_ctx = left_ctx + sparse.csr_matrix((weight, (right, left)), shape=(vocab_size, vocab_size))  # duplicates summed
    X = left_ctx + left_ctx.T if symmetric else left_ctx
    X = sparse.csr_matrix(X)
    X.sum_duplicates()
    X.eliminate_zeros()
    return X


# =============================================================================================
# Weighting, loss, and one AdaGrad step
# =============================================================================================


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """f(x) = (x / x_max)^α for x < x_max, else 1 (paper eq. 9).

    >>> [round(v, 4) for v in glove_weight(torch.tensor([1.0, 50.0, 100.0, 500.0]), x_max=100).tolist()]
    [0.0316, 0.5946, 1.0, 1.0]
    """
    if x_max <= 0:
        raise ValueError(f"x_max must be positive, got {x_max}")
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))


def glove_loss(
    W: torch.Tensor, W_ctx: torch.Tensor, b: torch.Tensor, b_ctx: torch.Tensor,
    rows: torch.Tensor, cols: torch.Tensor, x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75,
) -> torch.Tensor:
    """J = ½ Σ f(X_ij)·(w_i·w̃_j + b_i + b̃_j − log X_ij)² over the given records (differentiable).

    The ½ is glove.c's (its gradient is then f·diff); ``rows``/``cols``/``x`` list the records.
    """
    diff = (W[rows] * W_ctx[cols]).sum(-1) + b[rows] + b_ctx[cols] - torch.log(x)
    return 0.5 * (glove_weight(x, x_max, alpha) * diff * diff).sum()


@torch.no_grad()
def glove_adagrad_step(
    W: torch.Tensor, W_ctx: torch.Tensor, b: torch.Tensor, b_ctx: torch.Tensor,
    G: torch.Tensor, G_ctx: torch.Tensor, Gb: torch.Tensor, Gb_ctx: torch.Tensor,
    rows: torch.Tensor, cols: torch.Tensor, x: torch.Tensor,
    eta: float = 0.05, x_max: float = 100.0, alpha: float = 0.75, grad_clip: float = 100.0,
) -> torch.Tensor:
    """One AdaGrad update on a batch of records (i = ``rows``, j = ``cols``, X_ij = ``x``), in place.

    Per record, as glove.c (G: running sums of squared steps, starting at 1):

        diff  = w_i·w̃_j + b_i + b̃_j − log X_ij
        fdiff = f(X_ij) · diff
        t_i   = η · clip(fdiff · w̃_j, ±grad_clip)        t_j = η · clip(fdiff · w_i, ±grad_clip)
        w_i  −= t_i / √G_i                              w̃_j −= t_j / √G̃_j
        G_i  += t_i²                                    G̃_j += t_j²
        b_i  −= fdiff / √Gb_i                           b̃_j −= fdiff / √Gb̃_j
        Gb_i += fdiff²                                  Gb̃_j += fdiff²

    All records of the batch read the parameters as they were before it; a word that appears
    several times gets the sum of its updates. Returns the batch's cost ½ Σ f·diff².
    """
    if not (rows.shape == cols.shape == x.shape) or rows.dim() != 1:
        raise ValueError("rows, cols and x must be 1-D and of equal length")
    wi, wj = W.index_select(0, rows), W_ctx.index_select(0, cols)  # (B, d)
    diff = (wi * wj).sum(-1) + b.index_select(0, rows) + b_ctx.index_select(0, cols) - torch.log(x)
    fdiff = glove_weight(x, x_max, alpha) * diff
    # glove.c skips a record whose diff is not finite: with fdiff = 0 every update below is 0
    ok = torch.isfinite(diff) & torch.isfinite(fdiff)
    fdiff = torch.where(ok, fdiff, torch.zeros_like(fdiff))
    cost = 0.5 * (fdiff * torch.where(ok, diff, torch.zeros_like(diff))).sum()
    t_i = (fdiff.unsqueeze(1) * wj).clamp_(-grad_clip, grad_clip).mul_(eta)  # η·clip(∂J/∂w_i)
    t_j = (fdiff.unsqueeze(1) * wi).clamp_(-grad_clip, grad_clip).mul_(eta)  # η·clip(∂J/∂w̃_j)
    W.index_add_(0, rows, t_i / G.index_select(0, rows).sqrt(), alpha=-1.0)  # w_i −= t_i/√G_i
    W_ctx.index_add_(0, cols, t_j / G_ctx.index_select(0, cols).sqrt(), alpha=-1.0)
    G.index_add_(0, rows, t_i * t_i)  # G_i += t_i²
    G_ctx.index_add_(0, cols, t_j * t_j)
    b.index_add_(0, rows, fdiff / Gb.index_select(0, rows).sqrt(), alpha=-1.0)  # b_i −= fdiff/√Gb_i (no η: glove.c)
    b_ctx.index_add_(0, cols, fdiff / Gb_ctx.index_select(0, cols).sqrt(), alpha=-1.0)
    Gb.index_add_(0, rows, fdiff * fdiff)
    Gb_ctx.index_add_(0, cols, fdiff * fdiff)
    return cost


# =============================================================================================
# The model
# =============================================================================================


@dataclass
class GloVeConfig:
    """Hyper-parameters; defaults are glove.c's except ``dim`` (100, to match word2vec)."""

    dim: int = 100
    window: int = 15  # co-occurrence window, each side
    min_count: int = 5
    x_max: float = 100.0
    alpha: float = 0.75
    eta: float = 0.05
    grad_clip: float = 100.0
    epochs: int = 25
    batch_size: int = 4096  # records per update
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "window", "min_count", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.x_max <= 0 or self.eta <= 0 or self.grad_clip <= 0:
            raise ValueError("x_max, eta and grad_clip must be positive")


@dataclass
class GloVeReport:
    """What :meth:`GloVe.fit` did: cost per epoch (in ``history``) and time."""

    history: History
    seconds: float
    records: int  # non-zero cells of X visited (all epochs)

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        return f"{self.records:,} records in {self.seconds:.1f} s = {self.records_per_second:,.0f} records/s"


class GloVe:
    """Word vectors W, context vectors W̃, biases b, b̃, and their AdaGrad sums.

        >>> X = sparse.csr_matrix(np.array([[0, 4.0, 1.0], [4.0, 0, 2.0], [1.0, 2.0, 0]]))
        >>> model = GloVe(Vocab(["a", "b", "c"], [5, 6, 3], unk_token=None), GloVeConfig(dim=2, epochs=50, x_max=4))
        >>> report = model.fit(X, progress=False)
        >>> report.history.train[-1]["cost"] < report.history.train[0]["cost"]
        True
    """

    def __init__(self, vocab: Vocab, config: GloVeConfig | None = None, device: str | torch.device = "cpu"):
        self.vocab = vocab
        self.config = cfg = config or GloVeConfig()
        self.device = dev = torch.device(device)
        V, d = len(vocab), cfg.dim
        if V < 2:
            raise ValueError(f"the vocabulary has {V} word(s); GloVe needs at least 2")
        g = torch.Generator().manual_seed(cfg.seed)

        def init(*shape: int) -> torch.Tensor:  # glove.c: (rand − 0.5) / (d + 1)
            return ((torch.rand(*shape, generator=g, dtype=torch.float64) - 0.5) / (d + 1)).float().to(dev)

        self.W, self.W_ctx = init(V, d), init(V, d)
        self.b, self.b_ctx = init(V), init(V)
        # squared-gradient sums start at 1, "so the initial value of eta is equal to the initial learning rate"
        self.G, self.G_ctx = torch.ones(V, d, device=dev), torch.ones(V, d, device=dev)
        self.Gb, self.Gb_ctx = torch.ones(V, device=dev), torch.ones(V, device=dev)
        self.epochs_trained = 0

    @classmethod
    def from_sentences(
        cls, sentences: Sequence[Sequence[str]], config: GloVeConfig | None = None, device: str | torch.device = "cpu"
    ) -> tuple["GloVe", sparse.csr_matrix]:
        """Vocabulary (``min_count``), co-occurrence matrix (``window``), and a fresh model: (model, X)."""
        config = config or GloVeConfig()
        vocab = build_vocab(sentences, config.min_count)
        corpus = encode_corpus(sentences, vocab)
        X = cooccurrence_matrix(corpus.ids, corpus.sentence, len(vocab), window=config.window)
        return cls(vocab, config, device), X

    def __repr__(self) -> str:
        c = self.config
        return f"GloVe(vocab={len(self.vocab)}, dim={c.dim}, x_max={c.x_max}, eta={c.eta}, device={self.device})"

    def fit(self, X: sparse.spmatrix, epochs: int | None = None, progress: bool = True, threads: int | None = None) -> GloVeReport:
        """AdaGrad over the non-zero cells of ``X``, shuffled each epoch, ``batch_size`` at a time.

        ``threads``: torch threads during training; on a CPU the default is **one**. A batch step
        is a dozen small operations on 4,096 records, and split over threads each ends at a
        barrier where all wait for the slowest: on chapter 03's problem two threads were slower than
        one on a quiet 2-core machine, and several times slower while another process kept a core
        busy (``benchmarks/glove_threads.py``; the numbers are in ``benchmarks/README.md``).
        """
        from tqdm.auto import tqdm

        cfg = self.config
        if X.shape != (len(self.vocab), len(self.vocab)):
            raise ValueError(f"X is {X.shape} but the vocabulary has {len(self.vocab)} words")
        epochs = cfg.epochs if epochs is None else epochs
        coo = sparse.coo_matrix(X)
        keep = coo.data > 0
        if not keep.any():
            raise ValueError("X has no positive entry: nothing to fit")
        dev = self.device
        rows = torch.from_numpy(coo.row[keep].astype(np.int64)).to(dev)
        cols = torch.from_numpy(coo.col[keep].astype(np.int64)).to(dev)
        vals = torch.from_numpy(coo.data[keep].astype(np.float32)).to(dev)
        n, B = rows.numel(), cfg.batch_size
        gen = torch.Generator(device=dev).manual_seed(cfg.seed * 1000 + self.epochs_trained + 1)
        history = History()
        bar = tqdm(total=epochs * n, unit="rec", unit_scale=True, disable=not progress, desc="GloVe")
        start = time.perf_counter()
        if threads is None and dev.type == "cpu":
            threads = 1
        with num_threads(threads):
            for epoch in range(epochs):
                order = torch.randperm(n, generator=gen, device=dev)  # a new order each epoch (glove's shuffle runs once)
                cost = torch.zeros((), device=dev)
                for s in range(0, n, B):
                    idx = order[s : s + B]
                    cost += glove_adagrad_step(
                        self.W, self.W_ctx, self.b, self.b_ctx, self.G, self.G_ctx, self.Gb, self.Gb_ctx,
                        rows[idx], cols[idx], vals[idx], cfg.eta, cfg.x_max, cfg.alpha, cfg.grad_clip,
                    )
                    bar.update(idx.numel())
                self.epochs_trained += 1
                history.train.append({"step": self.epochs_trained, "cost": float(cost) / n})
                bar.set_postfix(cost=f"{history.train[-1]['cost']:.4f}", refresh=False)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
        bar.close()
        return GloVeReport(history=history, seconds=seconds, records=epochs * n)

    def embeddings(self, combine: str = "sum") -> Embeddings:
        """Exported vectors: ``"sum"`` W + W̃ (glove.c's default, model 2), ``"word"`` W, ``"context"`` W̃."""
        if combine == "sum":
            vectors = self.W + self.W_ctx
        elif combine == "word":
            vectors = self.W
        elif combine == "context":
            vectors = self.W_ctx
        else:
            raise ValueError(f"combine must be 'sum', 'word' or 'context', got {combine!r}")
        return Embeddings(self.vocab.itos, vectors)
