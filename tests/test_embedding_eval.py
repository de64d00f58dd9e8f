"""Evaluation: the same answers as gensim's KeyedVectors on the same vectors; look-ups; explorer."""

from __future__ import annotations

import numpy as np
import pytest

from ptm_course.data import load
from ptm_course.embeddings.evaluate import (
    Embeddings,
    evaluate_analogies,
    evaluate_word_pairs,
    plot_words,
    project_2d,
)

gensim = pytest.importorskip("gensim")


@pytest.fixture(scope="module")
def planted() -> Embeddings:
    """Vectors for every word of questions-words (plus case variants and fillers) in which a part
    of the analogies hold: b = a + r_section + noise. Enough right and wrong answers to compare."""
    rng = np.random.default_rng(0)
    q = load("questions-words")
    words = list(dict.fromkeys(w for col in "abcd" for w in q[col]))
    extra = ["Paris", "ATHENS", "Greece", "KING", "Queen"]  # case variants: only the first one counts
    fillers = [f"filler{i}" for i in range(200)]
    vocab = words + [w for w in extra if w not in words] + fillers
    rng.shuffle(vocab)
    d = 32
    vec = {w: rng.normal(size=d) for w in vocab}
    rel = {s: rng.normal(size=d) * 1.5 for s in set(q["section"])}
    for sec, a, b in zip(q["section"][::3], q["a"][::3], q["b"][::3]):
        vec[b] = vec[a] + rel[sec] + rng.normal(size=d) * 0.3
    return Embeddings(vocab, np.stack([vec[w] for w in vocab]).astype(np.float32))


def test_analogies_equal_gensim(planted):
    from gensim.test.utils import datapath

    kv = planted.to_gensim()
    g_score, g_sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    ours = evaluate_analogies(planted)
    assert 0.05 < ours.accuracy < 0.95  # a real mix of right and wrong answers
    assert ours.accuracy == pytest.approx(g_score)
    total = g_sections[-1]
    assert ours.correct == len(total["correct"]) and ours.total == len(total["correct"]) + len(total["incorrect"])
    for sec in g_sections[:-1]:
        assert ours.sections[sec["section"]] == (len(sec["correct"]), len(sec["correct"]) + len(sec["incorrect"]))
    right = {tuple(a[:4]) for a in ours.answers if a[3] == a[4]}
    assert right == set(total["correct"])


def test_restrict_vocab_equals_gensim(planted):
    from gensim.test.utils import datapath

    g_score, g_sections = planted.to_gensim().evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=400)
    ours = evaluate_analogies(planted, restrict_vocab=400)
    assert ours.accuracy == pytest.approx(g_score)
    assert ours.total == len(g_sections[-1]["correct"]) + len(g_sections[-1]["incorrect"])


@pytest.mark.parametrize("name, filename", [("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")])
def test_word_pairs_equal_gensim(planted, name, filename):
    from gensim.test.utils import datapath

    pearson, spearman, oov_ratio = planted.to_gensim().evaluate_word_pairs(datapath(filename))
    ours = evaluate_word_pairs(planted, name)
    # gensim takes cosines in float32, we in float32 too but summed in another order: equal to ~1e-7
    assert ours.spearman == pytest.approx(spearman.statistic, abs=1e-6)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=1e-6)
    assert 100 * ours.oov / (ours.oov + ours.n_pairs) == pytest.approx(oov_ratio)


def test_word_pairs_on_vectors_that_know_the_scores():
    pairs = load("wordsim353")
    words = sorted(set(pairs["word1"]) | set(pairs["word2"]))
    rng = np.random.default_rng(1)
    emb = Embeddings(words, rng.normal(size=(len(words), 8)))
    assert abs(evaluate_word_pairs(emb, pairs).spearman) < 0.25  # random vectors: no correlation
    rows = [(w1, w2, s) for w1, w2, s in zip(pairs["word1"], pairs["word2"], pairs["score"])]
    assert evaluate_word_pairs(emb, rows).n_pairs == len(rows)


def test_most_similar_and_analogy_on_a_tiny_space():
    emb = Embeddings(["king", "queen", "man", "woman", "apple"],
                     np.array([[1, 1, 0], [1, -1, 0], [0.2, 1, 0], [0.2, -1, 0], [0, 0, 1.0]]))
    assert emb.analogy("man", "king", "woman")[0][0] == "queen"
    nn = emb.most_similar("king", topn=2)
    assert [w for w, _ in nn] == ["man", "queen"] and nn[0][1] > nn[1][1]
    assert "king" not in [w for w, _ in emb.most_similar("king", topn=4)]
    assert emb.most_similar("king", restrict_vocab=3, topn=5)[0][0] == "man"
    with pytest.raises(KeyError, match="did you mean 'king'"):
        emb["King"]
    with pytest.raises(ValueError):
        Embeddings(["a", "b"], np.zeros((3, 2)))
    assert "apple" in emb.neighbours_table(["apple", "pear"]) and "not in the vocabulary" in emb.neighbours_table(["pear"])


def test_projection_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    emb = Embeddings([f"w{i}" for i in range(10)], rng.normal(size=(10, 6)))
    xy = project_2d(emb, ["w0", "w1", "w2", "w3"])
    assert xy.shape == (4, 2) and np.allclose(xy.mean(0), 0, atol=1e-9)
    ax = plot_words(emb, {"one": ["w0", "w1"], "two": ["w2", "w3", "unknown"]})
    assert len(ax.collections) == 2


def test_explorer_degrades_to_plain_output(capsys):
    from ptm_course.embeddings.explorer import answer, explorer

    emb = Embeddings(["king", "queen", "man", "woman"], np.array([[1, 1], [1, -1], [0.2, 1], [0.2, -1.0]]))
    assert answer(emb, "king - man + woman")[0][0] == "queen"
    assert answer(emb, "king")[0][0] == "man"
    with pytest.raises(ValueError):
        answer(emb, "king + ")
    out = explorer(emb, use_widgets=False, examples=["king", "king - man + woman", "nosuchword"])
    assert out is None
    printed = capsys.readouterr().out
    assert "queen" in printed and "not in the vocabulary" in printed
    widget = explorer(emb, use_widgets=True)
    assert widget is not None and hasattr(widget, "children")
