"""Questions, tests and results: the pieces the in-notebook checks and the batch grader share.

A *question* names the object a learner defines in an exercise notebook (usually a function)
and carries public tests, each worth some points. Running a question against the learner's
object gives a :class:`QuestionResult` with points per test (partial credit):

    >>> double = Question("99.double", "double", "Double a number", tests=(
    ...     case("doubles 2", 2, expected=4, hint="multiply by 2"),
    ...     case("doubles -1", -1, expected=-2),
    ... ))
    >>> r = run_question(double, lambda x: 2 * x)
    >>> r.status, r.points, r.max_points
    ('passed', 2.0, 2.0)
    >>> r = run_question(double, lambda x: x + 2)
    >>> r.status, r.points, r.reason
    ('partial', 1.0, "1/2 tests passed; 'doubles -1': expected -2, got 1")

A stub that still raises ``NotImplementedError`` is "not attempted"; a missing object is
"missing"; neither raises here, whatever the learner's code does (exceptions, wrong types,
endless loops with a time limit):

    >>> def stub(x):
    ...     raise NotImplementedError
    >>> run_question(double, stub).status
    'not attempted'
    >>> run_question(double, MISSING).reason
    'function `double` not found (renamed or deleted?)'

An *open* question has a rubric instead of tests: a person grades it.

    >>> essay = Question("99.essay", "essay", "Explain", rubric=Rubric((Criterion("is clear", 2),)))
    >>> run_question(essay, "Because ...").status
    'needs manual grading'
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
import reprlib
import signal
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

__all__ = [
    "MISSING",
    "PASSED", "PARTIAL", "FAILED", "NOT_ATTEMPTED", "MISSING_STATUS", "MANUAL", "NOT_GRADED",
    "Criterion",
    "Exercise",
    "Mismatch",
    "Question",
    "QuestionResult",
    "Rubric",
    "Test",
    "TestResult",
    "TimeLimitExceeded",
    "approx",
    "case",
    "equal",
    "expect",
    "expect_tensor",
    "run_question",
    "seeded",
    "time_limit",
]

# Question statuses (the CSV's ``status`` column).
PASSED = "passed"  # every test passed
PARTIAL = "partial"  # some points
FAILED = "failed"  # attempted, no points
NOT_ATTEMPTED = "not attempted"  # the stub still raises NotImplementedError / the answer is empty
MISSING_STATUS = "missing"  # the name is not defined (renamed, deleted, its cell failed)
MANUAL = "needs manual grading"  # open question: an instructor grades it with the rubric
NOT_GRADED = "not graded"  # the notebook could not be run or graded (invalid file, kernel died...)

# Test statuses.
T_PASSED, T_FAILED, T_ERROR = "passed", "failed", "error"
T_NOT_ATTEMPTED, T_TIMEOUT, T_SKIPPED = "not attempted", "timed out", "skipped"

DEFAULT_TIME_LIMIT = 10.0  # seconds per test before it counts as an endless loop


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Stands for "the learner's notebook does not define this name"."""


# --------------------------------------------------------------------------------------------
# Comparing what the learner returned with what was expected
# --------------------------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 12
_repr.maxstring = _repr.maxother = 120
_repr.maxlevel = 4


def short_repr(obj: Any, limit: int = 300) -> str:
    """``repr`` cut to a readable length: ``short_repr(list(range(100)))`` ends in ``...]``."""
    try:
        text = _repr.repr(obj)
    except Exception as e:  # a learner's object whose __repr__ raises
        text = f"<{type(obj).__name__} object; repr() raised {type(e).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Mismatch(Exception):
    """Raised by a test when the learner's answer is wrong: the test *failed* (not an error).

    ``message`` says what is wrong; ``expected``/``got`` (reprs) and ``call`` are shown to the
    learner when given.
    """

    def __init__(self, message: str, *, call: str = "", expected: str = "", got: str = ""):
        super().__init__(message)
        self.message, self.call, self.expected, self.got = message, call, expected, got


def _type_name(obj: Any) -> str:
    return type(obj).__name__


