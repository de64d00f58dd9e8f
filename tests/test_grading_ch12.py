"""Exercise 12's questions: correct answers get full marks, and the typical mistakes lose points."""

from __future__ import annotations

import statistics

import numpy as np
import torch
import torch.nn.functional as F

from ptm_course.grading import get_exercise
from ptm_course.grading.core import run_question
from ptm_course.grading.questions import ch12
from ptm_course.models.bert import mlm_loss
from ptm_course.tuning import auxiliary_loss, mean_std, separated


def test_exercise_12_lists_its_questions_with_points():
    ex = get_exercise("12")
    assert [q.id for q in ex.questions] == ["12.aux_loss", "12.forgetting", "12.layer_drift", "12.seed_spread"]
    assert [q.name for q in ex.questions] == ["combined_loss", "forgetting", "layer_drift", "exceeds_spread"]
    assert [q.max_points for q in ex.questions] == [4, 4, 4, 4]


def _failed(result):
    return [t.description for t in result.tests if t.status != "passed"]


def _statuses(result):
    return [t.status for t in result.tests]


# ---- 12.aux_loss ---------------------------------------------------------------------------------


def _combined(class_logits, labels, mlm_logits, mlm_labels, lam):
    return F.cross_entropy(class_logits, labels) + lam * F.cross_entropy(mlm_logits.flatten(0, 1), mlm_labels.flatten(),
                                                                         ignore_index=-100)


def _combined_selecting(class_logits, labels, mlm_logits, mlm_labels, lam):
    sel = mlm_labels != -100
    return F.cross_entropy(class_logits, labels) + lam * F.cross_entropy(mlm_logits[sel], mlm_labels[sel])


def test_the_reference_is_the_package_auxiliary_loss():
    # the question's third test compares with auxiliary_loss; that is the formula the notebook states
    masker, model = ch12._masker(), ch12._model(0).eval()
    batch = ch12._texts(6, 12, 0)
    with torch.no_grad():
        torch.manual_seed(1)
        want, _ = auxiliary_loss(masker, 0.5)(model, batch)
        torch.manual_seed(1)
        ids, mlm_labels = masker(batch["input_ids"])
        h, _ = model.bert(ids, batch["token_type_ids"], batch["attention_mask"])
        got = _combined(model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]), batch["labels"],
                        model.mlm(h), mlm_labels, 0.5)
    assert torch.allclose(want, got, atol=1e-5)


def test_combined_loss_correct_answers_are_full_marks():
    assert run_question(ch12.AUX_LOSS, _combined).points == 4
    assert run_question(ch12.AUX_LOSS, _combined_selecting).points == 4


def test_combined_loss_mistakes():
    def wrong(class_logits, labels, mlm_logits, mlm_labels, lam, where="mlm", ignore=True, reduction="mean"):
        task = F.cross_entropy(class_logits, labels, reduction=reduction)
        flat, target = mlm_logits.flatten(0, 1), mlm_labels.flatten()
        if ignore == "all positions":  # the ignored positions counted as zeros in the mean
            per = F.cross_entropy(flat, target, reduction="none")  # 0 where the label is -100
            mlm = per.mean()
        elif ignore == "clamp":  # -100 replaced by word 0: every position predicted
            mlm = F.cross_entropy(flat, target.clamp(min=0), reduction=reduction)
        else:
            mlm = F.cross_entropy(flat, target, ignore_index=-100, reduction=reduction)
        return lam * task + mlm if where == "task" else task + lam * mlm

    lam_on_task = run_question(ch12.AUX_LOSS, lambda *a: wrong(*a, where="task"))
    assert lam_on_task.points == 1 and _statuses(lam_on_task) == ["failed", "passed", "failed"]  # λ = 1 passes

    for ignore in ("all positions", "clamp"):
        r = run_question(ch12.AUX_LOSS, lambda *a: wrong(*a, ignore=ignore))
        assert r.points == 1 and _statuses(r) == ["passed", "failed", "failed"], ignore  # every position a blank

    def gather_without_ignoring(class_logits, labels, mlm_logits, mlm_labels, lam):
        logp = mlm_logits.log_softmax(-1)
        return F.cross_entropy(class_logits, labels) - lam * logp.gather(-1, mlm_labels[..., None]).mean()

    crashes = run_question(ch12.AUX_LOSS, gather_without_ignoring)
    assert crashes.points == 1 and _statuses(crashes) == ["passed", "error", "error"]  # -100 is no index

    summed_mlm = run_question(ch12.AUX_LOSS, lambda *a: wrong(*a, reduction="sum"))
    assert summed_mlm.points == 2 and _failed(summed_mlm) == [ch12.AUX_LOSS.tests[2].description]
    assert "mean" in summed_mlm.tests[2].hint

    def summed_task_only(class_logits, labels, mlm_logits, mlm_labels, lam):
        return (F.cross_entropy(class_logits, labels, reduction="sum")
                + lam * F.cross_entropy(mlm_logits.flatten(0, 1), mlm_labels.flatten(), ignore_index=-100))

    assert run_question(ch12.AUX_LOSS, summed_task_only).points == 2  # one example in the first two tests

    as_float = run_question(ch12.AUX_LOSS, lambda *a: _combined(*a).item())
    assert as_float.points == 0 and "torch.Tensor" in as_float.tests[0].message
    detached = run_question(ch12.AUX_LOSS, lambda *a: _combined(*a).detach())
    assert detached.points == 0 and "gradient" in detached.tests[0].message

    unflattened = run_question(ch12.AUX_LOSS, lambda cl, y, ml, mlab, lam: F.cross_entropy(cl, y)
                               + lam * F.cross_entropy(ml, mlab, ignore_index=-100))
    assert unflattened.points == 0  # (B, T, V) is not (N, classes)


