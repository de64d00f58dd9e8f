"""Exercise 04: the encoder table — mean pooling, n-gram convolution, a position check.

Notebook: ``exercises/04_encoders_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``04.masked_mean`` — ``masked_mean(x, mask)``: the mean of the word vectors of each sentence
  over its real tokens only (what the MLP encoder pools);
- ``04.ngram`` — ``ngram_max(x, weight, bias)``: one sentence through a width-n convolution,
  relu, max over positions (one CNN encoder feature map), compared with ``F.conv1d``;
- ``04.order_blind`` — ``is_order_blind(model, ids, n_trials)``: whether shuffling the words of
  the sentences ever changes the model's output;
- ``04.reflection`` — an open question on parallel vs serial encoders, graded with a rubric.
"""

from __future__ import annotations

from typing import Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, expect_tensor

__all__ = ["EXERCISE"]

# ---- 04.masked_mean -------------------------------------------------------------------------


def _mean_case(seed: int, lengths: list[int], d: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        T = max(lengths)
        x = torch.randn(len(lengths), T, d, generator=g)
        mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
        expected = torch.stack([x[b, :n].mean(0) for b, n in enumerate(lengths)])
        expect_tensor(fn(x, mask), expected, f"masked_mean(x of shape {tuple(x.shape)}, mask with lengths {lengths})")

    return test


MASKED_MEAN = Question(
    "04.masked_mean",
    "masked_mean",
    "Mean of the word vectors over real tokens",
    tests=(
        Test("no padding: the plain mean", _mean_case(0, [4, 4], 3), points=1,
             hint="without padding the answer is x.mean(dim=1)"),
        Test("padded sentences: padding is left out", _mean_case(1, [5, 2, 1], 4), points=2,
             hint="multiply x by mask.unsqueeze(-1), sum over time, divide by the number of real tokens"),
    ),
)

# ---- 04.ngram -------------------------------------------------------------------------------


def _ngram_case(T: int, d: int, n_filters: int, width: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(seed)
        x = torch.randn(T, d, generator=g)
        weight = torch.randn(n_filters, d, width, generator=g)
        bias = torch.randn(n_filters, generator=g)
        expected = F.relu(F.conv1d(x.T.unsqueeze(0), weight, bias)).max(dim=-1).values[0]  # (n_filters,)
        expect_tensor(fn(x, weight, bias),
                      expected, f"ngram_max(x ({T}, {d}), weight ({n_filters}, {d}, {width}), bias ({n_filters},))")

    return test


NGRAM = Question(
    "04.ngram",
    "ngram_max",
    "An n-gram convolution feature",
    tests=(
        Test("width 1: one word at a time", _ngram_case(5, 3, 2, 1, 0), points=1,
             hint="window j is x[j : j + n]; its score for filter f is (weight[f].T * window).sum() + bias[f]"),
        Test("width 3 bigger filters", _ngram_case(7, 4, 5, 3, 1), points=2,
             hint="there are T − n + 1 windows; apply relu, then take the max over windows"),
        Test("width equal to the sentence length: one window", _ngram_case(3, 2, 4, 3, 2), points=1,
             hint="weight has shape (filters, d, n): weight[f][:, k] multiplies the k-th word of the window"),
    ),
)

# ---- 04.order_blind -------------------------------------------------------------------------


def _blind_case(kind: str, expected: bool, positions: bool = True) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.encoders import SentenceClassifier, TransformerEncoder, make_encoder

        torch.manual_seed(0)
        enc = TransformerEncoder(16, positions=positions, dropout=0.0) if kind == "transformer" else make_encoder(kind, 16)
        model = SentenceClassifier(40, enc, 16).eval()
        ids = torch.randint(1, 40, (4, 8), generator=torch.Generator().manual_seed(1))
        label = kind + ("" if positions else " without positions")
        got = fn(model, ids, 5)
        if not isinstance(got, bool):
            raise Mismatch(f"wrong return type: expected bool, got {type(got).__name__}", call=f"is_order_blind(<{label}>, ids, 5)")
        if got != expected:
            raise Mismatch("wrong answer", call=f"is_order_blind(<{label} classifier>, ids (4, 8), 5)",
                           expected=repr(expected), got=repr(got))

    return test


ORDER_BLIND = Question(
    "04.order_blind",
    "is_order_blind",
    "Does shuffling the words change the output?",
    tests=(
        Test("the bag-of-embeddings MLP is blind to order", _blind_case("mlp", True), points=1,
             hint="compare model(ids) with model(shuffled) using torch.allclose(..., atol=1e-5)"),
        Test("the LSTM is not", _blind_case("lstm", False), points=1,
             hint="shuffle each row with torch.randperm; return False as soon as one output changes"),
        Test("the CNN is not", _blind_case("cnn", False), points=1,
             hint="a width-2 or width-3 filter sees which word follows which"),
        Test("a Transformer without position vectors is blind", _blind_case("transformer", True, positions=False),
             points=1, hint="call model.eval() first (dropout would change the output at random); return a Python bool"),
    ),
)

# ---- 04.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "04.reflection",
    "reflection",
    "Parallel and serial encoders (open question)",
    rubric=Rubric((
        Criterion("Explains why an RNN/LSTM is serial (h_t needs h_{t-1}: T steps on the critical path) while "
                  "the MLP, CNN and Transformer compute all positions at once.", 2),
        Criterion("Uses the notebook's measurements (time against length, or sequential steps) and says what a "
                  "GPU would change.", 1),
        Criterion("Relates position information to the shuffle test: which encoders saw order and why "
                  "(mean pooling; n-gram windows; recurrence; added position vectors).", 1),
    )),
)

EXERCISE = Exercise("04", "The encoder table: pooling, n-grams, word order", (MASKED_MEAN, NGRAM, ORDER_BLIND, REFLECTION))
