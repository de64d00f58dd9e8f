"""Word2Vec (Mikolov et al. 2013): CBOW and skip-gram, hierarchical softmax and negative sampling.

Word2vec is not a language model: it predicts a word from a window around it (CBOW) or the
window from the word (skip-gram). With a full softmax over V words each update costs O(V·d);
word2vec makes it cheap in one of two ways:

* **hierarchical softmax** — the words are the leaves of a Huffman tree built from their counts;
  P(w | h) is the product of ~log₂V binary decisions along the path to w:
  ``P(w|h) = Π_j σ((1 − 2·code_j) · h·n_j)`` (n_j: vector of the j-th inner node on the path);
* **negative sampling** — replace the softmax by a logistic regression that tells the true word
  from K words drawn from the unigram distribution raised to 0.75:
  ``loss = −log σ(h·v_o) − Σ_k log σ(−h·v_k)``.

Both are (weighted) cross-entropies: binary ones, one per tree node or per sample.

What this file follows from word2vec.c / gensim 4.4 (the details people get wrong):

* vocabulary ordered by descending count (gensim's tie rule: the word first seen *later* first);
* frequent-word subsampling with the code's formula, not the paper's:
  ``keep(w) = (√(c/(s·N)) + 1) · (s·N/c)`` (capped at 1; c = count, N = total, s = ``sample``);
* the negative-sampling table ``cum_table`` (cumulative counts^0.75 scaled to 2³¹−1) and the
  Huffman ``code``/``point`` of every word are exactly gensim's (tests compare them);
* window shrinking: each centre word uses a random window b ∈ {1..window};
* the learning rate decays linearly from ``alpha`` to ``min_alpha`` over all words of all epochs;
* CBOW averages the context vectors (``cbow_mean=1``) and gives the whole error to each of them;
* a negative sample equal to the target is skipped; only the input vectors are exported.

What differs: word2vec.c and gensim update after every (centre, context) pair with several
threads writing without locks (Hogwild). Here the pairs of a stretch of corpus are built with
tensor operations and updated in batches of ``batch_size`` pairs: the gradient is written by
hand (no autograd, no optimizer) and scattered with ``index_add_``. The same code runs on CPU
and GPU; there is no Python loop per training pair. Three options trade exactness for speed:
``Word2VecConfig(compile=True)`` fuses each batch step with ``torch.compile`` (CPU), ``train(...,
workers=n)`` runs n Hogwild threads as word2vec.c does (CPU), and ``max_repeats`` caps the summed
stale update of a word repeated in a batch, which large GPU batches need. The first two live in
:mod:`.word2vec_fast`; this file is the reference they are tested against.

    >>> sentences = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat"]] * 50
    >>> cfg = Word2VecConfig(dim=8, window=2, min_count=1, epochs=2, sample=0.0)
    >>> model = Word2Vec.from_sentences(sentences, cfg)
    >>> model.vocab.itos[:3]      # 'dog' before 'cat': same count, first seen later (gensim's order)
    ['the', 'sat', 'dog']
    >>> report = model.train(sentences, progress=False)
    >>> report.raw_words, model.embeddings().vectors.shape
    (900, (6, 8))
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import EncodedCorpus, build_vocab, context_windows, encode_corpus
from ..data.vocab import Vocab
from ..train import History
from ..utils import num_threads
from .evaluate import Embeddings

__all__ = [
    "AliasSampler",
    "HuffmanTree",
    "TrainReport",
    "Word2Vec",
    "Word2VecConfig",
    "draw_negatives",
    "hierarchical_softmax_loss",
    "hs_log_probs",
    "hs_update",
    "huffman_tree",
    "keep_probability",
    "negative_sampling_loss",
    "negative_sampling_table",
    "ns_update",
    "repeat_scale",
    "sample_int",
    "time_output_layer",
]


# =============================================================================================
# The three tables built from the counts (the vocabulary itself: ptm_course.data.corpus)
# =============================================================================================


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word, word2vec.c's subsampling formula.

    keep(w) = (√(c_w / (s·N)) + 1) · (s·N / c_w), capped at 1, where N = Σ counts and
    s = ``sample`` (1e-3 in gensim, 1e-4/1e-5 in the paper). ``sample=0`` keeps everything.
    With f = c_w / N and t = s this is √(t/f) + t/f. The paper (Mikolov et al., 2013) states the
    *discard* probability 1 − √(t/f), i.e. it keeps an occurrence with probability √(t/f); the
    code's keep probability is larger by t/f.

    >>> keep_probability(np.array([1000, 100, 10]), sample=0.01).round(3).tolist()
    [0.116, 0.444, 1.0]
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts <= 0).any():
        raise ValueError("counts must be a 1-D array of positive word counts")
    if not 0.0 <= sample < 1.0:
        raise ValueError(f"sample must be in [0, 1) (a fraction of the corpus), got {sample}")
    if sample == 0.0:
        return np.ones(len(counts))
    threshold = sample * int(counts.sum())  # s·N
    p = (np.sqrt(counts / threshold) + 1) * (threshold / counts)
    return np.minimum(p, 1.0)


def sample_int(counts: np.ndarray, sample: float) -> np.ndarray:
    """gensim's ``sample_int``: keep(w) scaled to uint32 (a word is kept if sample_int ≥ a random uint32)."""
    return (keep_probability(counts, sample) * (2**32 - 1)).astype(np.uint32)


