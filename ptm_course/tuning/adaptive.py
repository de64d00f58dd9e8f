"""Chapter 12: the pre-trained model accommodates the task — continued pre-training and auxiliary losses.

The notes: in fine-tuning the pre-trained language model "accommodates" (迁就) each downstream
task: auxiliary task losses are added and pre-training continues so that it fits the task better,
and the pre-trained model makes more of the sacrifices. One loop, three levers, and the sacrifice
measured:

    masker = Masker.for_tokenizer(tok)
    general = wikitext_chunks(tok, "validation", 128, n=64)                 # general text
    adapt(backbone, task, masker, lr=5e-5, steps=100, general=general)    # plain fine-tuning
    adapt(..., tapt_steps=100)              # continued MLM pre-training on the task's text first
    adapt(..., aux_weight=0.5)              # L = L_task + 0.5 · L_MLM on every batch (GPT-1's L3)
    run.general.loss                        # the general-text MLM loss after: forgetting

``backbone`` is a :class:`~ptm_course.models.bert.BertMeanPoolClassifierWithMLM` (one encoder, a
classifier and an MLM head); it is never changed: every run trains a deep copy.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from ..models.mlm_backbone import Masker, MLMScore, masked_lm_objective, mlm_score

__all__ = ["AdaptRun", "adapt", "auxiliary_loss", "continue_pretraining", "mean_std", "separated"]


def auxiliary_loss(masker: Masker, weight: float) -> Callable:
    """``fit`` loss for fine-tuning with the pre-training objective kept: L = L_task + weight · L_MLM.

    L_task is the classifier's cross-entropy on the clean batch; L_MLM is the masked-LM loss on a
    freshly masked copy of the same sentences (a second forward pass: the classifier never sees
    [MASK]). ``weight = 0`` is plain fine-tuning and skips the second pass. Metrics: ``acc``,
    ``task_loss`` and, when ``weight > 0``, ``mlm_loss``.
    """
    from ..models.bert import sequence_classification_loss

    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise ValueError(f"the auxiliary weight must be a finite number >= 0, got {weight!r}")
    mlm = masked_lm_objective(masker)

    def loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]):
        task, metrics = sequence_classification_loss(model, batch)
        metrics = {**metrics, "task_loss": task.detach()}
        if weight == 0:
            return task, metrics
        l_mlm, m = mlm(model, batch)
        return task + weight * l_mlm, {**metrics, "mlm_loss": m["mlm_loss"]}

    return loss_fn


def continue_pretraining(model: nn.Module, texts: Mapping[str, torch.Tensor], masker: Masker, steps: int,
                         lr: float = 1e-4, batch_size: int = 32, seed: int = 0, device="cpu",
                         eval_fn=None, eval_every: int | None = None):
    """Masked-LM training of ``model`` (in place) on unlabeled ``texts`` (any ``labels`` are ignored):
    task-adaptive pre-training when ``texts`` is the task's own training text. Returns the History."""
    from ..data.bert_inputs import tensor_loader
    from ..train import fit

    unlabeled = {k: v for k, v in texts.items() if k in ("input_ids", "token_type_ids", "attention_mask")}
    return fit(model, tensor_loader(unlabeled, batch_size, shuffle=True), masked_lm_objective(masker),
               max_steps=steps, lr=lr, weight_decay=0.01, warmup_steps=max(1, steps // 10),
               log_every=max(1, steps // 10), device=device, seed=seed, progress=False, desc="continued MLM",
               eval_fn=eval_fn, eval_every=eval_every)


@dataclass
class AdaptRun:
    """One adapted copy: its recipe, its task scores and what it kept of the language model."""

    aux_weight: float
    tapt_steps: int
    lr: float
    seed: int
    scores: dict[str, float]  # task accuracy on each of eval_splits
    general: MLMScore | None  # MLM on the general text after fine-tuning (None without ``general``)
    general_start: MLMScore | None  # ... when fine-tuning starts (after continued pre-training, if any)
    seconds_per_step: float
    history: object  # fine-tuning History; eval rows hold ``general_mlm_loss`` when tracked
    tapt_history: object | None = None
    model: nn.Module | None = None


def adapt(backbone: nn.Module, task, masker: Masker, *, lr: float, steps: int, seed: int = 0, batch_size: int = 16,
          aux_weight: float = 0.0, tapt_steps: int = 0, tapt_lr: float = 1e-4, tapt_batch_size: int = 32,
          unlabeled: Mapping[str, torch.Tensor] | None = None, general: Mapping[str, torch.Tensor] | None = None,
          track_every: int | None = None, eval_splits: Sequence[str] = ("test",), device="cpu",
          keep_model: bool = False, warmup_ratio: float = 0.1) -> AdaptRun:
    """Copy ``backbone``; optionally continue MLM pre-training for ``tapt_steps`` on ``unlabeled``
    (default: the task's training sentences, labels unused); fine-tune ``steps`` steps with
    L_task + ``aux_weight`` · L_MLM; score the task on ``eval_splits`` and the MLM on ``general``.

    ``track_every`` also scores ``general`` every so many fine-tuning steps (``history.eval``).
    The classifier head is fresh, seeded by ``seed``, as in :func:`ptm_course.tuning.tune`.
    """
    from ..data.bert_inputs import tensor_loader
    from ..train import fit
    from ..utils import set_seed
    from .compare import fresh_head, task_accuracy

    for attr in ("bert", "mlm", "classifier"):
        if not hasattr(backbone, attr):
            raise ValueError(f"adapt needs an encoder with a classifier and an MLM head (.{attr} is missing on "
                             f"{type(backbone).__name__}); load one with "
                             "load_minilm_mlm(BertMeanPoolClassifierWithMLM, n_classes=...)")
    if task.kind != "sentence":
        raise ValueError(f"adapt handles sentence tasks; {task.name!r} is a {task.kind} task")
    if (tapt_steps or aux_weight) and masker is None:
        raise ValueError("continued pre-training and the auxiliary loss need a Masker")
    if track_every is not None and general is None:
        raise ValueError("track_every needs general= (the text whose MLM loss is tracked)")
    set_seed(seed)
    model = fresh_head(copy.deepcopy(backbone))
    for p in model.parameters():
        p.requires_grad_(True)
    tapt_history = None
    if tapt_steps:
        tapt_history = continue_pretraining(model, unlabeled if unlabeled is not None else task.train, masker,
                                            tapt_steps, lr=tapt_lr, batch_size=tapt_batch_size, seed=seed,
                                            device=device)

    general_start = mlm_score(model, general, masker) if general is not None else None

    latest: list[MLMScore] = []

    def track(m):
        latest[:] = [mlm_score(m, general, masker)]
        return {"general_mlm_loss": latest[0].loss, "general_mlm_acc": latest[0].accuracy}

    t0 = time.perf_counter()
    history = fit(model, tensor_loader(task.train, batch_size, shuffle=True), auxiliary_loss(masker, aux_weight),
                  max_steps=steps, lr=lr, weight_decay=0.01, warmup_steps=max(1, int(warmup_ratio * steps)),
                  log_every=max(1, steps // 10), device=device, seed=seed, progress=False,
                  desc=f"fine-tune λ={aux_weight:g}", eval_fn=track if track_every else None,
                  eval_every=track_every)
    seconds = (time.perf_counter() - t0) / steps
    scores = {split: task_accuracy(model, getattr(task, split), task, device=device) for split in eval_splits}
    if general is None:
        general_score = None
    elif track_every:  # fit's evaluation also runs at the end: the last one tracked is the final score
        general_score = latest[0]
    else:
        general_score = mlm_score(model, general, masker)
    return AdaptRun(aux_weight, tapt_steps, lr, seed, scores, general_score, general_start, seconds, history, tapt_history,
                    model if keep_model else None)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def separated(a: Sequence[float], b: Sequence[float]) -> bool:
    """The course's rule for "this difference exceeds the seed spread": the two means differ by
    more than the sum of the two sample standard deviations (their ±1 std bands do not overlap)."""
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    return abs(ma - mb) > sa + sb
