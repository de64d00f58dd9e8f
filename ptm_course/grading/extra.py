"""Instructor tests kept outside the repository (``ptm-course grade ... --tests DIR``).

``solutions/`` is public, so the public tests that ``check(...)`` runs are known to every
learner. For grading, an instructor keeps more tests in a folder of their own. Every ``*.py``
file in that folder (not in subfolders; names starting with ``_`` are skipped) may define:

``TESTS``
    a dict from question id to a list of :class:`~ptm_course.grading.Test` (usually made with
    :func:`~ptm_course.grading.case`), added after the public tests of that question and
    counted in its points;
``RUBRICS``
    a dict from an open question's id to a :class:`~ptm_course.grading.Rubric` that replaces
    the default rubric (to change criteria or points).

Example, ``grading-tests/00_hidden.py``::

    from ptm_course.grading import Criterion, Rubric, case

    TESTS = {
        "00.vocab": [
            case("min_count=3 on a longer text", [["a", "b", "a", "c", "a", "b", "b"]], 3,
                 expected=["<unk>", "a", "b"], points=2),
        ],
    }
    RUBRICS = {
        "00.reflection": Rubric((Criterion("Contrasts static and contextual embeddings", 3),
                                 Criterion("Gives the 'bank' example", 2))),
    }

The grader loads the folder twice: in its own process first (so a typo fails before any
notebook runs), then inside each learner's kernel, after the learner's cells.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .core import Rubric, Test
from .questions import UnknownQuestionError, get_question

__all__ = ["ExtraTests", "ExtraTestsError", "load_extra_tests"]


class ExtraTestsError(ValueError):
    """An instructor test folder that cannot be used (missing, a file that fails, a bad entry)."""


@dataclass
class ExtraTests:
    """Tests and rubrics loaded from an instructor folder, by question id."""

    tests: dict[str, tuple[Test, ...]] = field(default_factory=dict)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(t) for t in self.tests.values())


def _load_module(path: Path):
    name = "ptm_course_instructor_tests_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExtraTestsError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ExtraTestsError(f"{path}: importing it raised {type(e).__name__}: {e}") from e
    return module


def load_extra_tests(folder: str | Path) -> ExtraTests:
    """Load every instructor test file in ``folder``; raise :class:`ExtraTestsError` on any problem.

    Loaded tests are marked ``hidden=True``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ExtraTestsError(f"instructor test folder {folder} does not exist or is not a folder")
    extra = ExtraTests()
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = _load_module(path)
        tests = getattr(module, "TESTS", {})
        rubrics = getattr(module, "RUBRICS", {})
        if not isinstance(tests, dict) or not isinstance(rubrics, dict):
            raise ExtraTestsError(f"{path}: TESTS and RUBRICS must be dicts keyed by question id")
        if not tests and not rubrics:
            raise ExtraTestsError(f"{path}: defines neither TESTS nor RUBRICS")
        for qid, items in tests.items():
            try:
                question = get_question(qid)
            except UnknownQuestionError as e:
                raise ExtraTestsError(f"{path}: {e}") from None
            if question.is_open:
                raise ExtraTestsError(f"{path}: {qid} is an open question; give it a rubric in RUBRICS, not tests")
            items = (items,) if isinstance(items, Test) else tuple(items)
            for t in items:
                if not isinstance(t, Test):
                    raise ExtraTestsError(f"{path}: TESTS[{qid!r}] holds a {type(t).__name__}, not a Test "
                                          "(make tests with case(...) or Test(...))")
            extra.tests[qid] = extra.tests.get(qid, ()) + tuple(replace(t, hidden=True) for t in items)
        for qid, rubric in rubrics.items():
            try:
                question = get_question(qid)
            except UnknownQuestionError as e:
                raise ExtraTestsError(f"{path}: {e}") from None
            if not question.is_open:
                raise ExtraTestsError(f"{path}: {qid} is auto-graded; only open questions take a rubric")
            if not isinstance(rubric, Rubric):
                raise ExtraTestsError(f"{path}: RUBRICS[{qid!r}] must be a Rubric, got {type(rubric).__name__}")
            extra.rubrics[qid] = rubric
        extra.files.append(str(path))
    if not extra.files:
        raise ExtraTestsError(f"instructor test folder {folder} has no *.py test files")
    return extra
