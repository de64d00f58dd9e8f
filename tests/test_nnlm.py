"""NNLM: the module equals the paper's equation, gradients, a hand-computed case, training."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from ptm_course.embeddings.nnlm import NNLM, NNLMConfig, nnlm_forward, nnlm_loss


def _params(model: NNLM):
    W = model.W.weight if model.W is not None else None
    return model.C.weight, model.H.weight, model.H.bias, model.U.weight, model.b, W


@pytest.mark.parametrize("direct", [True, False])
def test_module_equals_functional_equation(direct):
    torch.manual_seed(0)
    model = NNLM(NNLMConfig(vocab_size=30, context=3, d_emb=5, d_hidden=7, direct=direct))
    if direct:
        torch.nn.init.normal_(model.W.weight)  # W starts at 0; make it matter
    x = torch.randint(0, 30, (6, 3))
    assert torch.allclose(model(x), nnlm_forward(x, *_params(model)), atol=1e-6)
    assert (model.W is not None) == direct


def test_hand_computed_case():
    """V = 3, n−1 = 2, m = 1, h = 1: every number can be checked on paper."""
    C = torch.tensor([[1.0], [2.0], [-1.0]])
    H = torch.tensor([[0.5, -0.5]])
    d = torch.tensor([0.1])
    U = torch.tensor([[1.0], [0.0], [-1.0]])
    b = torch.tensor([0.0, 0.2, 0.0])
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    x = torch.tensor([[0, 1]])  # context words 0 and 1 → x = [1, 2]
    a = math.tanh(0.1 + 0.5 * 1 - 0.5 * 2)  # tanh(d + H·x) = tanh(−0.4)
    expected = torch.tensor([[a + 1.0, 0.2 + 2.0, -a]])  # b + W·x + U·a
    assert torch.allclose(nnlm_forward(x, C, H, d, U, b, W), expected)
    assert torch.allclose(nnlm_forward(x, C, H, d, U, b), expected - torch.tensor([[1.0, 2.0, 0.0]]))


def test_gradcheck_nnlm():
    torch.manual_seed(0)
    V, n1, m, h = 7, 2, 3, 4
    x = torch.randint(0, V, (5, n1))
    y = torch.randint(0, V, (5,))
    params = [
        torch.randn(V, m, dtype=torch.float64, requires_grad=True),
        torch.randn(h, n1 * m, dtype=torch.float64, requires_grad=True),
        torch.randn(h, dtype=torch.float64, requires_grad=True),
        torch.randn(V, h, dtype=torch.float64, requires_grad=True),
        torch.randn(V, dtype=torch.float64, requires_grad=True),
        torch.randn(V, n1 * m, dtype=torch.float64, requires_grad=True),
    ]
    f = lambda *p: F.cross_entropy(nnlm_forward(x, *p), y)
    assert torch.autograd.gradcheck(f, tuple(params))


def test_one_shared_embedding_matrix():
    """The same word in two context positions uses the same row of C (and gets both gradients)."""
    torch.manual_seed(0)
    model = NNLM(NNLMConfig.tiny(vocab_size=10))
    x = torch.tensor([[4, 4, 4]])
    loss, metrics = nnlm_loss(model, (x, torch.tensor([1])))
    loss.backward()
    grad = model.C.weight.grad
    assert grad[4].abs().sum() > 0 and grad[torch.arange(10) != 4].abs().sum() == 0
    assert torch.isclose(metrics["ppl"], loss.detach().exp())


def test_overfits_a_tiny_corpus_with_fit():
    from ptm_course.data import ngram_examples
    from ptm_course.train import fit

    torch.manual_seed(0)
    ids = torch.arange(12).repeat(20)  # a cycle: each word determined by the previous ones
    x, y = ngram_examples(ids, context=3)
    model = NNLM(NNLMConfig.tiny(vocab_size=12))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    history = fit(model, loader, nnlm_loss, epochs=25, lr=1e-2, device="cpu", progress=False, log_every=5)
    assert history.train[-1]["loss"] < 0.1 < history.train[0]["loss"]
    assert bool((model(x).argmax(1) == y).all())


def test_bad_shapes_are_reported():
    model = NNLM(NNLMConfig.tiny(vocab_size=10))
    with pytest.raises(ValueError, match="context ids"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError):
        NNLMConfig(vocab_size=0)
    with pytest.raises(ValueError, match="input columns"):
        nnlm_forward(torch.zeros(1, 2, dtype=torch.long), torch.zeros(5, 3), torch.zeros(4, 5), torch.zeros(4),
                     torch.zeros(5, 4), torch.zeros(5))
