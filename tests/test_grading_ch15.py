"""Exercise 15's questions: answers written with the package get full marks, and the typical mistakes lose points."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch15
from ptm_course.tuning import Template, Verbalizer, calibrate, encode_prompts, label_scores, mlm_label_scores


def test_exercise_15_lists_its_questions_with_points():
    ex = get_exercise("15")
    assert [q.id for q in ex.questions] == ["15.verbalizer_score", "15.template_input", "15.calibrate",
                                            "15.label_bias", "15.mean_rule"]
    assert [q.name for q in ex.questions] == ["verbalizer_score", "template_input", "calibrate_scores", "label_bias",
                                              "mean_word_score"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4, 4]


def _failed(result):
    return [t.description for t in result.tests if t.status != "passed"]


# ---- reference answers -------------------------------------------------------------------------


def _verbalizer(logits, label_ids):
    return F.log_softmax(logits, -1)[:, label_ids]


def _template(text, template, tok, max_len):
    enc = encode_prompts(tok, [text], Template(template), max_len=max_len)
    return enc["input_ids"][0].tolist(), int(enc["mask_positions"][0, 0])


def _template_by_hand(text, template, tok, max_len, cut="text", count_cls=True, specials=True, pos_before_cut=False):
    """Split at the fields, tokenise the pieces, cut (the text, or the whole sequence), assemble."""
    def enc(s):
        return tok.encode(s, add_special_tokens=False).ids

    before, after = template.split("{mask}")
    pieces = []
    for part, tail in ((before, ["MASK"]), (after, [])):
        if "{x}" in part:
            a, b = part.split("{x}")
            pieces += [enc(a), "X", enc(b)]
        else:
            pieces.append(enc(part))
        pieces += tail
    x = enc(text)
    cls, sep = ([tok.token_to_id("[CLS]")], [tok.token_to_id("[SEP]")]) if specials else ([], [])
    fixed = len(cls) + len(sep) + 1 + sum(len(p) for p in pieces if isinstance(p, list))
    full_x = x
    if cut == "text":
        x = x[: max_len - fixed]
    ids, pos, pos_uncut = list(cls), None, None
    for p in pieces:
        if p == "X":
            ids += x
        elif p == "MASK":
            pos = len(ids) if count_cls else len(ids) - len(cls)
            pos_uncut = pos + len(full_x) - len(x) if "{x}" in before else pos
            ids.append(tok.token_to_id("[MASK]"))
        else:
            ids += p
    ids += sep
    if cut == "end":
        ids = ids[:max_len]
    elif cut == "end_keep_sep":
        ids = ids[: max_len - 1] + sep if len(ids) > max_len else ids
    return ids, (pos_uncut if pos_before_cut else pos)


def _calibrate(scores, cf):
    return (scores - cf).log_softmax(-1)


def _label_bias(model, tok, texts, labels, template, verbalizer, content_free, calib=None, minlength=True,
                shares_of="pred", accuracy_as="fraction"):
    scores = mlm_label_scores(model, tok, texts, template, verbalizer)
    cf = mlm_label_scores(model, tok, [content_free], template, verbalizer)[0]
    calibrated = calibrate(scores, cf) if calib is None else calib(scores, cf)
    gold = torch.tensor(labels)
    out = {}
    for prefix, s in (("", scores), ("calibrated_", calibrated)):
        pred = s.argmax(-1)
        counted = pred if shares_of == "pred" else gold
        counts = torch.bincount(counted, minlength=len(verbalizer)) if minlength else torch.bincount(counted)
        out[prefix + "shares"] = (counts.float() / len(texts)).tolist()
        correct = (pred == gold).float()
        out[prefix + "accuracy"] = correct.mean().item() if accuracy_as == "fraction" else correct.sum().item()
    return out


def _label_bias_by_hand(model, tok, texts, labels, template, verbalizer, content_free, eval_mode=True):
    """Without mlm_label_scores: encode_prompts, the full (B, T, V) logits, the blank's row, log_softmax."""
    ids = [t[0] for t in verbalizer.token_ids(tok)]
    was = model.training
    model.train(not eval_mode)

    def scores(xs):
        enc = encode_prompts(tok, xs, template)
        with torch.no_grad():
            logits = model(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])  # (B, T, V)
        at = logits[torch.arange(len(xs)), enc["mask_positions"][:, 0]]  # (B, V)
        return at.log_softmax(-1)[:, ids]

    s, cf = scores(texts), scores([content_free])[0]
    model.train(was)
    out = {}
    for prefix, x in (("", s), ("calibrated_", _calibrate(s, cf))):
        pred = x.argmax(-1)
        out[prefix + "shares"] = [(pred == l).float().mean().item() for l in range(len(verbalizer))]
        out[prefix + "accuracy"] = (pred == torch.tensor(labels)).float().mean().item()
    return out


