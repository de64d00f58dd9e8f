"""Exercise 03: GloVe's weighting, one AdaGrad step, and the co-occurrence counts.

Notebook: ``exercises/03_glove_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``03.weight`` — ``weight_fn(x, x_max, alpha)``: f(x) = (x/x_max)^α below x_max, 1 from x_max
  on; compared with :func:`ptm_course.embeddings.glove.glove_weight`;
- ``03.adagrad`` — ``glove_update(params, i, j, x_ij, eta, x_max, alpha, grad_clip)``: one
  AdaGrad step of glove.c on one co-occurrence record, in place, returning the record's cost;
  compared with ``glove_adagrad_step`` on a batch of that one record;
- ``03.cooccur`` — ``cooccurrence_counts(sentences, vocab_size, window)``: the symmetric
  co-occurrence matrix with 1/distance weighting; compared with ``cooccurrence_matrix``;
- ``03.reflection`` — an open question on global counts against local windows.
"""

from __future__ import annotations

from typing import Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, approx, expect

__all__ = ["EXERCISE"]

# ---- 03.weight ------------------------------------------------------------------------------


def _weight_case(values: list[float], x_max: float, alpha: float) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.embeddings.glove import glove_weight

        x = torch.tensor(values, dtype=torch.float64)
        expected = glove_weight(x, x_max, alpha)
        call = f"weight_fn(torch.tensor({values}), x_max={x_max:g}, alpha={alpha:g})"
        got = fn(x.clone(), x_max, alpha)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            raise Mismatch(f"expected a tensor of shape {tuple(expected.shape)} (one weight per count)", call=call,
                           expected=str(expected.tolist()), got=repr(got)[:200])
        if not torch.allclose(got.double(), expected, rtol=1e-6, atol=1e-9):
            raise Mismatch("values differ", call=call, expected=str([round(v, 6) for v in expected.tolist()]),
                           got=str([round(v, 6) for v in got.double().tolist()]))

    return test


WEIGHT = Question(
    "03.weight",
    "weight_fn",
    "The GloVe weighting function",
    tests=(
        Test("below x_max: (x / x_max)^α", _weight_case([1.0, 10.0, 50.0], 100.0, 0.75), points=1,
             hint="f(x) = (x / x_max) ** alpha, element-wise on the tensor"),
        Test("from x_max on the weight is 1", _weight_case([1.0, 50.0, 100.0, 500.0], 100.0, 0.75), points=1,
             hint="torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x)); x = x_max gives exactly 1"),
        Test("other x_max and α", _weight_case([0.5, 2.0, 9.99, 10.0, 11.0], 10.0, 0.5), points=1,
             hint="use the arguments x_max and alpha, not the defaults 100 and 0.75"),
    ),
)

# ---- 03.adagrad -----------------------------------------------------------------------------

_KEYS = ("W", "W_ctx", "b", "b_ctx", "G", "G_ctx", "Gb", "Gb_ctx")
_VECTORS = ("W", "W_ctx", "G", "G_ctx")  # the tests of the vector update leave the biases to their own test


def _params(V: int, d: int, seed: int, scale: float, fresh: bool) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    p = {
        "W": (torch.rand(V, d, generator=g, dtype=torch.float64) - 0.5) * scale,
        "W_ctx": (torch.rand(V, d, generator=g, dtype=torch.float64) - 0.5) * scale,
        "b": torch.rand(V, generator=g, dtype=torch.float64) - 0.5,
        "b_ctx": torch.rand(V, generator=g, dtype=torch.float64) - 0.5,
    }
    if fresh:  # glove.c starts the squared-gradient sums at 1
        p.update(G=torch.ones(V, d, dtype=torch.float64), G_ctx=torch.ones(V, d, dtype=torch.float64),
                 Gb=torch.ones(V, dtype=torch.float64), Gb_ctx=torch.ones(V, dtype=torch.float64))
    else:
        p.update(G=1 + torch.rand(V, d, generator=g, dtype=torch.float64) * 3,
                 G_ctx=1 + torch.rand(V, d, generator=g, dtype=torch.float64) * 3,
                 Gb=1 + torch.rand(V, generator=g, dtype=torch.float64) * 3,
                 Gb_ctx=1 + torch.rand(V, generator=g, dtype=torch.float64) * 3)
    return p


