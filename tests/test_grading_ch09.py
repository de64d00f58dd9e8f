"""Exercise 09's questions: the reference answers pass, and the typical mistakes lose points."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.chinese import char_units, entity_spans
from ptm_course.data.masking import select_units
from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch09


def _select_reference(unit_ids, mlm_prob, generator):
    return select_units(unit_ids[None], mlm_prob, generator)[0]


def test_exercise_09_lists_its_questions_with_points():
    ex = get_exercise("09")
    assert [q.name for q in ex.questions] == ["word_units", "select_whole_units", "find_entities", "bigram_fill_in",
                                              "reflection"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4, 4]
    assert ex.questions[-1].is_open


def test_package_functions_are_full_marks():
    assert run_question(ch09.WORD_UNITS, lambda w: char_units(w, "word")).points == 4
    assert run_question(ch09.SELECT_UNITS, _select_reference).points == 4
    assert run_question(ch09.ENTITIES, entity_spans).points == 4


def test_word_unit_mistakes():
    per_char = run_question(ch09.WORD_UNITS, lambda w: list(range(len("".join(w)))))  # BERT's units
    assert per_char.points == 0
    from_one = run_question(ch09.WORD_UNITS, lambda w: [i + 1 for i, x in enumerate(w) for _ in x])
    assert from_one.status == "failed"


def test_selection_mistakes():
    def per_token(unit_ids, p, g):  # BERT's Bernoulli per token: splits words
        return (torch.rand(unit_ids.shape, generator=g) < p) & (unit_ids >= 0)

    def length_biased(unit_ids, p, g):  # picks random TOKENS, then takes their whole units
        units = unit_ids[unit_ids >= 0]
        if len(units) == 0:
            return torch.zeros_like(unit_ids, dtype=torch.bool)
        n = max(1, round(p * len(units.unique())))
        chosen = set()
        for t in torch.randperm(len(units), generator=g).tolist():
            chosen.add(int(units[t]))
            if len(chosen) == n:
                break
        return torch.isin(unit_ids, torch.tensor(sorted(chosen))) & (unit_ids >= 0)

    def first_units(unit_ids, p, g):  # not random at all
        units = unit_ids[unit_ids >= 0].unique()
        if len(units) == 0:
            return torch.zeros_like(unit_ids, dtype=torch.bool)
        return torch.isin(unit_ids, units[:max(1, round(p * len(units)))]) & (unit_ids >= 0)

    assert run_question(ch09.SELECT_UNITS, per_token).points <= 1
    biased = run_question(ch09.SELECT_UNITS, length_biased)
    assert biased.points == 3 and "uniformly" in biased.reason
    assert run_question(ch09.SELECT_UNITS, first_units).points == 3


def test_entity_mistakes():
    def join_all(words, tags):  # every run of nr words one person: 江泽民李鹏 becomes one name
        labels = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
        spans, i = [], 0
        while i < len(words):
            if tags[i] not in labels:
                i += 1
                continue
            end = i + 1
            while end < len(words) and tags[end] == tags[i]:
                end += 1
            spans.append((i, end, labels[tags[i]]))
            i = end
        return spans

    def one_word_each(words, tags):
        labels = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
        return [(i, i + 1, labels[t]) for i, t in enumerate(tags) if t in labels]

    joined = run_question(ch09.ENTITIES, join_all)
    assert joined.points == 2  # the caption and the random sequences fail
    assert run_question(ch09.ENTITIES, one_word_each).points == 0


@pytest.mark.slow
def test_bigram_fill_in_reference_and_swapped_kinds():
    from ptm_course.data.registry import DataNotAvailableError

    try:
        ch09._fill_in_data()
    except DataNotAvailableError:
        pytest.skip("peoples-daily-1998 is not prepared (ptm-course data prepare peoples-daily-1998)")
    assert run_question(ch09.BIGRAM_FILL_IN, ch09.reference_fill_in).points == 4
    swapped = run_question(ch09.BIGRAM_FILL_IN, lambda *a: {k: v for k, v in zip(("word", "char"),
                                                                                  ch09.reference_fill_in(*a).values())})
    assert swapped.points == 0
