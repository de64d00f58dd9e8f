"""Chinese words, phrases and names: the units ERNIE masks, read off a gold segmentation with POS tags.

ERNIE 1.0 (Sun et al. 2019) masks whole *units* instead of single characters: words, phrases
and named entities. Here the units come from the gold annotation of the ``peoples-daily-1998``
data set (words tagged with the Peking University POS set), and everything is given per
*character*, because a Chinese model reads one token per character:

    >>> words = ["国家", "主席", "江", "泽民", "在", "北京", "讲话"]
    >>> tags = ["n", "n", "nr", "nr", "p", "ns", "v"]
    >>> entity_spans(words, tags)                  # word-index spans [start, end)
    [(2, 4, 'PER'), (5, 6, 'LOC')]
    >>> phrase_spans(words, tags)                  # 国家主席江泽民
    [(0, 4)]
    >>> char_units(words, "word")                  # one id per character
    [0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 6]
    >>> char_units(words, "entity", tags)          # 江泽民 is one unit, every other word its own
    [0, 0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5]
    >>> bio_tags(words, tags)[4:10]
    ['B-PER', 'I-PER', 'I-PER', 'O', 'B-LOC', 'I-LOC']

The same data measures a segmenter: :func:`jieba_words` segments a string with jieba, and
:func:`segmentation_prf` / :func:`jieba_prf` score a segmentation against the gold words.
"""

from __future__ import annotations

from typing import Iterable, Sequence

__all__ = [
    "ENTITY_TYPES",
    "NOMINAL_TAGS",
    "PHRASE_TAGS",
    "UNIT_LEVELS",
    "bio_tags",
    "char_units",
    "entity_spans",
    "jieba_prf",
    "jieba_tagged",
    "jieba_words",
    "phrase_spans",
    "segmentation_prf",
    "unit_ids_for",
]

# PKU tags of names: nr person (surname and given name are separate words), ns place, nt organisation
ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}

# Tags a phrase is made of (nouns, names, abbreviations, nominal verbs and adjectives, adjectives,
# distinguishing words), and the ones a phrase may end on (its head is nominal: not a or b).
PHRASE_TAGS = frozenset({"n", "nr", "ns", "nt", "nz", "nx", "Ng", "j", "vn", "an", "a", "b"})
NOMINAL_TAGS = PHRASE_TAGS - {"a", "b"}

UNIT_LEVELS = ("char", "word", "phrase", "entity")


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_words(words: Sequence[str], what: str = "words") -> None:
    if isinstance(words, str):
        raise ValueError(f"{what} must be a list of words, not one string: split it first (e.g. with jieba_words)")
    for i, w in enumerate(words):
        if not isinstance(w, str) or not w:
            raise ValueError(f"{what}[{i}] is {w!r}: every word must be a non-empty string")


def _check_tagged(words: Sequence[str], tags: Sequence[str]) -> None:
    _check_words(words)
    if isinstance(tags, str):
        raise ValueError("tags must be a list with one POS tag per word, not one string")
    if len(tags) != len(words):
        raise ValueError(f"{len(words)} words but {len(tags)} tags: give one POS tag per word")
    for i, t in enumerate(tags):
        if not isinstance(t, str) or not t:
            raise ValueError(f"tags[{i}] is {t!r}: every tag must be a non-empty string such as 'n' or 'nr'")


# --------------------------------------------------------------------------------------------
# Entities and phrases (word-index spans)
# --------------------------------------------------------------------------------------------