# ---- 12.forgetting -------------------------------------------------------------------------------


def _mlm_loss_of(model, ids, labels, tensors):
    model.eval()
    with torch.no_grad():
        h, _ = model.bert(ids, tensors.get("token_type_ids"), tensors.get("attention_mask"))
        sel = labels != -100
        return float(F.cross_entropy(model.mlm(h[sel]), labels[sel]))


def _forgetting(before, after, tensors, masker, seed):
    ids, labels = masker(tensors["input_ids"], torch.Generator().manual_seed(seed))
    return _mlm_loss_of(after, ids, labels, tensors) - _mlm_loss_of(before, ids, labels, tensors)


def test_forgetting_correct_answers_are_full_marks():
    assert run_question(ch12.FORGETTING, _forgetting).points == 4

    def with_the_package_loss(before, after, tensors, masker, seed):  # mlm_loss, as tests/test_adaptive.py does
        ids, labels = masker(tensors["input_ids"], torch.Generator().manual_seed(seed))
        batch = {"input_ids": ids, "attention_mask": tensors["attention_mask"], "mlm_labels": labels}
        with torch.no_grad():
            return float(mlm_loss(after.eval(), batch)[0]) - float(mlm_loss(before.eval(), batch)[0])

    assert run_question(ch12.FORGETTING, with_the_package_loss).points == 4


def test_forgetting_refuses_mlm_score():
    from ptm_course.models.mlm_backbone import mlm_score

    def calls_it(before, after, tensors, masker, seed):
        return mlm_score(after, tensors, masker, seed).loss - mlm_score(before, tensors, masker, seed).loss

    r = run_question(ch12.FORGETTING, calls_it)
    assert r.points == 0 and all("mlm_score" in t.message for t in r.tests)


def test_forgetting_mistakes():
    def two_maskings(before, after, tensors, masker, seed, generator="shared"):
        g = torch.Generator().manual_seed(seed)
        scores = []
        for m in (before, after):
            ids, labels = masker(tensors["input_ids"], g if generator == "shared" else None)  # g goes on drawing
            scores.append(_mlm_loss_of(m, ids, labels, tensors))
        return scores[1] - scores[0]

    for generator in ("shared", "global"):
        r = run_question(ch12.FORGETTING, lambda *a: two_maskings(*a, generator=generator))
        assert r.points == 0 and r.tests[0].status == "failed", generator  # a model differs from itself

    reversed_sign = run_question(ch12.FORGETTING, lambda b, a, t, m, s: _forgetting(a, b, t, m, s))
    assert reversed_sign.points == 1 and reversed_sign.tests[0].status == "passed"  # 0 is 0 either way

    def accuracy(before, after, tensors, masker, seed):
        ids, labels = masker(tensors["input_ids"], torch.Generator().manual_seed(seed))
        sel, acc = labels != -100, []
        for m in (before, after):
            m.eval()
            with torch.no_grad():
                h, _ = m.bert(ids, tensors["token_type_ids"], tensors["attention_mask"])
                acc.append(float((m.mlm(h[sel]).argmax(-1) == labels[sel]).float().mean()))
        return acc[1] - acc[0]

    acc = run_question(ch12.FORGETTING, accuracy)
    assert acc.points == 1 and acc.tests[0].status == "passed"

    fixed_seed = run_question(ch12.FORGETTING, lambda b, a, t, m, s: _forgetting(b, a, t, m, 0))
    assert fixed_seed.points == 3 and _failed(fixed_seed) == [ch12.FORGETTING.tests[2].description]

    def dropout_on(before, after, tensors, masker, seed):
        ids, labels = masker(tensors["input_ids"], torch.Generator().manual_seed(seed))
        sel, losses = labels != -100, []
        for m in (before, after):  # still in training mode
            h, _ = m.bert(ids, tensors["token_type_ids"], tensors["attention_mask"])
            losses.append(float(F.cross_entropy(m.mlm(h[sel]), labels[sel]).detach()))
        return losses[1] - losses[0]

    dropout = run_question(ch12.FORGETTING, dropout_on)
    assert dropout.points == 0 and "eval" in dropout.tests[0].hint

    no_mask = run_question(ch12.FORGETTING, lambda b, a, t, m, s: _forgetting(
        b, a, {k: v for k, v in t.items() if k != "attention_mask"}, m, s))
    assert no_mask.points == 1 and no_mask.tests[0].status == "passed"  # the padded rows give it away


