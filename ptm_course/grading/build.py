"""Generate the learners' exercise notebooks (``exercises/``) from the masters (``solutions/``).

A master marks its answers with nbgrader's markers. In a code cell::

    def bigram_counts(tokens):
        ### BEGIN SOLUTION hint: the pairs are zip(tokens, tokens[1:])
        return dict(Counter(zip(tokens, tokens[1:])))
        ### END SOLUTION

becomes, in the exercise::

    def bigram_counts(tokens):
        # YOUR CODE HERE
        raise NotImplementedError("Hint: the pairs are zip(tokens, tokens[1:])")

- The text after ``### BEGIN SOLUTION`` (an optional ``hint:`` prefix is dropped) is the hint.
- A region at the top level of a cell (not indented) would make the exercise raise when the
  cell runs; give it ``### STUB`` lines instead, which become the exercise's code::

      ### BEGIN SOLUTION
      ### STUB reflection = ""
      reflection = "Static embeddings give one vector per word ..."
      ### END SOLUTION

- In a Markdown cell a region becomes ``_YOUR ANSWER HERE_`` (or its ``### STUB`` lines).
- ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions are removed; a cell left
  empty by that is dropped. (They keep the master honest under nbval; they are not secret:
  ``solutions/`` is public. Secret tests go in the instructor's ``--tests`` folder.)

The exercise is written as a jupytext pair (``.ipynb`` without outputs + ``.py:percent``), with
``metadata.ptm_course.exercise`` set, deterministic cell ids, and the repository's jupytext
configuration, so building twice gives the same bytes and ``check_exercises`` can compare
the committed files with a fresh build.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

from ..io import atomic_write_text
from .questions import exercise_id_from_name

__all__ = ["BuildError", "build_exercises", "check_exercises", "exercise_id_from_name", "make_exercise", "strip_solutions"]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
STUB = "### STUB"

DEFAULT_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class BuildError(ValueError):
    """A master notebook whose markers cannot be turned into an exercise."""


def _hint_of(marker_line: str) -> str:
    rest = marker_line.strip()[len(BEGIN_SOLUTION):].strip()
    rest = re.sub(r"^[:\-–—]\s*", "", rest)
    rest = re.sub(r"^hint:\s*", "", rest, flags=re.IGNORECASE)
    return rest.strip()


def _stub_line(line: str) -> str:
    """``'    ### STUB x = 1'`` -> ``'    x = 1'`` (``### STUB`` alone is an empty line)."""
    indent = line[: len(line) - len(line.lstrip())]
    body = line.strip()[len(STUB):]
    if body.startswith(" "):
        body = body[1:]
    return (indent + body).rstrip()


def strip_solutions(source: str, cell_type: str = "code", where: str = "cell") -> str:
    """Replace solution regions by stubs and drop hidden-test regions in one cell's source.

    >>> src = "def f(x):\\n    ### BEGIN SOLUTION hint: double it\\n    return 2 * x\\n    ### END SOLUTION"
    >>> print(strip_solutions(src))
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError("Hint: double it")
    >>> print(strip_solutions("check(f)\\n### BEGIN HIDDEN TESTS\\nassert f(1) == 2\\n### END HIDDEN TESTS"))
    check(f)
    """
    out: list[str] = []
    region: str | None = None  # None, "solution" or "hidden"
    start_line, indent, hint, stub = 0, "", "", []
    for lineno, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text.startswith(BEGIN_SOLUTION) or text.startswith(BEGIN_HIDDEN):
            if region is not None:
                raise BuildError(f"{where}, line {lineno}: a region starts inside the region opened on line {start_line}")
            region = "solution" if text.startswith(BEGIN_SOLUTION) else "hidden"
            start_line, indent = lineno, line[: len(line) - len(line.lstrip())]
            hint, stub = (_hint_of(line), []) if region == "solution" else ("", [])
            continue
        if text.startswith(END_SOLUTION) or text.startswith(END_HIDDEN):
            wanted = "solution" if text.startswith(END_SOLUTION) else "hidden"
            if region != wanted:
                marker = END_SOLUTION if wanted == "solution" else END_HIDDEN
                raise BuildError(f"{where}, line {lineno}: '{marker}' without a matching BEGIN")
            if region == "solution":
                if stub:
                    out.extend(stub)
                elif cell_type == "markdown":
                    out.append("_YOUR ANSWER HERE_")
                elif not indent:
                    raise BuildError(
                        f"{where}, line {start_line}: a solution region at the top level of a cell would make "
                        f"the exercise raise when run; add '{STUB} ...' lines with the code learners start from"
                    )
                else:
                    out.append(f"{indent}# YOUR CODE HERE")
                    message = f"Hint: {hint}" if hint else "replace this line with your code"
                    out.append(f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})")
            region = None
            continue
        if region == "solution":
            if text.startswith(STUB):
                stub.append(_stub_line(line))
            continue
        if region == "hidden":
            continue
        out.append(line)
    if region is not None:
        raise BuildError(f"{where}, line {start_line}: region opened here is never closed")
    return "\n".join(out).rstrip()


