"""docs/glossary.md: Chinese and English for every term, a definition, a chapter that exists and
teaches it; every chapter's first cell links the glossary."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
CJK = re.compile(r"[\u4e00-\u9fff]")


def rows() -> list[list[str]]:
    lines = [l for l in GLOSSARY.read_text(encoding="utf-8").splitlines() if l.startswith("| ") and "---" not in l]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", l)[1:-1]] for l in lines[1:]]  # without the header


def test_every_term_has_chinese_english_a_definition_and_existing_chapters():
    table = rows()
    assert len(table) >= 50
    for zh, en, what, chapters in table:
        assert CJK.search(zh) or zh.startswith("["), zh
        assert en and not CJK.search(en) and len(what) > 15, (zh, en, what)
        links = re.findall(r"\]\(\.\./(notebooks/[^)]+\.ipynb)\)", chapters)
        assert links, (zh, chapters)
        for link in links:
            assert (ROOT / link).exists(), link


def test_the_glossary_teaches_its_term_in_the_chapter_it_names():
    # the English term (or its first word of five letters or more) appears in the chapter it points to
    for zh, en, what, chapters in rows():
        notebooks = [ROOT / l.replace(".ipynb", ".py") for l in re.findall(r"\]\(\.\./(notebooks/[^)]+)\)", chapters)]
        text = " ".join(p.read_text(encoding="utf-8").lower() for p in notebooks)
        words = [w for w in re.findall(r"[a-z][a-z\-]{4,}", en.lower()) if w not in {"language", "model", "models"}]
        words += [a.lower() for a in re.findall(r"\(([A-Z][A-Za-z]{1,6})\)", en)]  # the acronym: (MLP), (LoRA)
        assert any(w in text for w in words) or any(t in text for t in re.split(r"[（）/ ]+", zh) if len(t) >= 2), (en, chapters)


def test_every_chapter_links_the_glossary_in_its_first_cell():
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"])
        assert cells[0]["cell_type"] == "markdown" and "](../docs/glossary.md)" in first, nb.name
