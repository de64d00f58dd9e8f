"""GloVe: co-occurrence counts against brute force, the update against glove.c, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ptm_course.data import Vocab
from ptm_course.embeddings.glove import (
    GloVe,
    GloVeConfig,
    cooccurrence_matrix,
    glove_adagrad_step,
    glove_loss,
    glove_weight,
)
from ptm_course.data.corpus import build_vocab, encode_corpus


def _brute_force_cooccurrence(sentences: list[list[int]], V: int, window: int, symmetric: bool = True) -> np.ndarray:
    """cooccur.c's loop, word by word: each word looks back `window` words in its line."""
    X = np.zeros((V, V))
    for sent in sentences:
        for j, w2 in enumerate(sent):
            for k in range(1, window + 1):
                if j - k < 0:
                    break
                w1 = sent[j - k]
                X[w1, w2] += 1.0 / k
                if symmetric:
                    X[w2, w1] += 1.0 / k
    return X


@pytest.mark.parametrize("symmetric", [True, False])
def test_cooccurrence_equals_brute_force(symmetric):
    rng = np.random.default_rng(0)
    sentences = [list(rng.integers(0, 12, size=rng.integers(1, 30))) for _ in range(40)]
    ids = torch.tensor([w for s in sentences for w in s])
    sentence = torch.repeat_interleave(torch.arange(len(sentences)), torch.tensor([len(s) for s in sentences]))
    X = cooccurrence_matrix(ids, sentence, 12, window=4, symmetric=symmetric).toarray()
    expected = _brute_force_cooccurrence(sentences, 12, window=4, symmetric=symmetric)
    if not symmetric:
        expected = expected.T  # our X[i, j]: j seen to the left of i (the context of i)
    assert np.allclose(X, expected)
    if symmetric:
        assert np.allclose(X, X.T)


def test_cooccurrence_skips_unknown_words_and_respects_lines():
    vocab = build_vocab([["a", "b", "c"]], min_count=1)
    corpus = encode_corpus([["a", "zzz", "b"], ["c"]], vocab)  # 'zzz' unknown: a and b become neighbours
    X = cooccurrence_matrix(corpus.ids, corpus.sentence, len(vocab), window=2).toarray()
    a, b, c = (vocab.stoi[w] for w in "abc")
    assert X[a, b] == 1.0 and X[b, a] == 1.0
    assert X[a, c] == 0.0 and X[b, c] == 0.0  # 'c' is on another line
    with pytest.raises(ValueError):
        cooccurrence_matrix(torch.tensor([0, 5]), torch.tensor([0, 0]), 3)


def test_weighting_function():
    x = torch.tensor([0.5, 10.0, 99.0, 100.0, 1e4])
    f = glove_weight(x, x_max=100.0, alpha=0.75)
    assert torch.allclose(f[:3], (x[:3] / 100.0) ** 0.75)
    assert torch.equal(f[3:], torch.ones(2))
    assert bool((f[1:] >= f[:-1]).all())  # non-decreasing, capped at 1