def _mean(logits, word_ids):
    return logits.log_softmax(-1)[:, torch.arange(len(word_ids)), word_ids].mean(-1)


def test_package_answers_are_full_marks():
    assert run_question(ch15.VERBALIZER, _verbalizer).points == 4
    assert run_question(ch15.TEMPLATE_INPUT, _template).points == 4
    assert run_question(ch15.TEMPLATE_INPUT, _template_by_hand).points == 4
    assert run_question(ch15.CALIBRATE, calibrate).points == 4
    assert run_question(ch15.CALIBRATE, _calibrate).points == 4
    assert run_question(ch15.LABEL_BIAS, _label_bias).points == 4
    assert run_question(ch15.LABEL_BIAS, _label_bias_by_hand).points == 4  # its own forward, in eval mode
    assert run_question(ch15.MEAN_RULE, _mean).points == 4


class _Vocab:
    """A stand-in tokenizer whose word "w<i>" is token i: label_scores on arbitrary label ids."""

    def __init__(self, n):
        self.n = n

    def token_to_id(self, name):
        return None

    truncation = padding = None

    def no_truncation(self):
        pass

    def no_padding(self):
        pass

    def encode(self, word, add_special_tokens=False):
        return type("E", (), {"ids": [int(word.strip()[1:])]})()

    def id_to_token(self, i):
        return f"w{i}"


def test_verbalizer_score_is_label_scores():
    def via_package(logits, label_ids):
        return label_scores(logits, Verbalizer([f"w{i}" for i in label_ids]), _Vocab(logits.size(-1)))

    assert run_question(ch15.VERBALIZER, via_package).points == 4


# ---- 15.verbalizer_score -----------------------------------------------------------------------


def test_verbalizer_mistakes():
    labels_only = run_question(ch15.VERBALIZER, lambda z, ids: z[:, ids].log_softmax(-1))
    assert labels_only.points == 1 and labels_only.tests[0].status == "passed"  # the argmax, not the numbers
    raw = run_question(ch15.VERBALIZER, lambda z, ids: z[:, ids])
    assert raw.points == 1 and raw.tests[0].status == "passed"
    probs = run_question(ch15.VERBALIZER, lambda z, ids: z.softmax(-1)[:, ids])
    assert probs.points == 1
    log_of_softmax = run_question(ch15.VERBALIZER, lambda z, ids: z.softmax(-1).log()[:, ids])
    assert log_of_softmax.points == 3 and _failed(log_of_softmax) == [ch15.VERBALIZER.tests[2].description]
    assert "-inf" in log_of_softmax.tests[2].message
    rows = run_question(ch15.VERBALIZER, lambda z, ids: z.log_softmax(-1)[ids])
    assert rows.points == 0  # rows picked: an IndexError or the wrong shape
    batch_axis = run_question(ch15.VERBALIZER, lambda z, ids: z.log_softmax(0)[:, ids])
    assert batch_axis.points <= 1


# ---- 15.template_input -------------------------------------------------------------------------


