"""Chapter 12's pieces: the MLM-headed backbone's loader and card, masking and scoring, the
auxiliary loss, continued pre-training and the adapt loop."""

from __future__ import annotations

import json

import pytest
import torch

from ptm_course.data.masking import SpecialTokens
from ptm_course.models.bert import BertConfig, BertMeanPoolClassifierWithMLM, mlm_loss, sequence_classification_loss
from ptm_course.models.hf_loading import PretrainedNotAvailableError, save_bert_checkpoint
from ptm_course.models.mlm_backbone import (
    BUILD_COMMAND,
    Masker,
    fill_mask,
    load_minilm_mlm,
    masked_lm_objective,
    mlm_score,
    model_card_text,
)
from ptm_course.tuning import Task, adapt, auxiliary_loss, continue_pretraining, mean_std, separated

CFG = BertConfig.tiny(vocab_size=60, max_len=32)
SPECIAL = SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
MASKER = Masker(SPECIAL, CFG.vocab_size)


def _model(seed=0):
    torch.manual_seed(seed)
    return BertMeanPoolClassifierWithMLM(CFG, 2).eval()


def _tensors(n=24, T=12, seed=0, labels=True):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, CFG.vocab_size, (n, T), generator=g)
    ids[:, 0], ids[:, -1] = SPECIAL.cls, SPECIAL.sep
    mask = torch.ones(n, T, dtype=torch.long)
    ids[::3, 8:] = SPECIAL.pad  # some padded rows
    ids[::3, 7] = SPECIAL.sep
    mask[::3, 8:] = 0
    out = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask}
    if labels:
        out["labels"] = (ids[:, 1] % 2).long()  # learnable from the first word
    return out


def _task():
    return Task("toy", "sentence", 2, _tensors(48, seed=0), _tensors(16, seed=1), _tensors(16, seed=2))


# ---------------------------------------------------------------- masking and scoring


def test_masker_never_picks_special_or_padding_and_labels_the_originals():
    t = _tensors()
    ids, labels = MASKER(t["input_ids"], torch.Generator().manual_seed(0))
    picked = labels != -100
    assert picked.any()
    for s in SPECIAL.ids:
        assert not (picked & (t["input_ids"] == s)).any()
    assert torch.equal(labels[picked], t["input_ids"][picked])
    assert torch.equal(ids[~picked], t["input_ids"][~picked])  # only picked tokens change


def test_mlm_score_is_the_same_blanks_for_the_same_seed_and_matches_the_loss():
    m, t = _model(), _tensors()
    a, b = mlm_score(m, t, MASKER, seed=3), mlm_score(m, t, MASKER, seed=3)
    assert a == b
    assert mlm_score(m, t, MASKER, seed=4) != a
    # the same number by hand: mask with the seeded generator, mean cross-entropy at the blanks
    ids, labels = MASKER(t["input_ids"], torch.Generator().manual_seed(3))
    with torch.no_grad():
        loss, _ = mlm_loss(m, {"input_ids": ids, "attention_mask": t["attention_mask"], "mlm_labels": labels})
    assert a.loss == pytest.approx(float(loss), rel=1e-5)
    assert a.n_predicted == int((labels != -100).sum())


def test_mlm_score_refuses_a_model_without_an_mlm_head():
    from ptm_course.models.bert import BertForSequenceClassification

    with pytest.raises(ValueError, match="no MLM head"):
        mlm_score(BertForSequenceClassification(CFG, 2), _tensors(), MASKER)


def test_masked_lm_objective_ignores_task_labels_and_trains_the_head():
    m = _model().train()
    loss, metrics = masked_lm_objective(MASKER)(m, _tensors())
    loss.backward()
    assert m.mlm.dense.weight.grad is not None and m.mlm.dense.weight.grad.abs().sum() > 0
    assert m.classifier.weight.grad is None  # the classifier plays no part
    assert set(metrics) >= {"mlm_loss", "mlm_acc"}


# ---------------------------------------------------------------- the auxiliary loss


