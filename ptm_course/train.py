"""One small training loop for every model in the course.

    set_seed(0)                    # fit never seeds the global RNG: the caller does, once
    history = fit(model, loader, loss_fn, max_steps=1_000, lr=3e-4, warmup_steps=100,
                  eval_fn=evaluate, eval_every=200, checkpoint_dir="runs/bigram")
    plot_history(history)          # from ptm_course.viz; nothing is plotted inside the loop

The contract is the one every chapter follows: ``loss_fn(model, batch) -> (loss, metrics)``
where ``metrics`` is a dict of floats (or 0-d tensors) to log beside the loss, and
``eval_fn(model) -> dict`` is called under ``torch.no_grad()`` with the model in eval mode.

How long: ``max_steps=`` counts optimizer steps (fit goes through the data as many times as
that takes); ``epochs=`` counts passes over ``train_data`` (which then needs a ``len()``).
Pass exactly one of them.

What the loop does: for each epoch, for each batch, one step: set the learning rate from the
schedule (linear warmup, then linear or cosine decay), move the batch to the device, forward
and loss under autocast (bf16 on GPUs that support it, fp16 with a GradScaler otherwise, off
on CPU), backward, clip the gradient norm, optimizer step. Then every ``log_every`` steps it
appends the mean loss and metrics to the history; every ``eval_every`` steps it evaluates;
every ``checkpoint_every`` steps it writes a checkpoint (safetensors + JSON, into a temporary
folder renamed into place: atomic).

Random numbers come from two places that do not mix:

* the data order has a generator of its own. For a DataLoader, fit points the loader's and its
  RandomSampler's ``generator`` at ``torch.Generator().manual_seed(seed + e)`` when epoch ``e``
  starts, so the order of epoch ``e`` depends only on ``(seed, e)``: it is the order that
  ``DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed + e))`` gives.
  The loader gets its own generators back when fit returns. Other iterables (a list of
  batches, BPTTBatches) are read in the order they have.
* everything else (dropout, the masks a masking collate or loss function draws) uses the
  global RNGs, which fit neither seeds nor draws from: seed them once before training
  (``set_seed``; ``setup_notebook`` does it), and one stream runs through all epochs.

Resuming (``resume=True``) restores model, optimizer, schedule, scaler, history and the global
RNG states saved in the checkpoint (Python, NumPy, torch, CUDA); it then redraws the order of
the interrupted epoch from ``(seed, epoch)`` and skips the batches already used, without
letting the skipping draw from the global RNGs. So a resumed run continues exactly as an
uninterrupted one: same batches, same dropout masks (a test checks the final weights are
bit-identical).
"""

from __future__ import annotations

import json
import math
import operator
import os
import random
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch.utils.data import DataLoader, RandomSampler

from .io import atomic_write_text
from .utils import amp_dtype, autocast, get_device, grad_scaler

__all__ = [
    "History",
    "evaluate",
    "fit",
    "load_model_weights",
    "lr_schedule",
    "make_optimizer",
    "save_model_weights",
    "to_device",
]

LossFn = Callable[[torch.nn.Module, Any], "tuple[torch.Tensor, Mapping[str, Any]]"]


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """What a run logged: ``train`` and ``eval`` are lists of ``{"step": ..., key: value}``.

    >>> h = History(train=[{"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.5}])
    >>> h.series("loss")
    ([10, 20], [2.0, 1.5])
    >>> h.last("loss")
    1.5
    """

    train: list[dict[str, float]] = field(default_factory=list)
    eval: list[dict[str, float]] = field(default_factory=list)

    def _rows(self, split: str) -> list[dict[str, float]]:
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
        return self.train if split == "train" else self.eval

    def series(self, key: str, split: str = "train") -> tuple[list[int], list[float]]:
        """Steps and values of ``key`` (rows without it are skipped)."""
        rows = [r for r in self._rows(split) if key in r]
        return [int(r["step"]) for r in rows], [float(r[key]) for r in rows]

    def last(self, key: str, split: str = "train") -> float:
        """The latest value of ``key``; a clear error if it was never logged."""
        for row in reversed(self._rows(split)):
            if key in row:
                return float(row[key])
        known = sorted({k for r in self._rows(split) for k in r} - {"step"})
        raise KeyError(f"no {split} value for {key!r}; logged keys: {known}")

    def keys(self, split: str = "train") -> list[str]:
        return sorted({k for r in self._rows(split) for k in r} - {"step", "epoch"})

    def to_dict(self) -> dict:
        return {"train": self.train, "eval": self.eval}

    @classmethod
    def from_dict(cls, d: Mapping) -> "History":
        return cls(train=[dict(r) for r in d.get("train", [])], eval=[dict(r) for r in d.get("eval", [])])


