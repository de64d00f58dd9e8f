"""Word2Vec: gensim parity of the vocabulary tables, the two losses, and training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ptm_course.data.corpus import build_vocab, context_windows, encode_corpus
from ptm_course.embeddings.word2vec import (
    AliasSampler,
    Word2Vec,
    Word2VecConfig,
    draw_negatives,
    hierarchical_softmax_loss,
    hs_log_probs,
    hs_update,
    huffman_tree,
    keep_probability,
    negative_sampling_loss,
    negative_sampling_table,
    ns_update,
    repeat_scale,
    sample_int,
    time_output_layer,
)

gensim = pytest.importorskip("gensim")


# ---------------------------------------------------------------------------------------------
# gensim parity: vocabulary order, Huffman code/point, sample_int, cum_table
# ---------------------------------------------------------------------------------------------


def _lee_sentences() -> list[list[str]]:
    from gensim.test.utils import datapath

    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        return [line.split() for line in f]


def _wikitext_sentences(n_lines: int = 3000) -> list[list[str]]:
    from ptm_course.data import load

    lines = load("wikitext-2", split="train")["text"][:n_lines]
    return [line.lower().split() for line in lines if line.strip()]


@pytest.fixture(scope="module", params=["lee_background", "wikitext-2 slice"])
def corpus_and_gensim(request):
    from gensim.models import Word2Vec as GensimWord2Vec

    if request.param == "lee_background":
        sentences, min_count, sample = _lee_sentences(), 5, 1e-3
    else:
        sentences, min_count, sample = _wikitext_sentences(), 2, 1e-4
    g = GensimWord2Vec(vector_size=8, min_count=min_count, sample=sample, hs=1, negative=5, ns_exponent=0.75)
    g.build_vocab(sentences)
    return sentences, min_count, sample, g


def test_vocab_order_and_counts_equal_gensim(corpus_and_gensim):
    sentences, min_count, _, g = corpus_and_gensim
    vocab = build_vocab(sentences, min_count)
    assert vocab.itos == g.wv.index_to_key
    assert np.array_equal(vocab.counts, g.wv.expandos["count"])


def test_huffman_codes_and_points_equal_gensim(corpus_and_gensim):
    sentences, min_count, _, g = corpus_and_gensim
    tree = huffman_tree(build_vocab(sentences, min_count).counts)
    assert len(tree) == len(g.wv)
    for w in range(len(tree)):
        assert np.array_equal(tree.codes[w], g.wv.get_vecattr(w, "code")), w
        assert np.array_equal(tree.points[w], g.wv.get_vecattr(w, "point")), w


def test_sample_int_equals_gensim(corpus_and_gensim):
    sentences, min_count, sample, g = corpus_and_gensim
    ours = sample_int(build_vocab(sentences, min_count).counts, sample)
    assert ours.dtype == np.uint32
    assert np.array_equal(ours, g.wv.expandos["sample_int"])


def test_cum_table_equals_gensim(corpus_and_gensim):
    sentences, min_count, _, g = corpus_and_gensim
    ours = negative_sampling_table(build_vocab(sentences, min_count).counts, exponent=0.75)
    assert np.array_equal(ours, g.cum_table)


# ---------------------------------------------------------------------------------------------
# The tables on their own
# ---------------------------------------------------------------------------------------------


def test_keep_probability_is_word2vec_formula():
    counts = np.array([5000, 300, 20, 1])
    s, n = 1e-3, counts.sum()
    expected = np.minimum((np.sqrt(counts / (s * n)) + 1) * (s * n / counts), 1.0)
    assert np.allclose(keep_probability(counts, s), expected)
    assert keep_probability(counts, s)[-1] == 1.0  # rare words are always kept
    assert keep_probability(counts, s)[0] < 0.2  # frequent ones mostly dropped
    assert np.all(keep_probability(counts, 0.0) == 1.0)  # sample=0: no subsampling
    with pytest.raises(ValueError):
        keep_probability(counts, 1.5)
    with pytest.raises(ValueError):
        keep_probability(np.array([3, 0]), 1e-3)


def test_huffman_codes_are_prefix_free_and_frequent_words_short():
    counts = np.array([1000, 400, 300, 100, 50, 20, 5, 5, 1])
    tree = huffman_tree(counts)
    words = ["".join(map(str, c)) for c in tree.codes]
    assert len(set(words)) == len(words)
    for a in words:
        assert not any(b != a and b.startswith(a) for b in words)  # prefix-free
    lengths = [len(c) for c in tree.codes]
    for i in range(len(counts)):  # a more frequent word never has a longer code
        assert all(lengths[i] <= lengths[j] for j in range(len(counts)) if counts[i] > counts[j])
    assert sum(c * l for c, l in zip(counts, lengths)) <= sum(counts) * math.ceil(math.log2(len(counts)))
    assert all(p[0] == len(counts) - 2 for p in tree.points)  # every path starts at the root
    with pytest.raises(ValueError):
        huffman_tree([3])


def test_alias_sampler_matches_cum_table_distribution():
    counts = np.array([500, 120, 60, 9, 3, 1])
    cum = negative_sampling_table(counts)
    p = np.diff(cum.astype(np.int64), prepend=0) / cum[-1]
    gen = torch.Generator().manual_seed(0)
    draws = AliasSampler.from_cum_table(cum).sample((400_000,), gen)
    freq = np.bincount(draws.numpy(), minlength=len(counts)) / 400_000
    assert np.abs(freq - p).max() < 4e-3
    bisect = draw_negatives(torch.from_numpy(cum.astype(np.int64)), (400_000,), gen)
    freq2 = np.bincount(bisect.numpy(), minlength=len(counts)) / 400_000
    assert np.abs(freq2 - p).max() < 4e-3


def test_context_windows_shrink_and_stop_at_sentence_ends():
    ids = torch.arange(1000) % 50
    sentence = torch.arange(1000) // 100  # ten sentences of 100 words
    gen = torch.Generator().manual_seed(0)
    ctx, mask = context_windows(ids, sentence, window=5, generator=gen)
    offsets = torch.tensor([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5])
    pos = torch.arange(1000).unsqueeze(1) + offsets
    assert torch.equal(ctx[mask], ids[pos[mask]])
    assert bool(((pos[mask] // 100) == (torch.arange(1000).unsqueeze(1).expand_as(pos)[mask] // 100)).all())
    # the window is symmetric and its size b is uniform on 1..5 (away from sentence ends)
    inner = (torch.arange(1000) % 100 >= 5) & (torch.arange(1000) % 100 < 95)
    b = mask[inner][:, 5:].sum(1)
    assert torch.equal(b, mask[inner][:, :5].sum(1))
    counts = torch.bincount(b, minlength=6)[1:].float() / b.numel()
    assert counts.min() > 0.15 and counts.max() < 0.25
    with pytest.raises(ValueError):
        context_windows(ids, sentence[:-1], window=5)


# ---------------------------------------------------------------------------------------------
# Losses: hierarchical softmax is a distribution; gradients; the hand-written updates
# ---------------------------------------------------------------------------------------------


def test_hierarchical_softmax_probabilities_sum_to_one():
    torch.manual_seed(0)
    counts = (1000 / np.arange(1, 41)).astype(np.int64) + 1
    tree = huffman_tree(counts)
    syn1 = torch.randn(len(counts) - 1, 6, dtype=torch.float64)
    h = torch.randn(5, 6, dtype=torch.float64)
    logp = hs_log_probs(h, syn1, tree)
    assert logp.shape == (5, 40)
    assert torch.allclose(logp.exp().sum(1), torch.ones(5, dtype=torch.float64), atol=1e-12)


def test_hs_loss_equals_minus_log_prob_of_target():
    torch.manual_seed(1)
    counts = np.array([50, 20, 10, 7, 3, 2, 1])
    tree = huffman_tree(counts)
    codes, points, lengths = tree.padded()
    syn1 = torch.randn(6, 4, dtype=torch.float64)
    h = torch.randn(3, 4, dtype=torch.float64)
    targets = torch.tensor([0, 4, 6])
    mask = (torch.arange(codes.shape[1]) < lengths[targets].unsqueeze(1)).double()
    loss = hierarchical_softmax_loss(h, syn1[points[targets]], codes[targets].double(), mask)
    assert torch.allclose(loss, -hs_log_probs(h, syn1, tree)[torch.arange(3), targets])


def test_gradcheck_negative_sampling_loss():
    torch.manual_seed(0)
    h = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    v_pos = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    v_neg = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    valid = torch.tensor([[1, 1, 0, 1, 1]] * 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c: negative_sampling_loss(a, b, c, valid), (h, v_pos, v_neg))


def test_gradcheck_hierarchical_softmax_loss():
    torch.manual_seed(0)
    h = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    nodes = torch.randn(3, 6, 4, dtype=torch.float64, requires_grad=True)
    codes = torch.randint(0, 2, (3, 6)).double()
    mask = (torch.arange(6) < torch.tensor([[2], [6], [4]])).double()
    assert torch.autograd.gradcheck(lambda a, b: hierarchical_softmax_loss(a, b, codes, mask), (h, nodes))


def test_ns_update_is_sgd_on_the_ns_loss():
    """neu1e = −α·∂L/∂h and each output vector moves by −α·∂L/∂v (distinct words: no summing)."""
    torch.manual_seed(0)
    B, K, d, alpha = 4, 3, 5, 0.1
    W_out = torch.randn(30, d, dtype=torch.float64)
    h = torch.randn(B, d, dtype=torch.float64)
    ids = torch.randperm(30)[: B * (K + 1)].view(B, K + 1)
    targets, negatives = ids[:, 0].clone(), ids[:, 1:].clone()
    negatives[0, 1] = targets[0]  # a negative equal to its target is skipped
    hh = h.clone().requires_grad_(True)
    vv = W_out.clone().requires_grad_(True)
    valid = (negatives != targets.unsqueeze(1)).double()
    loss = negative_sampling_loss(hh, vv[targets], vv[negatives], valid).sum()
    loss.backward()
    before = W_out.clone()
    neu1e, loss_sum = ns_update(h, W_out, targets, negatives, alpha)
    assert torch.allclose(neu1e, -alpha * hh.grad)
    assert torch.allclose(W_out - before, -alpha * vv.grad)
    assert torch.isclose(loss_sum, loss.detach())


def test_hs_update_is_sgd_on_the_hs_loss():
    torch.manual_seed(0)
    counts = np.array([90, 40, 30, 12, 8, 5, 3, 2])
    codes, points, lengths = huffman_tree(counts).padded()
    d, alpha = 4, 0.05
    syn1 = torch.randn(len(counts) - 1, d, dtype=torch.float64)
    h = torch.randn(1, d, dtype=torch.float64)  # one example: its path has distinct nodes
    target = torch.tensor([5])
    hh = h.clone().requires_grad_(True)
    ss = syn1.clone().requires_grad_(True)
    mask = (torch.arange(codes.shape[1]) < lengths[target].unsqueeze(1)).double()
    loss = hierarchical_softmax_loss(hh, ss[points[target]], codes[target].double(), mask).sum()
    loss.backward()
    before = syn1.clone()
    neu1e, loss_sum = hs_update(h, syn1, target, codes, points, lengths, alpha)
    assert torch.allclose(neu1e, -alpha * hh.grad)
    assert torch.allclose(syn1 - before, -alpha * ss.grad)
    assert torch.isclose(loss_sum, loss.detach())


# ---------------------------------------------------------------------------------------------
# Training end to end on a toy corpus
# ---------------------------------------------------------------------------------------------


def _toy_corpus(n: int = 600, seed: int = 0) -> list[list[str]]:
    """Two 'topics' whose words co-occur only with each other."""
    rng = np.random.default_rng(seed)
    topics = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    return [list(rng.choice(topics[k % 2], size=12)) for k in range(n)]


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
@pytest.mark.parametrize("loss", ["negative", "hierarchical"])
def test_training_lowers_loss_and_separates_topics(arch, loss):
    sentences = _toy_corpus()
    # 16 words only: keep batches small, or each word gets ~100 stale updates per batch
    cfg = Word2VecConfig(arch=arch, loss=loss, dim=16, window=3, min_count=1, sample=0.0,
                         epochs=4, batch_size=32, chunk_words=1200, alpha=0.05)
    model = Word2Vec.from_sentences(sentences, cfg)
    report = model.train(sentences, progress=False)
    losses = [r["loss"] for r in report.history.train]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert report.raw_words == 4 * 600 * 12
    assert report.words_per_second > 0
    alphas = [r["alpha"] for r in report.history.train]
    assert alphas == sorted(alphas, reverse=True) and alphas[-1] <= cfg.min_alpha + 1e-9  # linear decay to min_alpha
    emb = model.embeddings()
    same = np.mean([emb.similarity("a0", f"a{i}") for i in range(1, 8)])
    other = np.mean([emb.similarity("a0", f"b{i}") for i in range(8)])
    assert same > other + 0.2


def test_divergence_is_reported_not_hidden():
    sentences = _toy_corpus(200)
    cfg = Word2VecConfig(arch="skipgram", loss="hierarchical", dim=16, window=3, min_count=1, sample=0.0,
                         epochs=3, batch_size=4096, alpha=1e30)
    with pytest.raises(FloatingPointError, match="lower batch_size"):
        Word2Vec.from_sentences(sentences, cfg).train(sentences, progress=False)
    assert Word2VecConfig(loss="hierarchical").batch_size == 256 and Word2VecConfig().batch_size == 4096


def test_subsampling_drops_frequent_words_during_training():
    sentences = [["the"] * 50 + ["cat", "dog"]] * 40
    cfg = Word2VecConfig(dim=4, window=2, min_count=1, sample=1e-2, epochs=1, chunk_words=200)
    model = Word2Vec.from_sentences(sentences, cfg)
    keep = model.keep_prob.numpy()
    assert keep[model.vocab.stoi["the"]] < 0.3 and keep[model.vocab.stoi["cat"]] == 1.0
    report = model.train(sentences, progress=False)
    assert report.examples < 0.5 * 40 * 52 * 2  # far fewer pairs than without subsampling


def test_encode_drops_unknown_words_and_keeps_sentences():
    vocab = build_vocab([["x", "y", "x"], ["y", "z"]], min_count=1)
    corpus = encode_corpus([["x", "q", "y"], ["z"]], vocab)
    assert corpus.ids.tolist() == vocab.encode(["x", "y", "z"])
    assert corpus.sentence.tolist() == [0, 0, 1]
    assert corpus.raw_words == 4  # unknown words still count for the schedule and words/s


def test_bad_input_is_reported_clearly():
    with pytest.raises(TypeError):
        build_vocab(["a sentence as a string"])
    with pytest.raises(ValueError):
        Word2VecConfig(arch="glove")
    with pytest.raises(ValueError):
        Word2VecConfig(loss="softmax")
    with pytest.raises(ValueError):
        build_vocab([["a", "b"]], min_count=5)
    with pytest.raises(ValueError):
        negative_sampling_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 5, 3))


def test_output_layer_timing_runs_for_every_method():
    # speed itself is measured in the notebook and benchmarks/, not asserted in a timed test
    for method in ("softmax", "hierarchical", "negative"):
        assert time_output_layer(method, 500, dim=8, batch=16, repeats=1) > 0
    with pytest.raises(ValueError):
        time_output_layer("full", 500)
    with pytest.raises(ValueError, match="repeats"):
        time_output_layer("softmax", 500, repeats=0)


def test_output_layer_timing_runs_on_one_thread_and_restores_the_setting(monkeypatch):
    import ptm_course.embeddings.word2vec as w2v

    seen = []
    threads = torch.get_num_threads()
    original = w2v.ns_update

    def spy(*args):
        seen.append(torch.get_num_threads())
        return original(*args)

    monkeypatch.setattr(w2v, "ns_update", spy)
    time_output_layer("negative", 500, dim=8, batch=16, repeats=3, min_time=0.0)
    assert len(seen) == 1 + 3 and set(seen) == {1}  # the warm-up, then one update per repeat
    assert torch.get_num_threads() == threads


def test_repeat_scale_caps_a_repeated_words_summed_update():
    ids = torch.tensor([2, 2, 2, 2, 2, 2, 0, 1])
    scale = repeat_scale(ids, n_rows=4, max_repeats=3).squeeze(1)
    assert scale.tolist() == [0.5] * 6 + [1.0, 1.0]  # 6 occurrences -> 3 updates' worth; rare rows untouched
    assert repeat_scale(ids, 4, None) is None
    # in ns_update: a row that appears k <= max_repeats times gets the plain sum, a frequent one is scaled
    torch.manual_seed(0)
    h, W = torch.randn(6, 4), torch.randn(5, 4) * 0.1
    targets, negatives = torch.tensor([0, 0, 0, 0, 0, 0]), torch.tensor([[1], [2], [3], [4], [1], [2]])
    W_plain, W_capped = W.clone(), W.clone()
    ns_update(h, W_plain, targets, negatives, 0.1)
    ns_update(h, W_capped, targets, negatives, 0.1, max_repeats=2)
    torch.testing.assert_close(W_capped[0] - W[0], (W_plain[0] - W[0]) * 2 / 6)  # target row: 6 uses -> 1/3
    torch.testing.assert_close(W_capped[3], W_plain[3])  # used once: same update
    with pytest.raises(ValueError, match="max_repeats"):
        Word2VecConfig(max_repeats=0)


def test_large_batches_blow_up_without_the_cap_and_stay_stable_with_it():
    # 16 words, 4,096 pairs per batch: each vector gets ~750 stale updates per step
    sentences = _toy_corpus(300)
    base = dict(arch="skipgram", loss="negative", dim=16, window=3, min_count=1, sample=0.0, epochs=2, batch_size=4096)
    plain = Word2Vec.from_sentences(sentences, Word2VecConfig(**base))
    losses = [r["loss"] for r in plain.train(sentences, progress=False).history.train]
    assert losses[-1] > 10 * losses[0]  # overshoots: the loss explodes
    capped = Word2Vec.from_sentences(sentences, Word2VecConfig(**base, max_repeats=4))
    losses = [r["loss"] for r in capped.train(sentences, progress=False).history.train]
    assert np.isfinite(losses).all() and losses[-1] <= losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("arch,loss", [("skipgram", "negative"), ("cbow", "negative")])
def test_compiled_batch_steps_give_the_same_vectors(arch, loss):
    sentences = _toy_corpus(200)
    vectors = []
    for compile_ in (False, True):
        cfg = Word2VecConfig(arch=arch, loss=loss, dim=16, window=3, min_count=1, sample=0.0, epochs=2,
                             batch_size=64, chunk_words=1200, compile=compile_)
        model = Word2Vec.from_sentences(sentences, cfg)
        model.train(sentences, progress=False)
        vectors.append(model.W_in)
    torch.testing.assert_close(vectors[1], vectors[0], atol=1e-4, rtol=1e-3)
    # compiled Hogwild workers (C++ wrapper, no GIL while the kernels run) train too
    model = Word2Vec.from_sentences(sentences, cfg)
    report = model.train(sentences, progress=False, workers=2)
    losses = [r["loss"] for r in report.history.train]
    assert np.isfinite(losses).all() and np.mean(losses[-2:]) < np.mean(losses[:2])


@pytest.mark.parametrize("loss", ["negative", "hierarchical"])
def test_hogwild_workers_train_the_shared_vectors(loss):
    sentences = _toy_corpus()
    cfg = Word2VecConfig(arch="skipgram", loss=loss, dim=16, window=3, min_count=1, sample=0.0,
                         epochs=4, batch_size=32, chunk_words=600, alpha=0.05)
    model = Word2Vec.from_sentences(sentences, cfg)
    report = model.train(sentences, progress=False, workers=2)
    assert report.raw_words == 4 * 600 * 12
    assert len(report.history.train) == 4 * 12  # every chunk of every epoch, once
    assert [r["words"] for r in report.history.train] == sorted(r["words"] for r in report.history.train)
    emb = model.embeddings()
    same = np.mean([emb.similarity("a0", f"a{i}") for i in range(1, 8)])
    other = np.mean([emb.similarity("a0", f"b{i}") for i in range(8)])
    assert same > other + 0.2
    # one worker is the sequential run, bit for bit
    runs = []
    for _ in range(2):
        m = Word2Vec.from_sentences(sentences, cfg)
        m.train(sentences, progress=False, workers=1)
        runs.append(m.W_in)
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_one_hogwild_worker_is_the_reference_trainer_bit_for_bit(arch):
    # word2vec_fast.train_hogwild with one worker walks the stretches as Word2Vec.train does,
    # with the same generator and batches: the fast path and the reference compute the same vectors
    from ptm_course.embeddings.word2vec import _TrainingRun
    from ptm_course.embeddings.word2vec_fast import train_hogwild

    sentences = _toy_corpus(200)
    cfg = Word2VecConfig(arch=arch, dim=16, window=3, min_count=1, sample=1e-2, epochs=2, batch_size=64,
                         chunk_words=600)
    reference = Word2Vec.from_sentences(sentences, cfg)
    ref_report = reference.train(sentences, progress=False, threads=1)  # workers run one torch thread each
    fast = Word2Vec.from_sentences(sentences, cfg)
    run = _TrainingRun(fast, fast.encode(sentences), cfg.epochs, progress=False)
    train_hogwild(run, workers=1)
    report = run.report()
    assert torch.equal(fast.W_in, reference.W_in) and torch.equal(fast.W_out, reference.W_out)
    assert [r["loss"] for r in report.history.train] == [r["loss"] for r in ref_report.history.train]
    assert report.examples == ref_report.examples and fast.epochs_trained == reference.epochs_trained == 2


def test_hogwild_errors_reach_the_caller():
    sentences = _toy_corpus(200)
    cfg = Word2VecConfig(arch="skipgram", loss="hierarchical", dim=16, window=3, min_count=1, sample=0.0,
                         epochs=3, batch_size=4096, chunk_words=600, alpha=1e30)
    with pytest.raises(FloatingPointError, match="lower batch_size"):
        Word2Vec.from_sentences(sentences, cfg).train(sentences, progress=False, workers=2)
    model = Word2Vec.from_sentences(sentences, Word2VecConfig(dim=4, min_count=1))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        model.train(sentences, progress=False, workers=0)
    with pytest.raises(ValueError, match="leave threads unset"):
        model.train(sentences, progress=False, workers=2, threads=2)


def test_a_failing_compilation_falls_back_to_eager_with_a_warning(monkeypatch):
    import torch._inductor.exc

    def broken_compile(fn, **kwargs):
        def run(*args):
            raise torch._inductor.exc.InductorError(AssertionError("simulated compiler bug"), None)
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    sentences = _toy_corpus(200)
    cfg = Word2VecConfig(dim=16, window=3, min_count=1, sample=0.0, epochs=2, batch_size=64, chunk_words=1200)
    eager = Word2Vec.from_sentences(sentences, cfg)
    eager.train(sentences, progress=False)
    model = Word2Vec.from_sentences(sentences, Word2VecConfig(**{**cfg.__dict__, "compile": True}))
    with pytest.warns(UserWarning, match="torch.compile failed.*simulated compiler bug"):
        model.train(sentences, progress=False)
    assert torch.equal(model.W_in, eager.W_in)  # the same run as without compile


# ---- exercise 02.ns_grads: the gradients by hand, and the mistakes that must lose points ------


def _ns_grads_right(h, v_pos, v_neg):
    s_pos, s_neg = (h * v_pos).sum(-1), torch.einsum("bkd,bd->bk", v_neg, h)
    e_pos, e_neg = torch.sigmoid(s_pos) - 1, torch.sigmoid(s_neg)
    return (e_pos[:, None] * v_pos + torch.einsum("bk,bkd->bd", e_neg, v_neg),
            e_pos[:, None] * h, e_neg[..., None] * h[:, None])


def _ns_grads_sign_error(h, v_pos, v_neg):  # 1 − σ(s_o) instead of σ(s_o) − 1
    gh, gp, gn = _ns_grads_right(h, v_pos, v_neg)
    s_pos = (h * v_pos).sum(-1)
    e_wrong = 1 - torch.sigmoid(s_pos)
    return gh - 2 * (torch.sigmoid(s_pos) - 1)[:, None] * v_pos, e_wrong[:, None] * h, gn


def _ns_grads_sigma_minus(h, v_pos, v_neg):  # σ(−s_k) for the negatives instead of σ(s_k)
    s_pos, s_neg = (h * v_pos).sum(-1), torch.einsum("bkd,bd->bk", v_neg, h)
    e_pos, e_neg = torch.sigmoid(s_pos) - 1, torch.sigmoid(-s_neg)
    return (e_pos[:, None] * v_pos + torch.einsum("bk,bkd->bd", e_neg, v_neg),
            e_pos[:, None] * h, e_neg[..., None] * h[:, None])


def _ns_grads_no_negatives_in_h(h, v_pos, v_neg):  # forgets that h is in every negative's score
    gh, gp, gn = _ns_grads_right(h, v_pos, v_neg)
    return (torch.sigmoid((h * v_pos).sum(-1)) - 1)[:, None] * v_pos, gp, gn


def test_ns_grads_question_gives_full_points_to_the_right_gradients_only():
    from ptm_course.grading import evaluate, get_question

    q = get_question("02.ns_grads")
    assert q.max_points == 4
    right = evaluate("02.ns_grads", _ns_grads_right)
    assert right.status == "passed" and right.points == 4
    lost = {}
    for name, fn in [("sign", _ns_grads_sign_error), ("sigma(-x)", _ns_grads_sigma_minus),
                     ("h without negatives", _ns_grads_no_negatives_in_h)]:
        r = evaluate("02.ns_grads", fn)
        assert r.status != "passed" and r.points < 4, (name, r)
        lost[name] = r.points
    assert lost == {"sign": 1, "sigma(-x)": 1, "h without negatives": 2}, lost