def _as_number(x: Any) -> float | None:
    """``x`` as a float if it is a real number (also a NumPy scalar or a one-element tensor)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    shape = getattr(x, "shape", None)
    if shape is not None and hasattr(x, "item") and tuple(shape) in ((), (1,)):
        try:
            value = x.item()
        except Exception:
            return None
        return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None
    return None


def _container_diff(expected: Any, got: Any) -> str:
    """A short note on where two dicts or lists differ ('' when there is nothing useful to say)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        wrong = [k for k in expected if k in got and got[k] != expected[k]]
        parts = []
        if missing:
            parts.append(f"missing keys {short_repr(missing[:5], 120)}" + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append(f"unexpected keys {short_repr(extra[:5], 120)}" + (" ..." if len(extra) > 5 else ""))
        if wrong:
            k = wrong[0]
            parts.append(f"wrong value for {short_repr(k, 60)}: expected {short_repr(expected[k], 40)}, "
                         f"got {short_repr(got[k], 40)}" + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))
        return "; ".join(parts)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(expected) != len(got):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            if e != g:
                return f"first difference at index {i}: expected {short_repr(e, 60)}, got {short_repr(g, 60)}"
    return ""


def equal(expected: Any, got: Any) -> str | None:
    """Exact comparison; ``None`` when equal, else why not (wrong type first).

    A ``dict`` subclass (``Counter``, ``defaultdict``) counts as a dict; ``int`` and ``float``
    answers must have the expected kind, ``bool`` is not an ``int`` here.

    >>> equal([1, 2], [1, 2]) is None
    True
    >>> equal([1, 2], {1: 2})
    'wrong return type: expected list, got dict'
    >>> equal({"a": 1}, {"a": 2})
    "wrong value for 'a': expected 1, got 2"
    """
    if isinstance(expected, bool) or isinstance(got, bool):
        if type(expected) is not type(got):
            return f"wrong return type: expected {_type_name(expected)}, got {_type_name(got)}"
    elif isinstance(expected, numbers.Integral):
        if not isinstance(got, numbers.Integral):
            return f"wrong return type: expected int, got {_type_name(got)}"
    elif isinstance(expected, (list, tuple, dict, set, frozenset, str)):
        base = dict if isinstance(expected, dict) else type(expected)
        if not isinstance(got, base):
            return f"wrong return type: expected {base.__name__}, got {_type_name(got)}"
    try:
        same = bool(expected == got)
    except Exception as e:  # an object whose == raises
        return f"cannot compare the result with the expected value ({type(e).__name__}: {e})"
    if same:
        return None
    return _container_diff(expected, got) or "wrong value"


def approx(rel: float = 1e-6, abs: float = 1e-9) -> Callable[[Any, Any], str | None]:
    """A comparison for numbers: ``got`` must be a real number within ``rel``/``abs`` of expected.

    NumPy scalars and one-element tensors count as numbers.

    >>> close = approx(rel=1e-3)
    >>> close(2.0, 2.001) is None
    True
    >>> close(2.0, [2.0])
    'wrong return type: expected a number (float), got list'
    """
    rel_tol, abs_tol = rel, abs

    def compare(expected: float, got: Any) -> str | None:
        value = _as_number(got)
        if value is None:
            return f"wrong return type: expected a number (float), got {_type_name(got)}"
        if math.isnan(value):
            return "got NaN (not a number)"
        if not math.isclose(value, float(expected), rel_tol=rel_tol, abs_tol=abs_tol):
            return "wrong value"
        return None

    compare.__name__ = f"approx(rel={rel_tol:g}, abs={abs_tol:g})"
    return compare


def expect(got: Any, expected: Any, *, call: str = "", compare: Callable[[Any, Any], str | None] = equal) -> None:
    """Raise :class:`Mismatch` unless ``compare(expected, got)`` accepts ``got``.

    The building block of custom tests:

    >>> expect(4, 4)
    >>> expect(5, 4, call="double(2)")
    Traceback (most recent call last):
    ...
    ptm_course.grading.core.Mismatch: wrong value
    """
    problem = compare(expected, got)
    if problem is not None:
        raise Mismatch(problem, call=call, expected=short_repr(expected), got=short_repr(got))



