"""The ``exercises`` and ``grade`` subcommands of ``ptm-course`` (added by ``ptm_course.cli``).

    ptm-course exercises build     # write exercises/ from solutions/
    ptm-course exercises check     # exit 1 when the committed exercises/ differ from a fresh build
    ptm-course grade SUBMISSIONS --out grades.csv [--tests DIR] [--feedback DIR]
                     [--timeout SECONDS] [--jobs N] [--exercise NN]

Each handler takes the parsed arguments and returns the exit code: 0 success, 1 a check
failed (exercises out of date), 2 unusable input (a missing folder, bad instructor tests).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_subcommands"]


def _cmd_exercises_build(args: argparse.Namespace) -> int:
    from .build import BuildError, build_exercises

    try:
        written = build_exercises(args.solutions, args.exercises)
    except BuildError as e:
        print(f"exercises build: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_exercises_check(args: argparse.Namespace) -> int:
    from .build import BuildError, check_exercises

    try:
        problems = check_exercises(args.solutions, args.exercises)
    except BuildError as e:
        print(f"exercises check: {e}", file=sys.stderr)
        return 2
    if problems:
        for p in problems:
            print(f"exercises check: {p}", file=sys.stderr)
        print("run `ptm-course exercises build` and commit exercises/", file=sys.stderr)
        return 1
    print(f"exercises check: {args.exercises}/ is up to date with {args.solutions}/")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from .grader import GradingError, grade_folder

    if args.timeout <= 0:
        print("grade: --timeout must be a positive number of seconds", file=sys.stderr)
        return 2
    try:
        grade_folder(args.submissions, out_csv=args.out, feedback_dir=args.feedback, tests_dir=args.tests,
                     timeout=args.timeout, jobs=args.jobs, exercise=args.exercise)
    except GradingError as e:
        print(f"grade: {e}", file=sys.stderr)
        return 2
    return 0


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``exercises`` (``build``, ``check``) and ``grade`` to the ``ptm-course`` parser."""
    p_ex = subparsers.add_parser("exercises", help="generate learner exercise notebooks from the masters")
    ex_sub = p_ex.add_subparsers(dest="exercises_command", metavar="ACTION")
    ex_sub.required = True
    for name, func, help_text in (
        ("build", _cmd_exercises_build, "write exercises/ from solutions/ (solutions replaced by stubs)"),
        ("check", _cmd_exercises_check, "fail when the committed exercises/ differ from a fresh build"),
    ):
        p = ex_sub.add_parser(name, help=help_text)
        p.add_argument("--solutions", default="solutions", help="folder of master notebooks (default: solutions)")
        p.add_argument("--exercises", default="exercises", help="folder of generated notebooks (default: exercises)")
        p.set_defaults(func=func)

    p = subparsers.add_parser(
        "grade",
        help="grade a folder of submitted notebooks into a CSV",
        description="Run every submitted notebook in its own kernel, grade it, write a CSV and feedback. "
                    "Submissions run code: grade in a disposable environment (a container or a throwaway VM).",
    )
    p.add_argument("submissions", help="folder of notebooks: LEARNER.ipynb, or LEARNER/*.ipynb (or one notebook)")
    p.add_argument("--out", default="grades.csv", help="CSV to write (default: grades.csv)")
    p.add_argument("--tests", metavar="DIR", help="folder of instructor tests (*.py with TESTS/RUBRICS), kept outside the repo")
    p.add_argument("--feedback", metavar="DIR", help="write one Markdown feedback file per learner here")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="time limit in seconds for all cells of one notebook (default: 120)")
    p.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                   help="notebooks graded at the same time (default: CPU cores, at most 4)")
    p.add_argument("--exercise", metavar="NN",
                   help="exercise of notebooks that do not say which one they are (e.g. 00)")
    p.set_defaults(func=_cmd_grade)
