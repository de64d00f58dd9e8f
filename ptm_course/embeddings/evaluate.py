"""Evaluating word vectors: neighbours, analogies, similarity benchmarks, 2-D projections.

Every embedding in chapters 01-03 (NNLM's C, word2vec's input vectors, GloVe's W + W̃) is
wrapped in :class:`Embeddings` and measured the same way:

* **analogy accuracy** on Google's questions-words (19,544 questions "a : b :: c : ?"), answered
  with 3CosAdd: the word closest (cosine) to b − a + c, the three question words excluded;
* **Spearman ρ** between cosine similarities and human judgements on WordSim-353 (relatedness)
  and SimLex-999 (similarity proper);
* **nearest neighbours** and **2-D projections** of chosen word groups, to look at.

The scoring follows gensim's ``KeyedVectors.evaluate_word_analogies`` /
``evaluate_word_pairs`` rule for rule (case-insensitive matching that takes the most frequent
case variant, ``restrict_vocab``, questions with unknown words skipped), so the numbers are
comparable with everyone else's; a test checks that both give the same answers on the same
vectors.

    >>> import numpy as np
    >>> emb = Embeddings(["king", "queen", "man", "woman"],
    ...                  np.array([[1., 1.], [1., -1.], [0.2, 1.], [0.2, -1.]]))
    >>> emb.analogy("man", "king", "woman")[0][0]     # king − man + woman
    'queen'
    >>> round(emb.similarity("king", "man"), 3)
    0.832
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "SEMANTIC_SECTIONS",
    "AnalogyResult",
    "Embeddings",
    "PairResult",
    "evaluate_all",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "plot_words",
    "project_2d",
]

# The first five sections of questions-words are semantic, the nine "gram*" ones syntactic.
SEMANTIC_SECTIONS = ("capital-common-countries", "capital-world", "currency", "city-in-state", "family")


class Embeddings:
    """Words and their vectors, with the look-ups the chapters need.

    ``words`` should be ordered by descending frequency (every trainer in this package does
    so): ``restrict_vocab=n`` then means "the n most frequent words", as in gensim.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray | torch.Tensor):
        if isinstance(vectors, torch.Tensor):
            vectors = vectors.detach().float().cpu().numpy()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array (words × dim), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors")
        self.words: list[str] = list(words)
        self.stoi: dict[str, int] = {}
        for i, w in enumerate(self.words):
            if w in self.stoi:
                raise ValueError(f"word {w!r} appears twice")
            self.stoi[w] = i
        self.vectors: np.ndarray = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit: np.ndarray = vectors / np.where(norms > 0, norms, 1.0)  # rows of length 1 (or 0)

    # ---- look-ups ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def index(self, word: str) -> int:
        """Row of ``word``; an unknown word raises a KeyError that suggests case variants."""
        idx = self.stoi.get(word)
        if idx is None:
            variants = [w for w in (word.lower(), word.capitalize(), word.upper()) if w in self.stoi and w != word]
            hint = f"; did you mean {variants[0]!r}?" if variants else " (it was too rare, or never seen in training)"
            raise KeyError(f"{word!r} is not in the vocabulary of {len(self)} words{hint}")
        return idx

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def __repr__(self) -> str:
        return f"Embeddings({len(self)} words × {self.dim} dims, first: {self.words[:5]})"

    def similarity(self, w1: str, w2: str) -> float:
        """Cosine similarity: cos(u, v) = u·v / (|u|·|v|)."""
        return float(self.unit[self.index(w1)] @ self.unit[self.index(w2)])

    def _query(self, positive: Sequence[str | np.ndarray], negative: Sequence[str | np.ndarray]) -> tuple[np.ndarray, list[int]]:
        """Mean of unit vectors (+ for positive, − for negative), normalised; and the word rows used."""
        parts, rows = [], []
        for sign, items in ((1.0, positive), (-1.0, negative)):
            for item in items:
                if isinstance(item, str):
                    i = self.index(item)
                    rows.append(i)
                    parts.append(sign * self.unit[i])
                else:
                    v = np.asarray(item, dtype=np.float32)
                    if v.shape != (self.dim,):
                        raise ValueError(f"a query vector must have shape ({self.dim},), got {v.shape}")
                    parts.append(sign * v / max(float(np.linalg.norm(v)), 1e-12))
        if not parts:
            raise ValueError("give at least one positive or negative word")
        q = np.mean(parts, axis=0)
        return q / max(float(np.linalg.norm(q)), 1e-12), rows

    def most_similar(
        self,
        positive: str | np.ndarray | Sequence[str | np.ndarray] = (),
        negative: Sequence[str | np.ndarray] = (),
        topn: int = 10,
        restrict_vocab: int | None = None,
    ) -> list[tuple[str, float]]:
        """The ``topn`` words closest (cosine) to mean(positive) − mean(negative); query words left out.

        ``most_similar("paris")`` gives neighbours; ``most_similar(["king", "woman"], ["man"])``
        answers "man is to king as woman is to ?".
        """
        if isinstance(positive, (str, np.ndarray)):
            positive = [positive]
        if isinstance(negative, (str, np.ndarray)):
            negative = [negative]
        q, rows = self._query(list(positive), list(negative))
        end = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        sims = self.unit[:end] @ q
        sims[[r for r in rows if r < end]] = -np.inf
        k = min(topn, end)
        best = np.argpartition(-sims, k - 1)[:k] if k < end else np.arange(end)
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in best if np.isfinite(sims[i])][:topn]

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ? — 3CosAdd, argmax_d cos(d, b − a + c) over words other than a, b, c."""
        return self.most_similar([b, c], [a], topn=topn)

    def neighbours_table(self, words: Iterable[str], topn: int = 5) -> str:
        """A plain-text table: one line per word with its ``topn`` neighbours (unknown words say so)."""
        lines = []
        for w in words:
            if w not in self:
                lines.append(f"{w:>12s} | (not in the vocabulary)")
                continue
            nn = ", ".join(f"{x} {s:.2f}" for x, s in self.most_similar(w, topn=topn))
            lines.append(f"{w:>12s} | {nn}")
        return "\n".join(lines)

    def to_gensim(self):
        """The same vectors as a gensim ``KeyedVectors`` (for gensim's own tools)."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(self.dim)
        kv.add_vectors(self.words, self.vectors)
        return kv

    def _case_insensitive_rows(self, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
        """gensim's ``ok_vocab``: key → row among the first ``restrict_vocab`` words.

        Case-insensitive keys are upper-cased; of several case variants the first (most
        frequent) one wins.
        """
        ok = {}
        for i, w in enumerate(self.words[:restrict_vocab]):
            key = w.upper() if case_insensitive else w
            ok.setdefault(key, i)
        return ok


# ---- analogies -------------------------------------------------------------------------------


@dataclass
class AnalogyResult:
    """Analogy accuracy, overall and per section, with the questions answered right and wrong."""

    correct: int
    total: int  # questions evaluated (all four words known)
    oov: int  # questions skipped because a word is unknown
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (correct, total)
    answers: list[tuple[str, str, str, str, str]] = field(default_factory=list, repr=False)  # a, b, c, expected, predicted

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def _group(self, semantic: bool) -> float:
        c = t = 0
        for name, (ci, ti) in self.sections.items():
            if (name in SEMANTIC_SECTIONS) == semantic:
                c, t = c + ci, t + ti
        return c / t if t else 0.0

    @property
    def semantic_accuracy(self) -> float:
        return self._group(True)

    @property
    def syntactic_accuracy(self) -> float:
        return self._group(False)

    def __str__(self) -> str:
        seen = self.total + self.oov
        return (
            f"analogy accuracy {100 * self.accuracy:.1f}% ({self.correct}/{self.total}; semantic "
            f"{100 * self.semantic_accuracy:.1f}%, syntactic {100 * self.syntactic_accuracy:.1f}%; "
            f"{self.oov}/{seen} questions skipped for unknown words)"
        )


def _rows_of(data, keys: Sequence[str]) -> list[tuple]:
    """Rows of a Hugging Face Dataset, a dict of columns, or an iterable of tuples."""
    if hasattr(data, "column_names") or isinstance(data, Mapping):
        cols = [list(data[k]) for k in keys]
        return list(zip(*cols))
    rows = [tuple(r) for r in data]
    if rows and len(rows[0]) != len(keys):
        raise ValueError(f"expected rows of {len(keys)} fields ({', '.join(keys)}), got {len(rows[0])}")
    return rows


def evaluate_analogies(
    emb: Embeddings,
    questions=None,
    restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
    batch_size: int = 1024,
    max_questions: int | None = None,
) -> AnalogyResult:
    """Accuracy of 3CosAdd on analogy questions (default: Google's questions-words).

    ``questions``: a Dataset / dict with columns section, a, b, c, d, or tuples in that order.
    Same rules as gensim's ``evaluate_word_analogies``: only the ``restrict_vocab`` most
    frequent words are searched; questions with an unknown word are skipped (counted in
    ``oov``); the answer is the first of the 5 best candidates that is not a question word.
    ``max_questions`` evaluates an evenly spaced subset (quick runs).
    """
    if questions is None:
        from ..data import load

        questions = load("questions-words")
    rows = _rows_of(questions, ("section", "a", "b", "c", "d"))
    if max_questions is not None and max_questions < len(rows):
        step = len(rows) / max_questions
        rows = [rows[int(i * step)] for i in range(max_questions)]
    ok = emb._case_insensitive_rows(restrict_vocab, case_insensitive)
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    end = min(restrict_vocab, len(emb))
    unit = torch.from_numpy(emb.unit[:end])
    keep, oov = [], 0
    for sec, a, b, c, d in rows:
        a, b, c, d = norm(a), norm(b), norm(c), norm(d)
        if a in ok and b in ok and c in ok and d in ok:
            keep.append((sec, a, b, c, d))
        else:
            oov += 1
    result = AnalogyResult(correct=0, total=len(keep), oov=oov)
    for sec, *_ in rows:
        result.sections.setdefault(sec, (0, 0))
    for start in range(0, len(keep), batch_size):
        chunk = keep[start : start + batch_size]
        ia = torch.tensor([ok[q[1]] for q in chunk])
        ib = torch.tensor([ok[q[2]] for q in chunk])
        ic = torch.tensor([ok[q[3]] for q in chunk])
        # gensim: mean of unit vectors (b, c positive; a negative), normalised, then cosine to all
        query = (unit[ib] + unit[ic] - unit[ia]) / 3.0  # (Q, d)
        query = query / query.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sims = query @ unit.T  # (Q, end)
        rows_q = torch.arange(len(chunk))
        for idx in (ia, ib, ic):  # the question words themselves are never answers
            sims[rows_q, idx] = -float("inf")
        top = sims.topk(min(5, end), dim=1).indices.tolist()
        for (sec, a, b, c, d), cands in zip(chunk, top):
            predicted = None
            for j in cands:
                predicted = norm(emb.words[j])
                if predicted in ok and predicted not in (a, b, c):
                    break
            good = predicted == d
            ci, ti = result.sections[sec]
            result.sections[sec] = (ci + good, ti + 1)
            result.correct += good
            result.answers.append((a, b, c, d, predicted))
    return result


# ---- word-pair similarity --------------------------------------------------------------------


@dataclass
class PairResult:
    """Spearman ρ (and Pearson r) between model cosines and human scores."""

    spearman: float
    pearson: float
    n_pairs: int  # pairs evaluated
    oov: int  # pairs skipped because a word is unknown

    def __str__(self) -> str:
        return f"Spearman ρ {self.spearman:.3f} (Pearson r {self.pearson:.3f}; {self.n_pairs} pairs, {self.oov} skipped)"


def evaluate_word_pairs(
    emb: Embeddings, pairs="wordsim353", restrict_vocab: int = 300_000, case_insensitive: bool = True
) -> PairResult:
    """Correlation with human similarity judgements (gensim's ``evaluate_word_pairs`` rules).

    ``pairs``: a registered data set name (``"wordsim353"``, ``"simlex999"``), a Dataset / dict
    with columns word1, word2, score, or (word1, word2, score) tuples.
    """
    from scipy import stats

    if isinstance(pairs, str):
        from ..data import load

        pairs = load(pairs)
    rows = _rows_of(pairs, ("word1", "word2", "score"))
    ok = emb._case_insensitive_rows(restrict_vocab, case_insensitive)
    norm = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
    gold, model, oov = [], [], 0
    for w1, w2, score in rows:
        k1, k2 = norm(w1), norm(w2)
        if k1 not in ok or k2 not in ok:
            oov += 1
            continue
        gold.append(float(score))
        model.append(float(emb.unit[ok[k1]] @ emb.unit[ok[k2]]))
    if len(gold) < 3:
        raise ValueError(f"only {len(gold)} of {len(rows)} pairs have both words in the vocabulary: nothing to correlate")
    return PairResult(
        spearman=float(stats.spearmanr(gold, model)[0]),
        pearson=float(stats.pearsonr(gold, model)[0]),
        n_pairs=len(gold),
        oov=oov,
    )


def evaluate_all(emb: Embeddings, restrict_vocab: int = 300_000, max_questions: int | None = None) -> dict[str, float]:
    """The three numbers every chapter reports: analogy accuracy, WS353 ρ, SimLex-999 ρ."""
    analogy = evaluate_analogies(emb, restrict_vocab=restrict_vocab, max_questions=max_questions)
    ws = evaluate_word_pairs(emb, "wordsim353", restrict_vocab=restrict_vocab)
    sl = evaluate_word_pairs(emb, "simlex999", restrict_vocab=restrict_vocab)
    return {
        "analogy": analogy.accuracy,
        "analogy_semantic": analogy.semantic_accuracy,
        "analogy_syntactic": analogy.syntactic_accuracy,
        "analogy_questions": analogy.total,
        "ws353": ws.spearman,
        "simlex999": sl.spearman,
    }


# ---- pictures ---------------------------------------------------------------------------------


def project_2d(emb: Embeddings, words: Sequence[str]) -> np.ndarray:
    """PCA of the chosen words' unit vectors to 2-D: (len(words), 2). Unknown words raise KeyError."""
    if len(words) < 2:
        raise ValueError("need at least two words to project")
    x = np.stack([emb.unit[emb.index(w)] for w in words]).astype(np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # principal axes = right singular vectors
    return x @ vt[:2].T


def plot_words(emb: Embeddings, groups: Mapping[str, Sequence[str]], ax=None, title: str | None = None):
    """Scatter the 2-D PCA of word groups (one colour per group); words not in the vocabulary are skipped."""
    import matplotlib.pyplot as plt

    labelled = [(g, w) for g, ws in groups.items() for w in ws if w in emb]
    if len(labelled) < 2:
        raise ValueError("fewer than two of the chosen words are in the vocabulary")
    xy = project_2d(emb, [w for _, w in labelled])
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    names = list(dict.fromkeys(g for g, _ in labelled))
    for k, name in enumerate(names):
        idx = [i for i, (g, _) in enumerate(labelled) if g == name]
        ax.scatter(xy[idx, 0], xy[idx, 1], label=name, color=f"C{k}")
        for i in idx:
            ax.annotate(labelled[i][1], xy[i], fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.legend(fontsize=8)
    ax.set_title(title or "PCA of chosen words")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
