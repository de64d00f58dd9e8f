"""The GPT benchmark scripts run end to end on CPU (a tiny shape) and print the rows they promise.

They are scripts, not tests of speed: no timing is asserted, only that every row is there, the
paired ratio is computed, and greedy generation gives the same tokens as Hugging Face's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None,
    reason="the GPT benchmark compares with transformers: pip install -e '.[parity]'")


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@needs_transformers
@pytest.mark.parity
def test_gpt_throughput_rows_and_identical_greedy_tokens(tmp_path):
    out = tmp_path / "gpt.md"
    p = run("gpt_throughput.py", "--device", "cpu", "--small", "--batch", "2", "--seq", "16", "--steps", "1",
            "--warmup", "1", "--repeat", "2", "--new-tokens", "6", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["part"], r["model"]) for r in rows] == [
        ("train", "hf"), ("train", "course"),
        ("generate", "hf generate"), ("generate", "course generate"), ("generate", "course, no cache")]
    assert rows[0]["vs HF"] == 1.0 and all(r["tokens/s"] > 0 and r["min"] <= r["max"] for r in rows)
    assert all(r["same tokens as HF"] for r in rows if r["part"] == "generate")
    assert "Greedy tokens identical across the three generation rows: yes." in out.read_text()


@needs_transformers
@pytest.mark.parity
def test_gpt_throughput_refuses_a_sequence_longer_than_the_model():
    p = run("gpt_throughput.py", "--device", "cpu", "--small", "--seq", "4096")
    assert p.returncode == 2 and "must fit max_len 512" in p.stderr
