"""The BERT chapters' data sets: registered, shipped files checked, contents sane."""

from __future__ import annotations

import pytest

from ptm_course.data import DATASETS, DataNotAvailableError, load
from ptm_course.data.registry import file_paths


def test_registered():
    for name in ("all-minilm-l6-v2", "pos-oanc", "vitaminc", "squad-shifts"):
        assert name in DATASETS


def test_vitaminc_subset():
    ds = load("vitaminc")
    assert sum(len(ds[s]) for s in ds) == 3000
    assert ds["train"].features["label"].names == ["SUPPORTS", "REFUTES", "NOT ENOUGH INFO"]
    titles = {s: {e.split(":", 1)[0] for e in ds[s]["evidence"]} for s in ds}
    assert not titles["train"] & titles["test"]  # split by page
    ex = ds["train"][0]
    assert ex["claim"] and ex["evidence"]


def test_squad_shifts_answers_are_spans_of_the_context():
    ds = load("squad-shifts")
    n = sum(len(ds[s]) for s in ds)
    assert 2000 <= n < 2100
    for split in ds:
        for ex in ds[split]:
            for text, start in zip(ex["answers"]["text"], ex["answers"]["answer_start"]):
                assert ex["context"][start:start + len(text)] == text
    assert not set(ds["train"]["context"]) & set(ds["test"]["context"])


def test_shipped_files_carry_the_canary():
    import gzip
    import json

    for name in ("vitaminc", "squad-shifts"):
        (path,) = file_paths(name).values()
        with gzip.open(path, "rt", encoding="utf-8") as f:
            assert "canary GUID" in json.load(f)["canary"]


def test_pos_when_prepared():
    try:
        ds = load("pos-oanc") if file_paths("pos-oanc", auto_prepare=False) else None
    except DataNotAvailableError as err:
        pytest.skip(f"pos-oanc not prepared: {err}")
    ex = ds["train"][0]
    assert len(ex["tokens"]) == len(ex["tags"]) > 0
    tags = {t for row in ds["validation"]["tags"] for t in row}
    assert {"NN", "DT", "VBZ", "IN"} <= tags
    assert sum(len(r) for s in ds for r in ds[s]["tokens"]) > 300_000
