"""Instructor tests for exercise 00, as an instructor would keep them outside the repository.

Used by tests/test_grading_grader.py with ``--tests tests/grading_cases/instructor_tests``.
"""

from ptm_course.grading import Criterion, Rubric, Test, case, expect

TESTS = {
    "00.vocab": [
        case("min_count=3 on a longer text", [["a", "b", "a", "c", "a", "b", "b", "d"]], 3,
             expected=["<unk>", "a", "b"], points=2, hint="counts over all sentences together"),
    ],
    "00.bigrams": [
        Test("does not change its input", lambda fn: _unchanged(fn), points=1),
    ],
}

RUBRICS = {
    "00.reflection": Rubric((
        Criterion("Contrasts static (one vector per word) and contextual (one per token) embeddings", 3),
        Criterion("Explains polysemy with an example", 2),
    )),
}


def _unchanged(fn):
    tokens = ["x", "y", "x"]
    fn(tokens)
    expect(tokens, ["x", "y", "x"], call=f"{fn.__name__}(tokens); tokens")
