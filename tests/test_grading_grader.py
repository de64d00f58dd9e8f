"""Batch grading: the committed corpus of bad submissions, 30 notebooks with --jobs 2, the CLI.

The corpus is tests/grading_cases/submissions/ (made by tests/grading_cases/make_cases.py).
One class of 30 notebooks is graded once per test session (module fixture): the corpus, the
master solution, the generated exercise and copies of a solved notebook.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from ptm_course.grading.cli import add_subcommands
from ptm_course.grading.grader import (
    CSV_COLUMNS,
    GradingError,
    detect_exercise,
    find_submissions,
    grade_folder,
    grade_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "grading_cases" / "submissions"
INSTRUCTOR_TESTS = ROOT / "tests" / "grading_cases" / "instructor_tests"
MASTER = ROOT / "solutions" / "00_overview_exercises.ipynb"
EXERCISE = ROOT / "exercises" / "00_overview_exercises.ipynb"

TIMEOUT = 10  # seconds per notebook: short, so the two endless-loop cases stay cheap
CI_BUDGET = 120  # seconds for grading the 30 notebooks with --jobs 2 on 2 cores

PASSED_ALL = {"00.vocab": ("passed", 4, ""), "00.bigrams": ("passed", 3, ""), "00.perplexity": ("passed", 4, ""),
              "00.reflection": ("needs manual grading", None, "answer of")}


def not_graded(reason: str) -> dict:
    return {q: ("not graded", 0, reason) for q in ("00.vocab", "00.bigrams", "00.perplexity", "00.reflection")}


# learner -> question -> (status, points, a piece of the reason)
EXPECTED = {
    "perfect": PASSED_ALL,
    "solution_master": PASSED_ALL,
    "no_metadata": PASSED_ALL,  # exercise from the file name
    "colab_copy": PASSED_ALL,  # exercise from its check() calls
    "student_01": PASSED_ALL,
    "exercise_fresh": {
        "00.vocab": ("not attempted", 0, "`build_vocab` still raises NotImplementedError"),
        "00.bigrams": ("not attempted", 0, "`bigram_counts` still raises NotImplementedError"),
        "00.perplexity": ("not attempted", 0, "`perplexity` still raises NotImplementedError"),
        "00.reflection": ("not attempted", 0, "the string `reflection` is empty"),
    },
    "partial": {
        "00.vocab": ("partial", 3, "3/4 tests passed; 'tokens with equal counts keep the order of their first appearance'"),
        "00.bigrams": ("failed", 0, "raised IndexError: list index out of range (line 4 in bigram_counts)"),
        "00.perplexity": ("partial", 3, "raised ZeroDivisionError"),
        "00.reflection": ("needs manual grading", None, "answer of 11 words"),
    },
    "syntax_error": {**PASSED_ALL, "00.bigrams": (
        "missing", 0, "`bigram_counts` is not defined: cell 8 (`def bigram_counts(tokens):`), which defines it, "
                      "raised SyntaxError")},
    "infinite_loop": {
        "00.vocab": ("passed", 4, ""),
        "00.bigrams": ("missing", 0, "which defines it, did not run because cell 7 hit the time limit"),
        "00.perplexity": ("missing", 0, "did not run because cell 7 hit the time limit"),
        "00.reflection": ("missing", 0, "did not run because cell 7 hit the time limit"),
    },
    "endless_function": {**PASSED_ALL, "00.perplexity": ("failed", 0, "took longer than 10 s (an endless loop?)")},
    "exception_mid_notebook": PASSED_ALL,
    "deleted_cells": {**PASSED_ALL, "00.perplexity": ("missing", 0, "function `perplexity` not found (renamed or deleted?)")},
    "reordered_cells": PASSED_ALL,
    "renamed_function": {**PASSED_ALL, "00.vocab": ("missing", 0, "did you mean `build_vocabulary`?")},
    "wrong_type": {
        **PASSED_ALL,
        "00.vocab": ("failed", 0, "wrong return type: expected list, got Counter"),
        "00.perplexity": ("failed", 0, "wrong return type: expected a number (float), got list"),
    },
    "kernel_dies": not_graded("the kernel died while running cell 7 (`import os`)"),
    "invalid_json": not_graded("not a valid notebook: invalid JSON (Unterminated string"),
}

NOTES = {  # learner -> a piece of the notebook-level notes
    "exception_mid_notebook": "cell 10 (`counts = bigram_counts([\"a\"])`) raised KeyError: ('a', 'b')",
    "reordered_cells": "raised NameError: name 'build_vocab' is not defined",
    "infinite_loop": "cell 7 (`while True:`) was stopped at the time limit of 10 s (an endless loop?); cells 9-18 did not run",
    "syntax_error": "cell 8 (`def bigram_counts(tokens):`) raised SyntaxError: incomplete input (line 2)",
}


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ptm-course")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Grade a class of 30 notebooks with --jobs 2 once; return (results by learner, seconds, paths)."""
    tmp = tmp_path_factory.mktemp("class")
    subs = tmp / "submissions"
    shutil.copytree(CASES, subs)
    shutil.copy(MASTER, subs / "solution_master.ipynb")
    shutil.copy(EXERCISE, subs / "exercise_fresh.ipynb")
    n = len(find_submissions(subs))
    for i in range(1, 30 - n + 1):
        shutil.copy(CASES / "perfect.ipynb", subs / f"student_{i:02d}.ipynb")
    assert len(find_submissions(subs)) == 30
    lines: list[str] = []
    t0 = time.perf_counter()
    results = grade_folder(subs, out_csv=tmp / "grades.csv", feedback_dir=tmp / "feedback",
                           timeout=TIMEOUT, jobs=2, log=lines.append)
    seconds = time.perf_counter() - t0
    print(f"\ngraded 30 notebooks with --jobs 2 in {seconds:.1f} s")
    return {r.learner: r for r in results}, seconds, tmp, lines