def test_template_mistakes():
    no_specials = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, specials=False))
    assert no_specials.points == 0
    off_by_one = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, count_cls=False))
    assert off_by_one.points == 0 and "mask_position" in off_by_one.tests[0].message
    cut_end = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, cut="end"))
    assert cut_end.points == 2 and _failed(cut_end) == [ch15.TEMPLATE_INPUT.tests[2].description]
    cut_end_keep_sep = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, cut="end_keep_sep"))
    assert cut_end_keep_sep.points == 2
    never_cut = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, cut="none"))
    assert never_cut.points == 2
    pos_before_cut = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template_by_hand(*a, pos_before_cut=True))
    assert pos_before_cut.points == 2 and "mask_position" in pos_before_cut.tests[2].message

    def whole_string(text, template, tok, max_len):  # the filled template encoded at once, [MASK] a special token
        ids = tok.encode(template.format(x=text, mask="[MASK]")).ids
        return ids, ids.index(tok.token_to_id("[MASK]"))

    whole = run_question(ch15.TEMPLATE_INPUT, whole_string)
    assert whole.points == 2 and whole.tests[0].status == whole.tests[1].status == "passed"

    def as_tensor(text, template, tok, max_len):
        ids, pos = _template(text, template, tok, max_len)
        return torch.tensor(ids), torch.tensor(pos)

    assert run_question(ch15.TEMPLATE_INPUT, as_tensor).points == 4  # a tensor of ids and a 0-d tensor are fine
    single = run_question(ch15.TEMPLATE_INPUT, lambda *a: _template(*a)[0])
    assert single.points == 0 and "pair" in single.tests[0].message


# ---- 15.calibrate ------------------------------------------------------------------------------


def test_calibrate_mistakes():
    unnormalised = run_question(ch15.CALIBRATE, lambda s, c: s - c)
    assert unnormalised.points == 1 and unnormalised.tests[0].status == "passed"
    divided_logs = run_question(ch15.CALIBRATE, lambda s, c: (s / c).log_softmax(-1))
    assert divided_logs.points == 0
    prob_difference = run_question(ch15.CALIBRATE, lambda s, c: (s.softmax(-1) - c.softmax(-1)).log())
    assert prob_difference.points == 0
    prob_difference_renormalised = run_question(
        ch15.CALIBRATE, lambda s, c: (s.softmax(-1) - c.softmax(-1)).clamp_min(1e-12).log().log_softmax(-1))
    assert prob_difference_renormalised.points <= 1
    own_scores = run_question(ch15.CALIBRATE, lambda s, c: (s - s.mean(0)).log_softmax(-1))
    assert own_scores.points == 0
    multiplied = run_question(ch15.CALIBRATE, lambda s, c: (s + c).log_softmax(-1))
    assert multiplied.points == 0

    def in_probability_space(s, c):  # right in exact arithmetic; exp(-110) is 0 in float32
        q = s.exp() / c.exp()
        return (q / q.sum(-1, keepdim=True)).log()

    underflow = run_question(ch15.CALIBRATE, in_probability_space)
    assert underflow.points == 3 and _failed(underflow) == [ch15.CALIBRATE.tests[2].description]
    assert "NaN" in underflow.tests[2].message

    def renormalised_first(s, c):  # the same in probability space, each renormalised over the labels first
        q = s.softmax(-1) / c.softmax(-1)
        return (q / q.sum(-1, keepdim=True)).log()

    assert run_question(ch15.CALIBRATE, renormalised_first).points == 4
    not_log = run_question(ch15.CALIBRATE, lambda s, c: (s - c).softmax(-1))  # probabilities, not log
    assert not_log.points == 1


def test_calibrate_first_case_flips_predictions():
    scores, cf = (torch.tensor(x).log() for x in ch15._BIASED)
    before, after = scores.argmax(-1), calibrate(scores, cf).argmax(-1)
    assert before.tolist() == [1, 1, 1, 0] and after.tolist() == [0, 1, 0, 0]
    assert not torch.equal((scores / cf).argmax(-1), after)  # dividing the log-probabilities


# ---- 15.label_bias -----------------------------------------------------------------------------