def test_auxiliary_loss_is_task_plus_weight_times_mlm():
    m, batch = _model(), _tensors()
    task, _ = sequence_classification_loss(m, batch)
    torch.manual_seed(7)
    mlm, _ = masked_lm_objective(MASKER)(m, batch)
    for w in (0.5, 1.0, 2.0):
        torch.manual_seed(7)  # the same blanks
        total, metrics = auxiliary_loss(MASKER, w)(m, batch)
        assert float(total.detach()) == pytest.approx(float(task.detach()) + w * float(mlm.detach()), rel=1e-6)
        assert float(metrics["task_loss"]) == pytest.approx(float(task.detach()))
        assert float(metrics["mlm_loss"]) == pytest.approx(float(mlm))


def test_weight_zero_is_plain_fine_tuning_and_leaves_the_mlm_head_untouched():
    m, batch = _model().train(), _tensors()
    torch.manual_seed(0)
    total, metrics = auxiliary_loss(MASKER, 0.0)(m, batch)
    torch.manual_seed(0)
    plain, _ = sequence_classification_loss(m, batch)
    assert float(total.detach()) == pytest.approx(float(plain.detach()))
    assert "mlm_loss" not in metrics
    total.backward()
    assert m.mlm.dense.weight.grad is None


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "1"])
def test_auxiliary_loss_rejects_bad_weights(bad):
    with pytest.raises(ValueError, match="auxiliary weight"):
        auxiliary_loss(MASKER, bad)


# ---------------------------------------------------------------- continued pre-training and adapt


def test_continue_pretraining_lowers_the_mlm_loss_on_its_text():
    m = _model()
    start = torch.arange(48)[:, None] % 20
    ids = 5 + (start + torch.arange(10)[None]) % 50  # counting rows: each blank follows from its neighbours
    ids = torch.cat([torch.full((48, 1), SPECIAL.cls), ids, torch.full((48, 1), SPECIAL.sep)], 1)
    text = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    before = mlm_score(m, text, MASKER).loss
    continue_pretraining(m, text, MASKER, steps=60, lr=3e-3, batch_size=16)
    assert mlm_score(m, text, MASKER).loss < before - 0.3


def test_adapt_copies_is_deterministic_and_reports_forgetting():
    backbone, task, general = _model(), _task(), _tensors(16, seed=9, labels=False)
    ref = {k: v.clone() for k, v in backbone.state_dict().items()}
    kw = dict(lr=3e-3, steps=12, seed=1, batch_size=8, general=general, track_every=6, eval_splits=("valid", "test"))
    a = adapt(backbone, task, MASKER, aux_weight=0.5, **kw)
    b = adapt(backbone, task, MASKER, aux_weight=0.5, **kw)
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in ref.items())  # the backbone is never trained
    assert a.scores == b.scores and a.general == b.general
    assert set(a.scores) == {"valid", "test"}
    assert a.general_start == mlm_score(backbone, general, MASKER)  # no continued pre-training: the backbone's
    assert [r["step"] for r in a.history.eval if "general_mlm_loss" in r] == [6, 12]
    plain = adapt(backbone, task, MASKER, aux_weight=0.0, **kw)
    assert plain.general != a.general  # the auxiliary term changes what the encoder keeps
    assert "mlm_loss" in a.history.keys() and "mlm_loss" not in plain.history.keys()


def test_adapt_with_continued_pretraining_starts_from_a_different_encoder():
    backbone, task = _model(), _task()
    run = adapt(backbone, task, MASKER, lr=1e-3, steps=2, tapt_steps=5, tapt_lr=1e-2, keep_model=True, seed=0)
    plain = adapt(backbone, task, MASKER, lr=1e-3, steps=2, keep_model=True, seed=0)
    assert run.tapt_history is not None and plain.tapt_history is None
    assert not torch.equal(run.model.bert.layers[0].ffn.fc1.weight, plain.model.bert.layers[0].ffn.fc1.weight)


def test_adapt_errors_name_the_problem():
    from ptm_course.models.bert import BertMeanPoolClassifier

    task = _task()
    with pytest.raises(ValueError, match="MLM head"):
        adapt(BertMeanPoolClassifier(CFG, 2), task, MASKER, lr=1e-3, steps=1)
    with pytest.raises(ValueError, match="track_every needs general"):
        adapt(_model(), task, MASKER, lr=1e-3, steps=1, track_every=1)
    token_task = Task("tags", "token", 3, task.train, task.valid, task.test)
    with pytest.raises(ValueError, match="sentence tasks"):
        adapt(_model(), token_task, MASKER, lr=1e-3, steps=1)


