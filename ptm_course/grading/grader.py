"""Batch grading: every submitted notebook in its own kernel, a CSV row per question, feedback files.

    >>> results = grade_folder("submissions/", out_csv="grades.csv", feedback_dir="feedback/",
    ...                        tests_dir="~/grading-tests", timeout=120, jobs=2)   # doctest: +SKIP

How one notebook is graded (:func:`grade_notebook`):

1. Read it. A file that is not JSON or not a notebook is "not graded", with the reason.
2. Which exercise: ``metadata.ptm_course.exercise`` (written by ``ptm-course exercises build``),
   else the file name (``00_...``), else the ``check("00. ...")`` calls in its text, else the
   ``--exercise`` default.
3. Run its code cells in a fresh kernel of this Python (working folder: an empty temporary
   folder; ``PTM_GRADING=1`` so ``check``/``summary`` only print a note), with errors allowed:
   a cell that raises is recorded and the next cell runs. All cells share one time limit
   (``timeout`` seconds); at the limit the kernel is interrupted and the remaining cells are
   skipped.
4. In the same kernel, one more cell grades every question of the exercise against the names
   the notebook defined (public tests + instructor tests, each test capped at ``timeout`` and
   at its own limit) and writes the results as JSON to a file outside the kernel's folder.
5. A missing name is explained from the run: the cell that defines it raised (a syntax error),
   or was skipped at the time limit, or no cell defines it (renamed or deleted).

:func:`grade_folder` grades many notebooks, ``jobs`` at a time, each in a worker process of
its own (a crash or a runaway notebook affects only its own row), and writes the CSV
(:data:`CSV_COLUMNS`) and one Markdown feedback file per learner.

Trust: the grader runs the submitted code with your permissions and does not sandbox it; a
submission can read your files or fake its own results. Grade in a disposable environment.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..io import atomic_write_text
from .checks import GRADING_ENV, format_result
from .core import DEFAULT_TIME_LIMIT, MANUAL, MISSING_STATUS, NOT_GRADED, QuestionResult
from .questions import EXERCISES, UnknownQuestionError, exercise_id_from_name, get_exercise, get_question

__all__ = [
    "CSV_COLUMNS",
    "GradingError",
    "Submission",
    "SubmissionResult",
    "find_submissions",
    "grade_folder",
    "grade_notebook",
    "write_csv",
    "write_feedback",
]

CSV_COLUMNS = ["learner", "exercise", "question", "name", "status", "points", "max_points", "reason", "notes", "submission"]
"""Columns of the grades CSV, one row per learner, submission and question."""

_MAX_OUTPUTS_PER_CELL = 200  # a notebook that prints forever must not fill the grader's memory
_MAX_NOTES = 8
_TIME_LIMIT_MARK = "PtmGradingTimeLimit"
_INTERRUPT_GRACE = 10.0  # seconds a kernel gets to stop after an interrupt


class GradingError(RuntimeError):
    """A problem with the grading run itself (no submissions, a bad instructor test folder)."""


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A notebook to grade: where it is and whose it is."""

    path: Path
    learner: str
    relpath: str  # relative to the submissions folder, for the CSV


