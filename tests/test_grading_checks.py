"""In-notebook checks: questions, tests, results, check() and summary() (all in-process, fast)."""

from __future__ import annotations

import doctest
import math
import random
import sys
import time
from collections import Counter

import pytest

import ptm_course.grading as grading
from ptm_course.data import Vocab
from ptm_course.grading import Criterion, Question, Rubric, Test, case, check, evaluate, summary
from ptm_course.grading import approx, equal, expect, get_exercise, get_question
from ptm_course.grading.checks import GRADING_ENV, evaluate_exercise
from ptm_course.grading.core import MISSING, Mismatch, run_question, seeded, time_limit, TimeLimitExceeded
from ptm_course.grading.questions import UnknownQuestionError, ch00

# ---- reference answers (what a learner who solved exercise 00 writes) --------------------------


def build_vocab(sentences, min_count):
    counts = Counter(t for s in sentences for t in s)
    kept = [t for t, n in counts.items() if n >= min_count and t != "<unk>"]
    kept.sort(key=lambda t: -counts[t])
    return ["<unk>"] + kept


def bigram_counts(tokens):
    return dict(Counter(zip(tokens, tokens[1:])))


def perplexity(log_probs):
    log_probs = [float(x) for x in log_probs]
    return math.exp(-sum(log_probs) / len(log_probs))


def stub(*args):
    raise NotImplementedError("Hint: ...")


SOLVED = {"build_vocab": build_vocab, "bigram_counts": bigram_counts, "perplexity": perplexity,
          "reflection": "Static vectors: one per word. Contextual: one per token."}


# ---- the chapter 00 questions ----------------------------------------------------------------


def test_exercise_00_lists_its_questions_with_points():
    ex = get_exercise("00")
    assert [q.id for q in ex.questions] == ["00.vocab", "00.bigrams", "00.perplexity", "00.reflection"]
    assert [q.name for q in ex.questions] == ["build_vocab", "bigram_counts", "perplexity", "reflection"]
    assert [q.max_points for q in ex.questions] == [4, 3, 4, 4]
    assert get_question("00.reflection").is_open and not get_question("00.vocab").is_open


@pytest.mark.parametrize("qid", ["00.vocab", "00.bigrams", "00.perplexity"])
def test_reference_answers_pass_and_stubs_are_not_attempted(qid):
    q = get_question(qid)
    good = run_question(q, SOLVED[q.name])
    assert (good.status, good.points) == ("passed", q.max_points), good
    bad = run_question(q, stub)
    assert (bad.status, bad.points) == ("not attempted", 0.0)
    assert "NotImplementedError" in bad.reason


@pytest.mark.parametrize("min_count", [1, 2, 3])
def test_vocab_question_agrees_with_the_package_vocab(min_count):
    """The expected outputs of 00.vocab are what ptm_course.data.Vocab does (chapter 01 uses it)."""
    corpora = [ch00._SENTS, [["b", "a"], ["a", "b", "c"], ["c"]], [["<unk>", "x", "<unk>"], ["x"]]]
    for sents in corpora:
        assert build_vocab(sents, min_count) == Vocab.build(sents, min_count=min_count).itos
    assert run_question(ch00.VOCAB, lambda s, m: Vocab.build(s, min_count=m).itos).status == "passed"


def test_typical_mistakes_lose_the_right_points():
    alphabetical = run_question(ch00.VOCAB, lambda s, m: ["<unk>"] + sorted(
        t for t, n in Counter(x for y in s for x in y).items() if n >= m and t != "<unk>"))
    assert alphabetical.status in ("partial", "failed") and alphabetical.points < 4
    product = run_question(ch00.PERPLEXITY, lambda lp: math.prod(math.exp(float(x)) for x in lp) ** (-1 / len(lp)))
    assert product.status == "partial" and product.points == 3  # only the 2000-token test fails
    underflow = next(t for t in product.tests if t.status != "passed")
    assert "no underflow" in underflow.description and "ZeroDivisionError" in underflow.message
    wrong_keys = run_question(ch00.BIGRAMS, lambda toks: {f"{a} {b}": 1 for a, b in zip(toks, toks[1:])})
    assert wrong_keys.points == 1  # only "fewer than two tokens" passes
    assert "missing keys" in wrong_keys.reason


