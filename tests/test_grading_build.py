"""Exercise generation: solution regions become stubs, hidden tests go, exercises/ stays in sync."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from ptm_course.grading import get_exercise
from ptm_course.grading.build import BuildError, _normalise, build_exercises, check_exercises, make_exercise, strip_solutions
from ptm_course.grading.cli import add_subcommands
from ptm_course.notebook import SETUP_CELL

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "solutions" / "00_overview_exercises.ipynb"
EXERCISE = ROOT / "exercises" / "00_overview_exercises.ipynb"


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ptm-course")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


# ---- strip_solutions --------------------------------------------------------------------------


def test_solution_region_becomes_a_stub_with_the_hint():
    src = ("def f(x):\n"
           '    """Double x."""\n'
           "    ### BEGIN SOLUTION hint: multiply by 2\n"
           "    y = 2 * x\n"
           "    return y\n"
           "    ### END SOLUTION\n")
    assert strip_solutions(src) == ('def f(x):\n    """Double x."""\n    # YOUR CODE HERE\n'
                                    '    raise NotImplementedError("Hint: multiply by 2")')


def test_stub_without_a_hint_and_hint_with_quotes():
    out = strip_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    assert out.endswith('raise NotImplementedError("replace this line with your code")')
    out = strip_solutions('def f():\n    ### BEGIN SOLUTION: use "zip"\n    return 1\n    ### END SOLUTION')
    assert out.endswith(r'raise NotImplementedError("Hint: use \"zip\"")')
    compile(out, "<stub>", "exec")


def test_stub_lines_replace_a_top_level_region():
    src = '### BEGIN SOLUTION\n### STUB answer = ""\n### STUB\nanswer = "forty-two"\n### END SOLUTION\nprint(answer)'
    assert strip_solutions(src) == 'answer = ""\n\nprint(answer)'


def test_top_level_region_without_stub_lines_is_refused():
    with pytest.raises(BuildError, match="top level"):
        strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", where="m.ipynb, cell 3")


def test_hidden_tests_are_removed_and_markdown_regions_get_a_placeholder():
    assert strip_solutions("check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS") == "check(f)"
    md = "Your answer:\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert strip_solutions(md, "markdown") == "Your answer:\n\n_YOUR ANSWER HERE_"


@pytest.mark.parametrize("src, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION", "without a matching BEGIN"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION", "without a matching BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION", "inside the region"),
])
def test_unbalanced_markers_are_errors(src, message):
    with pytest.raises(BuildError, match=message):
        strip_solutions(src)


def test_make_exercise_drops_hidden_only_cells_and_marks_the_exercise():
    master = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nassert f() == 1\n### END HIDDEN TESTS"),
        nbformat.v4.new_code_cell("check('07.f', f)"),
    ])
    nb = make_exercise(master, "07", "solutions/07_x_exercises.ipynb")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert [c.id for c in nb.cells] == ["ex07-00", "ex07-01", "ex07-02"]
    assert nb.metadata["ptm_course"] == {"exercise": "07", "generated_from": "solutions/07_x_exercises.ipynb"}
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert "return 1" not in nb.cells[1].source


# ---- building the repository's exercises --------------------------------------------------------


def test_committed_exercises_match_a_fresh_build():
    problems = check_exercises(ROOT / "solutions", ROOT / "exercises")
    assert problems == [], "run `ptm-course exercises build`:\n" + "\n".join(problems)


def test_build_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build_exercises(ROOT / "solutions", a)
    build_exercises(ROOT / "solutions", b)
    files = sorted(p.name for p in a.iterdir())
    masters = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.suffix in (".ipynb", ".py"))
    assert files == masters  # one learner pair per master pair, same names
    assert "00_overview_exercises.ipynb" in files
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()
        # the committed files were written by another jupytext version: its header line aside, identical
        assert _normalise((a / name).read_text(encoding="utf-8")) == \
            _normalise((ROOT / "exercises" / name).read_text(encoding="utf-8"))


def test_exercises_check_fails_on_edits_and_stale_files(tmp_path):
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    ex = tmp_path / "exercises"
    assert run_cli("exercises", "build", "--solutions", str(tmp_path / "solutions"), "--exercises", str(ex)) == 0
    args = ["exercises", "check", "--solutions", str(tmp_path / "solutions"), "--exercises", str(ex)]
    assert run_cli(*args) == 0
    py = ex / "00_overview_exercises.py"
    py.write_text(py.read_text(encoding="utf-8").replace("raise NotImplementedError", "return None", 1), encoding="utf-8")
    assert run_cli(*args) == 1
    assert any("differs" in p for p in check_exercises(tmp_path / "solutions", ex))
    build_exercises(tmp_path / "solutions", ex)
    assert run_cli(*args) == 0
    (ex / "99_old_exercises.ipynb").write_text("{}", encoding="utf-8")
    assert run_cli(*args) == 1
    build_exercises(tmp_path / "solutions", ex)  # removes the stale notebook
    assert not (ex / "99_old_exercises.ipynb").exists()
    assert run_cli("exercises", "check", "--solutions", str(tmp_path / "nowhere"), "--exercises", str(ex)) == 2


@pytest.mark.parametrize("path", [MASTER, EXERCISE], ids=["solution", "exercise"])
def test_notebook_pairs_are_in_sync_without_outputs_and_start_with_the_setup_cell(path):
    ipynb = jupytext.read(path)
    py = jupytext.read(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [(c.cell_type, c.source) for c in py.cells]
    raw = json.loads(path.read_text(encoding="utf-8"))
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    code = [c for c in ipynb.cells if c.cell_type == "code"]
    assert code[0].source == SETUP_CELL
    assert code[1].source.splitlines()[-1] == "from ptm_course.grading import check, summary"


def test_exercise_has_stubs_and_no_solutions():
    text = EXERCISE.read_text(encoding="utf-8") + EXERCISE.with_suffix(".py").read_text(encoding="utf-8")
    assert "### BEGIN" not in text and "### END" not in text and "### STUB" not in text
    for solution_line in ("Counter(zip(tokens, tokens[1:]))", "kept.sort(", "math.exp(-sum(log_probs)", "Static vectors are"):
        assert solution_line not in text
    nb = nbformat.read(EXERCISE, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code.count('raise NotImplementedError("Hint: ') == 3  # the three functions
    assert re.search(r'(?m)^reflection = """\n"""$', code)  # the open answer starts empty
    assert nb.metadata["ptm_course"]["exercise"] == "00"


@pytest.mark.parametrize("path", [MASTER, EXERCISE], ids=["solution", "exercise"])
def test_notebook_checks_every_question_of_its_exercise_and_defines_its_names(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    checked = re.findall(r'check\("([^"]+)"', code)
    questions = get_exercise("00").questions
    assert checked == [q.id for q in questions]
    for q in questions:
        assert re.search(rf"(?m)^(def {q.name}\(|{q.name} = )", code), q.name
    assert code.rstrip().endswith('summary("00")')