def negative_sampling_table(counts: np.ndarray, exponent: float = 0.75, domain: int = 2**31 - 1) -> np.ndarray:
    """gensim's ``cum_table``: cumulative c_w^0.75 scaled so the last entry is ``domain``.

    A negative is drawn as the insertion point of a uniform integer in [0, domain): word w comes
    up with probability P(w) = c_w^0.75 / Σ_v c_v^0.75 (the 0.75 flattens the distribution:
    rare words are drawn more often than their frequency).

    >>> negative_sampling_table(np.array([16, 1, 1]), domain=100).tolist()
    [80, 90, 100]
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or len(counts) == 0 or (counts <= 0).any():
        raise ValueError("counts must be a non-empty 1-D array of positive word counts")
    # c**0.75 on numpy int64 scalars, summed left to right: the very operations gensim runs,
    # so the table matches it bit for bit.
    powered = np.array([c ** float(exponent) for c in counts], dtype=np.float64)
    cumulative = np.cumsum(powered)  # sequential sums (np.sum would pair them differently)
    table = np.round(cumulative / cumulative[-1] * domain).astype(np.uint32)
    return table


def draw_negatives(cum_table: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Word ids drawn from the unigram^0.75 distribution: bisect a uniform integer into ``cum_table``.

    This is gensim's way (``bisect_left``); training uses :class:`AliasSampler`, which draws from
    the very same distribution in O(1) per sample instead of O(log V).
    """
    r = torch.randint(0, int(cum_table[-1]), shape, generator=generator, device=cum_table.device)
    return torch.searchsorted(cum_table, r)  # first index with cum_table[i] >= r (bisect_left)


class AliasSampler:
    """Walker's alias method: draw from a discrete distribution over V items in O(1) per sample.

    Each of V slots holds an item i with probability ``prob[i]`` and otherwise its ``alias[i]``:
    pick a slot uniformly, then a biased coin. Built once (O(V)); a draw is two table look-ups,
    which on a CPU is several times faster than a binary search in a cumulative table.

    >>> s = AliasSampler(np.array([3.0, 1.0]))
    >>> x = s.sample((100_000,), torch.Generator().manual_seed(0))
    >>> round(float((x == 0).float().mean()), 2)
    0.75
    """

    def __init__(self, weights: np.ndarray, device: torch.device | str = "cpu"):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be a non-empty 1-D array of non-negative numbers with a positive sum")
        V = len(w)
        scaled = w * V / w.sum()  # mean 1
        prob = np.ones(V)
        alias = np.arange(V)
        small = [i for i in range(V) if scaled[i] < 1.0]
        large = [i for i in range(V) if scaled[i] >= 1.0]
        while small and large:  # fill each under-full slot with mass from an over-full item
            s, l = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], l
            scaled[l] -= 1.0 - scaled[s]
            (small if scaled[l] < 1.0 else large).append(l)
        self.prob = torch.from_numpy(prob).float().to(device)
        self.alias = torch.from_numpy(alias).long().to(device)

    @classmethod
    def from_cum_table(cls, cum_table: np.ndarray, device: torch.device | str = "cpu") -> "AliasSampler":
        """The distribution of gensim's ``cum_table``: P(i) ∝ cum_table[i] − cum_table[i−1]."""
        return cls(np.diff(np.asarray(cum_table, dtype=np.int64), prepend=0), device)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        dev = self.prob.device
        slot = torch.randint(0, self.prob.numel(), shape, generator=generator, device=dev)
        coin = torch.rand(shape, generator=generator, device=dev)
        return torch.where(coin < self.prob[slot], slot, self.alias[slot])


class _Node:
    """A Huffman tree node; compared by count only, like gensim's ``Heapitem``."""

    __slots__ = ("count", "index", "left", "right")

    def __init__(self, count: int, index: int, left: "_Node | None" = None, right: "_Node | None" = None):
        self.count, self.index, self.left, self.right = count, index, left, right

    def __lt__(self, other: "_Node") -> bool:
        return self.count < other.count