def _adagrad_case(i: int, j: int, x_ij: float, seed: int, *, scale: float = 1.0, fresh: bool = True,
                  eta: float = 0.05, x_max: float = 100.0, alpha: float = 0.75,
                  grad_clip: float = 100.0, keys: tuple[str, ...] = _KEYS) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.embeddings.glove import glove_adagrad_step

        V, d = 5, 4
        ref = _params(V, d, seed, scale, fresh)
        mine = {k: v.clone() for k, v in ref.items()}
        cost = glove_adagrad_step(*(ref[k] for k in _KEYS), torch.tensor([i]), torch.tensor([j]),
                                  torch.tensor([x_ij], dtype=torch.float64), eta, x_max, alpha, grad_clip)
        call = (f"glove_update(params (V={V}, d={d}{', G = 1' if fresh else ', G > 1'}), i={i}, j={j}, x_ij={x_ij:g}, "
                f"eta={eta:g}, x_max={x_max:g}, alpha={alpha:g}, grad_clip={grad_clip:g})")
        got = fn(mine, i, j, x_ij, eta, x_max, alpha, grad_clip)
        for k in keys:  # which tensor is wrong first tells the learner the most
            if not isinstance(mine.get(k), torch.Tensor) or mine[k].shape != ref[k].shape:
                raise Mismatch(f"params[{k!r}] was replaced or reshaped: update the tensors in place", call=call)
            if not torch.allclose(mine[k], ref[k], rtol=1e-6, atol=1e-9):
                rows = (mine[k] - ref[k]).abs().reshape(len(ref[k]), -1).amax(-1).nonzero().flatten().tolist()
                r = rows[0]
                raise Mismatch(f"params[{k!r}] is wrong after the step (row {r})", call=call,
                               expected=str([round(v, 6) for v in ref[k][r].reshape(-1).tolist()]),
                               got=str([round(v, 6) for v in mine[k][r].reshape(-1).tolist()]))
        expect(got, float(cost), compare=approx(rel=1e-6, abs=1e-12), call=call + "  (the returned cost)")

    return test


ADAGRAD = Question(
    "03.adagrad",
    "glove_update",
    "One AdaGrad step of GloVe",
    tests=(
        Test("the vectors, fresh sums (G = 1), a rare pair",
             _adagrad_case(1, 3, 2.0, 0, keys=_VECTORS), points=1,
             hint="diff = w_i·w̃_j + b_i + b̃_j − log x_ij; fdiff = f(x_ij)·diff; t_i = eta·fdiff·w̃_j; "
                  "W[i] −= t_i / sqrt(G[i]); then G[i] += t_i²"),
        Test("the vectors, with sums G > 1 from earlier steps",
             _adagrad_case(0, 2, 7.0, 1, fresh=False, keys=_VECTORS), points=1,
             hint="divide by sqrt(G) BEFORE adding the new squared step to G; compute t_i and t_j from the OLD "
                  "w_i and w̃_j (clone them first), then update both"),
        Test("all eight tensors incl. the biases, a frequent pair (x ≥ x_max)",
             _adagrad_case(4, 4, 250.0, 2, fresh=False), points=1,
             hint="like glove.c, the biases use fdiff WITHOUT eta: b[i] −= fdiff / sqrt(Gb[i]); Gb[i] += fdiff²; "
                  "and the same for b_ctx[j], Gb_ctx[j]; i = j is allowed (W and W_ctx are different tensors)"),
        Test("the vectors, with gradient clipping",
             _adagrad_case(2, 0, 1.0, 3, scale=40.0, grad_clip=0.5, keys=_VECTORS), points=1,
             hint="clip each component of fdiff·w̃_j (and fdiff·w_i) to [−grad_clip, grad_clip] BEFORE multiplying "
                  "by eta (torch.clamp)"),
    ),
)

# ---- 03.cooccur -----------------------------------------------------------------------------