# ---- 12.layer_drift ------------------------------------------------------------------------------


def _drift(before, after):
    out = []
    for lb, la in zip(before.bert.layers, after.bert.layers):
        b = torch.cat([p.detach().flatten() for p in lb.parameters()])
        a = torch.cat([p.detach().flatten() for p in la.parameters()])
        out.append(float((a - b).norm() / b.norm()))
    return out


def _drift_by_sums(before, after):
    out = []
    for lb, la in zip(before.bert.layers, after.bert.layers):
        pairs = list(zip(lb.parameters(), la.parameters()))
        num = sum(float(((a - b).detach() ** 2).sum()) for b, a in pairs)
        den = sum(float((b.detach() ** 2).sum()) for b, _ in pairs)
        out.append((num / den) ** 0.5)
    return out


def test_layer_drift_correct_answers_are_full_marks():
    assert run_question(ch12.LAYER_DRIFT, _drift).points == 4
    assert run_question(ch12.LAYER_DRIFT, _drift_by_sums).points == 4
    assert run_question(ch12.LAYER_DRIFT, lambda b, a: tuple(torch.tensor(_drift(b, a)))).points == 4  # 0-d tensors


@torch.no_grad()  # the answers below take float() of parameters
def test_layer_drift_mistakes():
    def per_tensor_mean(before, after):
        return [float(np.mean([float((a - b).norm() / b.norm()) for b, a in zip(lb.parameters(), la.parameters())]))
                for lb, la in zip(before.bert.layers, after.bert.layers)]

    mean_of_ratios = run_question(ch12.LAYER_DRIFT, per_tensor_mean)
    assert mean_of_ratios.points == 0 and mean_of_ratios.tests[2].status == "failed"  # 0-biases: inf or nan

    def no_division(before, after):
        return [float(torch.cat([(a - b).flatten() for b, a in zip(lb.parameters(), la.parameters())]).norm())
                for lb, la in zip(before.bert.layers, after.bert.layers)]

    assert run_question(ch12.LAYER_DRIFT, no_division).points == 0

    def ratio(mb, ma):
        b = torch.cat([p.detach().flatten() for p in mb.parameters()])
        a = torch.cat([p.detach().flatten() for p in ma.parameters()])
        return float((a - b).norm() / b.norm())

    with_embeddings = run_question(ch12.LAYER_DRIFT,
                                   lambda b, a: [ratio(b.bert.embeddings, a.bert.embeddings)] + _drift(b, a))
    assert with_embeddings.points == 0 and "one per block" in with_embeddings.tests[0].message

    def embeddings_in_block_0(before, after):
        out = _drift(before, after)
        mods = lambda m: torch.nn.ModuleList([m.bert.embeddings, m.bert.layers[0]])  # noqa: E731
        out[0] = ratio(mods(before), mods(after))
        return out

    folded = run_question(ch12.LAYER_DRIFT, embeddings_in_block_0)
    assert folded.points == 1 and folded.tests[0].status == "passed"  # block 0 did not move there

    def whole_bert(before, after):  # every parameter of the encoder, then one number per block's share of names
        return [ratio(before.bert, after.bert)] * len(before.bert.layers)

    assert run_question(ch12.LAYER_DRIFT, whole_bert).points == 0

    def norm_difference(before, after):
        out = []
        for lb, la in zip(before.bert.layers, after.bert.layers):
            b = torch.cat([p.detach().flatten() for p in lb.parameters()])
            a = torch.cat([p.detach().flatten() for p in la.parameters()])
            out.append(float((a.norm() - b.norm()) / b.norm()))
        return out

    assert run_question(ch12.LAYER_DRIFT, norm_difference).points == 0

    as_tensor = run_question(ch12.LAYER_DRIFT, lambda b, a: torch.tensor(_drift(b, a)))
    assert as_tensor.points == 0 and "list" in as_tensor.tests[0].message