def make_exercise(master: nbformat.NotebookNode, exercise_id: str, generated_from: str) -> nbformat.NotebookNode:
    """The learner version of a master notebook (a new notebook; the master is not changed)."""
    cells = []
    for index, cell in enumerate(master.cells, start=1):
        if cell.cell_type not in ("code", "markdown"):
            cells.append(copy.deepcopy(cell))
            continue
        source = strip_solutions(cell.source, cell.cell_type, where=f"{generated_from}, cell {index}")
        if not source.strip() and cell.source.strip():
            continue  # the cell held only hidden tests
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(source)
        else:
            new = nbformat.v4.new_markdown_cell(source)
        cells.append(new)
    for i, cell in enumerate(cells):
        cell["id"] = f"ex{exercise_id}-{i:02d}"
        cell["metadata"] = {}
    metadata = {
        "jupytext": {k: v for k, v in master.metadata.get("jupytext", {}).items() if k != "text_representation"},
        "kernelspec": master.metadata.get("kernelspec", DEFAULT_KERNELSPEC),
        "ptm_course": {"exercise": exercise_id, "generated_from": generated_from},
    }
    if not metadata["jupytext"]:
        del metadata["jupytext"]
    nb = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


@dataclass
class BuiltExercise:
    """The two files of a generated exercise and their text."""

    ipynb: Path
    py: Path
    ipynb_text: str
    py_text: str


def _render(master_path: Path, out_dir: Path) -> BuiltExercise:
    exercise_id = exercise_id_from_name(master_path.name)
    if exercise_id is None:
        raise BuildError(f"{master_path}: a master's name must start with the exercise number, e.g. 00_topic_exercises.ipynb")
    master = jupytext.read(master_path)
    for index, cell in enumerate(master.cells, start=1):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            raise BuildError(f"{master_path}, cell {index}: masters are stored without outputs; clear them first")
    generated_from = f"{master_path.parent.name}/{master_path.name}"
    nb = make_exercise(master, exercise_id, generated_from)
    config = load_jupytext_config(str(master_path.resolve()))
    ipynb = out_dir / master_path.name
    py = ipynb.with_suffix(".py")
    ipynb_text = jupytext.writes(nb, fmt="ipynb", config=config)
    py_text = jupytext.writes(nb, fmt="py:percent", config=config)
    return BuiltExercise(ipynb, py, ipynb_text if ipynb_text.endswith("\n") else ipynb_text + "\n",
                         py_text if py_text.endswith("\n") else py_text + "\n")


def _masters(solutions_dir: Path) -> list[Path]:
    if not solutions_dir.is_dir():
        raise BuildError(f"no solutions folder at {solutions_dir} (run from the repository root or pass --solutions)")
    return sorted(p for p in solutions_dir.glob("*.ipynb") if not p.name.startswith("."))


def build_exercises(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises") -> list[Path]:
    """Write ``exercises/NAME.ipynb`` + ``NAME.py`` for every ``solutions/NAME.ipynb``.

    Generated pairs whose master is gone are removed. Returns the paths written.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    built = [_render(m, exercises_dir) for m in _masters(solutions_dir)]  # all or nothing: render first
    written = []
    for b in built:
        for path, text in ((b.ipynb, b.ipynb_text), (b.py, b.py_text)):
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                atomic_write_text(path, text)
            written.append(path)
    keep = {p.name for p in written}
    for stale in sorted(exercises_dir.glob("*.ipynb")):
        if stale.name not in keep:
            stale.unlink()
            stale.with_suffix(".py").unlink(missing_ok=True)
    return written


def _normalise(text: str) -> str:
    # the jupytext version in the .py header changes with the installed jupytext, not the exercise
    return re.sub(r"(?m)^#\s+jupytext_version: .*$", "#     jupytext_version: *", text)


def check_exercises(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises") -> list[str]:
    """Compare the committed exercises with a fresh build; return the problems (empty: up to date)."""
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = [_render(m, Path(tmp)) for m in _masters(solutions_dir)]
    expected_names = set()
    for b in fresh:
        for name, text in ((b.ipynb.name, b.ipynb_text), (b.py.name, b.py_text)):
            expected_names.add(name)
            committed = exercises_dir / name
            if not committed.exists():
                problems.append(f"{committed} is missing")
            elif _normalise(committed.read_text(encoding="utf-8")) != _normalise(text):
                problems.append(f"{committed} differs from a fresh build of {solutions_dir / b.ipynb.name}")
    for path in sorted(exercises_dir.glob("*.ipynb")) + sorted(exercises_dir.glob("*.py")):
        if path.name not in expected_names:
            problems.append(f"{path} has no master in {solutions_dir}/ (generated files only live in {exercises_dir}/)")
    return problems