@dataclass
class SubmissionResult:
    """The grades of one submitted notebook."""

    learner: str
    submission: str
    exercise: str | None
    questions: list[QuestionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def auto_points(self) -> float:
        """Points of the auto-graded questions."""
        return float(sum(q.points or 0.0 for q in self.questions if not _is_open(q)))

    @property
    def auto_max_points(self) -> float:
        return float(sum(q.max_points for q in self.questions if not _is_open(q)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["questions"] = [q.to_dict() for q in self.questions]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SubmissionResult":
        d = dict(d)
        d["questions"] = [QuestionResult.from_dict(q) for q in d.get("questions", [])]
        return cls(**d)


def _is_open(q: QuestionResult) -> bool:
    """An open question (graded by a person with a rubric)?"""
    if q.rubric:
        return True
    try:
        return get_question(q.question).is_open
    except UnknownQuestionError:
        return False


def _not_graded(exercise_id: str | None, reason: str) -> list[QuestionResult]:
    """A 'not graded' row for every question of the exercise (one row if it is unknown)."""
    if exercise_id in EXERCISES:
        return [QuestionResult(q.id, q.name, q.title, NOT_GRADED, 0.0, q.max_points, reason)
                for q in EXERCISES[exercise_id].questions]
    return [QuestionResult("", "", "", NOT_GRADED, 0.0, 0.0, reason)]


def _complete_max_points(results: list[SubmissionResult], extra) -> None:
    """Give "not graded" rows the same max_points as graded ones (instructor tests included).

    A notebook that could not run never reached the instructor tests; without this its rows
    would show only the public tests' points and a class's totals would not add up.
    """
    for res in results:
        for q in res.questions:
            if q.status != NOT_GRADED or not q.question:
                continue
            try:
                question = get_question(q.question)
            except UnknownQuestionError:
                continue
            full = question.max_points
            if extra is not None:
                if q.question in extra.rubrics:
                    full = extra.rubrics[q.question].max_points
                full += sum(t.points for t in extra.tests.get(q.question, ()))
            q.max_points = full


# --------------------------------------------------------------------------------------------
# Finding submissions and their exercise
# --------------------------------------------------------------------------------------------


def find_submissions(folder: str | Path) -> list[Submission]:
    """Every ``*.ipynb`` under ``folder``, with its learner.

    A notebook directly in ``folder`` belongs to the learner named by its file stem
    (``alice.ipynb`` -> ``alice``); a notebook in a subfolder belongs to the learner named by
    that top-level subfolder (``bob/00_overview_exercises.ipynb`` -> ``bob``). Hidden folders
    and ``.ipynb_checkpoints`` are skipped. ``folder`` may also be a single notebook.
    """
    folder = Path(folder)
    if folder.is_file():
        return [Submission(folder.resolve(), folder.stem, folder.name)]
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist")
    subs = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        learner = rel.parts[0] if len(rel.parts) > 1 else path.stem
        subs.append(Submission(path.resolve(), learner, rel.as_posix()))
    return subs


_CHECK_CALL = re.compile(r"""check\(\s*\\?["'](\d{2})\.""")


def detect_exercise(path: Path, nb: Any | None, raw_text: str, default: str | None = None) -> str | None:
    """Which exercise a submission is: metadata, then file name, then its check() calls, then ``default``."""
    if nb is not None:
        meta = nb.get("metadata", {}).get("ptm_course", {})
        if isinstance(meta, dict) and meta.get("exercise"):
            return str(meta["exercise"])
    from_name = exercise_id_from_name(path.name)
    if from_name is not None:
        return from_name
    found = _CHECK_CALL.findall(raw_text)
    if found:
        return max(set(found), key=found.count)
    return default


# --------------------------------------------------------------------------------------------
# Running one notebook
# --------------------------------------------------------------------------------------------


def _first_line(source: str, width: int = 50) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    if not line:
        line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


def _clean_evalue(evalue: str, width: int = 160) -> str:
    text = re.sub(r"\((?:[^()]*\.py|<[^>]*>), line (\d+)\)", r"(line \1)", evalue.strip())
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class _CellEvent:
    cell: int  # 1-based number among all cells, as a learner counts them
    kind: str  # "error", "timeout" or "not run"
    detail: str = ""
    first_line: str = ""

    def describe(self) -> str:
        where = f"cell {self.cell} (`{self.first_line}`)" if self.first_line else f"cell {self.cell}"
        if self.kind == "error":
            return f"{where} raised {self.detail}"
        if self.kind == "timeout":
            return f"{where} {self.detail}"
        return f"{where} did not run"


def _defines(source: str, name: str) -> bool:
    n = re.escape(name)
    pattern = rf"(?m)^\s*(?:async\s+)?def\s+{n}\s*\(|^\s*class\s+{n}\b|^\s*{n}\s*(?::[^=\n]*)?=(?!=)"
    return re.search(pattern, source) is not None


def _explain_missing(result: QuestionResult, cells: Sequence[Any], events: dict[int, _CellEvent], stop: _CellEvent | None) -> None:
    """Say why a name is missing, from what happened to the cell that should define it."""
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code" or not _defines(cell.get("source", ""), result.name):
            continue
        event = events.get(number)
        if event is None:
            continue
        where = f"cell {number} (`{event.first_line}`), which defines it,"
        if event.kind == "error":
            result.reason = f"`{result.name}` is not defined: {where} raised {event.detail}"
        elif event.kind == "timeout":
            result.reason = f"`{result.name}` is not defined: {where} {event.detail}"
        elif stop is not None:
            result.reason = f"`{result.name}` is not defined: {where} did not run because cell {stop.cell} hit the time limit"
        return


class _Runner:
    """Runs one notebook's cells in a kernel of this Python, then the grading cell."""

    def __init__(self, nb: Any, workdir: str, env: dict[str, str], timeout: float):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync
        from nbclient import NotebookClient

        class CurrentPythonSpecs(KernelSpecManager):
            """Always the ipykernel of the Python running the grader (like nbval --current-env)."""

            def get_kernel_spec(self, kernel_name: str):  # noqa: ARG002 - any name maps to this Python
                import ipykernel.kernelspec as iks

                return self.kernel_spec_class(resource_dir=iks.RESOURCES, **iks.get_kernel_dict())

        class CappedClient(NotebookClient):
            def output(self, outs, msg, display_id, cell_index):  # type: ignore[override]
                if len(outs) >= _MAX_OUTPUTS_PER_CELL and msg["msg_type"] != "error":
                    return None
                return super().output(outs, msg, display_id, cell_index)

        # nbclient needs the async manager: with a blocking client a dead kernel hangs the run
        self.km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=CurrentPythonSpecs())
        self._run_sync = run_sync
        # At a time limit nbclient interrupts the kernel and hands back this error as the reply;
        # on_cell_executed tells us it happened.
        self.client = CappedClient(nb, km=self.km, timeout=max(1, math.ceil(timeout)), allow_errors=True,
                                   interrupt_on_timeout=True, startup_timeout=60,
                                   error_on_timeout={"ename": _TIME_LIMIT_MARK, "evalue": "", "traceback": []},
                                   resources={"metadata": {"path": workdir}})
        self.client.on_cell_executed = self._remember_reply
        self.env, self.workdir = env, workdir
        self.last_reply: dict[str, Any] = {}
        self.running: int | None = None  # the learner's cell being run, to say where a kernel died

    def _remember_reply(self, cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.last_reply = execute_reply or {}

    def run_cell(self, cell: Any, index: int, timeout: float) -> bool:
        """Run one cell; False when it hit the time limit (the kernel has been interrupted)."""
        self.last_reply = {}
        self.client.timeout = max(1, math.ceil(timeout))
        self.client.execute_cell(cell, index)
        return self.last_reply.get("content", {}).get("ename") != _TIME_LIMIT_MARK

    def run_extra_cell(self, cell: Any, timeout: float) -> bool:
        """Run a cell that is not the learner's (appended for nbclient, then removed)."""
        cells = self.client.nb.cells
        cells.append(cell)
        try:
            return self.run_cell(cell, len(cells) - 1, timeout)
        finally:
            cells.pop()

    def close(self) -> None:
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
        except Exception:
            pass
        try:
            if self.km.has_kernel:
                self._run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            pass


def _package_env() -> dict[str, str]:
    """This environment, with ptm_course importable from any folder (also from a source checkout)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _kernel_env() -> dict[str, str]:
    env = _package_env()
    env[GRADING_ENV] = "1"
    for key, value in (("OMP_NUM_THREADS", "1"), ("PTM_PRESET", "smoke"), ("MPLBACKEND", "Agg"),
                       ("PYDEVD_DISABLE_FILE_VALIDATION", "1")):
        env.setdefault(key, value)
    return env


def _grading_budget(exercise_id: str, cap: float) -> float:
    n = len(get_exercise(exercise_id).questions)
    return 60.0 + cap * n


def _read_notebook(path: Path) -> tuple[Any | None, str, str]:
    """``(notebook, raw text, problem)``: the notebook is None and problem says why when unusable."""
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, "", f"cannot read the file: {e}"
    raw_text = raw.decode("utf-8", errors="replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, raw_text, "not a valid notebook: the file is not UTF-8 text"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return None, raw_text, (f"not a valid notebook: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno}; "
                                "the file is damaged or was not saved completely)")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        return None, raw_text, "not a valid notebook: the JSON has no 'cells' list or 'nbformat' version"
    try:
        nb = nbformat.reads(text, as_version=4)
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(cell.get("source"), str):
                raise ValueError("a cell has no valid cell_type or source")
    except Exception as e:
        return None, raw_text, f"not a valid notebook: {_clean_evalue(str(e) or type(e).__name__, 120)}"
    return nb, raw_text, ""


class _Stop(Exception):
    """Grading of this notebook ends early; ``reason`` goes into every question's row."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _run_learner_cells(runner: _Runner, nb: Any, timeout: float) -> tuple[dict[int, _CellEvent], _CellEvent | None]:
    """Run every code cell under one time limit; return what went wrong per cell, and the cell that
    hit the limit. Raises :class:`_Stop` when a kernel does not stop after an interrupt."""
    import nbformat

    events: dict[int, _CellEvent] = {}
    stop: _CellEvent | None = None
    deadline = time.monotonic() + float(timeout)
    for index, cell in enumerate(nb.cells):
        number = index + 1  # cells as a learner counts them, Markdown included
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        first = _first_line(cell.source)
        if stop is not None:
            events[number] = _CellEvent(number, "not run", first_line=first)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stop = events[number] = _CellEvent(number, "timeout", f"did not start: the time limit of {timeout:g} s "
                                                                  "was used up", first)
            continue
        runner.running = number
        finished = runner.run_cell(cell, index, remaining)
        runner.running = None
        if not finished:
            stop = events[number] = _CellEvent(number, "timeout", f"was stopped at the time limit of {timeout:g} s "
                                                                  "(an endless loop?)", first)
            if not runner.run_extra_cell(nbformat.v4.new_code_cell("pass"), _INTERRUPT_GRACE):
                raise _Stop(f"cell {number} (`{first}`) ran past the time limit of {timeout:g} s "
                            "and did not stop when interrupted")
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                detail = f"{out.get('ename', 'Error')}: {_clean_evalue(out.get('evalue', ''))}".rstrip(": ")
                events[number] = _CellEvent(number, "error", detail, first)
                break
        cell.outputs = []  # keep memory small; the grader only needs the errors
    return events, stop


def _grade_in_kernel(runner: _Runner, exercise_id: str, tests_dir: str | None, cap: float, report_path: str) -> list[QuestionResult]:
    """Run the grading cell in the learner's kernel and read the results it writes."""
    import nbformat

    source = ("import importlib as _ptm_importlib\n"
              f"_ptm_importlib.import_module('ptm_course.grading.checks').write_report("
              f"{exercise_id!r}, {report_path!r}, {tests_dir!r}, {cap!r})")
    cell = nbformat.v4.new_code_cell(source)
    if not runner.run_extra_cell(cell, _grading_budget(exercise_id, cap)):
        raise _Stop("grading did not finish in time: the kernel stayed busy (it ignores interrupts?)")
    if not os.path.exists(report_path):
        error = next((f" ({o.get('ename')}: {_clean_evalue(o.get('evalue', ''))})"
                      for o in cell.outputs if o.get("output_type") == "error"), "")
        raise _Stop(f"the grading cell failed{error}; did the notebook replace ptm_course or Python built-ins?")
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    if report.get("error"):
        raise _Stop(report["error"])
    return [QuestionResult.from_dict(q) for q in report["questions"]]


def _notes(events: dict[int, _CellEvent]) -> list[str]:
    """One line per cell that raised or hit the time limit."""
    skipped = sorted(n for n, e in events.items() if e.kind == "not run")
    notes = []
    for number in sorted(events):
        e = events[number]
        if e.kind == "not run":
            continue
        note = e.describe()
        if e.kind == "timeout" and skipped:
            note += f"; cells {skipped[0]}-{skipped[-1]} did not run" if len(skipped) > 1 else f"; cell {skipped[0]} did not run"
        notes.append(note)
    return notes


def grade_notebook(
    path: str | Path,
    *,
    learner: str | None = None,
    relpath: str | None = None,
    exercise: str | None = None,
    tests_dir: str | Path | None = None,
    timeout: float = 120.0,
) -> SubmissionResult:
    """Grade one notebook (see the module docstring); never raises for anything in the notebook.

    ``exercise`` is the fallback when the notebook does not say which exercise it is;
    ``timeout`` is the time limit in seconds for all of the notebook's cells together.
    """
    from nbclient.exceptions import DeadKernelError

    path = Path(path)
    started = time.perf_counter()
    result = SubmissionResult(learner or path.stem, relpath or path.name, None)

    nb, raw_text, problem = _read_notebook(path)
    result.exercise = detect_exercise(path, nb, raw_text, exercise)
    if not problem and result.exercise is None:
        problem = ("cannot tell which exercise this notebook is (no ptm_course metadata, no NN_ file name, "
                   "no check() calls); pass --exercise NN")
    if not problem and result.exercise not in EXERCISES:
        problem = str(UnknownQuestionError(f"unknown exercise {result.exercise!r}; the course has exercises "
                                           f"{sorted(EXERCISES)}"))
    if problem:
        result.questions = _not_graded(result.exercise, problem)
        result.seconds = round(time.perf_counter() - started, 2)
        return result

    cap = min(DEFAULT_TIME_LIMIT, float(timeout))  # per test, while grading
    events: dict[int, _CellEvent] = {}
    stop: _CellEvent | None = None
    with tempfile.TemporaryDirectory(prefix="ptm-grade-kernel-") as workdir, \
            tempfile.TemporaryDirectory(prefix="ptm-grade-report-") as reportdir:
        runner = _Runner(nb, workdir, _kernel_env(), timeout)
        try:
            with runner.client.setup_kernel(env=runner.env, cwd=workdir):
                events, stop = _run_learner_cells(runner, nb, timeout)
                tests = str(Path(tests_dir).expanduser().resolve()) if tests_dir else None  # the kernel runs elsewhere
                result.questions = _grade_in_kernel(runner, result.exercise, tests, cap,
                                                    os.path.join(reportdir, "report.json"))
        except _Stop as e:
            result.questions = _not_graded(result.exercise, e.reason)
        except DeadKernelError:
            where = " during grading"
            if runner.running is not None:
                where = f" while running cell {runner.running} (`{_first_line(nb.cells[runner.running - 1].source)}`)"
            result.questions = _not_graded(result.exercise, f"the kernel died{where}: the notebook crashed "
                                                            "Python or used too much memory")
        except Exception as e:  # the kernel did not start, protocol trouble...
            result.questions = _not_graded(result.exercise, f"could not run the notebook: {type(e).__name__}: {e}")
        finally:
            runner.close()

    for q in result.questions:
        if q.status == MISSING_STATUS:
            _explain_missing(q, nb.cells, events, stop)
    result.notes = _notes(events)[:_MAX_NOTES]
    result.seconds = round(time.perf_counter() - started, 2)
    return result


# --------------------------------------------------------------------------------------------
# Many notebooks: worker processes, CSV, feedback
# --------------------------------------------------------------------------------------------
#
# grade_folder starts `jobs` worker processes (`python -m ptm_course.grading.grader`), each
# driven by one thread. A worker reads job files, one path per line on its stdin, grades that
# notebook and writes the result file named in the job. Workers live for the whole batch, so
# their imports (nbclient, jupyter_client, zmq) are paid once. The learner's code runs in the
# kernels the workers start, not in the workers; still, a worker that dies or runs past a
# generous backstop is replaced, and only its current notebook is marked "not graded".


def _serve_jobs() -> int:
    """Main loop of a worker process."""
    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(143)  # runs the finally blocks: the kernel is shut down

    signal.signal(signal.SIGTERM, on_term)
    for line in sys.stdin:
        job_file = line.strip()
        if not job_file:
            continue
        job = json.loads(Path(job_file).read_text(encoding="utf-8"))
        try:
            res = grade_notebook(job["path"], learner=job["learner"], relpath=job["relpath"],
                                 exercise=job["exercise"], tests_dir=job["tests_dir"], timeout=job["timeout"])
        except Exception as e:  # a bug in the grader: report it for this notebook and go on
            res = SubmissionResult(job["learner"], job["relpath"], job["exercise"],
                                   _not_graded(job["exercise"], f"grader error: {type(e).__name__}: {e}"))
        atomic_write_text(job["out"], json.dumps(res.to_dict(), ensure_ascii=False))
    return 0


def _tail(path: Path, n: int = 300) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "WARNING" not in ln]
    return " | ".join(lines[-2:])[-n:]


class _Worker:
    """One worker process and the folder it exchanges job and result files through."""

    def __init__(self, tmp: Path, name: str):
        self.tmp, self.name = tmp, name
        self.proc: subprocess.Popen | None = None
        self.log = tmp / f"{name}.log"
        self.count = 0

    def _start(self) -> subprocess.Popen:
        logf = open(self.log, "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", "ptm_course.grading.grader"], stdin=subprocess.PIPE,
                                    stdout=logf, stderr=subprocess.STDOUT, cwd=str(self.tmp), text=True,
                                    env=_package_env())
        finally:
            logf.close()

    def stop(self, wait: float = 5.0) -> None:
        """End the worker: close its input (it exits after its job), then terminate it if needed."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the worker shuts its kernel down on the way out
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def grade(self, sub: Submission, *, exercise: str | None, tests_dir: str | None, timeout: float) -> SubmissionResult:
        """Grade one submission; a worker failure becomes a 'not graded' result."""
        self.count += 1
        job = self.tmp / f"{self.name}-{self.count}.job.json"
        out = job.with_name(f"{self.name}-{self.count}.result.json")
        atomic_write_text(job, json.dumps({"path": str(sub.path), "learner": sub.learner, "relpath": sub.relpath,
                                           "exercise": exercise, "tests_dir": tests_dir, "timeout": timeout,
                                           "out": str(out)}))
        longest_grading = max(_grading_budget(ex, min(DEFAULT_TIME_LIMIT, timeout)) for ex in EXERCISES)
        backstop = 60 + timeout + 2 * _INTERRUPT_GRACE + longest_grading + 60  # start + cells + grading + slack
        started = time.perf_counter()
        reason = ""
        try:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            self.proc.stdin.write(f"{job}\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except OSError as e:
            reason = f"the grader could not start a worker process ({e})"
        while not reason and not out.exists():
            if self.proc is not None and self.proc.poll() is not None:
                reason = f"the grader's worker process died (exit code {self.proc.returncode}): {_tail(self.log)}"
            elif time.perf_counter() - started > backstop:
                reason = f"the grader's worker was stopped after {backstop:.0f} s without a result"
                self.stop(wait=0)
            else:
                time.sleep(0.05)
        if not reason:
            try:
                return SubmissionResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
            except (ValueError, TypeError, KeyError) as e:
                reason = f"the grader's worker wrote an unreadable result ({e})"
        self.stop(wait=0)
        guess = detect_exercise(sub.path, None, "", exercise)
        return SubmissionResult(sub.learner, sub.relpath, guess, _not_graded(guess, reason),
                                seconds=round(time.perf_counter() - started, 2))


def grade_folder(
    submissions: str | Path,
    *,
    out_csv: str | Path | None = None,
    feedback_dir: str | Path | None = None,
    tests_dir: str | Path | None = None,
    timeout: float = 120.0,
    jobs: int = 2,
    exercise: str | None = None,
    log: Callable[[str], None] | None = print,
) -> list[SubmissionResult]:
    """Grade every notebook under ``submissions`` and write the CSV and feedback files.

    Raises :class:`GradingError` before grading anything when there is no notebook or the
    instructor test folder cannot be loaded; after that, problems of single notebooks become
    "not graded" rows and never stop the batch.
    """
    if tests_dir is not None:
        from .extra import ExtraTestsError, load_extra_tests

        try:
            extra = load_extra_tests(Path(tests_dir).expanduser())
        except ExtraTestsError as e:
            raise GradingError(str(e)) from None
        tests_dir = str(Path(tests_dir).expanduser().resolve())
        if log:
            log(f"instructor tests: {extra.count()} tests, {len(extra.rubrics)} rubrics from {len(extra.files)} file(s)")
    if exercise is not None:
        try:
            get_exercise(exercise)
        except UnknownQuestionError as e:
            raise GradingError(str(e)) from None
    subs = find_submissions(submissions)
    if not subs:
        raise GradingError(f"no .ipynb files under {submissions}")
    jobs = max(1, int(jobs))
    if log:
        log(f"grading {len(subs)} notebook(s), {jobs} at a time, time limit {timeout:g} s per notebook")

    results: list[SubmissionResult] = []
    queue = list(reversed(subs))
    lock = threading.Lock()
    t0 = time.perf_counter()

    def drive(worker: _Worker) -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    sub = queue.pop()
                try:
                    res = worker.grade(sub, exercise=exercise, tests_dir=str(tests_dir) if tests_dir else None,
                                       timeout=timeout)
                except Exception as e:  # a bug in the grader: keep going with the others
                    res = SubmissionResult(sub.learner, sub.relpath, exercise,
                                           _not_graded(exercise, f"grader error: {type(e).__name__}: {e}"))
                with lock:
                    results.append(res)
                    if log:
                        log(_progress_line(res, len(results), len(subs)))
        finally:
            worker.stop()

    with tempfile.TemporaryDirectory(prefix="ptm-grade-") as tmp:
        threads = [threading.Thread(target=drive, args=(_Worker(Path(tmp), f"worker{i}"),), daemon=True)
                   for i in range(min(jobs, len(subs)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    results.sort(key=lambda r: (r.learner, r.submission))
    _complete_max_points(results, extra if tests_dir is not None else None)
    if out_csv is not None:
        write_csv(results, out_csv)
    if feedback_dir is not None:
        write_feedback(results, feedback_dir)
    if log:
        log(f"done in {time.perf_counter() - t0:.1f} s" + (f"; grades in {out_csv}" if out_csv else "")
            + (f"; feedback in {feedback_dir}/" if feedback_dir else ""))
    return results


def _progress_line(res: SubmissionResult, done: int, total: int) -> str:
    if res.questions and all(q.status == NOT_GRADED for q in res.questions):
        status = "NOT GRADED: " + res.questions[0].reason[:90]
    else:
        status = f"{res.auto_points:g}/{res.auto_max_points:g} auto-graded points"
        if res.notes:
            status += f"; {len(res.notes)} cell problem{'s' if len(res.notes) > 1 else ''}"
    return f"[{done:>3}/{total}] {res.learner:<24} {res.exercise or '??':<3} {status} ({res.seconds:.1f} s)"


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def csv_rows(results: Sequence[SubmissionResult]) -> list[dict[str, str]]:
    """The CSV's rows (dicts keyed by :data:`CSV_COLUMNS`)."""
    rows = []
    for r in results:
        for q in r.questions:
            rows.append({
                "learner": r.learner, "exercise": r.exercise or "", "question": q.question, "name": q.name,
                "status": q.status, "points": _fmt(q.points if q.status != MANUAL else None),
                "max_points": _fmt(q.max_points), "reason": q.reason, "notes": "; ".join(r.notes),
                "submission": r.submission,
            })
    return rows


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write the grades CSV atomically (UTF-8, a header row, one row per question)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(results))
    return atomic_write_text(path, buf.getvalue())


