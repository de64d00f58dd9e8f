"""The BERT benchmarks still fit the package and the notebooks.

``transformer_throughput.py`` is a script, not a test of speed: this checks that it runs end to
end on CPU (a tiny shape), that its rows, rounds and ratios come out as its README describes, and
that bad options are refused. ``bert_pretrain_preset.py`` repeats notebook 07's settings: checked
against the notebook's ``ctx.pick`` calls.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None,
    reason="the throughput benchmark compares with transformers: pip install -e '.[parity]'")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "transformer_throughput.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@needs_transformers
@pytest.mark.parity
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
@needs_transformers
@pytest.mark.parity
def test_throughput_bad_options_are_refused_with_the_fix(args, message):
    p = run(*args)
    assert p.returncode == 2
    assert message in p.stderr


def _notebook_picks(path: Path) -> dict[str, dict]:
    """Each ``ctx.pick(smoke=..., cpu=..., gpu=...)`` of a notebook script, keyed by what it sizes:
    the name assigned, or the keyword argument it is passed as."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    picks = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "pick":
            up = parent[node]
            if isinstance(up, ast.Assign):
                key = up.targets[0].id
            elif isinstance(up, ast.keyword):
                key = up.arg
            else:
                continue
            picks[key] = {kw.arg: kw.value for kw in node.keywords}
    return picks


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_pretraining_script_runs_notebook_07_settings(preset):
    """``bert_pretrain_preset.py`` repeats notebook 07's section 6 by hand: the two must not drift."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bert_pretrain_preset
    finally:
        sys.path.pop(0)
    script = bert_pretrain_preset.PRESETS[preset]
    picks = _notebook_picks(ROOT / "notebooks" / "07_bert_pretraining.py")
    value = {k: ast.literal_eval(v[preset]) for k, v in picks.items() if k in
             ("vocab_size", "max_len", "n_valid", "batch_size", "max_steps", "lr")}
    assert value == {"vocab_size": script["vocab"], "max_len": script["max_len"], "n_valid": script["n_valid"],
                     "batch_size": script["batch"], "max_steps": script["steps"], "lr": script["lr"]}
    cfg = picks["cfg"][preset]
    assert ast.unparse(cfg.func) == "BertConfig.small"
    model = {kw.arg: ast.literal_eval(kw.value) for kw in cfg.keywords if kw.arg not in ("vocab_size", "max_len")}
    assert model == script["model"]


def test_a_failing_notebook_run_keeps_the_notebook_as_far_as_it_ran(tmp_path):
    """``run_notebook.py --save-executed``: a failed run still leaves the outputs it produced
    (and the traceback) to read, and writes no runtime or results file."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('first cell ran')"),
                                         nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
                                         nbformat.v4.new_code_cell("print('never')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path, saved = tmp_path / "broken.ipynb", tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    runtimes = ROOT / "benchmarks" / "results" / "notebook_runtimes.json"
    before = runtimes.read_bytes()
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_notebook.py"), str(path), "--preset", "smoke",
                        "--save-executed", str(saved)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1
    assert "broken on purpose" in p.stderr and f"as far as it ran: {saved}" in p.stderr
    cells = nbformat.read(saved, as_version=4).cells
    assert cells[0].outputs[0]["text"] == "first cell ran\n"
    assert cells[1].outputs[0]["output_type"] == "error" and cells[1].outputs[0]["ename"] == "ValueError"
    assert cells[2].outputs == []
    assert runtimes.read_bytes() == before
    assert not (ROOT / "benchmarks" / "results" / "notebooks" / "broken_smoke.json").exists()


def test_glove_threads_benchmark_times_every_load_and_thread_count(tmp_path):
    import json

    out = tmp_path / "g.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "glove_threads.py"), "--max-lines", "1500",
                        "--repeat", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    cores = os.cpu_count() or 1
    assert [(r["load"], r["threads"]) for r in result["rows"]] == [
        (load, t) for load in ("quiet", "one core busy") for t in sorted({1, cores})]
    assert all(r["seconds_per_epoch"] > 0 and len(r["all_seconds"]) == 1 for r in result["rows"])
    assert set(result["all_over_one_thread"]) == {"quiet", "one core busy"}
    assert "--max-lines 1500" in result["command"]
