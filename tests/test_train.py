import json
import os
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from ptm_course.train import History, evaluate, fit, load_model_weights, lr_schedule, save_model_weights
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
    with pytest.raises(ValueError, match="no len.*pass max_steps="):
        fit(_model(), iter([]), _loss, epochs=1, progress=False, device="cpu")
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


def test_how_long_to_train_is_said_once():
    loader = _task()  # 8 batches
    hist = fit(_model(), loader, _loss, epochs=2, log_every=4, progress=False, device="cpu")
    assert [(r["step"], r["epoch"]) for r in hist.train] == [(4, 0), (8, 0), (12, 1), (16, 1)]
    hist = fit(_model(), loader, _loss, max_steps=20, log_every=10, progress=False, device="cpu")
    assert [(r["step"], r["epoch"]) for r in hist.train] == [(10, 1), (20, 2)]  # cycles through the data
    with pytest.raises(ValueError, match=r"not both.*epochs=3 would be 3 x 8 = 24 steps"):
        fit(_model(), loader, _loss, max_steps=100, epochs=3, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"pass max_steps= .* or epochs="):
        fit(_model(), loader, _loss, progress=False, device="cpu")
    with pytest.raises(ValueError, match="epochs must be positive"):
        fit(_model(), loader, _loss, epochs=0, progress=False, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        fit(_model(), [], _loss, max_steps=5, progress=False, device="cpu")


def _recording(seen):
    """_loss that also records the inputs of each batch, in the order fit gives them."""
    def loss_fn(model, batch):
        seen.append(batch[0].clone())
        return _loss(model, batch)
    return loss_fn


def test_data_order_depends_only_on_seed_and_epoch():
    loader = _task()
    runs = []
    for global_seed, seed in [(1, 0), (2, 0), (1, 5)]:
        model, seen = _model(), []  # the same initial weights every time
        torch.manual_seed(global_seed)  # the first two runs draw other dropout masks, but the order must not change
        fit(model, loader, _recording(seen), epochs=3, seed=seed, progress=False, device="cpu")
        runs.append((torch.stack(seen), model[3].weight.detach().clone()))
    (order_a, weights_a), (order_b, weights_b), (order_c, _) = runs
    assert torch.equal(order_a, order_b)  # same seed, other global RNG state: the same batches
    assert not torch.equal(weights_a, weights_b)  # ... but other dropout masks
    assert not torch.equal(order_a, order_c)  # another seed: another order
    # epoch e is the order of a DataLoader shuffled by a generator seeded with seed + e
    expected = [x for e in range(3) for x, _ in DataLoader(loader.dataset, batch_size=8, shuffle=True,
                                                           generator=torch.Generator().manual_seed(0 + e))]
    assert torch.equal(order_a, torch.stack(expected))
    assert not torch.equal(order_a[:8], order_a[8:16])  # each epoch its own order


def test_fit_neither_seeds_nor_draws_from_the_global_rng():
    drawn = []

    def loss_fn(model, batch):  # stands for dropout: the stream the caller seeded
        drawn.append(float(torch.rand(())))
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y), {}

    model, loader = torch.nn.Linear(4, 2), _task()
    random.seed(3)
    np.random.seed(3)
    py, npy = random.getstate(), np.random.get_state()
    torch.manual_seed(123)
    fit(model, loader, loss_fn, epochs=3, progress=False, device="cpu")
    after = float(torch.rand(()))
    torch.manual_seed(123)
    expected = [float(torch.rand(())) for _ in range(3 * 8 + 1)]
    assert drawn + [after] == expected  # one stream, never reset at an epoch, nothing taken by fit
    assert random.getstate() == py and all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), npy))


def test_fit_gives_the_dataloader_its_own_generators_back():
    mine = torch.Generator().manual_seed(7)
    x = torch.randn(32, 4)
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8, shuffle=True, generator=mine)
    fit(_model(), loader, _loss, max_steps=5, progress=False, device="cpu")
    assert loader.generator is mine and loader.sampler.generator is mine

    def crashing(model, batch):
        raise Crash

    with pytest.raises(Crash):
        fit(_model(), loader, crashing, max_steps=5, progress=False, device="cpu")
    assert loader.generator is mine and loader.sampler.generator is mine
    plain = _task()
    fit(_model(), plain, _loss, max_steps=5, progress=False, device="cpu")
    assert plain.generator is None and plain.sampler.generator is None


def test_keyboard_interrupt_returns_the_history_so_far():
    calls = {"n": 0}

    def interrupted(model, batch):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return _loss(model, batch)

    hist = fit(_model(), _task(), interrupted, max_steps=50, log_every=4, progress=False, device="cpu",
               eval_fn=lambda m: {"acc": 0.5})
    assert [r["step"] for r in hist.train] == [4, 8, 12] and hist.eval == []


def test_resume_is_exact_when_the_collate_draws_random_numbers(tmp_path):
    """Like a masking collate (chapter 07): each batch draws from the global RNG when it is made."""
    def noisy_collate(rows):
        x = torch.stack([r[0] for r in rows])
        return x + 0.1 * torch.randn(x.shape), torch.stack([r[1] for r in rows])

    def loader():
        return DataLoader(_task().dataset, batch_size=8, shuffle=True, collate_fn=noisy_collate)

    kwargs = dict(max_steps=20, lr=1e-2, log_every=5, progress=False, device="cpu",
                  checkpoint_every=6, checkpoint_dir=tmp_path / "ckpt")
    torch.manual_seed(0)
    reference = _model()
    h_ref = fit(reference, loader(), _loss, **{**kwargs, "checkpoint_dir": None})

    calls = {"n": 0}

    def crashing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 16:  # in epoch 1, three batches after the checkpoint at step 12
            raise Crash
        return _loss(model, batch)

    torch.manual_seed(0)
    with pytest.raises(Crash):
        fit(_model(), loader(), crashing_loss, **kwargs)
    torch.manual_seed(99)  # a fresh process: another RNG state, which the checkpoint replaces
    resumed = _model()
    h_res = fit(resumed, loader(), _loss, resume=True, **kwargs)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert h_res.train == h_ref.train


def test_evaluate_averages_loss_and_metrics_over_batches_in_eval_mode():
    model = _model()
    model.train()
    batches = [(x, y) for x, y in DataLoader(_task().dataset, batch_size=16)]
    got = evaluate(model, batches, _loss)
    model.eval()
    with torch.no_grad():  # by hand: dropout off, one value per batch, equal weights
        per = [_loss(model, b) for b in batches]
    assert got["loss"] == pytest.approx(sum(float(l) for l, _ in per) / len(per), rel=1e-6)
    assert got["acc"] == pytest.approx(sum(float(m["acc"]) for _, m in per) / len(per), rel=1e-6)
    model.train()
    evaluate(model, batches, _loss)
    assert model.training, "evaluate restores the model's mode"
    # usable as fit's eval_fn
    hist = fit(model, batches, _loss, max_steps=4, lr=1e-2, eval_fn=lambda m: evaluate(m, batches, _loss),
               eval_every=2, progress=False, device="cpu")
    assert [e["step"] for e in hist.eval] == [2, 4] and set(hist.eval[-1]) >= {"loss", "acc"}


def test_evaluate_names_a_wrong_loss_fn_and_an_empty_iterable():
    model = _model()
    with pytest.raises(TypeError, match=r"\(loss, metrics_dict\)"):
        evaluate(model, [(torch.randn(2, 4), torch.zeros(2, dtype=torch.long))], lambda m, b: m(b[0]).sum())
    with pytest.raises(ValueError, match="at least one batch"):
        evaluate(model, [], _loss)