def expect_tensor(got: Any, expected: Any, call: str = "", *, atol: float = 1e-5, rtol: float = 1e-4,
                  exact: bool = False) -> None:
    """Raise :class:`Mismatch` unless ``got`` is a tensor of ``expected``'s shape and values.

    Checks, in order, the type, the shape, then the values (``torch.equal`` with ``exact``,
    else ``allclose`` in float64), and says which one failed:

        >>> import torch
        >>> expect_tensor(torch.ones(2), torch.ones(2))
        >>> expect_tensor(torch.ones(3), torch.ones(2))
        Traceback (most recent call last):
        ...
        ptm_course.grading.core.Mismatch: wrong shape: expected (2,), got (3,)
    """
    import torch

    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"wrong return type: expected a torch.Tensor, got {type(got).__name__}", call=call,
                       expected=f"tensor of shape {tuple(expected.shape)}", got=repr(got)[:200])
    if got.shape != expected.shape:
        raise Mismatch(f"wrong shape: expected {tuple(expected.shape)}, got {tuple(got.shape)}", call=call,
                       expected=str(tuple(expected.shape)), got=str(tuple(got.shape)))
    g, e = got.detach(), expected.detach()
    same = torch.equal(g, e) if exact else torch.allclose(g.double(), e.double(), atol=atol, rtol=rtol)
    if not same:
        diff = float((g.double() - e.double()).abs().max())
        raise Mismatch(f"values differ (largest difference {diff:.3g})", call=call,
                       expected=str(e.flatten()[:8].tolist()), got=str(g.flatten()[:8].tolist()))

# --------------------------------------------------------------------------------------------
# Tests, questions, rubrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    """One check of a question, worth ``points``.

    ``func(obj)`` gets the learner's object and raises :class:`Mismatch` (or ``AssertionError``)
    when the answer is wrong; returning normally means the test passed. Most tests are made
    with :func:`case`. ``hidden`` marks instructor tests loaded with ``--tests``.
    """

    description: str
    func: Callable[[Any], None]
    points: float = 1.0
    hint: str = ""
    time_limit: float = DEFAULT_TIME_LIMIT
    hidden: bool = False

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        if not self.description:
            raise ValueError("a Test needs a description (what it checks, in a few words)")
        if not callable(self.func):
            raise TypeError(f"Test {self.description!r}: func must be callable, got {_type_name(self.func)}")
        if not (isinstance(self.points, numbers.Real) and self.points >= 0):
            raise ValueError(f"Test {self.description!r}: points must be a number >= 0, got {self.points!r}")


def _call_repr(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [short_repr(a, 200) for a in args] + [f"{k}={short_repr(v, 100)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def case(
    description: str,
    *args: Any,
    expected: Any,
    kwargs: dict[str, Any] | None = None,
    points: float = 1.0,
    hint: str = "",
    compare: Callable[[Any, Any], str | None] = equal,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> Test:
    """A test that calls the learner's function with ``args`` and compares the result.

    Arguments are deep-copied for every call, so a function that modifies its input cannot
    change the next test.

    >>> t = case("adds", 1, 2, expected=3)
    >>> t.func(lambda a, b: a + b)       # passes: returns None
    >>> t.func(lambda a, b: a - b)
    Traceback (most recent call last):
    ...
    ptm_course.grading.core.Mismatch: wrong value
    """
    import copy

    kwargs = dict(kwargs or {})

    def func(fn: Callable[..., Any]) -> None:
        call = _call_repr(getattr(fn, "__name__", "f"), args, kwargs)
        try:
            got = fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        except BaseException as e:
            with contextlib.suppress(Exception):
                e.ptm_call = call  # type: ignore[attr-defined]  # shown with the error
            raise
        expect(got, expected, call=call, compare=compare)

    return Test(description, func, points=points, hint=hint, time_limit=time_limit)


@dataclass(frozen=True)
class Criterion:
    """One line of a rubric: what earns the points."""

    description: str
    points: float


@dataclass(frozen=True)
class Rubric:
    """The criteria a person uses to grade an open question."""

    criteria: tuple[Criterion, ...]

    @property
    def max_points(self) -> float:
        return float(sum(c.points for c in self.criteria))


@dataclass(frozen=True)
class Question:
    """Something the learner defines in an exercise notebook, and how it is graded.

    ``id`` is ``"<exercise>.<short name>"`` (``"00.vocab"``); ``name`` is the name the learner's
    notebook defines (``"build_vocab"``). A question has either ``tests`` (auto-graded) or a
    ``rubric`` (an open question, answered in a string variable and graded by a person).
    """

    id: str
    name: str
    title: str
    tests: tuple[Test, ...] = ()
    rubric: Rubric | None = None
    kind: str = "function"  # what ``name`` is: "function", "class", "answer" (a string)...

    def __post_init__(self) -> None:
        if "." not in self.id:
            raise ValueError(f"question id {self.id!r} must look like '<exercise>.<name>', e.g. '00.vocab'")
        if bool(self.tests) == (self.rubric is not None):
            raise ValueError(f"question {self.id!r} needs either tests or a rubric (not both, not neither)")
        if self.rubric is not None and self.kind == "function":
            object.__setattr__(self, "kind", "answer")

    @property
    def exercise(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def is_open(self) -> bool:
        return self.rubric is not None

    @property
    def max_points(self) -> float:
        if self.rubric is not None:
            return self.rubric.max_points
        return float(sum(t.points for t in self.tests))

    @property
    def noun(self) -> str:
        return "answer variable" if self.is_open else self.kind


@dataclass(frozen=True)
class Exercise:
    """The questions of one exercise notebook, in notebook order."""

    id: str
    title: str
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        for q in self.questions:
            if q.exercise != self.id:
                raise ValueError(f"question {q.id!r} does not belong to exercise {self.id!r}")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"exercise {self.id!r} lists a question twice: {ids}")

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    @property
    def max_points(self) -> float:
        return float(sum(q.max_points for q in self.questions))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class TestResult:
    """The outcome of one test (``status``: passed, failed, error, not attempted, timed out, skipped)."""

    description: str
    status: str
    points: float
    max_points: float
    message: str = ""
    call: str = ""
    expected: str = ""
    got: str = ""
    hint: str = ""
    hidden: bool = False

    __test__ = False


@dataclass
class QuestionResult:
    """The outcome of one question; ``points`` is ``None`` while a person still has to grade it."""

    question: str
    name: str
    title: str
    status: str
    points: float | None
    max_points: float
    reason: str = ""
    tests: list[TestResult] = field(default_factory=list)
    rubric: list[Criterion] = field(default_factory=list)
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "QuestionResult":
        d = dict(d)
        d["tests"] = [TestResult(**t) for t in d.get("tests", [])]
        d["rubric"] = [Criterion(**c) for c in d.get("rubric", [])]
        return cls(**d)


# --------------------------------------------------------------------------------------------
# Running a question
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Seed Python's ``random``, NumPy and torch for a block, then restore their previous state.

    Checks run inside it, so they give the same result whatever cells ran before, and leave the
    notebook's own random streams as they were. NumPy and torch are only touched when already
    imported (importing them here would make every check slow).

    >>> import random
    >>> with seeded(0):
    ...     a = random.random()
    >>> with seeded(0):
    ...     b = random.random()
    >>> a == b
    True
    """
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    py_state = random.getstate()
    np_state = np.random.get_state() if np is not None else None
    torch_state = torch.get_rng_state() if torch is not None else None
    random.seed(seed)
    if np is not None:
        np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        if np is not None and np_state is not None:
            np.random.set_state(np_state)
        if torch is not None and torch_state is not None:
            torch.set_rng_state(torch_state)