def entity_spans(words: Sequence[str], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Named entities as word-index spans ``(start, end, label)``, ``end`` exclusive.

    ``nr`` words are PER, ``ns`` words LOC, ``nt`` words ORG. Names of several words are joined:

    * PER: a *surname* — an ``nr`` word of one or two characters — directly followed by another
      ``nr`` word forms one person with that word (``江/nr 泽民/nr``, ``欧阳/nr 修/nr``,
      ``桥本/nr 龙太郎/nr``). Only one word is joined to a surname, scanning left to right, so a
      caption that lists people with no punctuation between them is cut into people:
      ``江/nr 泽民/nr 李/nr 鹏/nr`` is 江泽民 and 李鹏. Any other ``nr`` word (``叶利钦/nr``) is a
      person by itself.
    * LOC: consecutive ``ns`` words are one place (``湖南/ns 常德市/ns``).
    * ORG: consecutive ``nt`` words are one organisation.
    """
    _check_tagged(words, tags)
    spans: list[tuple[int, int, str]] = []
    n, i = len(words), 0
    while i < n:
        label = ENTITY_TYPES.get(tags[i])
        if label is None:
            i += 1
            continue
        end = i + 1
        if label == "PER":
            if len(words[i]) <= 2 and end < n and tags[end] == "nr":
                end += 1
        else:
            while end < n and tags[end] == tags[i]:
                end += 1
        spans.append((i, end, label))
        i = end
    return spans


def phrase_spans(words: Sequence[str], tags: Sequence[str]) -> list[tuple[int, int]]:
    """Noun-phrase-like chunks as word-index spans ``(start, end)``, ``end`` exclusive.

    The rule: take every maximal run of consecutive words whose tags are in :data:`PHRASE_TAGS`
    (n, nr, ns, nt, nz, nx, Ng, j, vn, an, a, b); cut the run back to its last word with a tag
    in :data:`NOMINAL_TAGS` (everything but the adjectives a and b: a Chinese noun phrase ends on
    its head noun); keep it if it still has at least two words. So ``中央/n 人民/n 广播/vn 电台/n``
    is one phrase, ``良好/a 发展/vn 态势/n`` is one, ``经济/n 繁荣/a`` is cut to ``经济`` (one
    word: no phrase), and any other tag (``的/u``, ``各族/r``, punctuation) ends a run. A name
    of two words (``江/nr 泽民/nr``) is a phrase too.
    """
    _check_tagged(words, tags)
    spans: list[tuple[int, int]] = []
    n, i = len(words), 0
    while i < n:
        if tags[i] not in PHRASE_TAGS:
            i += 1
            continue
        end = i
        while end < n and tags[end] in PHRASE_TAGS:
            end += 1
        last = end
        while last > i and tags[last - 1] not in NOMINAL_TAGS:
            last -= 1
        if last - i >= 2:
            spans.append((i, last))
        i = end
    return spans


# --------------------------------------------------------------------------------------------
# Per-character units and labels
# --------------------------------------------------------------------------------------------


def unit_ids_for(words: Sequence[str], spans: Iterable[Sequence] | None = None) -> list[int]:
    """One unit id per character of ``"".join(words)``.

    Every span ``(start, end)`` of word indices (a third item, such as the label that
    :func:`entity_spans` gives, is ignored) is one unit: all the characters of its words share
    an id. Every word outside the spans is a unit of its own. Ids are numbered 0, 1, 2, ... in
    the order the units appear in the text. With no spans, the units are the words. Spans must
    lie inside the sentence, be non-empty and not overlap.
    """
    _check_words(words)
    n = len(words)
    span_of = [None] * n  # word index -> index of the span that covers it
    for k, span in enumerate(spans or ()):
        if len(span) < 2:
            raise ValueError(f"span {span!r} must be (start, end) or (start, end, label)")
        start, end = int(span[0]), int(span[1])
        if not 0 <= start < end <= n:
            raise ValueError(f"span {tuple(span)!r} is not a non-empty word range inside 0..{n}")
        for i in range(start, end):
            if span_of[i] is not None:
                raise ValueError(f"span {tuple(span)!r} overlaps another span at word {i} ({words[i]!r})")
            span_of[i] = k
    units: list[int] = []
    unit = -1
    for i, w in enumerate(words):
        if span_of[i] is None or i == 0 or span_of[i - 1] != span_of[i]:
            unit += 1  # a new word outside the spans, or the first word of a span
        units.extend([unit] * len(w))
    return units


def char_units(words: Sequence[str], level: str = "word", tags: Sequence[str] | None = None) -> list[int]:
    """The units ERNIE masks at ``level``, one id per character of ``"".join(words)``.

    * ``"char"``: every character is its own unit (BERT's basic masking): ids 0..n-1.
    * ``"word"``: the characters of a word share an id.
    * ``"phrase"``: the characters of a phrase (:func:`phrase_spans`) share an id; a character
      outside the phrases keeps its word's id (phrases are masked in addition to words).
    * ``"entity"``: the same with the entities of :func:`entity_spans`.

    Ids are numbered from 0 in text order; ``"phrase"`` and ``"entity"`` need the POS ``tags``.
    The result is what :func:`ptm_course.data.ernie_inputs.encode_units` takes as ``char_units``.
    """
    if level not in UNIT_LEVELS:
        raise ValueError(f"level must be one of {', '.join(UNIT_LEVELS)}, got {level!r}")
    _check_words(words)
    if level == "char":
        return list(range(sum(len(w) for w in words)))
    if level == "word":
        return unit_ids_for(words)
    if tags is None:
        raise ValueError(f"level {level!r} needs the POS tags of the words (tags=...)")
    spans = phrase_spans(words, tags) if level == "phrase" else entity_spans(words, tags)
    return unit_ids_for(words, spans)


def bio_tags(words: Sequence[str], tags: Sequence[str]) -> list[str]:
    """Per-character NER labels for ``"".join(words)``: B-PER / I-PER / B-LOC / I-LOC / B-ORG / I-ORG / O.

    The first character of an entity of :func:`entity_spans` is B-<label>, its other characters
    I-<label>; every character outside the entities is O.
    """
    spans = entity_spans(words, tags)  # checks words and tags
    starts = [0]  # character offset of every word, and of the end
    for w in words:
        starts.append(starts[-1] + len(w))
    labels = ["O"] * starts[-1]
    for start, end, label in spans:
        first, stop = starts[start], starts[end]
        labels[first] = f"B-{label}"
        labels[first + 1:stop] = [f"I-{label}"] * (stop - first - 1)
    return labels


# --------------------------------------------------------------------------------------------
# Segmentation: jieba, and agreement with a gold segmentation
# --------------------------------------------------------------------------------------------

_JIEBA = None


def _jieba_tokenizer():
    """jieba's tokenizer with the dictionary shipped in the jieba package, built once, quietly."""
    global _JIEBA
    if _JIEBA is None:
        import jieba

        level = jieba.default_logger.level
        jieba.default_logger.setLevel("WARNING")  # no "Building prefix dict ..." chatter
        try:
            tok = jieba.Tokenizer()  # the default dictionary inside the package: no download
            tok.initialize()
        finally:
            jieba.default_logger.setLevel(level)
        _JIEBA = tok
    return _JIEBA


def jieba_words(text: str) -> list[str]:
    """Segment ``text`` into words with jieba (accurate mode, with its HMM for unknown words).

    Give it NFKC-normalised text (the course's data sets are): jieba reads half-width digits
    and Latin letters as runs (``1998``) but cuts full-width ones into single characters.
    """
    if not isinstance(text, str):
        raise ValueError(f"jieba_words segments a string, got {type(text).__name__}")
    return list(_jieba_tokenizer().cut(text, HMM=True))


def jieba_tagged(text: str) -> tuple[list[str], list[str]]:
    """Segment and POS-tag ``text`` with ``jieba.posseg``: (words, tags).

    jieba's tag set follows the PKU one of People's Daily where it matters here: ``nr`` person,
    ``ns`` place, ``nt`` organisation, ``n`` noun, ``a`` adjective, ``v`` verb — so
    :func:`entity_spans`, :func:`phrase_spans` and :func:`char_units` take its output for a
    sentence that has no gold tags (a typed one, say). Unlike the gold data, jieba keeps a
    person's name in one word (``江泽民/nr``).
    """
    if not isinstance(text, str):
        raise ValueError(f"jieba_tagged tags a string, got {type(text).__name__}")
    from jieba import posseg

    pairs = list(posseg.POSTokenizer(_jieba_tokenizer()).cut(text))
    return [p.word for p in pairs], [p.flag for p in pairs]


def _char_spans(words: Sequence[str]) -> set[tuple[int, int]]:
    spans, pos = set(), 0
    for w in words:
        spans.add((pos, pos + len(w)))
        pos += len(w)
    return spans


def segmentation_prf(gold_words: Sequence[Sequence[str]], predicted_words: Sequence[Sequence[str]]) -> dict[str, float]:
    """Word-level precision, recall and F1 of a segmentation against the gold one.

    Both arguments are lists of sentences, each a list of words (``[words]`` for one sentence),
    and sentence i of both must spell the same text. A predicted word is correct when its exact
    character span (start, end) is the span of a gold word. Counts are summed over all sentences
    (micro average): precision = correct / predicted words, recall = correct / gold words,
    F1 = their harmonic mean (0 where there is nothing to count).
    """
    if isinstance(gold_words, str) or isinstance(predicted_words, str):
        raise ValueError("give lists of sentences, each a list of words, not strings")
    if len(gold_words) != len(predicted_words):
        raise ValueError(f"{len(gold_words)} gold sentences but {len(predicted_words)} predicted ones")
    correct = n_gold = n_pred = 0
    for i, (gold, pred) in enumerate(zip(gold_words, predicted_words)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise ValueError(f"sentence {i} is a string: give each sentence as a list of words "
                             "(and one sentence as [words])")
        _check_words(gold, f"gold sentence {i}")
        _check_words(pred, f"predicted sentence {i}")
        if "".join(gold) != "".join(pred):
            raise ValueError(f"sentence {i}: the gold and predicted words spell different texts "
                             f"({''.join(gold)[:20]!r}… vs {''.join(pred)[:20]!r}…)")
        g, p = _char_spans(gold), _char_spans(pred)
        correct += len(g & p)
        n_gold += len(g)
        n_pred += len(p)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def jieba_prf(split, max_sentences: int | None = None) -> dict[str, float]:
    """jieba's agreement with the gold segmentation of a split: precision, recall, F1, sentences.

    ``split`` is a split of ``peoples-daily-1998`` (a ``datasets.Dataset`` with a ``words``
    column) or any sequence of gold word lists; each sentence's text ``"".join(words)`` is
    segmented by :func:`jieba_words` and scored by :func:`segmentation_prf`. ``max_sentences``
    scores only the first that many.
    """
    gold = split["words"] if hasattr(split, "column_names") else split
    if max_sentences is not None:
        gold = gold[:max_sentences]
    gold = [list(words) for words in gold]
    if not gold:
        raise ValueError("jieba_prf needs at least one sentence")
    predicted = [jieba_words("".join(words)) for words in gold]
    return {**segmentation_prf(gold, predicted), "sentences": len(gold)}