def test_wrong_return_types_are_named():
    r = run_question(ch00.VOCAB, lambda s, m: Counter(t for x in s for t in x))
    assert r.status == "failed" and "wrong return type: expected list, got Counter" in r.reason
    r = run_question(ch00.PERPLEXITY, lambda lp: [1.0])
    assert "expected a number (float), got list" in r.reason
    r = run_question(ch00.VOCAB, ["<unk>"])
    assert r.status == "failed" and "should be a function, but it is a list" in r.reason


def test_errors_in_learner_code_are_reported_with_the_line_and_the_call():
    def bigram_counts(tokens):
        out = {}
        for i in range(len(tokens)):
            out[(tokens[i], tokens[i + 1])] = 1
        return out

    r = run_question(ch00.BIGRAMS, bigram_counts)
    first = r.tests[0]
    assert first.status == "error"
    assert "raised IndexError: list index out of range" in first.message
    assert "in bigram_counts" in first.message
    assert first.call.startswith("bigram_counts(['the', 'cat'")


def test_missing_names_and_open_answers():
    assert run_question(ch00.VOCAB, MISSING).status == "missing"
    assert run_question(ch00.REFLECTION, "   ").status == "not attempted"
    assert run_question(ch00.REFLECTION, 42).status == "failed"
    r = run_question(ch00.REFLECTION, "one two three")
    assert (r.status, r.points, r.max_points) == ("needs manual grading", None, 4.0)
    assert r.answer == "one two three" and len(r.rubric) == 3


def test_numbers_tensors_and_numpy_scalars_count_as_floats():
    import numpy as np
    import torch

    close = approx(rel=1e-6)
    assert close(2.0, np.float32(2.0)) is None
    assert close(2.0, torch.tensor(2.0)) is None
    assert close(2.0, True) is not None  # a bool is not a number here
    assert close(2.0, float("nan")) == "got NaN (not a number)"
    assert equal(3, 3.0) == "wrong return type: expected int, got float"
    with pytest.raises(Mismatch) as info:
        expect({"a": 1, "b": 2}, {"a": 1, "c": 2}, call="f()")
    assert "missing keys ['c']" in info.value.message and "unexpected keys ['b']" in info.value.message


def test_arguments_are_copied_so_a_mutating_function_cannot_break_later_tests():
    def destructive(sentences, min_count):
        result = build_vocab(sentences, min_count)
        sentences.clear()
        return result

    assert run_question(ch00.VOCAB, destructive).status == "passed"


def test_time_limit_stops_endless_loops_and_skips_the_rest_of_the_question():
    def loop(x):
        while True:
            x += 1

    q = Question("99.loop", "loop", "Loop", tests=(case("a", 1, expected=1, time_limit=0.3),
                                                   case("b", 2, expected=2, time_limit=0.3)))
    t0 = time.perf_counter()
    r = run_question(q, loop)
    assert time.perf_counter() - t0 < 3
    assert [t.status for t in r.tests] == ["timed out", "skipped"]
    assert "took longer than 0.3 s" in r.reason
    # the learner's `except Exception` cannot swallow the time limit
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.2):
            while True:
                try:
                    sum(range(1000))
                except Exception:
                    pass


def test_checks_are_seeded_and_restore_the_notebook_random_state():
    state_before = random.getstate()
    draws = []
    for burn in (0, 5):
        for _ in range(burn):
            random.random()  # cells that ran before the check use the random module
        with seeded(0):
            draws.append(random.random())
    assert draws[0] == draws[1]
    random.setstate(state_before)
    expected_next = random.random()
    random.setstate(state_before)
    run_question(ch00.BIGRAMS, bigram_counts)  # its random test draws 300 tokens
    assert random.random() == expected_next  # the notebook's own stream is untouched


def test_randomised_test_depends_on_nothing_but_the_seed():
    seen = []

    def spy(tokens):
        seen.append(tuple(tokens))
        return bigram_counts(tokens)

    random.seed(123)
    run_question(ch00.BIGRAMS, spy)
    random.seed(456)
    run_question(ch00.BIGRAMS, spy)
    random_calls = [s for s in seen if len(s) == 300]
    assert len(random_calls) == 2 and random_calls[0] == random_calls[1]