def test_mean_std_and_the_seed_spread_rule():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert separated([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert not separated([1.0, 2.0, 3.0], [2.5, 3.5, 1.5])
    with pytest.raises(ValueError):
        mean_std([])


# ---------------------------------------------------------------- the checkpoint, its loader and its card


def test_loader_offline_error_says_how_to_build(tmp_path):
    with pytest.raises(PretrainedNotAvailableError, match=BUILD_COMMAND):
        load_minilm_mlm(path=tmp_path / "missing")


def test_loader_refuses_a_checkpoint_without_an_mlm_head(tmp_path):
    from ptm_course.models.bert import BertForSequenceClassification

    save_bert_checkpoint(BertForSequenceClassification(CFG, 2), tmp_path / "cls")
    with pytest.raises(ValueError, match="no MLM head"):
        load_minilm_mlm(path=tmp_path / "cls")


def test_a_saved_mlm_checkpoint_loads_head_and_all_into_the_two_headed_model(tmp_path):
    from ptm_course.models.bert import BertForMaskedLM

    torch.manual_seed(0)
    mlm = BertForMaskedLM(CFG).eval()
    save_bert_checkpoint(mlm, tmp_path / "ck", card={"metrics": {"valid": {"accuracy": 0.5}}})
    model, tok, card = load_minilm_mlm(BertMeanPoolClassifierWithMLM, path=tmp_path / "ck", n_classes=2)
    assert tok is None and card["metrics"]["valid"]["accuracy"] == 0.5
    t = _tensors(labels=False)
    assert mlm_score(model, t, MASKER) == mlm_score(mlm, t, MASKER)  # same encoder, same head


def test_model_card_states_figures_and_verdict():
    card = {"name": "x", "base": "b", "head": "h", "trained": "t", "steps": 10, "batch_size": 2, "tokens_seen": 2560,
            "lr": 2e-4, "seed": 0, "train_seconds": 3.0, "machine": "m", "torch": "2", "data": "d", "masking": "k",
            "command": f"{BUILD_COMMAND} --steps 10",
            "metrics": {"eval_set": "e", "valid": {"loss": 4.0, "accuracy": 0.3, "n_predicted": 100},
                        "valid_fresh_head": {"loss": 10.5, "accuracy": 0.0, "n_predicted": 100},
                        "valid_unigram": {"loss": 7.0, "accuracy": 0.05, "n_predicted": 100}}}
    text = model_card_text(card)
    assert "| this checkpoint | 30.0% | 4.000 |" in text and f"`{BUILD_COMMAND} --steps 10`" in text
    assert "It uses the context" in text
    card["metrics"]["valid"] = {"loss": 8.0, "accuracy": 0.01, "n_predicted": 100}
    assert "does not yet beat word frequencies" in model_card_text(card)
    json.dumps(card)  # the card is plain JSON (it lives in config.json)


def test_mask_written_in_text_is_the_mask_token_and_fill_mask_needs_one():
    from ptm_course.models.hf_loading import load_pretrained_bert

    model, tok = load_pretrained_bert("all-MiniLM-L6-v2", verbose=False, n_layers=1)
    enc = tok.encode("the movie was [MASK] .")
    assert enc.tokens[4] == "[MASK]" and enc.ids[4] == tok.token_to_id("[MASK]")
    with pytest.raises(ValueError, match="exactly one \\[MASK\\]"):
        fill_mask(_model(), tok, "no blank here")


def test_cli_backbone_info_without_a_checkpoint_fails_clearly(tmp_path, capsys):
    from ptm_course.cli import main

    assert main(["backbone", "info", "--path", str(tmp_path)]) == 1
    assert BUILD_COMMAND in capsys.readouterr().err


def test_the_tracked_final_score_is_the_final_models_score():
    backbone, task, general = _model(), _task(), _tensors(16, seed=9, labels=False)
    run = adapt(backbone, task, MASKER, lr=3e-3, steps=5, seed=0, batch_size=8, general=general, track_every=2,
                keep_model=True, aux_weight=1.0)
    assert run.general == mlm_score(run.model, general, MASKER)
    assert run.history.eval[-1]["step"] == 5 and run.history.eval[-1]["general_mlm_loss"] == run.general.loss