def _glove_c_update(W, gradsq, records, vocab_size, dim, eta, x_max, alpha, clip):
    """NumPy transcription of glove.c's glove_thread inner loop (W and gradsq laid out as in C:
    2·V rows of (dim + 1), word rows first, the bias last in each row)."""
    for word1, word2, val in records:  # cr.word1 and cr.word2 are 0-based here
        l1 = word1 * (dim + 1)
        l2 = (word2 + vocab_size) * (dim + 1)
        diff = 0.0
        for b in range(dim):
            diff += W[b + l1] * W[b + l2]
        diff += W[dim + l1] + W[dim + l2] - math.log(val)
        fdiff = diff if val > x_max else math.pow(val / x_max, alpha) * diff
        if math.isnan(diff) or math.isnan(fdiff) or math.isinf(diff) or math.isinf(fdiff):
            continue
        up1, up2 = np.zeros(dim), np.zeros(dim)
        for b in range(dim):
            temp1 = min(max(fdiff * W[b + l2], -clip), clip) * eta
            temp2 = min(max(fdiff * W[b + l1], -clip), clip) * eta
            up1[b] = temp1 / math.sqrt(gradsq[b + l1])
            up2[b] = temp2 / math.sqrt(gradsq[b + l2])
            gradsq[b + l1] += temp1 * temp1
            gradsq[b + l2] += temp2 * temp2
        if np.isfinite(up1.sum()) and np.isfinite(up2.sum()):
            for b in range(dim):
                W[b + l1] -= up1[b]
                W[b + l2] -= up2[b]
        W[dim + l1] -= fdiff / math.sqrt(gradsq[dim + l1])
        W[dim + l2] -= fdiff / math.sqrt(gradsq[dim + l2])
        fdiff *= fdiff
        gradsq[dim + l1] += fdiff
        gradsq[dim + l2] += fdiff


def _split(flat: np.ndarray, V: int, d: int):
    m = flat.reshape(2 * V, d + 1)
    return m[:V, :d], m[V:, :d], m[:V, d], m[V:, d]


@pytest.mark.parametrize("clip", [100.0, 0.002])  # the second one makes the clipping bite
def test_adagrad_step_equals_glove_c(clip):
    rng = np.random.default_rng(0)
    V, d, eta, x_max, alpha = 6, 5, 0.05, 10.0, 0.75
    W0 = (rng.random(2 * V * (d + 1)) - 0.5) / (d + 1) * 20  # large enough for visible steps
    G0 = 1.0 + rng.random(2 * V * (d + 1))
    # records with distinct words (batched = sequential) and values below and above x_max
    records = [(0, 1, 3.0), (2, 3, 25.0), (4, 5, 0.5)]
    W_c, G_c = W0.copy(), G0.copy()
    _glove_c_update(W_c, G_c, records, V, d, eta, x_max, alpha, clip)

    t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=torch.float64)
    W, Wc, b, bc = map(t, _split(W0, V, d))
    G, Gc, Gb, Gbc = map(t, _split(G0, V, d))
    rows = torch.tensor([r[0] for r in records])
    cols = torch.tensor([r[1] for r in records])
    x = torch.tensor([r[2] for r in records], dtype=torch.float64)
    cost = glove_adagrad_step(W, Wc, b, bc, G, Gc, Gb, Gbc, rows, cols, x, eta, x_max, alpha, clip)

    for ours, ref in zip((W, Wc, b, bc, G, Gc, Gb, Gbc), (*_split(W_c, V, d), *_split(G_c, V, d))):
        assert np.allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-14)
    # the returned cost is ½ Σ f·diff² before the step
    W0s = _split(W0, V, d)
    ref_cost = glove_loss(*(t(a) for a in W0s), rows, cols, x, x_max, alpha)
    assert torch.isclose(cost, ref_cost)


def test_adagrad_step_follows_the_loss_gradient():
    """Without clipping and with G = 1, the vector step is η·∂J/∂w (autograd on glove_loss)."""
    torch.manual_seed(0)
    V, d = 5, 3
    W, Wc = torch.randn(V, d, dtype=torch.float64), torch.randn(V, d, dtype=torch.float64)
    b, bc = torch.randn(V, dtype=torch.float64), torch.randn(V, dtype=torch.float64)
    rows, cols = torch.tensor([0, 2]), torch.tensor([1, 3])
    x = torch.tensor([2.0, 7.0], dtype=torch.float64)
    params = [p.clone().requires_grad_(True) for p in (W, Wc, b, bc)]
    glove_loss(*params, rows, cols, x, x_max=10.0).backward()
    G, Gc = torch.ones(V, d, dtype=torch.float64), torch.ones(V, d, dtype=torch.float64)
    Gb, Gbc = torch.ones(V, dtype=torch.float64), torch.ones(V, dtype=torch.float64)
    W2, Wc2 = W.clone(), Wc.clone()
    glove_adagrad_step(W2, Wc2, b.clone(), bc.clone(), G, Gc, Gb, Gbc, rows, cols, x, eta=0.05, x_max=10.0, grad_clip=1e9)
    assert torch.allclose(W2 - W, -0.05 * params[0].grad)
    assert torch.allclose(Wc2 - Wc, -0.05 * params[1].grad)


