"""Exercise 08: the [CLS] classification head, labels for sub-words, QA span decoding.

Notebook: ``exercises/08_bert_finetuning_exercises.ipynb`` (master: ``solutions/``). Three questions:

- ``08.cls_head`` — ``cls_logits(hidden, W_p, b_p, W, b)``: logits = W·tanh(W_p·h_[CLS] + b_p) + b;
  compared with :class:`ptm_course.models.bert.BertForSequenceClassification`'s pooler + classifier;
- ``08.align_labels`` — ``align_labels(word_ids, word_labels)``: a word's label on its first
  sub-word, −100 on the other pieces and on special tokens;
- ``08.best_span`` — ``decode_span(start_logits, end_logits, allowed, max_answer_len)``: the best valid
  answer span (i ≤ j < i + L, both allowed); compared with :func:`ptm_course.models.bert.best_span`;
- ``08.reflection`` — open question: what the chapter's "random init vs pre-trained" gap measures
  when the start is all-MiniLM-L6-v2.
"""

from __future__ import annotations

from typing import Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, expect_tensor

__all__ = ["EXERCISE"]


# ---- 08.cls_head ----------------------------------------------------------------------------


def _cls_case(B: int, T: int, H: int, C: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.bert import BertConfig, BertForSequenceClassification

        torch.manual_seed(seed)
        model = BertForSequenceClassification(BertConfig.tiny(d_model=H, n_heads=2, d_ff=2 * H), n_classes=C).eval()
        with torch.no_grad():
            for p in (model.bert.pooler.bias, model.classifier.bias):
                p.normal_()
        hidden = torch.randn(B, T, H)
        with torch.no_grad():
            expected = model.classifier(torch.tanh(model.bert.pooler(hidden[:, 0])))
            got = fn(hidden, model.bert.pooler.weight, model.bert.pooler.bias, model.classifier.weight, model.classifier.bias)
        expect_tensor(got, expected, f"cls_logits(hidden ({B}, {T}, {H}), W_p ({H}, {H}), b_p, W ({C}, {H}), b)")

    return test


CLS_HEAD = Question(
    "08.cls_head",
    "cls_logits",
    "The [CLS] classification head",
    tests=(
        Test("one sentence, two classes", _cls_case(1, 5, 8, 2, 0), points=1,
             hint="h_cls = hidden[:, 0] (the [CLS] position is the first one)"),
        Test("pooler: tanh(h_cls·W_pᵀ + b_p)", _cls_case(3, 7, 8, 3, 1), points=2,
             hint="nn.Linear layout: weights are (out, in), so x @ W.T + b"),
        Test("a batch, five classes", _cls_case(4, 2, 16, 5, 2), points=1,
             hint="return logits of shape (batch, n_classes)"),
    ),
)

# ---- 08.align_labels ------------------------------------------------------------------------


def _reference_align(word_ids, word_labels):
    out, prev = [], None
    for w in word_ids:
        out.append(-100 if w is None or w == prev else word_labels[w])
        prev = w
    return out


def _align_case(word_ids: list, word_labels: list[int]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        expected = _reference_align(word_ids, word_labels)
        call = f"align_labels({word_ids}, {word_labels})"
        got = fn(list(word_ids), list(word_labels))
        if not isinstance(got, (list, tuple)) or list(got) != expected:
            raise Mismatch("wrong labels", call=call, expected=str(expected), got=str(got)[:200])

    return test


ALIGN = Question(
    "08.align_labels",
    "align_labels",
    "Labels for sub-words: first piece only",
    tests=(
        Test("one piece per word, [CLS] and [SEP] get −100", _align_case([None, 0, 1, 2, None], [5, 6, 7]), points=1,
             hint="word_ids holds None for special tokens: they get -100"),
        Test("a word cut into three pieces", _align_case([None, 0, 1, 1, 1, 2, None], [3, 1, 4]), points=2,
             hint="keep previous = None before the loop; label -100 if w is None or w == previous, else word_labels[w]; then previous = w"),
        Test("padding after [SEP]", _align_case([None, 0, 0, 1, None, None, None], [2, 9]), points=1,
             hint="padding also has word id None"),
    ),
)

# ---- 08.best_span ---------------------------------------------------------------------------


def _span_case(T: int, L: int, seed: int, allow_all: bool) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.models.bert import best_span

        g = torch.Generator().manual_seed(seed)
        s, e = torch.randn(2, T, generator=g)
        s[T - 1] = 10.0  # a tempting start at the very end ...
        e[0] = 10.0  # ... and a tempting end at the very beginning: an invalid pair
        allowed = torch.ones(T, dtype=torch.bool) if allow_all else torch.arange(T) >= T // 3
        i, j, _ = best_span(s, e, allowed, max_answer_len=L)
        call = f"decode_span(start_logits ({T},), end_logits ({T},), allowed={allowed.int().tolist()}, max_answer_len={L})"
        got = fn(s, e, allowed, L)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (start, end), got {type(got).__name__}", call=call)
        got = (int(got[0]), int(got[1]))
        if got != (int(i), int(j)):
            raise Mismatch("wrong span", call=call, expected=str((int(i), int(j))), got=str(got))

    return test


BEST_SPAN = Question(
    "08.best_span",
    "decode_span",
    "Decoding the answer span",
    tests=(
        Test("end ≥ start: the two argmaxes alone are not a span", _span_case(8, 30, 0, True), points=2,
             hint="scores = s[:, None] + e[None, :] is the (T, T) table of s[i] + e[j]; masked_fill the cells with j < i "
                  "by -inf, take the argmax of the flattened table and divmod it by T"),
        Test("the answer lies in the passage", _span_case(12, 30, 1, False), points=1,
             hint="both i and j must be allowed (passage tokens): valid &= allowed[:, None] & allowed[None, :]"),
        Test("at most max_answer_len tokens", _span_case(16, 3, 2, False), points=1,
             hint="j - i + 1 <= max_answer_len: with i = torch.arange(T), length = i[None, :] - i[:, None] is j - i per cell"),
    ),
)

# ---- 08.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "08.reflection",
    "reflection",
    "What the gap measures (open question)",
    rubric=Rubric((
        Criterion("States what MiniLM's weights learnt besides MLM pre-training: distillation from a larger "
                  "pre-trained teacher, then contrastive training on about a billion sentence pairs, NLI "
                  "(SNLI/MultiNLI) and question-answer pairs among them.", 2),
        Criterion("Concludes that the gap mixes pre-training with supervised pair training, and names the cases "
                  "most exposed: case 3 (premise/hypothesis-like pairs) and case 4 (question and passage).", 1),
        Criterion("Proposes a controlled comparison: a start that is pre-training alone (chapter 07's checkpoint, "
                  "or bert-base-uncased / an MLM-only checkpoint of the same size), same data, steps and seeds, "
                  "several seeds per start.", 1),
    )),
)

EXERCISE = Exercise("08", "The [CLS] head, sub-word labels, QA span decoding, what the gap measures",
                    (CLS_HEAD, ALIGN, BEST_SPAN, REFLECTION))
