"""Exercise 01: the NNLM of Bengio et al. (2003) with plain tensors.

Notebook: ``exercises/01_nnlm_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``01.forward`` — ``nnlm_logits(x, C, H, d, U, b, W=None)``: y = b + W·x + U·tanh(d + H·x),
  x the concatenated rows of ONE shared matrix C; compared with
  :func:`ptm_course.embeddings.nnlm_forward` on seeded random inputs, with and without W;
- ``01.perplexity`` — ``window_perplexity(logits, targets)``: exp of the mean cross-entropy of
  a context-window model, compared with ``F.cross_entropy``;
- ``01.params`` — ``nnlm_num_params(vocab_size, context, d_emb, d_hidden, direct)``: the number
  of free parameters, compared with :class:`ptm_course.embeddings.NNLM`;
- ``01.reflection`` — an open question on the embedding as a by-product, graded with a rubric.
"""

from __future__ import annotations

import math
from typing import Callable

from ..core import Criterion, Exercise, Question, Rubric, Test, approx, expect, expect_tensor

__all__ = ["EXERCISE"]


# ---- 01.forward -----------------------------------------------------------------------------


def _forward_case(B: int, n1: int, V: int, m: int, h: int, direct: bool, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.embeddings.nnlm import nnlm_forward

        g = torch.Generator().manual_seed(seed)
        x = torch.randint(0, V, (B, n1), generator=g)
        C = torch.randn(V, m, generator=g)
        H = torch.randn(h, n1 * m, generator=g) * 0.5
        d = torch.randn(h, generator=g)
        U = torch.randn(V, h, generator=g)
        b = torch.randn(V, generator=g)
        W = torch.randn(V, n1 * m, generator=g) if direct else None
        expected = nnlm_forward(x, C, H, d, U, b, W)
        call = (f"nnlm_logits(x ({B}, {n1}), C ({V}, {m}), H ({h}, {n1 * m}), d ({h},), U ({V}, {h}), b ({V},), "
                + (f"W ({V}, {n1 * m}))" if direct else "W=None)"))
        got = fn(x.clone(), C.clone(), H.clone(), d.clone(), U.clone(), b.clone(), None if W is None else W.clone())
        expect_tensor(got, expected, call)

    return test


FORWARD = Question(
    "01.forward",
    "nnlm_logits",
    "The NNLM forward pass",
    tests=(
        Test("without direct connections (W=None)", _forward_case(4, 3, 10, 5, 7, False, 0), points=2,
             hint="look every context id up in the ONE matrix C: C[x] is (B, n−1, m); reshape it to (B, (n−1)·m), "
                  "then y = b + tanh(x @ H.T + d) @ U.T"),
        Test("with direct connections W", _forward_case(3, 2, 8, 4, 6, True, 1), points=1,
             hint="the direct connections add W·x to the logits: y = y + x @ W.T, with the same concatenated x"),
        Test("the order of the context words matters (n−1 = 4, repeated ids)", _forward_case(5, 4, 6, 3, 5, True, 2),
             points=1,
             hint="concatenate the vectors in the order of the words, oldest first: C[x].reshape(B, -1), "
                  "not a sum or mean over the context"),
    ),
)

# ---- 01.perplexity --------------------------------------------------------------------------


def _ppl_case(B: int, V: int, seed: int, scale: float) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch
        from torch.nn import functional as F

        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(B, V, generator=g) * scale
        targets = torch.randint(0, V, (B,), generator=g)
        expected = math.exp(float(F.cross_entropy(logits.double(), targets)))
        expect(fn(logits.clone(), targets.clone()), expected, compare=approx(rel=1e-4),
               call=f"window_perplexity(logits ({B}, {V}) × {scale:g}, targets ({B},))")

    return test


def _uniform(fn: Callable) -> None:
    import torch

    logits = torch.zeros(6, 50)
    targets = torch.arange(6)
    expect(fn(logits, targets), 50.0, compare=approx(rel=1e-5),
           call="window_perplexity(torch.zeros(6, 50), torch.arange(6))")


PERPLEXITY = Question(
    "01.perplexity",
    "window_perplexity",
    "Perplexity of a context-window model",
    tests=(
        Test("equal logits over 50 words give perplexity 50", _uniform, points=1,
             hint="perplexity = exp(mean over the batch of −log softmax(logits)[target]); return a Python float"),
        Test("random logits and targets", _ppl_case(16, 12, 0, 1.0), points=1,
             hint="log_softmax(logits, dim=-1) gives log P(w | context); pick the target's entry with "
                  "gather or logp[torch.arange(B), targets]"),
        Test("large logits: no overflow", _ppl_case(8, 20, 1, 60.0), points=1,
             hint="softmax of logits around ±100 overflows exp(): use torch.log_softmax or F.cross_entropy, "
                  "which subtract the maximum first"),
    ),
)

# ---- 01.params ------------------------------------------------------------------------------


def _param_case(V: int, n1: int, m: int, h: int, direct: bool) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.embeddings.nnlm import NNLM, NNLMConfig

        model = NNLM(NNLMConfig(vocab_size=V, context=n1, d_emb=m, d_hidden=h, direct=direct))
        expected = sum(p.numel() for p in model.parameters())
        expect(fn(V, n1, m, h, direct), expected,
               call=f"nnlm_num_params(vocab_size={V}, context={n1}, d_emb={m}, d_hidden={h}, direct={direct})")

    return test


PARAMS = Question(
    "01.params",
    "nnlm_num_params",
    "Counting the parameters of an NNLM",
    tests=(
        Test("a small model with direct connections", _param_case(10, 3, 4, 5, True), points=1,
             hint="C is V×m (shared by all context words!), H is h×(n−1)m, d is h, U is V×h, b is V, W is V×(n−1)m"),
        Test("the same model without direct connections", _param_case(10, 3, 4, 5, False), points=1,
             hint="without direct connections there is no W: leave out V·(n−1)·m"),
        Test("the paper's Brown model: V = 16383, n = 5, m = 60, h = 100",
             _param_case(16383, 4, 60, 100, True), points=1,
             hint="Bengio et al.: |θ| = V(1 + n·m + h) + h(1 + (n−1)·m), with n − 1 = context; return an int"),
    ),
)

# ---- 01.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "01.reflection",
    "reflection",
    "The embedding as a by-product (open question)",
    rubric=Rubric((
        Criterion("Explains that C is trained only through the language-model loss (predict the next word), "
                  "so words used in similar contexts get similar rows because that lowers the loss.", 2),
        Criterion("Names a cost of the NNLM that word2vec later removes: the full softmax over V words "
                  "(|V|·h per example) and/or the hidden tanh layer.", 1),
        Criterion("Mentions a limit of the fixed window: only n−1 words of history, one vector per word type.", 1),
    )),
)

EXERCISE = Exercise("01", "The NNLM forward pass, perplexity, parameter count", (FORWARD, PERPLEXITY, PARAMS, REFLECTION))