pytestmark = pytest.mark.slow


def test_thirty_notebooks_with_two_jobs_fit_the_ci_budget(graded_class):
    results, seconds, _, lines = graded_class
    assert len(results) == 30
    assert seconds < CI_BUDGET, f"grading 30 notebooks took {seconds:.0f} s"
    assert lines[0].startswith("grading 30 notebook(s), 2 at a time")
    assert sum(line.startswith("[") for line in lines) == 30 and lines[-1].startswith("done in")


@pytest.mark.parametrize("learner", sorted(EXPECTED))
def test_each_submission_grades_to_the_expected_status_and_reason(graded_class, learner):
    result = graded_class[0][learner]
    assert result.exercise == "00"
    got = {q.question: q for q in result.questions}
    assert list(got) == list(EXPECTED[learner])
    for qid, (status, points, reason) in EXPECTED[learner].items():
        q = got[qid]
        assert q.status == status, (qid, q.status, q.reason)
        assert q.points == points, (qid, q.points)
        assert reason in q.reason, (qid, q.reason)


@pytest.mark.parametrize("learner", sorted(NOTES))
def test_cell_problems_are_noted(graded_class, learner):
    notes = graded_class[0][learner].notes
    assert any(NOTES[learner] in n for n in notes), notes


def test_solutions_score_full_marks_and_exercises_zero(graded_class):
    results = graded_class[0]
    master, fresh = results["solution_master"], results["exercise_fresh"]
    assert (master.auto_points, master.auto_max_points) == (11, 11)
    assert (fresh.auto_points, fresh.auto_max_points) == (0, 11)
    assert master.notes == [] and fresh.notes == []  # the exercise runs without a single error


def test_a_file_that_is_not_a_notebook_gets_one_row_with_the_reason(graded_class):
    r = graded_class[0]["not_a_notebook"]
    assert r.exercise is None
    assert [(q.question, q.status) for q in r.questions] == [("", "not graded")]
    assert "no 'cells' list" in r.questions[0].reason


