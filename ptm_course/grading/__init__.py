"""Graded exercises: instant feedback in the notebook, and a batch grader for instructors.

In an exercise notebook (``exercises/NN_*.ipynb``)::

    from ptm_course.grading import check, summary
    check("00.vocab", build_vocab)   # runs the public tests, prints feedback and points
    summary("00")                    # last cell: the score of the whole notebook

For instructors, on the command line::

    ptm-course exercises build                                # solutions/ -> exercises/
    ptm-course grade submissions/ --out grades.csv --tests ~/grading-tests --feedback feedback/

Pieces: :mod:`.core` (questions, tests, results), :mod:`.questions` (one module per chapter),
:mod:`.checks` (``check``/``summary``), :mod:`.build` (exercise generation), :mod:`.grader`
(batch grading), :mod:`.extra` (instructor tests), :mod:`.cli`. The guide for learners and
instructors is ``docs/grading.md``.
"""

from .checks import check, evaluate, summary
from .core import (
    Criterion,
    Exercise,
    Mismatch,
    Question,
    QuestionResult,
    Rubric,
    Test,
    TestResult,
    approx,
    case,
    equal,
    expect,
    expect_tensor,
)
from .questions import get_exercise, get_question

score_summary = summary  # the same function under the longer name

__all__ = [
    "Criterion",
    "Exercise",
    "Mismatch",
    "Question",
    "QuestionResult",
    "Rubric",
    "Test",
    "TestResult",
    "approx",
    "case",
    "check",
    "equal",
    "evaluate",
    "expect",
    "expect_tensor",
    "get_exercise",
    "get_question",
    "score_summary",
    "summary",
]
