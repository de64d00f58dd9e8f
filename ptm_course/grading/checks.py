"""In-notebook feedback: ``check(...)`` after each exercise and ``summary(...)`` at the end.

An exercise notebook calls, after the cell where the learner writes ``build_vocab``::

    check("00.vocab", build_vocab)

which runs the public tests of that question and prints what passed, what failed (the call,
expected and got values, a hint) and the points. ``check`` never raises: an unsolved stub is
reported as "not attempted", so exercise notebooks run top to bottom (and under nbval). Every
test runs with seeded random generators, whose previous state is restored afterwards, so a
check gives the same answer whatever cells ran before it. The notebook's last cell,

    summary("00")

re-checks every question against the names the notebook defines now and prints the score.

    >>> def build_vocab(sentences, min_count):
    ...     raise NotImplementedError
    >>> check("00.vocab", build_vocab)   # doctest: +ELLIPSIS
    [00.vocab] Build a vocabulary with a minimum count — build_vocab: not attempted (0/4 points)
    ...

Under the batch grader (environment variable ``PTM_GRADING=1``) both only print a note: the
grader runs every check itself once the learner's cells have run.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, Mapping

from ..io import atomic_write_text
from .core import (
    MANUAL,
    MISSING,
    MISSING_STATUS,
    NOT_ATTEMPTED,
    T_PASSED,
    QuestionResult,
    run_question,
)
from .questions import get_exercise, get_question

__all__ = ["GRADING_ENV", "check", "evaluate", "evaluate_exercise", "format_result", "summary", "write_report"]

GRADING_ENV = "PTM_GRADING"
"""Set to ``1`` in the kernels of the batch grader: ``check``/``summary`` then only print a note."""

_checked_exercises: list[str] = []  # exercises seen by check(), for summary() without an argument


def _grading_mode() -> bool:
    return os.environ.get(GRADING_ENV, "") not in ("", "0")


def _caller_namespace(depth: int = 2) -> Mapping[str, Any]:
    """The globals of the code that called our caller: a notebook's namespace."""
    return sys._getframe(depth).f_globals


