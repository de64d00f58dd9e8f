"""The BERT throughput benchmark runs end to end on CPU (a tiny shape) and writes its table.

It is a script, not a test of speed: this checks that it still runs against the package, that
its rows, rounds and ratios come out as its README describes, and that bad options are refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the benchmark compares with transformers: pip install -e '.[parity]'")

pytestmark = pytest.mark.parity

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "transformer_throughput.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_throughput_table_has_every_row_round_and_a_paired_ratio(tmp_path):
    out = tmp_path / "t.md"
    p = run("--batch", "2", "--seq", "16", "--steps", "1", "--warmup", "1", "--repeat", "2",
            "--rows", "hf", "course, static positions", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(re.findall(r"round [12]/2", p.stdout)) == 4  # two rows x two rounds, interleaved
    table = out.read_text(encoding="utf-8")
    assert "2 rounds of 1 timed steps" in table
    rows = [line for line in table.splitlines() if line.startswith("| hf") or line.startswith("| course")]
    assert [r.split(" | ")[0] for r in rows] == ["| hf", "| course, static positions"]
    assert rows[0].endswith("| 1.000x |")  # hf against itself, paired round by round
    ratio = float(re.search(r"\| (\d+\.\d{3})x \|$", rows[1]).group(1))
    assert ratio > 0
    lo, hi = re.search(r"\| ([\d,]+)–([\d,]+) \|", rows[1]).groups()
    assert int(lo.replace(",", "")) <= int(hi.replace(",", ""))


@pytest.mark.parametrize("args, message", [
    (("--rows", "hf", "bogus"), "unknown rows ['bogus']"),
    (("--repeat", "0"), "--repeat and --steps must be at least 1"),
])
def test_throughput_bad_options_are_refused_with_the_fix(args, message):
    p = run(*args)
    assert p.returncode == 2
    assert message in p.stderr