def test_csv_has_one_row_per_learner_and_question(graded_class):
    _, _, tmp, _ = graded_class
    with open(tmp / "grades.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == 29 * 4 + 1
    by_key = {(r["learner"], r["question"]): r for r in rows}
    assert by_key[("partial", "00.vocab")]["points"] == "3"
    assert by_key[("partial", "00.vocab")]["max_points"] == "4"
    manual = by_key[("perfect", "00.reflection")]
    assert (manual["status"], manual["points"], manual["max_points"]) == ("needs manual grading", "", "4")
    assert by_key[("no_metadata", "00.vocab")]["submission"] == "no_metadata/00_overview_exercises.ipynb"
    assert "KeyError" in by_key[("exception_mid_notebook", "00.vocab")]["notes"]
    assert by_key[("kernel_dies", "00.bigrams")]["status"] == "not graded"


def test_one_feedback_file_per_learner(graded_class):
    _, _, tmp, _ = graded_class
    files = sorted(p.name for p in (tmp / "feedback").iterdir())
    assert len(files) == 30 and "partial.md" in files and "colab_copy.md" in files
    partial = (tmp / "feedback" / "partial.md").read_text(encoding="utf-8")
    assert "**Auto-graded score: 6 / 11 points.**" in partial
    assert "FAIL  tokens with equal counts keep the order of their first appearance" in partial
    assert "| criterion | points | score |" in partial and "> Word2vec gives one vector per word" in partial
    assert "**Not graded:** not a valid notebook" in (tmp / "feedback" / "invalid_json.md").read_text(encoding="utf-8")
    looped = (tmp / "feedback" / "infinite_loop.md").read_text(encoding="utf-8")
    assert "Problems while running your notebook:" in looped and "time limit" in looped


# ---- the CLI with instructor tests and --exercise -----------------------------------------------


def test_cli_grades_with_instructor_tests_and_a_default_exercise(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(CASES / "perfect.ipynb", subs / "ana.ipynb")
    shutil.copy(CASES / "partial.ipynb", subs / "ben.ipynb")
    shutil.copy(CASES / "invalid_json.ipynb", subs / "dan.ipynb")
    anonymous = nbformat.read(CASES / "perfect.ipynb", as_version=4)  # no metadata, no number, no check()
    del anonymous.metadata["ptm_course"]
    anonymous.cells = [c for c in anonymous.cells if "check(" not in c.source and "summary(" not in c.source]
    nbformat.write(anonymous, subs / "cleo.ipynb")
    assert detect_exercise(subs / "cleo.ipynb", anonymous, (subs / "cleo.ipynb").read_text(), None) is None

    out, feedback = tmp_path / "grades.csv", tmp_path / "fb"
    code = run_cli("grade", str(subs), "--out", str(out), "--tests", str(INSTRUCTOR_TESTS), "--feedback",
                   str(feedback), "--timeout", "30", "--jobs", "2", "--exercise", "00")
    assert code == 0
    assert "instructor tests: 2 tests, 1 rubrics from 1 file(s)" in capsys.readouterr().out
    rows = {(r["learner"], r["question"]): r for r in csv.DictReader(open(out, newline="", encoding="utf-8"))}
    assert (rows[("ana", "00.vocab")]["points"], rows[("ana", "00.vocab")]["max_points"]) == ("6", "6")
    assert (rows[("ana", "00.bigrams")]["points"], rows[("ana", "00.bigrams")]["max_points"]) == ("4", "4")
    assert rows[("ana", "00.reflection")]["max_points"] == "5"  # the instructor's rubric replaces the default
    assert rows[("ben", "00.vocab")]["points"] == "5"  # fails a public test, passes the hidden one
    assert rows[("ben", "00.bigrams")]["points"] == "0"
    assert rows[("cleo", "00.perplexity")]["status"] == "passed"  # graded as exercise 00 thanks to --exercise
    # a notebook that could not run still shows the full maxima, so a class's totals add up
    for question in ("00.vocab", "00.bigrams", "00.perplexity", "00.reflection"):
        assert rows[("dan", question)]["status"] == "not graded"
        assert rows[("dan", question)]["max_points"] == rows[("ana", question)]["max_points"]
    ana = (feedback / "ana.md").read_text(encoding="utf-8")
    assert "PASS  hidden min_count=3 on a longer text (2 pts)" in ana
    assert "Contrasts static (one vector per word) and contextual" in ana


def test_cli_refuses_bad_input_before_grading(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    assert run_cli("grade", str(subs), "--out", str(tmp_path / "g.csv")) == 2
    assert "no .ipynb files" in capsys.readouterr().err
    assert run_cli("grade", str(tmp_path / "missing"), "--out", str(tmp_path / "g.csv")) == 2
    shutil.copy(CASES / "perfect.ipynb", subs / "ana.ipynb")
    bad = tmp_path / "bad_tests"
    bad.mkdir()
    (bad / "t.py").write_text("from ptm_course.grading import case\nTESTS = {'00.vocabb': [case('x', expected=1)]}\n")
    assert run_cli("grade", str(subs), "--tests", str(bad), "--out", str(tmp_path / "g.csv")) == 2
    err = capsys.readouterr().err
    assert "unknown question '00.vocabb'" in err
    (bad / "t.py").write_text("raise RuntimeError('oops')\n")
    assert run_cli("grade", str(subs), "--tests", str(bad)) == 2
    assert "importing it raised RuntimeError: oops" in capsys.readouterr().err
    assert run_cli("grade", str(subs), "--exercise", "42") == 2
    assert run_cli("grade", str(subs), "--timeout", "0") == 2
    assert not (tmp_path / "g.csv").exists()


# ---- pieces that need no kernel ---------------------------------------------------------------


def test_learner_is_the_file_stem_or_the_top_folder(tmp_path):
    for rel in ("alice.ipynb", "bob/00_overview_exercises.ipynb", "bob/sub/extra.ipynb",
                ".ipynb_checkpoints/alice-checkpoint.ipynb", "carol/.ipynb_checkpoints/x.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    subs = find_submissions(tmp_path)
    assert [(s.learner, s.relpath) for s in subs] == [
        ("alice", "alice.ipynb"), ("bob", "bob/00_overview_exercises.ipynb"), ("bob", "bob/sub/extra.ipynb")]
    assert find_submissions(tmp_path / "alice.ipynb")[0].learner == "alice"
    with pytest.raises(GradingError):
        find_submissions(tmp_path / "nope")


def test_exercise_detection_order():
    nb = {"metadata": {"ptm_course": {"exercise": "03"}}}
    assert detect_exercise(Path("01_x.ipynb"), nb, 'check("02.a")', "04") == "03"
    assert detect_exercise(Path("01_x.ipynb"), {"metadata": {}}, 'check("02.a")', "04") == "01"
    assert detect_exercise(Path("x.ipynb"), None, '"check(\\"02.a\\", f)"', "04") == "02"
    assert detect_exercise(Path("x.ipynb"), None, "", "04") == "04"


def test_unknowable_exercise_is_reported_without_running_anything(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "dana.ipynb")
    r = grade_notebook(tmp_path / "dana.ipynb", timeout=5)
    assert r.exercise is None and r.questions[0].status == "not graded"
    assert "pass --exercise NN" in r.questions[0].reason
    r = grade_notebook(tmp_path / "dana.ipynb", exercise="42", timeout=5)
    assert "unknown exercise '42'" in r.questions[0].reason
    (tmp_path / "bin.ipynb").write_bytes(b"\xff\xfe\x00binary")
    assert "not UTF-8" in grade_notebook(tmp_path / "bin.ipynb", exercise="00").questions[0].reason
    assert json.loads(json.dumps(r.to_dict()))["learner"] == "dana"


def test_a_worker_that_dies_costs_only_its_notebook(tmp_path, monkeypatch):
    import subprocess
    import sys

    from ptm_course.grading import grader

    def start_a_crashing_worker(self):
        return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline(); sys.exit(3)"],
                                stdin=subprocess.PIPE, text=True)

    monkeypatch.setattr(grader._Worker, "_start", start_a_crashing_worker)
    worker = grader._Worker(tmp_path, "w")
    sub = grader.Submission(CASES / "perfect.ipynb", "ana", "ana.ipynb")
    res = worker.grade(sub, exercise=None, tests_dir=None, timeout=5)
    assert res.exercise is None  # "perfect.ipynb" does not name its exercise; the file was never read
    assert [q.status for q in res.questions] == ["not graded"]
    assert "worker process died (exit code 3)" in res.questions[0].reason
    assert worker.proc is None  # the next notebook gets a fresh worker