def _safe_name(learner: str) -> str:
    return re.sub(r"[^\w.-]", "_", learner).strip("._") or "learner"


def feedback_markdown(learner: str, results: Sequence[SubmissionResult]) -> str:
    """The feedback file of one learner (all their submissions), as Markdown."""
    out = [f"# Feedback for {learner}", ""]
    for r in results:
        title = EXERCISES[r.exercise].title if r.exercise in EXERCISES else "unknown exercise"
        out += [f"## Exercise {r.exercise or '?'} — {title}", "", f"Notebook: `{r.submission}`", ""]
        if r.questions and all(q.status == NOT_GRADED for q in r.questions):
            out += [f"**Not graded:** {r.questions[0].reason}", ""]
            continue
        manual = [q for q in r.questions if _is_open(q)]
        out.append(f"**Auto-graded score: {r.auto_points:g} / {r.auto_max_points:g} points.**"
                   + (f" Open questions (up to {sum(q.max_points for q in manual):g} points) are graded by "
                      "your instructor with the rubric below." if manual else ""))
        out.append("")
        if r.notes:
            out += ["Problems while running your notebook:", ""] + [f"- {n}" for n in r.notes] + [""]
        for q in r.questions:
            pts = "?" if q.points is None else f"{q.points:g}"
            out += [f"### {q.question} — {q.title}: {pts} / {q.max_points:g} ({q.status})", ""]
            if q.rubric:
                if q.answer:
                    out += ["Your answer:", ""] + [f"> {line}" if line else ">" for line in q.answer.strip().splitlines()] + [""]
                elif q.reason:
                    out += [q.reason, ""]
                out += ["| criterion | points | score |", "|---|---|---|"]
                out += [f"| {c.description} | {c.points:g} | ___ |" for c in q.rubric]
                out.append("")
                continue
            out += ["```text", format_result(q), "```", ""]
    return "\n".join(out).rstrip() + "\n"


def write_feedback(results: Sequence[SubmissionResult], folder: str | Path) -> list[Path]:
    """Write ``folder/<learner>.md`` for every learner; returns the paths."""
    folder = Path(folder)
    by_learner: dict[str, list[SubmissionResult]] = {}
    for r in results:
        by_learner.setdefault(r.learner, []).append(r)
    paths = []
    for learner, items in sorted(by_learner.items()):
        paths.append(atomic_write_text(folder / f"{_safe_name(learner)}.md", feedback_markdown(learner, items)))
    return paths


if __name__ == "__main__":  # a worker process of grade_folder
    sys.exit(_serve_jobs())