class TimeLimitExceeded(BaseException):
    """Raised inside a test that ran past its time limit.

    A ``BaseException`` so that a learner's ``except Exception:`` does not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with :class:`TimeLimitExceeded`.

    Uses ``SIGALRM``, so it works on Linux and macOS in the main thread (where notebook cells
    run); elsewhere (Windows, other threads) the block runs without a limit.
    """
    usable = (
        seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(seconds)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(exc: BaseException) -> str:
    """' (line 4 in bigram_counts)': the innermost frame outside the grading package."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if "ptm_course/grading" not in fr.filename.replace("\\", "/"):
            return f" (line {fr.lineno} in {fr.name})"
    return ""


def _run_test(test: Test, obj: Any, limit: float | None) -> TestResult:
    """Run one test; every outcome, including the learner's exceptions, becomes a TestResult."""
    res = TestResult(test.description, T_PASSED, float(test.points), float(test.points),
                     hint=test.hint, hidden=test.hidden)
    try:
        with seeded(0), time_limit(limit):
            test.func(obj)
    except KeyboardInterrupt:
        raise  # the person pressed stop: let it stop
    except Mismatch as m:
        res.status, res.message, res.call, res.expected, res.got = T_FAILED, m.message, m.call, m.expected, m.got
    except BaseException as e:  # whatever the learner's code does becomes a result
        res.status, res.message = _describe_exception(e, limit)
        res.call = getattr(e, "ptm_call", "")
    if res.status != T_PASSED:
        res.points = 0.0
    return res


def _describe_exception(e: BaseException, limit: float | None) -> tuple[str, str]:
    """(test status, message) for an exception raised while a test ran."""
    if isinstance(e, NotImplementedError):
        return T_NOT_ATTEMPTED, "still raises NotImplementedError"
    if isinstance(e, TimeLimitExceeded):
        return T_TIMEOUT, f"took longer than {limit:g} s (an endless loop?)"
    if isinstance(e, AssertionError):
        return T_FAILED, _one_line(str(e), 200) or "an assertion failed"
    if isinstance(e, SystemExit):
        return T_ERROR, f"called sys.exit({e.code!r}){_where(e)}"
    if isinstance(e, RecursionError):
        return T_ERROR, f"raised RecursionError (endless recursion?){_where(e)}"
    text = _one_line(str(e), 200)
    return T_ERROR, f"raised {type(e).__name__}" + (f": {text}" if text else "") + _where(e)


def _test_reason(t: TestResult, limit: int = 300) -> str:
    """One line on why a test did not pass, for the CSV's reason column."""
    if t.message == "wrong value" and (t.expected or t.got):
        text = f"'{t.description}': expected {t.expected}, got {t.got}"
    else:
        text = f"'{t.description}': {t.message}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_question(
    question: Question,
    obj: Any,
    *,
    extra_tests: Sequence[Test] = (),
    rubric: Rubric | None = None,
    time_limit_cap: float | None = None,
) -> QuestionResult:
    """Grade ``obj`` (the learner's object, or :data:`MISSING`) on ``question``.

    ``extra_tests`` (instructor tests) run after the public ones; ``rubric`` replaces the
    question's rubric; ``time_limit_cap`` shortens every test's time limit (the batch grader
    uses it). Never raises for anything the learner's object does.
    """
    tests = tuple(question.tests) + tuple(extra_tests)
    rub = rubric or question.rubric
    max_points = rub.max_points if rub is not None else float(sum(t.points for t in tests))
    result = QuestionResult(question.id, question.name, question.title, NOT_GRADED, 0.0, max_points)
    if rub is not None:
        result.rubric = list(rub.criteria)

    if obj is MISSING:
        result.status = MISSING_STATUS
        result.reason = f"{question.noun} `{question.name}` not found (renamed or deleted?)"
        return result

    if rub is not None:  # open question: the answer is a string a person grades
        if not isinstance(obj, str):
            result.status = FAILED
            result.reason = f"`{question.name}` should be a string with your answer, but it is a {_type_name(obj)}"
        elif not obj.strip():
            result.status = NOT_ATTEMPTED
            result.reason = f"the string `{question.name}` is empty: write your answer in it"
        else:
            words = len(obj.split())
            result.status, result.points, result.answer = MANUAL, None, obj[:20_000]
            result.reason = f"answer of {words} word{'s' if words != 1 else ''}: graded by the instructor with the rubric"
        return result

    if question.kind in ("function", "class") and not callable(obj):
        result.status = FAILED
        result.reason = f"`{question.name}` should be a {question.kind}, but it is a {_type_name(obj)}"
        result.tests = [TestResult(t.description, T_SKIPPED, 0.0, float(t.points), message=result.reason,
                                   hint=t.hint, hidden=t.hidden) for t in tests]
        return result

    timed_out = False
    for test in tests:
        limit = test.time_limit if time_limit_cap is None else min(test.time_limit, time_limit_cap)
        if timed_out:  # one endless loop is enough: do not wait for it again and again
            result.tests.append(TestResult(test.description, T_SKIPPED, 0.0, float(test.points),
                                           message="skipped: an earlier test timed out", hint=test.hint,
                                           hidden=test.hidden))
            continue
        tr = _run_test(test, obj, limit)
        timed_out = tr.status == T_TIMEOUT
        result.tests.append(tr)

    points = float(sum(t.points for t in result.tests))
    result.points = points
    n = len(result.tests)
    n_pass = sum(t.status == T_PASSED for t in result.tests)
    if all(t.status == T_NOT_ATTEMPTED for t in result.tests):
        result.status = NOT_ATTEMPTED
        result.reason = f"`{question.name}` still raises NotImplementedError: replace the stub with your code"
        return result
    if math.isclose(points, max_points):
        result.status = PASSED
        return result
    result.status = PARTIAL if points > 0 else FAILED
    first_bad = next(t for t in result.tests if t.status != T_PASSED)
    result.reason = f"{n_pass}/{n} tests passed; {_test_reason(first_bad)}"
    return result
