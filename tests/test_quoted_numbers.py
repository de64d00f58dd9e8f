"""Numbers the course's text quotes agree with the results files that commands wrote.

A quoted number carries its source right after it, invisible in the rendered notebook:

    it generated 256 new tokens at 208<!-- gpt_kv_cache_cpu.json:rows.4.cache_tokens_per_s:.0f --> tokens/s

i.e. ``NUMBER<!-- FILE:PATH:FORMAT -->`` with FILE under ``benchmarks/results/``, PATH a dotted
path into its JSON (list indices as integers) and FORMAT a Python format spec. This test reads
every such quote in the notebooks, the README and benchmarks/README.md and checks that the file, formatted so, gives
the number as written. Re-running a benchmark that changes a figure makes this test fail until
the text is updated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUOTE = re.compile(r"(-?[\d,]*\.?\d+)<!-- ([^:>]+):([^:>]+):([^:>]+) -->")
SOURCES = sorted((ROOT / "notebooks").glob("*.py")) + [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]


def _quotes():
    for path in SOURCES:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in QUOTE.finditer(line):
                yield pytest.param(path, i, *m.groups(), id=f"{path.name}:{i}:{m.group(3)}")


def _lookup(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def test_the_quote_pattern_finds_quotes():
    assert QUOTE.search("at 208<!-- a.json:rows.4.x:.0f --> tokens").groups() == ("208", "a.json", "rows.4.x", ".0f")
    assert list(_quotes()), "no quoted numbers found: the pattern or the notebooks changed"


@pytest.mark.parametrize("path, line, number, file, dotted, spec", list(_quotes()))
def test_quoted_number_matches_its_results_file(path, line, number, file, dotted, spec):
    source = RESULTS / file
    assert source.exists(), f"{path.name}:{line} quotes {source.relative_to(ROOT)}, which does not exist"
    value = _lookup(json.loads(source.read_text(encoding="utf-8")), dotted)
    expected = format(value, spec)
    assert number.replace(",", "") == expected.replace(",", ""), (
        f"{path.name}:{line} says {number} but {file} [{dotted}] gives {expected}: "
        "update the text (or re-run the command that writes the file)")