def test_gradcheck_glove_loss():
    torch.manual_seed(0)
    V, d = 4, 3
    args = [torch.randn(V, d, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    args += [torch.randn(V, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    rows, cols = torch.tensor([0, 1, 3]), torch.tensor([2, 2, 0])
    x = torch.tensor([1.5, 20.0, 4.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda *p: glove_loss(*p, rows, cols, x, x_max=10.0), tuple(args))


def test_from_sentences_builds_vocab_and_matrix():
    sentences = [["a", "b", "a", "c"], ["b", "c"]]
    model, X = GloVe.from_sentences(sentences, GloVeConfig(dim=4, window=2, min_count=1))
    assert model.vocab.itos == ["c", "b", "a"]  # equal counts: first seen later comes first
    assert X.shape == (3, 3) and X.nnz > 0 and np.allclose(X.toarray(), X.toarray().T)


def test_fit_lowers_cost_and_recovers_clusters():
    """X_ij is 20 inside two clusters of 6 words and 2 across: W + W̃ must group the clusters."""
    from scipy import sparse

    V = 12
    cluster = np.arange(V) // 6
    X = np.where(cluster[:, None] == cluster[None, :], 20.0, 2.0)
    np.fill_diagonal(X, 0.0)
    words = [f"w{i}" for i in range(V)]
    model = GloVe(Vocab(words, [10] * V, unk_token=None), GloVeConfig(dim=4, x_max=10, epochs=200, batch_size=32))
    report = model.fit(sparse.csr_matrix(X), progress=False)
    costs = [r["cost"] for r in report.history.train]
    assert costs[-1] < 0.2 * costs[0]
    emb = model.embeddings()
    assert np.allclose(emb.vectors, (model.W + model.W_ctx).numpy())  # exported: W + W̃
    same = np.mean([emb.similarity("w0", f"w{i}") for i in range(1, 6)])
    other = np.mean([emb.similarity("w0", f"w{i}") for i in range(6, 12)])
    assert same > other + 0.3


def test_fit_runs_on_one_torch_thread_on_a_cpu_unless_told(monkeypatch):
    """Split over threads, GloVe's small batch operations wait at barriers (benchmarks/glove_threads.py)."""
    from scipy import sparse

    import ptm_course.embeddings.glove as glove_module

    seen = []
    real_step = glove_module.glove_adagrad_step

    def step(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_step(*args, **kwargs)

    monkeypatch.setattr(glove_module, "glove_adagrad_step", step)
    X = sparse.csr_matrix(np.array([[0.0, 3.0, 1.0], [3.0, 0.0, 2.0], [1.0, 2.0, 0.0]]))
    before = torch.get_num_threads()
    model = GloVe(Vocab(["a", "b", "c"], [3, 2, 1], unk_token=None), GloVeConfig(dim=2, epochs=2))
    model.fit(X, progress=False)
    assert set(seen) == {1} and torch.get_num_threads() == before  # restored afterwards
    seen.clear()
    model.fit(X, progress=False, threads=2)
    assert set(seen) == {2}


def test_bad_input():
    with pytest.raises(ValueError):
        GloVeConfig(dim=0)
    model = GloVe(Vocab(["a", "b", "c"], [3, 2, 1], unk_token=None), GloVeConfig(dim=2))
    from scipy import sparse

    with pytest.raises(ValueError):
        model.fit(sparse.csr_matrix(np.ones((4, 4))), progress=False)
    with pytest.raises(ValueError):
        model.embeddings(combine="mean")