def test_a_question_needs_tests_or_a_rubric():
    with pytest.raises(ValueError, match="either tests or a rubric"):
        Question("99.x", "x", "X")
    with pytest.raises(ValueError, match="must look like"):
        Question("x", "x", "X", tests=(case("a", expected=1),))
    with pytest.raises(ValueError, match="points"):
        Test("t", lambda f: None, points=-1)
    assert Question("99.o", "o", "O", rubric=Rubric((Criterion("c", 2),))).max_points == 2


# ---- check() and summary() --------------------------------------------------------------------


def test_check_prints_passes_failures_hints_and_points(capsys):
    check("00.vocab", build_vocab)
    out = capsys.readouterr().out
    assert "build_vocab: 4/4 points (passed)" in out and out.count("PASS") == 4

    def almost(sentences, min_count):
        return build_vocab(sentences, min_count)[:-1]

    check("00.vocab", almost)
    out = capsys.readouterr().out
    assert "FAIL" in out and "expected:" in out and "got:" in out and "hint:" in out
    assert "call:     almost(" in out
    assert "note: you passed `almost`; this question grades `build_vocab`" in out


def test_check_never_raises(capsys):
    class Weird(list):
        def __eq__(self, other):
            raise RuntimeError("no comparing")

        def __repr__(self):
            raise RuntimeError("no repr")

    def exits(*args):
        sys.exit(3)

    check("00.vocab", stub)
    check("00.vocab", lambda s, m: Weird())
    check("00.vocab", exits)
    check("00.vocab", None)
    check("00.nope", build_vocab)
    check(12, build_vocab)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "not attempted" in out
    assert "cannot compare the result" in out and "<Weird instance at" in out
    assert "called sys.exit(3)" in out
    assert "should be a function, but it is a NoneType" in out
    assert "unknown question '00.nope'" in out and "00.vocab" in out


def test_check_finds_the_name_in_the_calling_namespace(capsys):
    ns = {"check": check, "build_vocab": build_vocab}
    exec('check("00.vocab")', ns)
    assert "4/4 points (passed)" in capsys.readouterr().out


def test_check_and_summary_only_print_a_note_in_batch_grading(capsys, monkeypatch):
    monkeypatch.setenv(GRADING_ENV, "1")
    calls = []
    check("00.vocab", lambda s, m: calls.append(1))
    summary("00")
    assert calls == []
    out = capsys.readouterr().out
    assert "batch grading" in out


def test_summary_regrades_the_namespace_and_prints_the_score(capsys):
    ns = dict(SOLVED, summary=summary, bigram_counts=stub)
    exec('summary("00")', ns)
    out = capsys.readouterr().out
    assert "00.vocab" in out and "4/4" in out and "not attempted" in out
    assert "auto-graded score: 8/11 points" in out
    assert "up to 4 points for open answers" in out
    assert "?/4" in out and "needs manual grading" in out


def test_summary_without_an_exercise_uses_the_one_checked(capsys, monkeypatch):
    monkeypatch.setattr(grading.checks, "_checked_exercises", [])
    summary()
    assert 'say which exercise' in capsys.readouterr().out
    check("00.vocab", build_vocab)
    summary()
    assert "Exercise 00" in capsys.readouterr().out


def test_evaluate_exercise_suggests_renamed_functions():
    ns = dict(SOLVED)
    ns["build_vocabulary"] = ns.pop("build_vocab")
    results = {r.question: r for r in evaluate_exercise("00", ns)}
    assert results["00.vocab"].status == "missing"
    assert "did you mean `build_vocabulary`?" in results["00.vocab"].reason
    assert results["00.bigrams"].status == "passed"


def test_evaluate_raises_for_unknown_ids():
    with pytest.raises(UnknownQuestionError, match="unknown question"):
        evaluate("00.nothing", build_vocab)
    with pytest.raises(UnknownQuestionError, match="unknown exercise"):
        get_exercise("77")


def test_results_round_trip_through_json():
    import json

    r = run_question(ch00.VOCAB, lambda s, m: ["<unk>"])
    back = type(r).from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r


@pytest.mark.parametrize("module", ["core", "checks", "build", "questions", "extra", "grader", "cli"])
def test_docstring_examples(module):
    import importlib

    mod = importlib.import_module(f"ptm_course.grading.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