# ---- 12.seed_spread ------------------------------------------------------------------------------


def _spread(a, b):
    return abs(statistics.fmean(a) - statistics.fmean(b)) > statistics.stdev(a) + statistics.stdev(b)


def test_the_graded_cases_decide_what_they_say():
    pop = lambda a, b: abs(np.mean(a) - np.mean(b)) > np.std(a) + np.std(b)  # noqa: E731
    one = lambda a, b: abs(np.mean(a) - np.mean(b)) > np.std(a, ddof=1)  # noqa: E731
    larger = lambda a, b: abs(np.mean(a) - np.mean(b)) > max(np.std(a, ddof=1), np.std(b, ddof=1))  # noqa: E731
    for a, b in ch12.CLEAR:
        assert _spread(a, b) == pop(a, b) == one(a, b) == larger(a, b)
    answers = [_spread(a, b) for a, b in ch12.SAMPLE_VS_POPULATION]
    assert True in answers and False in answers
    assert any(_spread(a, b) != pop(a, b) for a, b in ch12.SAMPLE_VS_POPULATION)
    answers = [_spread(a, b) for a, b in ch12.BOTH_STDS]
    assert True in answers and False in answers
    assert all(_spread(a, b) == pop(a, b) for a, b in ch12.BOTH_STDS)  # only the sum of the two decides here
    assert any(_spread(a, b) != larger(a, b) for a, b in ch12.BOTH_STDS)
    for cases in (ch12.CLEAR, ch12.SAMPLE_VS_POPULATION, ch12.BOTH_STDS):
        assert all(_spread(a, b) == separated(a, b) for a, b in cases)


def test_seed_spread_correct_answers_are_full_marks():
    assert run_question(ch12.SEED_SPREAD, _spread).points == 4
    by_numpy = lambda a, b: abs(np.mean(a) - np.mean(b)) > np.std(a, ddof=1) + np.std(b, ddof=1)  # noqa: E731
    assert run_question(ch12.SEED_SPREAD, by_numpy).points == 4  # a NumPy bool is a bool here
    def by_torch(a, b):  # a 0-d bool tensor
        a, b = torch.tensor(a), torch.tensor(b)
        return (a.mean() - b.mean()).abs() > a.std() + b.std()

    assert run_question(ch12.SEED_SPREAD, by_torch).points == 4


def test_seed_spread_refuses_the_package():
    for fn in (separated, lambda a, b: separated(a, b),
               lambda a, b: abs(mean_std(a)[0] - mean_std(b)[0]) > mean_std(a)[1] + mean_std(b)[1]):
        r = run_question(ch12.SEED_SPREAD, fn)
        assert r.points == 0 and all("write the rule yourself" in t.message for t in r.tests)


def test_seed_spread_mistakes():
    population = run_question(ch12.SEED_SPREAD, lambda a, b: abs(np.mean(a) - np.mean(b)) > np.std(a) + np.std(b))
    assert population.points == 2 and _failed(population) == [ch12.SEED_SPREAD.tests[1].description]
    pstdev = run_question(ch12.SEED_SPREAD, lambda a, b: abs(statistics.fmean(a) - statistics.fmean(b))
                          > statistics.pstdev(a) + statistics.pstdev(b))
    assert pstdev.points == 2

    for one in (lambda a, b: statistics.stdev(a), lambda a, b: statistics.stdev(b),
                lambda a, b: max(statistics.stdev(a), statistics.stdev(b))):
        r = run_question(ch12.SEED_SPREAD, lambda a, b: abs(statistics.fmean(a) - statistics.fmean(b)) > one(a, b))
        assert r.points <= 1 and r.tests[2].status == "failed" and r.tests[0].status == "passed"

    assert run_question(ch12.SEED_SPREAD, lambda a, b: False).points == 0
    assert run_question(ch12.SEED_SPREAD, lambda a, b: True).points == 0
    as_int = run_question(ch12.SEED_SPREAD, lambda a, b: int(_spread(a, b)))
    assert as_int.points == 0 and "bool" in as_int.tests[0].message