def test_label_bias_model_has_clear_margins_and_the_bias_the_tests_state():
    tok, template, verbalizer = ch15._tok(), Template(ch15.TEMPLATE), Verbalizer(ch15.LABEL_WORDS)
    calibrated = []
    for shift in (0.0, 2.0, 8.0):
        model = ch15._biased_mlm(shift)
        assert model.training  # handed over in train mode, with dropout
        s = mlm_label_scores(model, tok, ch15.REVIEWS, template, verbalizer)
        cf = mlm_label_scores(model, tok, [ch15.CONTENT_FREE], template, verbalizer)[0]
        c = calibrate(s, cf)
        assert (s[:, 0] - s[:, 1]).abs().min() > 1e-2 and (c[:, 0] - c[:, 1]).abs().min() > 1e-2  # no near-ties
        calibrated.append(c.argmax(-1))
        ref = ch15._reference_bias(model, ch15.REVIEWS, ch15.GOLD)
        if shift == 2.0:
            assert 0 < ref["shares"][0] < 1  # both labels predicted
        if shift == 8.0:
            assert ref["shares"] == [1.0, 0.0]  # "great" never predicted
    assert all(torch.equal(calibrated[0], c) for c in calibrated)  # a logit shift cancels exactly


def test_label_bias_mistakes():
    no_minlength = run_question(ch15.LABEL_BIAS, lambda *a: _label_bias(*a, minlength=False))
    assert no_minlength.points == 3 and _failed(no_minlength) == [ch15.LABEL_BIAS.tests[2].description]
    gold_shares = run_question(ch15.LABEL_BIAS, lambda *a: _label_bias(*a, shares_of="gold"))
    assert gold_shares.points <= 1 and gold_shares.tests[0].status == "failed"
    counts = run_question(ch15.LABEL_BIAS, lambda *a: _label_bias(*a, accuracy_as="count"))
    assert counts.points == 0
    not_calibrated = run_question(ch15.LABEL_BIAS, lambda *a: _label_bias(*a, calib=lambda s, c: s))
    assert not_calibrated.points == 2 and not_calibrated.tests[0].status == "passed"
    batch_mean = run_question(ch15.LABEL_BIAS, lambda *a: _label_bias(*a, calib=lambda s, c: s - s.mean(0)))
    assert batch_mean.points == 2 and batch_mean.tests[0].status == "passed"

    def as_tuple(*a):
        r = _label_bias(*a)
        return r["shares"], r["accuracy"]

    wrong_type = run_question(ch15.LABEL_BIAS, as_tuple)
    assert wrong_type.points == 0 and "dict" in wrong_type.tests[0].message


# ---- 15.mean_rule ------------------------------------------------------------------------------


def test_mean_rule_mistakes():
    def lp(z):
        return z.log_softmax(-1)

    summed = run_question(ch15.MEAN_RULE, lambda z, w: lp(z)[:, torch.arange(len(w)), w].sum(-1))
    assert summed.points == 1 and summed.tests[0].status == "passed"  # one token: sum = mean
    first_blank = run_question(ch15.MEAN_RULE, lambda z, w: lp(z)[:, 0, w].mean(-1))
    assert first_blank.points == 1
    log_mean_prob = run_question(ch15.MEAN_RULE, lambda z, w: z.softmax(-1)[:, torch.arange(len(w)), w].mean(-1).log())
    assert log_mean_prob.points == 1
    all_blanks = run_question(ch15.MEAN_RULE, lambda z, w: lp(z)[:, torch.arange(z.size(1)), w].mean(-1))
    assert all_blanks.points == 3 and _failed(all_blanks) == [ch15.MEAN_RULE.tests[2].description]
    blank_axis = run_question(ch15.MEAN_RULE, lambda z, w: z.log_softmax(1)[:, torch.arange(len(w)), w].mean(-1))
    assert blank_axis.points == 0
    raw_logits = run_question(ch15.MEAN_RULE, lambda z, w: z[:, torch.arange(len(w)), w].mean(-1))
    assert raw_logits.points == 0