@dataclass
class HuffmanTree:
    """Binary codes and inner-node paths of every word, root first.

    ``codes[w]``: the 0/1 turns from the root to leaf w (0 = left). ``points[w]``: the inner nodes
    on the way (ids 0..V−2; the root is V−2). Frequent words get short codes. ``padded()`` gives
    (V, L) tensors for batched training.
    """

    codes: list[np.ndarray]
    points: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def max_depth(self) -> int:
        return max(len(c) for c in self.codes)

    def padded(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(codes (V, L) float, points (V, L) long, lengths (V,) long), padded with 0 after each path."""
        V, L = len(self), self.max_depth
        codes = np.zeros((V, L), dtype=np.float32)
        points = np.zeros((V, L), dtype=np.int64)
        lengths = np.array([len(c) for c in self.codes], dtype=np.int64)
        for w in range(V):
            codes[w, : lengths[w]] = self.codes[w]
            points[w, : lengths[w]] = self.points[w]
        return (torch.from_numpy(codes).to(device), torch.from_numpy(points).to(device), torch.from_numpy(lengths).to(device))


def huffman_tree(counts: Sequence[int] | np.ndarray) -> HuffmanTree:
    """Build the Huffman tree of word counts: merge the two rarest nodes until one is left.

    Inner node i (created by the i-th merge) gets id i; the first popped node becomes the left
    child (code 0), the second the right (code 1). Same heap, same tie-breaking as gensim.

    >>> t = huffman_tree([5, 3, 2, 1])   # merges: node 0 = (1, 2), node 1 = (3, node 0), node 2 = (5, node 1)
    >>> [c.tolist() for c in t.codes]    # the frequent word gets the short code
    [[0], [1, 0], [1, 1, 1], [1, 1, 0]]
    >>> [p.tolist() for p in t.points]   # inner nodes from the root (id 2) down
    [[2], [2, 1], [2, 1, 0], [2, 1, 0]]
    """
    counts = [int(c) for c in counts]
    V = len(counts)
    if V < 2:
        raise ValueError(f"a Huffman tree needs at least 2 words, got {V}")
    if min(counts) <= 0:
        raise ValueError("word counts must be positive")
    heap = [_Node(c, i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    for i in range(V - 1):
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        heapq.heappush(heap, _Node(a.count + b.count, V + i, a, b))
    codes: list[np.ndarray] = [np.zeros(0, np.uint8)] * V
    points: list[np.ndarray] = [np.zeros(0, np.uint32)] * V
    stack: list[tuple[_Node, list[int], list[int]]] = [(heap[0], [], [])]
    while stack:  # walk down from the root, extending the code and the path
        node, code, path = stack.pop()
        if node.index < V:  # a leaf: a word
            codes[node.index] = np.array(code, dtype=np.uint8)
            points[node.index] = np.array(path, dtype=np.uint32)
        else:
            path = path + [node.index - V]
            stack.append((node.left, code + [0], path))
            stack.append((node.right, code + [1], path))
    return HuffmanTree(codes, points)


# =============================================================================================
# The two losses (differentiable reference versions) and their hand-written SGD updates
# =============================================================================================


def negative_sampling_loss(
    h: torch.Tensor, v_pos: torch.Tensor, v_neg: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-example loss −log σ(h·v_o) − Σ_k log σ(−h·v_k)  (Mikolov et al. 2013b, eq. 4).

    ``h``: (B, d) input vectors (skip-gram: the input word; CBOW: the context mean),
    ``v_pos``: (B, d) output vectors of the true words, ``v_neg``: (B, K, d) of the negatives,
    ``valid``: optional (B, K) 0/1 mask (word2vec skips a negative equal to the target).
    Returns (B,). A binary cross-entropy: label 1 for the true word, 0 for each negative.
    """
    if h.dim() != 2 or v_pos.shape != h.shape or v_neg.dim() != 3 or v_neg.shape[0] != h.shape[0] or v_neg.shape[2] != h.shape[1]:
        raise ValueError(f"expected h (B, d), v_pos (B, d), v_neg (B, K, d); got {tuple(h.shape)}, {tuple(v_pos.shape)}, {tuple(v_neg.shape)}")
    pos = F.logsigmoid((h * v_pos).sum(-1))  # log σ(h·v_o)
    neg = F.logsigmoid(-(v_neg @ h.unsqueeze(-1)).squeeze(-1))  # log σ(−h·v_k), (B, K)
    if valid is not None:
        neg = neg * valid
    return -(pos + neg.sum(-1))


def hierarchical_softmax_loss(h: torch.Tensor, nodes: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example loss −log P(w|h) = −Σ_j log σ((1 − 2·code_j) · h·n_j) along w's tree path.

    ``h``: (B, d); ``nodes``: (B, L, d) inner-node vectors on the path; ``codes``: (B, L) 0/1;
    ``mask``: (B, L) 1 on the path, 0 on padding. Each node is a binary cross-entropy whose
    label is 1 − code (code 0 means "go left" with probability σ(h·n)).
    """
    if h.dim() != 2 or nodes.dim() != 3 or nodes.shape[0] != h.shape[0] or nodes.shape[2] != h.shape[1]:
        raise ValueError(f"expected h (B, d) and nodes (B, L, d); got {tuple(h.shape)}, {tuple(nodes.shape)}")
    if codes.shape != nodes.shape[:2] or mask.shape != nodes.shape[:2]:
        raise ValueError(f"codes and mask must be (B, L) = {tuple(nodes.shape[:2])}")
    f = (nodes @ h.unsqueeze(-1)).squeeze(-1)  # h·n_j, (B, L)
    return -(F.logsigmoid((1 - 2 * codes) * f) * mask).sum(-1)


def hs_log_probs(h: torch.Tensor, syn1: torch.Tensor, tree: HuffmanTree) -> torch.Tensor:
    """log P(w | h) for every word of the vocabulary under hierarchical softmax: (B, V).

    The probabilities of the V leaves sum to 1 for any h (each inner node splits its mass
    σ(x) + σ(−x) = 1), which is what makes the tree a proper softmax replacement.
    """
    codes, points, lengths = tree.padded(h.device)
    f = h @ syn1.T  # (B, V−1): every inner node once
    mask = (torch.arange(codes.shape[1], device=h.device) < lengths[:, None]).to(h.dtype)  # (V, L)
    x = (1 - 2 * codes.to(h.dtype)) * f[:, points]  # (B, V, L)
    return (F.logsigmoid(x) * mask).sum(-1)


def repeat_scale(ids: torch.Tensor, n_rows: int, max_repeats: int | None) -> torch.Tensor | None:
    """Per-occurrence factor min(1, max_repeats / k), k = how often ``ids[i]`` occurs in ``ids``: (n, 1).

    A vector that occurs k times in one batch receives k updates computed from the same stale
    value. Summed, they are what k sequential SGD steps would roughly give while k is small, but
    for the most frequent words of a large batch (k in the thousands) the sum overshoots and
    training diverges. Scaling caps a row's total step at ``max_repeats`` updates' worth; rows
    seen at most ``max_repeats`` times are untouched. ``None`` (the default): plain sums.

    >>> repeat_scale(torch.tensor([3, 3, 3, 3, 1]), n_rows=5, max_repeats=2).squeeze(1).tolist()
    [0.5, 0.5, 0.5, 0.5, 1.0]
    """
    if max_repeats is None:
        return None
    counts = torch.bincount(ids, minlength=n_rows)[ids]  # occurrences of each id in this batch
    return (max_repeats / counts.clamp(min=max_repeats).to(torch.float32)).unsqueeze(1)


def _capped_index_add_(W: torch.Tensor, ids: torch.Tensor, upd: torch.Tensor, max_repeats: int | None) -> None:
    """``W[ids] += upd`` (repeated ids summed), each occurrence scaled by :func:`repeat_scale`."""
    scale = repeat_scale(ids, W.shape[0], max_repeats)
    W.index_add_(0, ids, upd if scale is None else upd * scale)


@torch.no_grad()
def ns_update(
    h: torch.Tensor, W_out: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor, alpha: float | torch.Tensor,
    max_repeats: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of negative sampling on the output vectors; returns (neu1e, summed loss).

    For each example and each of the 1 + K output words (label 1 for the target, 0 for the
    negatives), as in word2vec.c: ``g = α·(label − σ(h·v))``, ``neu1e += g·v``, ``v += g·h``.
    ``neu1e`` (B, d) = −α·∂loss/∂h is what the caller adds to the input vector(s). ``W_out`` is
    updated in place; repeated words in a batch get the sum of their updates (``index_add_``),
    capped at ``max_repeats`` updates' worth (see :func:`repeat_scale`).
    """
    B, d = h.shape
    ids = torch.cat([targets.unsqueeze(1), negatives], 1)  # (B, 1+K)
    v = W_out.index_select(0, ids.reshape(-1)).view(B, -1, d)  # (B, 1+K, d)
    f = (v * h.unsqueeze(1)).sum(-1)  # h·v, (B, 1+K)
    label = torch.zeros_like(f)
    label[:, 0] = 1.0
    valid = torch.ones_like(f)
    valid[:, 1:] = (negatives != targets.unsqueeze(1)).to(f.dtype)  # skip a negative equal to the target
    g = (label - torch.sigmoid(f)) * valid * alpha  # α·(label − σ(h·v))
    neu1e = torch.bmm(g.unsqueeze(1), v).squeeze(1)  # Σ g·v, (B, d)
    _capped_index_add_(W_out, ids.reshape(-1), (g.unsqueeze(2) * h.unsqueeze(1)).reshape(-1, d), max_repeats)  # v += g·h
    loss = -(F.logsigmoid(f[:, 0]) + (F.logsigmoid(-f[:, 1:]) * valid[:, 1:]).sum(1)).sum()
    return neu1e, loss


@torch.no_grad()
def hs_update(
    h: torch.Tensor,
    syn1: torch.Tensor,
    targets: torch.Tensor,
    codes: torch.Tensor,
    points: torch.Tensor,
    lengths: torch.Tensor,
    alpha: float | torch.Tensor,
    max_repeats: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of hierarchical softmax on the inner-node vectors; returns (neu1e, summed loss).

    For every node j on the target's path (word2vec.c): ``g = α·(1 − code_j − σ(h·n_j))``,
    ``neu1e += g·n_j``, ``n_j += g·h``. The paths are flattened (no padding is computed):
    an example with a 20-node path costs 20 dot products, one with a 3-node path costs 3.
    The root lies on every path: ``max_repeats`` caps its (and every node's) summed step.
    """
    B, d = h.shape
    L = lengths[targets]  # (B,)
    on_path = torch.arange(points.shape[1], device=h.device) < L.unsqueeze(1)  # (B, Lmax)
    rows = torch.arange(B, device=h.device).unsqueeze(1).expand_as(on_path)[on_path]  # example of each node
    nodes = points[targets][on_path]  # (P,)
    code = codes[targets][on_path].to(h.dtype)  # (P,)
    n = syn1.index_select(0, nodes)  # (P, d)
    hr = h.index_select(0, rows)  # (P, d)
    f = (hr * n).sum(-1)  # h·n_j
    g = (1.0 - code - torch.sigmoid(f)) * alpha
    neu1e = torch.zeros_like(h).index_add_(0, rows, g.unsqueeze(1) * n)
    _capped_index_add_(syn1, nodes, g.unsqueeze(1) * hr, max_repeats)  # n_j += g·h
    loss = -F.logsigmoid((1.0 - 2.0 * code) * f).sum()
    return neu1e, loss


# =============================================================================================
# The model and its training loop
# =============================================================================================


@dataclass
class Word2VecConfig:
    """Hyper-parameters; the defaults are gensim's (dim 100, window 5, negative 5, sample 1e-3)."""

    arch: Literal["skipgram", "cbow"] = "skipgram"
    loss: Literal["negative", "hierarchical"] = "negative"
    dim: int = 100
    window: int = 5
    negative: int = 5  # K negatives per example (loss="negative")
    ns_exponent: float = 0.75
    sample: float = 1e-3  # subsampling threshold s
    min_count: int = 5
    alpha: float = 0.025  # initial learning rate (gensim uses 0.025 for both architectures)
    min_alpha: float = 1e-4
    epochs: int = 5
    # (input, target) pairs (skip-gram) or centre words (CBOW) per update; None: 4096 for negative
    # sampling, 256 for hierarchical softmax. A vector used k times in a batch gets k updates computed
    # from the same (stale) parameters. Fine for word vectors of a real vocabulary (frequent words are
    # subsampled), but the top nodes of the Huffman tree lie on *every* path: large batches make them
    # overshoot and diverge, so hierarchical softmax needs small batches (so do toy vocabularies).
    batch_size: int | None = None
    # cap on the summed update of a vector that occurs k times in a batch: min(1, max_repeats / k)
    # per occurrence (see repeat_scale). None: plain sums. Large GPU batches (16k-64k) need it.
    max_repeats: int | None = None
    chunk_words: int = 100_000  # corpus words turned into examples at once
    # torch.compile the negative-sampling batch steps: one fused loop instead of ~15 tensor operations
    # and their temporaries (1.3-1.8x faster on a CPU; needs a C++ compiler, seconds to compile)
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ("skipgram", "cbow"):
            raise ValueError(f"arch must be 'skipgram' or 'cbow', got {self.arch!r}")
        if self.loss not in ("negative", "hierarchical"):
            raise ValueError(f"loss must be 'negative' or 'hierarchical', got {self.loss!r}")
        for name in ("dim", "window", "min_count", "epochs", "chunk_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size is None:
            self.batch_size = 4096 if self.loss == "negative" else 256
        if self.loss == "negative" and self.negative < 1:
            raise ValueError("negative sampling needs negative >= 1")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_repeats is not None and self.max_repeats < 1:
            raise ValueError(f"max_repeats must be >= 1 or None, got {self.max_repeats}")


@dataclass
class TrainReport:
    """What a call to :meth:`Word2Vec.train` did: the loss history and its speed."""

    history: History
    seconds: float
    raw_words: int  # corpus words processed (all epochs, before subsampling)
    examples: int  # (input, target) pairs (skip-gram) or centre words (CBOW) trained on

    @property
    def words_per_second(self) -> float:
        return self.raw_words / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        return (
            f"{self.raw_words:,} words in {self.seconds:.1f} s = {self.words_per_second:,.0f} words/s "
            f"({self.examples:,} training examples)"
        )


class _TrainingRun:
    """The bookkeeping of one call to :meth:`Word2Vec.train`: the stretches of corpus to train on,
    the words done so far (they drive α), the loss history, the progress bar and the clock."""

    def __init__(self, model: "Word2Vec", corpus: EncodedCorpus, epochs: int, progress: bool):
        from tqdm.auto import tqdm

        cfg = model.config
        self.model, self.corpus, self.epochs = model, corpus, epochs
        self.seed = cfg.seed * 1000 + model.epochs_trained + 1
        self.jobs = [(epoch, lo, hi) for epoch in range(epochs) for lo, hi in corpus.chunks(cfg.chunk_words)]
        self.total = epochs * corpus.raw_words
        self.ids, self.sent = corpus.ids.to(model.device), corpus.sentence.to(model.device)
        self.history = History()
        self.done = self.examples = self.step = 0
        self.bar = tqdm(total=self.total, unit="w", unit_scale=True, disable=not progress, desc=f"{cfg.arch}/{cfg.loss}")
        self.start = time.perf_counter()

    def train_stretch(self, lo: int, hi: int, done: int, gen: torch.Generator, batch: int,
                      hogwild: bool = False) -> tuple[int, int, float]:
        """Train on sentences [lo, hi); returns (raw words, examples, summed loss)."""
        c = self.corpus
        raw = int(c.raw_cum[hi] - c.raw_cum[lo])
        a, b = int(c.offsets[lo]), int(c.offsets[hi])
        n, loss = self.model._train_chunk(self.ids[a:b], self.sent[a:b], done, raw, self.total, gen, batch, hogwild)
        return raw, n, loss

    def record(self, epoch: int, raw: int, n: int, loss: float) -> None:
        self.done += raw
        self.bar.update(raw)
        if n == 0:  # nothing left after subsampling
            return
        self.examples += n
        self.step += 1
        self.history.train.append({"step": self.step, "epoch": epoch + self.model.epochs_trained, "words": self.done,
                                   "loss": loss / n, "alpha": self.model._alpha(self.done / self.total)})
        self.bar.set_postfix(loss=f"{self.history.train[-1]['loss']:.3f}", refresh=False)

    def report(self) -> TrainReport:
        if self.model.device.type == "cuda":
            torch.cuda.synchronize(self.model.device)
        seconds = time.perf_counter() - self.start
        self.model.epochs_trained += self.epochs
        return TrainReport(history=self.history, seconds=seconds, raw_words=self.total, examples=self.examples)


class Word2Vec:
    """CBOW or skip-gram with hierarchical softmax or negative sampling.

    ``W_in`` (V, d): input vectors, the embeddings (init uniform in ±0.5/d, as word2vec.c);
    ``W_out`` (V, d): output vectors for negative sampling, or ``syn1`` (V−1, d): one vector per
    inner node of the Huffman tree for hierarchical softmax (both start at zero).
    """

    def __init__(self, vocab: Vocab, config: Word2VecConfig | None = None, device: str | torch.device = "cpu"):
        self.vocab = vocab
        self.config = cfg = config or Word2VecConfig()
        self.device = torch.device(device)
        V, d = len(vocab), cfg.dim
        if V < 2:
            raise ValueError(f"the vocabulary has {V} word(s); word2vec needs at least 2")
        g = torch.Generator().manual_seed(cfg.seed)
        self.W_in = ((torch.rand(V, d, generator=g) - 0.5) / d).to(self.device)
        counts = vocab.counts
        self.keep_prob = torch.from_numpy(keep_probability(counts, cfg.sample)).float().to(self.device)
        if cfg.loss == "negative":
            self.W_out = torch.zeros(V, d, device=self.device)
            self.cum_table = negative_sampling_table(counts, cfg.ns_exponent)  # gensim's table
            self.sampler = AliasSampler.from_cum_table(self.cum_table, self.device)  # same distribution, O(1) draws
        else:
            self.tree = huffman_tree(counts)
            self.syn1 = torch.zeros(V - 1, d, device=self.device)
            self.codes, self.points, self.lengths = self.tree.padded(self.device)
        self.epochs_trained = 0
        self._steps: dict[bool, tuple] = {}  # the batch steps (compiled on first use when config.compile)
        self._compile_failed = False  # set by .word2vec_fast when a compilation fails

    @classmethod
    def from_sentences(
        cls, sentences: Sequence[Sequence[str]], config: Word2VecConfig | None = None, device: str | torch.device = "cpu"
    ) -> "Word2Vec":
        """Build the vocabulary (``config.min_count``) and the tables, ready to :meth:`train`."""
        config = config or Word2VecConfig()
        return cls(build_vocab(sentences, config.min_count), config, device)

    def __repr__(self) -> str:
        c = self.config
        return f"Word2Vec({c.arch}, {c.loss}, vocab={len(self.vocab)}, dim={c.dim}, window={c.window}, device={self.device})"

    def encode(self, sentences: Iterable[Sequence[str]]) -> EncodedCorpus:
        return encode_corpus(sentences, self.vocab)

    def embeddings(self) -> Embeddings:
        """The input vectors (what word2vec exports) as :class:`Embeddings`."""
        return Embeddings(self.vocab.itos, self.W_in)

    # ---- one batch ---------------------------------------------------------------------------

    def _output_step(self, h: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None, alpha) -> tuple[torch.Tensor, torch.Tensor]:
        if negatives is not None:
            return ns_update(h, self.W_out, targets, negatives, alpha, self.config.max_repeats)
        return hs_update(h, self.syn1, targets, self.codes, self.points, self.lengths, alpha, self.config.max_repeats)

    def _negatives(self, n: int, gen: torch.Generator) -> torch.Tensor | None:
        # drawn outside the (optionally compiled) batch step: compiled code cannot take a torch.Generator
        return self.sampler.sample((n, self.config.negative), gen) if self.config.loss == "negative" else None

    @torch.no_grad()
    def _skipgram_batch(self, inp: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor | None, alpha) -> torch.Tensor:
        h = self.W_in.index_select(0, inp)  # (b, d) input vectors of the context words
        neu1e, loss = self._output_step(h, targets, negatives, alpha)
        _capped_index_add_(self.W_in, inp, neu1e, self.config.max_repeats)  # the input vector moves by −α·∂loss/∂h
        return loss

    @torch.no_grad()
    def _cbow_batch(self, words: torch.Tensor, rows: torch.Tensor, count: torch.Tensor, centres: torch.Tensor,
                    negatives: torch.Tensor | None, alpha) -> torch.Tensor:
        h = torch.zeros(count.shape[0], self.W_in.shape[1], device=self.W_in.device, dtype=self.W_in.dtype)
        h = h.index_add_(0, rows, self.W_in.index_select(0, words)) / count  # mean of the context vectors
        neu1e, loss = self._output_step(h, centres, negatives, alpha)
        # each context word gets the full error
        _capped_index_add_(self.W_in, words, neu1e.index_select(0, rows), self.config.max_repeats)
        return loss

    def _batch_steps(self, hogwild: bool):
        """The two batch steps; with ``config.compile``, their fused versions (:mod:`.word2vec_fast`)."""
        if hogwild not in self._steps:
            steps = (self._skipgram_batch, self._cbow_batch)
            # hierarchical softmax stays eager: its paths give every batch a new number of nodes,
            # and recompiling for them cost far more than fusing saved
            if self.config.compile and self.config.loss == "negative":
                from .word2vec_fast import compile_batch_steps

                steps = compile_batch_steps(self, steps, hogwild)
            self._steps[hogwild] = steps
        return self._steps[hogwild]

    # ---- training ----------------------------------------------------------------------------

    def train(
        self,
        sentences: Iterable[Sequence[str]] | EncodedCorpus,
        epochs: int | None = None,
        progress: bool = True,
        threads: int | None = None,
        workers: int = 1,
    ) -> TrainReport:
        """Train for ``epochs`` (default ``config.epochs``) passes over ``sentences``.

        Per stretch of ~``chunk_words`` words: subsample, draw the shrunk windows, build all
        examples with tensor operations, then update in batches of ``batch_size`` with the
        learning rate α = α₀ − (α₀ − α_min)·(words done / words to do).

        ``threads`` sets ``torch.set_num_threads`` during training: the operations of one batch
        are split over that many threads. ``workers > 1`` (CPU only) is word2vec's own way instead:
        that many Python threads each train on their own stretches of the corpus and write into the
        shared vectors without locks (Hogwild, as word2vec.c and gensim's ``workers`` do; see
        :func:`.word2vec_fast.train_hogwild`). With ``workers=1`` a run is reproducible; with more
        it is not. Compiled steps (``config.compile``) run on one torch thread unless ``threads``
        says otherwise: inductor's multi-threaded version of the fused loop (atomic adds on shared
        rows) ran at a third to a half of the one-thread speed on 2 cores. Use ``workers`` to use
        more cores.
        """
        cfg = self.config
        corpus = sentences if isinstance(sentences, EncodedCorpus) else self.encode(sentences)
        epochs = cfg.epochs if epochs is None else epochs
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if workers > 1 and self.device.type != "cpu":
            raise ValueError(f"workers > 1 (Hogwild threads) is for CPU training; on {self.device.type} use workers=1")
        if workers > 1 and threads not in (None, 1):
            raise ValueError("with workers > 1 each worker runs one torch thread: leave threads unset")
        run = _TrainingRun(self, corpus, epochs, progress)
        try:
            if workers > 1:
                from .word2vec_fast import train_hogwild

                train_hogwild(run, workers)
            else:
                if threads is None and cfg.compile and self.device.type == "cpu":
                    threads = 1
                gen = torch.Generator(device=self.device).manual_seed(run.seed)
                with num_threads(threads):
                    for epoch, lo, hi in run.jobs:  # the stretches of every epoch, in corpus order
                        raw, n, loss = run.train_stretch(lo, hi, run.done, gen, cfg.batch_size)
                        run.record(epoch, raw, n, loss)
        finally:
            run.bar.close()
        return run.report()

    def _train_chunk(self, ids, sent, done: int, raw: int, total: int, gen: torch.Generator, batch: int,
                     hogwild: bool) -> tuple[int, float]:
        """Train on one stretch of corpus; returns (examples, summed loss)."""
        cfg = self.config
        # subsampling: keep each occurrence with probability keep(w)
        keep = torch.rand(ids.shape, generator=gen, device=ids.device) < self.keep_prob[ids]
        ids, sent = ids[keep], sent[keep]
        if ids.numel() < 2:
            return 0, 0.0
        ctx, mask = context_windows(ids, sent, cfg.window, gen)
        if cfg.arch == "skipgram":
            n, loss = self._train_skipgram(ids, ctx, mask, done, raw, total, gen, batch, hogwild)
        else:
            n, loss = self._train_cbow(ids, ctx, mask, done, raw, total, gen, batch, hogwild)
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"training diverged (loss {loss}) after {done:,} words: lower batch_size "
                f"(now {cfg.batch_size}) or alpha (now {cfg.alpha}), or cap repeated updates "
                f"with max_repeats (now {cfg.max_repeats}; 64 suits large batches)"
            )
        return n, loss

    def _alpha(self, progress: float) -> float:
        c = self.config
        return max(c.min_alpha, c.alpha - (c.alpha - c.min_alpha) * progress)

    def _train_skipgram(self, ids, ctx, mask, done, raw, total, gen, B: int, hogwild: bool) -> tuple[int, torch.Tensor]:
        # word2vec.c's skip-gram: the context word's input vector predicts the centre word
        inputs = ctx[mask]  # (P,) context words, in corpus order
        targets = ids.unsqueeze(1).expand_as(ctx)[mask]  # (P,) their centre words
        n = inputs.numel()
        step = self._batch_steps(hogwild)[0]
        loss = torch.zeros((), device=self.device)
        for s in range(0, n, B):
            alpha = self._alpha((done + raw * s / n) / total)  # a float: compiled steps take it as an input
            inp = inputs[s : s + B]
            loss += step(inp, targets[s : s + B], self._negatives(inp.numel(), gen), alpha)
        return n, loss

    def _train_cbow(self, ids, ctx, mask, done, raw, total, gen, B: int, hogwild: bool) -> tuple[int, torch.Tensor]:
        # CBOW: the mean of the context vectors predicts the centre word
        has_ctx = mask.any(1)
        centres, ctx, mask = ids[has_ctx], ctx[has_ctx], mask[has_ctx]
        n = centres.numel()
        # the context words of the whole chunk, flattened once: (P,) words and the centre each belongs to.
        # A batch of centres [s, e) owns the slice [start[s], start[e]) of them, so the loop below
        # needs no boolean indexing (on a GPU each one waits for the device: a sync per batch).
        words_all = ctx[mask]  # (P,) in centre order
        rows_all = torch.arange(n, device=self.device).unsqueeze(1).expand_as(ctx)[mask]  # (P,)
        count = mask.sum(1)  # (n,) context size of each centre
        start = F.pad(count.cumsum(0), (1, 0))  # (n+1,) where each centre's context words begin
        cuts = start[torch.arange(0, n + B, B, device=self.device).clamp(max=n)].tolist()  # one sync per chunk
        count = count.unsqueeze(1).to(self.W_in.dtype)
        step = self._batch_steps(hogwild)[1]
        loss = torch.zeros((), device=self.device)
        for k, s in enumerate(range(0, n, B)):
            e = min(s + B, n)
            alpha = self._alpha((done + raw * s / n) / total)  # a float: compiled steps take it as an input
            words = words_all[cuts[k] : cuts[k + 1]]  # (p,) context words of this batch
            rows = rows_all[cuts[k] : cuts[k + 1]] - s  # their centre, 0..e-s-1
            loss += step(words, rows, count[s:e], centres[s:e], self._negatives(e - s, gen), alpha)
        return n, loss


# =============================================================================================
# Why HS and NS: cost of one output-layer update against the vocabulary size
# =============================================================================================


@torch.no_grad()
def time_output_layer(
    method: Literal["softmax", "hierarchical", "negative"],
    vocab_size: int,
    dim: int = 100,
    batch: int = 256,
    negative: int = 5,
    repeats: int = 5,
    min_time: float = 0.02,
    device: str | torch.device = "cpu",
) -> float:
    """Seconds per training example for one SGD update of the output layer.

    ``softmax``: logits over all V words, O(V·d); ``hierarchical``: ~log₂V nodes of a Huffman
    tree over Zipf-distributed counts; ``negative``: 1 + K output vectors, independent of V.

    Timed so that a busy laptop does not turn the answer around: one warm-up update, then
    ``repeats`` measurements of as many updates as fill at least ``min_time`` seconds each, and
    the median of those. On the CPU it runs on one thread (restored after), so thread start-up
    and contention with other programs do not swamp the small updates.
    """
    if vocab_size < 2:
        raise ValueError("vocab_size must be >= 2")
    if repeats < 1 or min_time < 0:
        raise ValueError(f"repeats must be >= 1 and min_time >= 0, got {repeats} and {min_time}")
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    counts = (1e7 / np.arange(1, vocab_size + 1)).astype(np.int64) + 1  # Zipf's law
    h = torch.randn(batch, dim, device=dev) * 0.1
    targets = torch.randint(0, vocab_size, (batch,), device=dev, generator=g)
    W = torch.randn(vocab_size, dim, device=dev) * 0.01
    if method == "hierarchical":
        codes, points, lengths = huffman_tree(counts).padded(dev)
        syn1 = torch.zeros(vocab_size - 1, dim, device=dev)
    elif method == "negative":
        sampler = AliasSampler.from_cum_table(negative_sampling_table(counts), dev)
    elif method != "softmax":
        raise ValueError(f"method must be 'softmax', 'hierarchical' or 'negative', got {method!r}")

    def once() -> None:
        if method == "softmax":
            p = torch.softmax(h @ W.T, dim=1)  # (B, V): the whole vocabulary, every time
            p[torch.arange(batch, device=dev), targets] -= 1.0  # ∂loss/∂logits = p − onehot
            _ = p @ W  # gradient for h
            W.sub_(0.025 * (p.T @ h))  # every output vector moves
        elif method == "hierarchical":
            hs_update(h, syn1, targets, codes, points, lengths, 0.025)
        else:
            ns_update(h, W, targets, sampler.sample((batch, negative), g), 0.025)

    def timed(n: int) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for _ in range(n):
            once()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t0

    with num_threads(1 if dev.type == "cpu" else None):
        n = 1
        while timed(n) < min_time and n < 1 << 16:  # the first call doubles as the warm-up
            n *= 2
        times = sorted(timed(n) / n for _ in range(repeats))
    return times[len(times) // 2] / batch