def _pts(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def _plural(x: float) -> str:
    return "point" if x == 1 else "points"


# --------------------------------------------------------------------------------------------
# Formatting results
# --------------------------------------------------------------------------------------------


def format_result(r: QuestionResult) -> str:
    """A question's result as the lines ``check`` prints (also used in feedback files)."""
    head = f"[{r.question}] {r.title} — {r.name}: "
    if r.status == MANUAL:
        words = len((r.answer or "").split())
        lines = [head + f"needs manual grading (up to {_pts(r.max_points)} {_plural(r.max_points)})",
                 f"  Answered ({words} word{'s' if words != 1 else ''}). Your instructor grades it with this rubric:"]
        lines += [f"  - {_pts(c.points)} {_plural(c.points)}: {c.description}" for c in r.rubric]
        return "\n".join(lines)
    if r.status in (NOT_ATTEMPTED, MISSING_STATUS) or (r.rubric and r.points == 0):
        lines = [head + f"{r.status} (0/{_pts(r.max_points)} {_plural(r.max_points)})", f"  {r.reason}"]
        if r.rubric:
            lines.append("  Your instructor grades the answer with this rubric:")
            lines += [f"  - {_pts(c.points)} {_plural(c.points)}: {c.description}" for c in r.rubric]
        elif r.tests:
            lines.append("  The tests, once you have written it:")
            lines += [f"    TODO  {t.description} ({_pts(t.max_points)} {'pt' if t.max_points == 1 else 'pts'})"
                      for t in r.tests]
            first_hint = next((t.hint for t in r.tests if t.hint), "")
            if first_hint:
                lines.append(f"  hint: {first_hint}")
        return "\n".join(lines)
    lines = [head + f"{_pts(r.points)}/{_pts(r.max_points)} {_plural(r.max_points)} ({r.status})"]
    if not r.tests and r.reason:
        lines.append(f"  {r.reason}")
    for t in r.tests:
        tag = "hidden " if t.hidden else ""
        mark = "PASS" if t.status == T_PASSED else ("SKIP" if t.status == "skipped" else "FAIL")
        score = f"{_pts(t.max_points)}" if t.status == T_PASSED else f"0/{_pts(t.max_points)}"
        lines.append(f"  {mark}  {tag}{t.description} ({score} {'pt' if t.max_points == 1 else 'pts'})")
        if t.status == T_PASSED:
            continue
        if t.message and t.message != "wrong value":
            lines.append(f"        why:      {t.message}")
        if t.call:
            lines.append(f"        call:     {t.call}")
        if t.expected or t.got:
            lines.append(f"        expected: {t.expected}")
            lines.append(f"        got:      {t.got}")
        if t.hint and t.status != "skipped":
            lines.append(f"        hint:     {t.hint}")
    return "\n".join(lines)


def format_summary(exercise_id: str, results: list[QuestionResult]) -> str:
    """The score table ``summary`` prints."""
    ex = get_exercise(exercise_id)
    w_q = max(len("question"), *(len(r.question) for r in results))
    w_n = max(len("defines"), *(len(r.name) for r in results))
    lines = [f"Exercise {ex.id} — {ex.title}",
             f"  {'question':<{w_q}}  {'defines':<{w_n}}  {'points':<8} status"]
    auto, auto_max, manual_max = 0.0, 0.0, 0.0
    for r in results:
        pts = f"{_pts(r.points)}/{_pts(r.max_points)}"
        lines.append(f"  {r.question:<{w_q}}  {r.name:<{w_n}}  {pts:<8} {r.status}")
        if r.rubric:
            manual_max += r.max_points
        else:
            auto += r.points or 0.0
            auto_max += r.max_points
    lines.append(f"  auto-graded score: {_pts(auto)}/{_pts(auto_max)} {_plural(auto_max)}")
    if manual_max:
        lines.append(f"  + up to {_pts(manual_max)} {_plural(manual_max)} for open answers, "
                     "graded by your instructor with a rubric")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Evaluating
# --------------------------------------------------------------------------------------------


def _suggest(name: str, namespace: Mapping[str, Any]) -> str:
    """' — did you mean `build_vocabulary`?' for a name that is close to one the notebook defines."""
    candidates = [k for k, v in namespace.items()
                  if not k.startswith("_") and not isinstance(v, types.ModuleType)]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" — did you mean `{close[0]}`? Rename it to `{name}`" if close else ""


def evaluate(question_id: str, obj: Any = MISSING, *, namespace: Mapping[str, Any] | None = None) -> QuestionResult:
    """Run the public tests of a question and return the result (raises for an unknown id).

    Without ``obj``, the question's name is looked up in ``namespace`` (default: the caller's
    globals). ``check`` is this plus printing; tests and the master notebook use it directly:

    >>> r = evaluate("00.perplexity", lambda log_probs: 4.0)   # right for the uniform test only
    >>> r.status, r.points
    ('partial', 1.0)
    """
    question = get_question(question_id)
    if obj is MISSING:
        ns = _caller_namespace() if namespace is None else namespace
        obj = ns.get(question.name, MISSING)
    return run_question(question, obj)


def evaluate_exercise(
    exercise_id: str,
    namespace: Mapping[str, Any],
    *,
    extra: Any = None,
    time_limit_cap: float | None = None,
) -> list[QuestionResult]:
    """Grade every question of an exercise against the names defined in ``namespace``.

    ``extra`` is an :class:`~ptm_course.grading.extra.ExtraTests` (instructor tests).
    """
    results = []
    for q in get_exercise(exercise_id).questions:
        obj = namespace.get(q.name, MISSING)
        r = run_question(
            q, obj,
            extra_tests=extra.tests.get(q.id, ()) if extra is not None else (),
            rubric=extra.rubrics.get(q.id) if extra is not None else None,
            time_limit_cap=time_limit_cap,
        )
        if obj is MISSING:
            r.reason += _suggest(q.name, namespace)
        results.append(r)
    return results


def check(question_id: str, obj: Any = MISSING) -> None:
    """Check your answer to one question and print the feedback; never raises.

    ``obj`` is the function (or answer) you wrote; without it, the question's name is looked up
    in the notebook.
    """
    try:
        question = get_question(question_id)
    except Exception as e:
        print(f"check: {e}")
        return
    if question.exercise not in _checked_exercises:
        _checked_exercises.append(question.exercise)
    if _grading_mode():
        print(f"[{question_id}] batch grading: the grader checks `{question.name}` after the last cell")
        return
    try:
        if obj is MISSING:
            obj = _caller_namespace().get(question.name, MISSING)
        result = run_question(question, obj)
        text = format_result(result)
        passed_name = getattr(obj, "__name__", None)
        if callable(obj) and passed_name not in (None, question.name, "<lambda>"):
            text += (f"\n  note: you passed `{passed_name}`; this question grades `{question.name}` "
                     f"(the batch grader looks for that name)")
        print(text)
    except Exception as e:  # a bug in a check must not stop a learner's notebook
        print(f"[{question_id}] the check itself failed ({type(e).__name__}: {e}); please tell your instructor")


def summary(exercise_id: str | None = None) -> None:
    """Print the score of an exercise notebook: every question checked again, as it is now.

    Call it in the last cell: ``summary("00")``. Never raises.
    """
    if exercise_id is None:
        if len(_checked_exercises) != 1:
            print('summary: say which exercise, e.g. summary("00")')
            return
        exercise_id = _checked_exercises[0]
    if _grading_mode():
        print(f"Exercise {exercise_id}: batch grading — the grader computes the score after the last cell")
        return
    try:
        results = evaluate_exercise(str(exercise_id), _caller_namespace())
        print(format_summary(str(exercise_id), results))
    except Exception as e:
        print(f"summary: {e}")


def write_report(
    exercise_id: str,
    out_path: str,
    tests_dir: str | None = None,
    time_limit_cap: float | None = None,
) -> None:
    """Grade the caller's namespace and write the results as JSON to ``out_path``.

    The batch grader runs this in the learner's kernel after the learner's cells. Problems
    (instructor tests that fail to load, a crash of the grading code) go into ``"error"``.
    """
    namespace = _caller_namespace()
    report: dict[str, Any] = {"exercise": exercise_id, "questions": [], "error": None}
    try:
        extra = None
        if tests_dir:
            from .extra import load_extra_tests

            extra = load_extra_tests(tests_dir)
        results = evaluate_exercise(exercise_id, namespace, extra=extra, time_limit_cap=time_limit_cap)
        report["questions"] = [r.to_dict() for r in results]
    except Exception as e:
        report["error"] = f"grading failed inside the kernel: {type(e).__name__}: {e}"
    atomic_write_text(Path(out_path), json.dumps(report, ensure_ascii=False))