# --------------------------------------------------------------------------------------------
# Pieces: device transfer, optimizer, schedule
# --------------------------------------------------------------------------------------------


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple / list / dict batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def make_optimizer(
    model: torch.nn.Module,
    name: str = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """AdamW / Adam / SGD over the trainable parameters.

    Weight decay is applied to matrices only: biases and LayerNorm weights (1-D tensors) are
    not decayed, as in BERT and GPT. On CUDA the fused AdamW kernel is used.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    name = name.lower()
    fused = all(p.is_cuda for p in params)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use 'adamw', 'adam' or 'sgd', or pass an Optimizer")


def lr_schedule(step: int, total_steps: int, warmup_steps: int = 0, kind: str = "linear", min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step``: warmup from 0, then decay to ``min_ratio``.

    >>> [round(lr_schedule(s, 10, warmup_steps=2), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if kind not in ("linear", "cosine", "constant"):
        raise ValueError(f"unknown schedule {kind!r}; use 'linear', 'cosine' or 'constant'")
    if warmup_steps > 0 and step < warmup_steps:
        return step / warmup_steps
    if kind == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if kind == "linear":
        decayed = 1.0 - progress
    else:
        decayed = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_ratio + (1.0 - min_ratio) * decayed


# --------------------------------------------------------------------------------------------
# Model weights on their own (for sharing a trained model between chapters)
# --------------------------------------------------------------------------------------------


def save_model_weights(model: torch.nn.Module, directory: str | os.PathLike, config: Mapping | None = None) -> Path:
    """Write ``model.safetensors`` (+ ``config.json``) into ``directory``, atomically.

    Both files are written into a temporary folder that is then renamed into place, so a crash
    never leaves a half-written model. Tied weights are stored once.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        if config is not None:
            (tmp / "config.json").write_text(json.dumps(dict(config), indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def load_model_weights(model: torch.nn.Module, directory: str | os.PathLike, strict: bool = True) -> torch.nn.Module:
    """Load ``model.safetensors`` from ``directory`` into ``model`` (shapes must match)."""
    path = Path(directory) / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"no model.safetensors in {directory}; save one with save_model_weights(model, {str(directory)!r})")
    missing, unexpected = load_model(model, str(path), strict=False)
    if strict and (missing or unexpected):
        raise ValueError(
            f"{path} does not fit this model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}; "
            "was it saved from a model with another configuration?"
        )
    return model


def _replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``, replacing an existing ``dst`` with one rename each."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(src, dst)


# --------------------------------------------------------------------------------------------
# Checkpoints (model + optimizer + schedule + RNG + history)
# --------------------------------------------------------------------------------------------


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def _set_rng_state(state: Mapping, tensors: Mapping[str, torch.Tensor]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _save_checkpoint(directory: Path, model, optimizer, scaler, trainer_state: dict, keep: int,
                     extra_tensors: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``directory/step-NNNNNNNN`` (weights, optimizer, scaler, RNG, ``trainer_state``) atomically.

    ``extra_tensors`` go into ``trainer.safetensors`` beside the optimizer state (the distributed
    pre-training command stores every rank's RNG state there).
    """
    step = trainer_state["step"]
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".step-{step:08d}.", dir=directory))
    try:
        save_model(model, str(tmp / "model.safetensors"))
        opt_state = optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state(), **(extra_tensors or {})}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i:02d}"] = s
        scalars: dict[str, dict[str, Any]] = {}
        for pid, pstate in opt_state["state"].items():
            for k, v in pstate.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        save_file(tensors, str(tmp / "trainer.safetensors"), metadata={"step": str(step)})
        state = dict(trainer_state)
        state["optimizer"] = {"param_groups": opt_state["param_groups"], "scalars": scalars}
        state["scaler"] = scaler.state_dict()
        state["rng"] = _rng_state()
        (tmp / "trainer.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_text(directory / "latest", final.name + "\n")
    old = sorted(p for p in directory.glob("step-*") if p.is_dir() and p != final)
    for p in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _find_checkpoint(resume: bool | str | os.PathLike, checkpoint_dir: Path | None) -> Path | None:
    if resume is False or resume is None:
        return None
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (the folder fit wrote checkpoints to)")
        latest = checkpoint_dir / "latest"
        if not latest.exists():
            return None  # nothing to resume from: start fresh
        path = checkpoint_dir / latest.read_text(encoding="utf-8").strip()
    else:
        path = Path(resume)
    if not (path / "trainer.json").exists():
        raise FileNotFoundError(f"{path} is not a checkpoint folder written by fit (no trainer.json)")
    return path


def _load_checkpoint(path: Path, model, optimizer, scaler, device) -> dict:
    state = json.loads((path / "trainer.json").read_text(encoding="utf-8"))
    tensors = load_file(str(path / "trainer.safetensors"))
    missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False, device=str(device))
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not fit this model (missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    opt = state["optimizer"]
    per_param: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            per_param.setdefault(int(pid), {})[name] = t
    for pid, vals in opt["scalars"].items():
        per_param.setdefault(int(pid), {}).update(vals)
    optimizer.load_state_dict({"state": per_param, "param_groups": opt["param_groups"]})
    scaler.load_state_dict(state["scaler"])
    state["_tensors"] = tensors
    return state


# --------------------------------------------------------------------------------------------
# The loop and its helpers: how long, where a run is, which batches an epoch gives
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable, loss_fn: Callable, device: torch.device | str | None = None) -> dict[str, float]:
    """The loss and the metrics of ``loss_fn(model, batch) -> (loss, metrics)``, averaged over ``batches``.

    The same contract as :func:`fit`'s: every chapter evaluates with the loss it trains with.
    Runs in eval mode under ``no_grad`` (the model's mode is restored), on ``device`` (default:
    the model's), and gives every batch the same weight — use batches of one size (the last
    may be smaller) or a loss that is already a mean per batch. Returns ``{"loss": ..., **metrics}``
    as floats, ready to be an ``eval_fn``: ``fit(..., eval_fn=lambda m: evaluate(m, valid, loss_fn))``.
    """
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = 0
    try:
        for batch in batches:
            out = loss_fn(model, to_device(batch, torch.device(device)))
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"loss_fn must return (loss, metrics_dict); got {type(out).__name__}")
            for key, value in {"loss": out[0], **(out[1] or {})}.items():
                sums[key] = sums.get(key, 0.0) + _as_float(value)
            n += 1
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate needs at least one batch; got an empty iterable")
    return {key: total / n for key, total in sums.items()}


def _as_float(v: Any) -> float:
    return float(v.detach().float().item()) if isinstance(v, torch.Tensor) else float(v)


def _checked(out: Any, step: int, lr: float) -> tuple[torch.Tensor, Mapping[str, Any]]:
    """``loss_fn``'s ``(loss, metrics)``, or a clear error if it is not that or the loss is not finite."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"loss_fn must return (loss, metrics_dict); got {type(out).__name__}")
    loss, metrics = out
    if not torch.isfinite(loss.detach()).all():
        raise FloatingPointError(f"the loss is {loss.item()} at step {step} (lr {lr:.3g}); "
                                 "lower lr, check the inputs, or use grad_clip")
    return loss, metrics or {}


def _len_or_none(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _positive_int(name: str, value: Any) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if n <= 0:
        raise ValueError(f"{name} must be positive, got {n}")
    return n


def _total_steps(train_data: Iterable, max_steps: int | None, epochs: int | None) -> int:
    """The number of optimizer steps: ``max_steps``, or ``epochs`` passes over ``train_data``."""
    per_epoch = _len_or_none(train_data)
    if max_steps is not None and epochs is not None:
        meaning = (f"epochs={epochs} would be {epochs} x {per_epoch} = {epochs * per_epoch} steps"
                   if per_epoch is not None else f"epochs={epochs} needs a train_data with a len()")
        raise ValueError(f"pass one of max_steps= or epochs=, not both: max_steps={max_steps} counts "
                         f"optimizer steps (going through the data as often as needed); {meaning}")
    if max_steps is None and epochs is None:
        raise ValueError("say how long to train: pass max_steps= (optimizer steps) or epochs= (passes over train_data)")
    if per_epoch == 0:
        raise ValueError("train_data is empty: there is nothing to train on")
    if max_steps is not None:
        return _positive_int("max_steps", max_steps)
    if per_epoch is None:
        raise ValueError("train_data has no len(), so epochs= cannot be counted: pass max_steps= to say how long to train")
    return _positive_int("epochs", epochs) * per_epoch


@dataclass
class _TrainState:
    """Where a run is. With the weights, the optimizer and the RNG states, a checkpoint holds it."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0  # the epoch being read
    batch_in_epoch: int = 0  # batches of that epoch already used
    sums: dict[str, float] = field(default_factory=dict)  # loss and metrics summed since the last log row
    n_summed: int = 0
    history: History = field(default_factory=History)

    def add(self, values: Mapping[str, Any]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + _as_float(v)
        self.n_summed += 1

    def log(self, lr: float) -> dict[str, float]:
        """Append the means since the last row to the history, and start new sums."""
        row = {"step": self.step, "epoch": self.epoch, "lr": lr, **{k: v / self.n_summed for k, v in self.sums.items()}}
        self.history.train.append(row)
        self.sums, self.n_summed = {}, 0
        return row

    def to_json(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "sums": self.sums, "n_summed": self.n_summed, "history": self.history.to_dict()}

    @classmethod
    def from_json(cls, d: Mapping) -> "_TrainState":
        return cls(d["step"], d["epoch"], d["batch_in_epoch"], dict(d["sums"]), d["n_summed"], History.from_dict(d["history"]))


def _resume(path: Path, model, optimizer, scaler, device) -> _TrainState:
    """Load a checkpoint written by fit into model, optimizer and scaler; restore the global RNGs.

    Restoring Python's, NumPy's, torch's and CUDA's generators is what makes the resumed run
    draw the same dropout masks (and masks of a masking collate) as the uninterrupted one.
    """
    saved = _load_checkpoint(path, model, optimizer, scaler, device)
    _set_rng_state(saved["rng"], saved["_tensors"])
    return _TrainState.from_json(saved)


@contextmanager
def _global_rng_untouched():
    """Run a block and then put Python's, NumPy's, torch's and CUDA's generators back as they were."""
    py, npy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


class _DataOrder:
    """The batches of each epoch, in an order that depends only on ``(seed, epoch)``.

    When an epoch starts, a DataLoader draws the seed of its worker processes from
    ``loader.generator`` and its RandomSampler draws the permutation from ``sampler.generator``;
    where these are None, both draw from the global RNG (which dropout uses too). While fit
    runs, both point at one generator of fit's own, seeded with ``seed + epoch`` at the start of
    each epoch; :meth:`restore` gives the DataLoader its own generators back. Other iterables
    (a list of batches, BPTTBatches) keep the order they have.
    """

    def __init__(self, data: Iterable, seed: int):
        self.data, self.seed = data, seed
        self.generator = torch.Generator()
        self._saved: list[tuple[Any, torch.Generator | None]] = []
        if isinstance(data, DataLoader):
            owners = [data]
            for sampler in (data.sampler, getattr(data.batch_sampler, "sampler", None)):
                if isinstance(sampler, RandomSampler) and all(sampler is not o for o in owners):
                    owners.append(sampler)
            for obj in owners:
                self._saved.append((obj, obj.generator))
                obj.generator = self.generator

    def batches(self, epoch: int, skip: int = 0) -> Iterator:
        """An iterator over the batches of ``epoch``, less the first ``skip`` (used before a resume).

        Skipping leaves the global RNGs as they were: the checkpoint's RNG state, restored just
        before, already includes whatever making those batches drew.
        """
        self.generator.manual_seed(self.seed + epoch)
        if not skip:
            return iter(self.data)
        with _global_rng_untouched():
            batches = iter(self.data)
            for _ in range(skip):
                next(batches, None)
        return batches

    def restore(self) -> None:
        for obj, generator in self._saved:
            obj.generator = generator


def fit(
    model: torch.nn.Module,
    train_data: Iterable,
    loss_fn: LossFn,
    *,
    max_steps: int | None = None,
    epochs: int | None = None,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adamw",
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    schedule: str = "linear",
    min_lr_ratio: float = 0.0,
    grad_clip: float | None = 1.0,
    device: str | torch.device = "auto",
    amp: bool | None = None,
    eval_fn: Callable[[torch.nn.Module], Mapping[str, Any]] | None = None,
    eval_every: int | None = None,
    log_every: int = 10,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 2,
    resume: bool | str | os.PathLike = False,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
) -> History:
    """Train ``model`` and return its :class:`History` (see the module docstring).

    Args:
        train_data: a DataLoader or any re-iterable of batches (iterated once per epoch).
        loss_fn: ``loss_fn(model, batch) -> (loss, metrics)``.
        max_steps, epochs: how long to train; pass exactly one. ``max_steps`` counts optimizer
            steps (fit goes through the data as many times as that takes); ``epochs`` counts
            passes over ``train_data``, which then needs a ``len()``.
        optimizer: ``"adamw"`` (default), ``"adam"``, ``"sgd"`` or a ready Optimizer.
        warmup_steps, schedule, min_lr_ratio: learning-rate schedule (:func:`lr_schedule`).
        grad_clip: max global gradient norm (``None`` to switch clipping off).
        amp: ``None`` = autocast on GPU only; ``True`` forces it (bf16 on CPU); ``False`` off.
        eval_fn, eval_every: evaluation callback and its period in steps (also run at the end).
        checkpoint_dir, checkpoint_every, keep_checkpoints: where/when to write checkpoints
            (the last one is always written at the end when a folder is given).
        resume: ``True`` continues from the latest checkpoint in ``checkpoint_dir`` if there is
            one; a path continues from that checkpoint folder.
        seed: seeds the data order only (a DataLoader's epoch ``e`` is shuffled with
            ``seed + e``). fit never seeds the global RNG: call ``set_seed`` before it.
    """
    max_steps = _total_steps(train_data, max_steps, epochs)
    if log_every <= 0:
        raise ValueError(f"log_every must be positive, got {log_every}")
    dev = get_device(device)
    model.to(dev)
    opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else make_optimizer(model, optimizer, lr, weight_decay)
    for group in opt.param_groups:
        group.setdefault("initial_lr", group["lr"])
    base_lrs = [g["initial_lr"] for g in opt.param_groups]
    dtype = amp_dtype(dev, amp)
    scaler = grad_scaler(dev, dtype)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ckpt = _find_checkpoint(resume, ckpt_dir)
    state = _resume(ckpt, model, opt, scaler, dev) if ckpt is not None else _TrainState()

    def set_lr(step: int) -> float:
        mult = lr_schedule(step, max_steps, warmup_steps, schedule, min_lr_ratio)
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * mult
        return opt.param_groups[0]["lr"]

    def run_eval() -> None:
        if eval_fn is None:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad(), autocast(dev, dtype=dtype, enabled=dtype is not None):
            result = eval_fn(model)
        model.train(was_training)
        if not isinstance(result, Mapping):
            raise TypeError(f"eval_fn must return a dict of metrics, got {type(result).__name__}")
        state.history.eval.append({"step": state.step, **{k: _as_float(v) for k, v in result.items()}})

    def save() -> None:
        if ckpt_dir is not None:
            trainer_state = {**state.to_json(), "max_steps": max_steps, "seed": seed}
            _save_checkpoint(ckpt_dir, model, opt, scaler, trainer_state, keep_checkpoints)

    from tqdm.auto import tqdm

    bar = tqdm(total=max_steps, initial=state.step, desc=desc, disable=not progress, dynamic_ncols=True)
    order = _DataOrder(train_data, seed)
    model.train()
    try:
        while state.step < max_steps:
            for batch in order.batches(state.epoch, skip=state.batch_in_epoch):
                # one step: learning rate from the schedule, forward under autocast, backward,
                # clip, optimizer
                lr_now = set_lr(state.step)
                batch = to_device(batch, dev)
                with autocast(dev, dtype=dtype, enabled=dtype is not None):
                    out = loss_fn(model, batch)
                loss, metrics = _checked(out, state.step, lr_now)
                scaler.scale(loss).backward()
                norm = {}
                if grad_clip is not None:
                    scaler.unscale_(opt)
                    norm["grad_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                state.step += 1
                state.batch_in_epoch += 1

                # then: log, evaluate, checkpoint
                state.add({"loss": loss, **norm, **metrics})
                if state.step % log_every == 0 or state.step == max_steps:
                    bar.set_postfix(loss=f"{state.log(lr_now)['loss']:.4f}")
                bar.update(1)
                if eval_every and state.step % eval_every == 0:
                    run_eval()
                if checkpoint_every and state.step % checkpoint_every == 0 and state.step < max_steps:
                    save()
                if state.step >= max_steps:
                    break
            if state.batch_in_epoch == 0:
                raise ValueError(f"train_data produced no batch in epoch {state.epoch}: is it an exhausted iterator? "
                                 "pass a DataLoader or a list, which can be iterated again")
            if state.step < max_steps or state.batch_in_epoch >= _len_or_inf(train_data):  # read to its end
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted at step {state.step}/{max_steps}: returning the history so far"
              + (f"; resume with fit(..., checkpoint_dir={str(ckpt_dir)!r}, resume=True)" if ckpt_dir else ""))
        return state.history
    finally:
        bar.close()
        order.restore()
    if eval_fn is not None and (not state.history.eval or state.history.eval[-1]["step"] != state.step):
        run_eval()
    save()
    return state.history


def _len_or_inf(data: Any) -> float:
    n = _len_or_none(data)
    return math.inf if n is None else n
