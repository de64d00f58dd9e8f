"""``benchmarks/lora_step.py`` runs on CPU (a tiny shape) and its rows say what its docstring says.

A check that the script works, not of speed: the ratios it prints are measured by running it
(see benchmarks/README.md), never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.parity, pytest.mark.skipif(
    importlib.util.find_spec("peft") is None or importlib.util.find_spec("transformers") is None,
    reason="the LoRA benchmark compares with peft: pip install -e '.[parity]'")]

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "lora_step.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", *args], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_lora_step_rows(tmp_path):
    out = tmp_path / "lora.json"
    p = _run("--batch", "2", "--seq", "8", "--steps", "1", "--warmup", "1", "--repeat", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(out.read_text(encoding="utf-8"))
    rows = res["rows"]
    assert list(rows) == ["peft", "course", "course, full fine-tuning"]
    assert rows["peft"]["vs PEFT"] == 1.0 and rows["course"]["vs PEFT"] > 0
    lora_params = 6 * 2 * 8 * (384 + 384)  # 6 layers x (q, v) x r (in + out)
    assert rows["course"]["trainable"] == rows["peft"]["trainable"] == lora_params + 384 * 2 + 2
    assert rows["course, full fine-tuning"]["trainable"] > 100 * rows["course"]["trainable"]
    assert "| course | 74,498 |" in out.with_suffix(".md").read_text(encoding="utf-8")


def test_lora_step_refuses_bad_options():
    p = _run("--rank", "0")
    assert p.returncode != 0 and "at least 1" in p.stderr
