"""Entity-level F1 (chapter 09's Chinese NER), against a hand count and against seqeval's rules."""

import pytest

from ptm_course.metrics import bio_spans, entity_f1


def test_spans_from_bio_labels():
    assert bio_spans(["O", "B-PER", "I-PER", "I-PER", "O"]) == {(1, 4, "PER")}
    assert bio_spans(["B-LOC", "B-LOC"]) == {(0, 1, "LOC"), (1, 2, "LOC")}  # two adjacent entities
    assert bio_spans(["I-ORG", "I-ORG", "B-PER"]) == {(0, 2, "ORG"), (2, 3, "PER")}  # a stray I- starts one
    assert bio_spans(["B-PER", "I-LOC"]) == {(0, 1, "PER"), (1, 2, "LOC")}  # a type change ends it
    with pytest.raises(ValueError, match="B-TYPE"):
        bio_spans(["X-PER"])


def test_entity_f1_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "I-ORG"]]
    # gold: PER(0,2) LOC(3,5) ORG(0,3) = 3; predicted: PER(0,2) LOC(3,4) ORG(0,3) = 3; right: PER, ORG = 2
    r = entity_f1(gold, pred)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert entity_f1([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="gold labels"):
        entity_f1([["O", "O"]], [["O"]])
