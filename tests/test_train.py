import json
import os

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ptm_course.train import History, fit, load_model_weights, lr_schedule, save_model_weights
from ptm_course.viz import plot_history


def _task(n=64, batch_size=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def _model():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def _loss(model, batch):
    x, y = batch
    logits = model(x)
    return torch.nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(-1) == y).float().mean()}


def test_loss_falls_and_history_records_train_and_eval():
    loader = _task()
    model = _model()
    hist = fit(model, loader, _loss, epochs=10, lr=3e-2, log_every=8, progress=False,
               eval_fn=lambda m: {"acc": 0.5}, eval_every=40, device="cpu")
    steps, losses = hist.series("loss")
    assert steps[-1] == 80 and len(steps) == 10
    assert losses[-1] < 0.6 * losses[0]
    assert hist.last("acc") > 0.8
    assert [r["step"] for r in hist.eval] == [40, 80]
    assert {"lr", "grad_norm", "loss", "acc"} <= set(hist.keys())


def test_warmup_then_linear_decay_reaches_the_optimizer():
    lrs = []

    def record(model, batch):
        lrs.append(opt.param_groups[0]["lr"])
        return _loss(model, batch)

    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    fit(model, _task(), record, max_steps=10, optimizer=opt, warmup_steps=2, progress=False, device="cpu")
    assert lrs == pytest.approx([lr_schedule(s, 10, 2) for s in range(10)])
    assert lrs[:3] == pytest.approx([0.0, 0.5, 1.0])


def test_cosine_and_constant_schedules():
    assert lr_schedule(5, 10, 0, "cosine") == pytest.approx(0.5)
    assert lr_schedule(10, 10, 0, "cosine", min_ratio=0.1) == pytest.approx(0.1)
    assert lr_schedule(7, 10, 2, "constant") == 1.0
    with pytest.raises(ValueError):
        lr_schedule(1, 10, 0, "step")


class Crash(Exception):
    pass


def test_resume_after_a_crash_continues_exactly(tmp_path):
    kwargs = dict(max_steps=30, lr=1e-2, warmup_steps=3, log_every=5, progress=False, device="cpu",
                  eval_fn=lambda m: {"w": float(m[0].weight.sum())}, eval_every=10,
                  checkpoint_every=8, checkpoint_dir=tmp_path / "ckpt")
    reference = _model()
    h_ref = fit(reference, _task(), _loss, **{**kwargs, "checkpoint_dir": None})

    calls = {"n": 0}

    def crashing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 21:  # dies in the middle of epoch 3, after the checkpoint at step 16
            raise Crash
        return _loss(model, batch)

    with pytest.raises(Crash):
        fit(_model(), _task(), crashing_loss, **kwargs)
    latest = (tmp_path / "ckpt" / "latest").read_text().strip()
    assert latest == "step-00000016"

    resumed = _model()  # fresh weights: everything must come from the checkpoint
    h_res = fit(resumed, _task(), _loss, resume=True, **kwargs)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert h_res.train == h_ref.train and h_res.eval == h_ref.eval
    # only the newest checkpoints are kept, and no temporary folder is left behind
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["latest", "step-00000024", "step-00000030"]


def test_resume_true_without_checkpoint_starts_fresh_and_bad_path_is_clear(tmp_path):
    h = fit(_model(), _task(), _loss, max_steps=3, progress=False, device="cpu",
            checkpoint_dir=tmp_path / "none-yet", resume=True)
    assert h.train[-1]["step"] == 3
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        fit(_model(), _task(), _loss, max_steps=3, progress=False, device="cpu", resume=tmp_path)


def test_bad_inputs_fail_with_clear_messages():
    with pytest.raises(TypeError, match=r"\(loss, metrics_dict\)"):
        fit(_model(), _task(), lambda m, b: _loss(m, b)[0], max_steps=1, progress=False, device="cpu")
    with pytest.raises(FloatingPointError, match="lower lr"):
        fit(_model(), _task(), lambda m, b: (torch.tensor(float("nan"), requires_grad=True), {}),
            max_steps=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="max_steps"):
        fit(_model(), iter([]), _loss, progress=False, device="cpu")
    with pytest.raises(ValueError, match="exhausted"):
        fit(_model(), iter(list(_task())), _loss, max_steps=100, progress=False, device="cpu")


def test_save_and_load_weights_atomically_with_tied_parameters(tmp_path):
    emb = torch.nn.Embedding(7, 3)
    head = torch.nn.Linear(3, 7, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head})
    save_model_weights(model, tmp_path / "m", config={"vocab_size": 7})
    save_model_weights(model, tmp_path / "m", config={"vocab_size": 7})  # replacing is fine too
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == {"vocab_size": 7}
    other = torch.nn.ModuleDict({"emb": torch.nn.Embedding(7, 3), "head": torch.nn.Linear(3, 7, bias=False)})
    other["head"].weight = other["emb"].weight
    load_model_weights(other, tmp_path / "m")
    assert torch.equal(other["emb"].weight, emb.weight) and other["head"].weight is other["emb"].weight
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []
    with pytest.raises(ValueError, match="does not fit"):
        load_model_weights(torch.nn.Linear(2, 2), tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="save_model_weights"):
        load_model_weights(model, tmp_path / "missing")


def test_history_helpers_and_plot():
    h = History(train=[{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}], eval=[{"step": 2, "ppl": 5.0}])
    assert h.series("loss") == ([1, 2], [2.0, 1.0]) and h.last("ppl", "eval") == 5.0
    with pytest.raises(KeyError, match="logged keys"):
        h.last("acc")
    assert History.from_dict(h.to_dict()) == h
    fig = plot_history(h)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "ppl"]
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history(History())
