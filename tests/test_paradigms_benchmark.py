"""``benchmarks/paradigms.py`` at ``--preset smoke``: every row and column of the finale's table is there.

A check that the script works and reports what its docstring says, not of its accuracies: the
smoke backbone is a 3-step stand-in, so its numbers mean nothing (the cpu preset's are measured by
running it; see the script's docstring).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paradigms.py"
ROWS = ["full", "tapt", "aux", "houlsby", "lora", "bitfit", "prefix", "soft_prompt", "pet_zero", "pet_few"]
MISSING_DATA = ("DataNotAvailableError", "PretrainedNotAvailableError", "ptm-course data prepare")


def _run(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("paradigms") / "paradigms_smoke.json"
    p = _run("--preset", "smoke", "--out", str(out), "--plot", str(out.with_suffix(".png")))
    if p.returncode != 0 and any(s in p.stderr for s in MISSING_DATA):
        pytest.skip(f"MiniLM weights or a data set not prepared here: {p.stderr.strip().splitlines()[-1]}")
    assert p.returncode == 0, p.stderr[-3000:]
    return out, json.loads(out.read_text(encoding="utf-8"))


def test_every_row_and_column(smoke):
    out, res = smoke
    assert list(res["rows"]) == ROWS
    assert len(res["seeds"]) >= 3 and res["settings"]["k"] == 32
    for key in ("command", "machine", "torch", "date", "total_seconds", "estimated_seconds", "backbone", "task"):
        assert res[key] is not None, key
    for key, row in res["rows"].items():
        assert row["label"] and row["lr_source"] and isinstance(row["lr"], float), key
        assert row["stored_bytes"] > 0 and row["trainable"] >= 0, key
        for col in ("full_data", "k_shot"):
            c = row[col]
            assert 0.0 <= c["acc_mean"] <= 1.0 and c["acc_std"] >= 0.0, (key, col)
            if key == "pet_zero":  # no training, no seed: one number
                assert len(c["accs"]) == 1 and c["seeds"] == [] and c["acc_std"] == 0.0
            else:
                assert c["seeds"] == res["seeds"] and len(c["accs"]) == len(res["seeds"]) == len(c["losses"]), key
                assert c["s_per_step"] > 0 and c["train_s"] > 0, (key, col)
    table = out.with_suffix(".md").read_text(encoding="utf-8")
    for row in res["rows"].values():
        assert f"| {row['label']} |" in table
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_costs_are_ordered_as_they_must_be(smoke):
    rows = smoke[1]["rows"]
    stored = {k: r["stored_bytes"] for k, r in rows.items()}
    assert stored["pet_zero"] < stored["soft_prompt"] < stored["bitfit"] < stored["lora"] < stored["houlsby"] < stored["full"]
    # the whole model, fp32, for every row that changes all of it
    assert stored["full"] == stored["tapt"] == stored["aux"] == stored["pet_few"] == 4 * rows["pet_few"]["trainable"]
    # the classifier rows leave the MLM head frozen: full fine-tuning trains what chapter 13 counted
    assert rows["bitfit"]["trainable"] == 26_882 and rows["lora"]["trainable"] == 74_498
    assert rows["full"]["trainable"] == 22_713_986 < rows["tapt"]["trainable"]
    # the prefix stores L x 2 x P x d numbers (+ the head) after export
    P = rows["prefix"]["prefix"]["length"]
    assert stored["prefix"] == 4 * (6 * 2 * P * 384 + 384 * 2 + 2)


def test_pet_zero_shot_trains_nothing(smoke):
    pet = smoke[1]["rows"]["pet_zero"]
    assert pet["trainable"] == 0
    assert pet["full_data"] == pet["k_shot"]
    assert pet["full_data"]["s_per_step"] is None and pet["full_data"]["train_s"] == 0.0


def test_a_row_reproduces(smoke, tmp_path):
    out = tmp_path / "again.json"
    p = _run("--preset", "smoke", "--rows", "bitfit", "--seeds", "0", "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert list(again) == ["bitfit"]
    first = smoke[1]["rows"]["bitfit"]
    for col in ("full_data", "k_shot"):
        assert again["bitfit"][col]["accs"][0] == first[col]["accs"][0]
        assert again["bitfit"][col]["losses"][0] == first[col]["losses"][0]


def test_missing_backbone_names_the_build_command(tmp_path):
    p = _run("--preset", "cpu", "--backbone", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "x.json"),
             timeout=120)
    assert p.returncode != 0 and "ptm-course backbone build" in p.stderr
    assert not (tmp_path / "x.json").exists()