def _cooccur_case(sentences: list[list[int]], V: int, window: int, expected: list[list[float]] | None = None,
                  label: str | None = None) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import numpy as np

        from ptm_course.embeddings.glove import cooccurrence_matrix

        ids = [w for s in sentences for w in s]
        line = [k for k, s in enumerate(sentences) for _ in s]
        X = cooccurrence_matrix(np.array(ids, dtype=np.int64), np.array(line), V, window=window).toarray()
        if expected is not None:
            assert np.allclose(X, expected), "internal: hand-computed matrix differs from the package"
        call = f"cooccurrence_counts({label or sentences}, vocab_size={V}, window={window})"
        got = fn([list(s) for s in sentences], V, window)
        try:
            arr = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=np.float64)
        except Exception:
            raise Mismatch(f"wrong return type: expected a {V}×{V} array, tensor or list of lists, "
                           f"got {type(got).__name__}", call=call, got=repr(got)[:200]) from None
        if arr.shape != X.shape:
            raise Mismatch(f"wrong shape: expected {X.shape}, got {arr.shape}", call=call,
                           expected=str(X.round(3).tolist()), got=str(arr.round(3).tolist())[:300])
        if not np.allclose(arr, X, rtol=1e-6, atol=1e-9):
            r, c = np.argwhere(~np.isclose(arr, X, rtol=1e-6, atol=1e-9))[0]
            raise Mismatch(f"wrong X[{r}, {c}]: expected {X[r, c]:.4g}, got {arr[r, c]:.4g}", call=call,
                           expected=str(X.round(3).tolist())[:300], got=str(arr.round(3).tolist())[:300])

    return test


def _random_corpus(fn: Callable) -> None:
    import random

    rng = random.Random(0)
    sentences = [[rng.randrange(8) for _ in range(rng.randint(1, 12))] for _ in range(6)]
    _cooccur_case(sentences, 8, 3, label="<6 random sentences over 8 words>")(fn)


COOCCUR = Question(
    "03.cooccur",
    "cooccurrence_counts",
    "Co-occurrence counts with 1/distance weighting",
    tests=(
        Test("one sentence 0 1 2 0, window 2", _cooccur_case(
            [[0, 1, 2, 0]], 3, 2, expected=[[0.0, 1.5, 1.5], [1.5, 0.0, 1.0], [1.5, 1.0, 0.0]]), points=1,
             hint="for every pair of positions t < t + k with k ≤ window, add 1/k to X[w_t, w_{t+k}] AND to "
                  "X[w_{t+k}, w_t] (symmetric)"),
        Test("windows never cross sentence boundaries", _cooccur_case([[0, 1], [2, 3, 1]], 4, 5), points=1,
             hint="count pairs inside each sentence separately; the window may be longer than a sentence"),
        Test("a word next to itself counts on the diagonal", _cooccur_case([[2, 2, 0, 2]], 3, 3), points=1,
             hint="when w_t = w_{t+k} both symmetric additions land on X[w, w]: it gets 2/k"),
        Test("6 random sentences, window 3", _random_corpus, points=1,
             hint="return a dense vocab_size × vocab_size matrix (a NumPy array, a tensor or a list of lists)"),
    ),
)

# ---- 03.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "03.reflection",
    "reflection",
    "Global counts against local windows (open question)",
    rubric=Rubric((
        Criterion("Contrasts the two: word2vec updates on each local window as it slides over the corpus, GloVe "
                  "first counts the global co-occurrence matrix X over the whole corpus and then fits "
                  "w_i·w̃_j + b_i + b̃_j ≈ log X_ij.", 2),
        Criterion("Explains the weighting f: rare pairs are noisy and get little weight, very frequent pairs are "
                  "capped at 1, pairs never seen (X_ij = 0, log undefined) cost nothing.", 1),
        Criterion("Names a practical consequence: one pass of counting, then epochs over the non-zero cells only "
                  "(independent of corpus length), at the price of storing X.", 1),
    )),
)

EXERCISE = Exercise("03", "GloVe weighting, AdaGrad step, co-occurrence counts", (WEIGHT, ADAGRAD, COOCCUR, REFLECTION))
