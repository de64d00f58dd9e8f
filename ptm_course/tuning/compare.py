"""One task, one backbone, every method: what chapters 13–15 compare.

    task = load_task("rotten-tomatoes", tok, n_train=4000)
    run = tune(backbone, "lora", task, lr=1e-3, steps=300, seed=0, eval_splits=("valid", "test"))
    run.scores["valid"], run.count.trainable, run.seconds_per_step

The backbone is never changed: every run deep-copies it, applies one method from
:data:`METHODS` (``"full"`` trains everything), trains it with :func:`ptm_course.train.fit` on the
task's training split and scores it on a held-out split. The methods and the loop are the same
for every chapter, so a table that adds prefix- or prompt-tuning later compares like with like.

Tasks: ``"rotten-tomatoes"`` (sentence → fresh / rotten, accuracy, chapter 08's case 1) and
``"pos-oanc"`` (a part-of-speech tag for every word, token accuracy, chapter 08's case 2).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
from torch import nn

from .adapters import HOULSBY, PFEIFFER, apply_adapters
from .bitfit import apply_bitfit
from .core import ParameterCount, count_parameters
from .lora import apply_lora

__all__ = ["METHODS", "Task", "TuneRun", "few_shot", "fresh_head", "k_per_class", "load_task", "pet_tune", "task_accuracy",
           "tune"]


def _full(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    return model


# name -> apply(model) with the course's default settings (the notebooks say which)
METHODS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "full": _full,
    "bitfit": apply_bitfit,
    "lora": lambda m: apply_lora(m, rank=8, alpha=16),
    "houlsby": lambda m: apply_adapters(m, HOULSBY),
    "pfeiffer": lambda m: apply_adapters(m, PFEIFFER),
}


@dataclass
class Task:
    """A labelled task as tensors: train / valid / test splits, the head it needs and its loss."""

    name: str
    kind: str  # "sentence" (one class per example) or "token" (one class per word, -100 elsewhere)
    n_classes: int
    train: dict[str, torch.Tensor]
    valid: dict[str, torch.Tensor]
    test: dict[str, torch.Tensor]
    label_names: list[str] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # sentence tasks: each split's raw texts, row for row

    @property
    def loss_fn(self):
        from ..models.bert import sequence_classification_loss, token_classification_loss

        return sequence_classification_loss if self.kind == "sentence" else token_classification_loss


def load_task(name: str, tok, n_train: int | None = None, n_valid: int | None = None, n_test: int | None = None,
              max_len: int = 64, seed: int = 0) -> Task:
    """Encode a registered data set for a BERT with tokenizer ``tok``; ``n_*`` keep a seeded subset of a split."""
    from ..data import load
    from ..data.bert_inputs import encode_tagged, encode_texts

    def subset(split, n):
        split = split.shuffle(seed=seed)
        return split if n is None else split.select(range(min(n, len(split))))

    if name == "rotten-tomatoes":
        ds = load("rotten-tomatoes")
        parts = [subset(ds[s], n) for s, n in (("train", n_train), ("validation", n_valid), ("test", n_test))]
        enc = [encode_texts(tok, p["text"], labels=p["label"], max_len=max_len) for p in parts]
        texts = {s: list(p["text"]) for s, p in zip(("train", "valid", "test"), parts)}
        return Task(name, "sentence", 2, *enc, label_names=["rotten", "fresh"], texts=texts)
    if name == "pos-oanc":
        ds = load("pos-oanc")
        tags = sorted({t for row in ds["train"]["tags"] for t in row})
        tag_ids = {t: i for i, t in enumerate(tags)}
        parts = [subset(ds[s], n) for s, n in (("train", n_train), ("validation", n_valid), ("test", n_test))]
        enc = [encode_tagged(tok, p["tokens"], p["tags"], tag_ids, max_len=max_len) for p in parts]
        return Task(name, "token", len(tags), *enc, label_names=tags)
    raise ValueError(f"unknown task {name!r}; choose 'rotten-tomatoes' or 'pos-oanc'")


@torch.no_grad()
def task_accuracy(model: nn.Module, tensors: Mapping[str, torch.Tensor], task: Task, device="cpu") -> float:
    """Accuracy over examples (sentence tasks) or over labelled words (token tasks)."""
    from ..metrics import predict

    pred = predict(model, dict(tensors), device=device).argmax(-1)
    labels = tensors["labels"]
    keep = labels != -100
    return float((pred[keep] == labels[keep]).float().mean())


def fresh_head(model: nn.Module) -> nn.Module:
    """Re-draw ``model.classifier`` as BERT initialises it (N(0, 0.02) weights, zero bias), from the
    current RNG state: every run starts its task head afresh. Returns the model."""
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 0.02)
        model.classifier.bias.zero_()
    return model


@dataclass
class TuneRun:
    """One tuned copy: its method, settings, score and costs."""

    method: str
    lr: float
    seed: int
    accuracy: float  # on the first of ``eval_splits``
    scores: dict[str, float]  # accuracy on each of ``eval_splits``
    count: ParameterCount
    seconds_per_step: float
    history: object
    model: nn.Module | None = None


def tune(backbone: nn.Module, method: str, task: Task, lr: float, steps: int, seed: int = 0, batch_size: int = 32,
         eval_splits: tuple[str, ...] = ("valid",), device: str | torch.device = "cpu", keep_model: bool = False,
         warmup_ratio: float = 0.1, apply: Callable[[nn.Module], nn.Module] | None = None) -> TuneRun:
    """Copy ``backbone``, apply ``method``, train ``steps`` steps at ``lr``, score on each of ``eval_splits``.

    Choose settings on ``"valid"`` and report ``"test"``: one run can give both
    (``eval_splits=("valid", "test")``), so a sweep's runs can be reused as results without the
    test split ever deciding anything.

    The head is fresh (seeded by ``seed``) and the data order is seeded by ``seed``: two calls with
    the same arguments give the same run.

    ``apply``: a method with settings of its own, ``model -> model`` (chapter 14:
    ``apply=lambda m: apply_prefix(m, length=16)``), used instead of ``METHODS[method]``; ``method``
    then only names the run.
    """
    from ..data.bert_inputs import tensor_loader
    from ..train import fit
    from ..utils import set_seed

    if apply is None and method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}, or pass apply=")
    if apply is not None and not callable(apply):
        raise ValueError(f"apply must be a function model -> model, got {type(apply).__name__}")
    if isinstance(eval_splits, str) or not eval_splits or any(e not in ("valid", "test") for e in eval_splits):
        raise ValueError(f"eval_splits must be a tuple of 'valid' and/or 'test', got {eval_splits!r}")
    if not isinstance(getattr(backbone, "classifier", None), nn.Linear):
        raise ValueError(f"tune needs a model with a task head `classifier` (an nn.Linear), "
                         f"got {type(backbone).__name__}; load one with load_pretrained_bert(..., "
                         "BertMeanPoolClassifier or BertForTokenClassification, n_classes=...)")
    set_seed(seed)
    model = (apply or METHODS[method])(fresh_head(copy.deepcopy(backbone)))
    count = count_parameters(model)
    t0 = time.perf_counter()
    history = fit(model, tensor_loader(task.train, batch_size, shuffle=True), task.loss_fn, max_steps=steps, lr=lr,
                  weight_decay=0.01, warmup_steps=max(1, int(warmup_ratio * steps)), log_every=max(1, steps // 10),
                  device=device, seed=seed, progress=False, desc=method)
    seconds = (time.perf_counter() - t0) / steps
    scores = {split: task_accuracy(model, getattr(task, split), task, device=device) for split in eval_splits}
    return TuneRun(method, lr, seed, scores[eval_splits[0]], scores, count, seconds, history,
                   model if keep_model else None)


def k_per_class(labels: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``k`` examples of every class of ``labels`` (B,), drawn without replacement by
    ``seed``, in a seeded random order (classes interleaved as they fall). The k-shot training set."""
    labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ValueError(f"k_per_class needs one label per example (a 1-D tensor), got shape {tuple(labels.shape)}")
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in labels.unique().tolist():
        where = (labels == c).nonzero().flatten()
        if len(where) < k:
            raise ValueError(f"class {c} has {len(where)} examples, fewer than k = {k}")
        picked.append(where[torch.randperm(len(where), generator=g)[:k]])
    out = torch.cat(picked)
    return out[torch.randperm(len(out), generator=g)]


def few_shot(task: Task, k: int, seed: int = 0) -> Task:
    """``task`` with a training split of ``k`` examples per class (:func:`k_per_class`), the same
    examples in its tensors and its texts; validation and test unchanged. Sentence tasks only."""
    if task.kind != "sentence":
        raise ValueError(f"few_shot draws k examples per class of a sentence task; {task.name!r} is a {task.kind} task")
    idx = k_per_class(task.train["labels"], k, seed)
    train = {n: v[idx] for n, v in task.train.items()}
    texts = dict(task.texts)
    if "train" in texts:
        texts["train"] = [texts["train"][i] for i in idx.tolist()]
    return Task(f"{task.name}-{k}-shot", task.kind, task.n_classes, train, task.valid, task.test,
                list(task.label_names), texts)


def pet_tune(backbone: nn.Module, tok, task: Task, template, verbalizer, lr: float, steps: int, seed: int = 0,
             batch_size: int = 16, eval_splits: tuple[str, ...] = ("valid",), device: str | torch.device = "cpu",
             max_len: int = 64, rule: str = "single", keep_model: bool = False) -> TuneRun:
    """PET (Schick & Schütze 2021) as one more row of the comparison: copy ``backbone`` (a masked LM),
    fine-tune all of it *through the template* (:func:`~ptm_course.tuning.prompts.pet_objective`:
    cross-entropy over the label words at the blank, no new head) on ``task``'s training texts, and
    score each of ``eval_splits`` by the label word the model prefers. ``steps=0`` is zero-shot.

    Seeded like :func:`tune` (the data order by ``seed``): the same arguments give the same run.
    """
    from ..data.bert_inputs import tensor_loader
    from ..train import fit
    from ..utils import set_seed
    from .prompts import mlm_label_scores, pet_objective, pet_tensors

    if not task.texts:
        raise ValueError(f"pet_tune needs the task's texts (a sentence task from load_task); {task.name!r} has none")
    if isinstance(eval_splits, str) or not eval_splits or any(e not in ("valid", "test") for e in eval_splits):
        raise ValueError(f"eval_splits must be a tuple of 'valid' and/or 'test', got {eval_splits!r}")
    set_seed(seed)
    model = copy.deepcopy(backbone)
    for p in model.parameters():
        p.requires_grad_(True)
    count = count_parameters(model)
    history, seconds = None, 0.0
    if steps > 0:
        data = pet_tensors(tok, task.texts["train"], task.train["labels"].tolist(), template, verbalizer, rule=rule,
                           max_len=max_len)
        t0 = time.perf_counter()
        history = fit(model, tensor_loader(data, batch_size, shuffle=True), pet_objective(verbalizer, tok, rule),
                      max_steps=steps, lr=lr, weight_decay=0.01, warmup_steps=max(1, steps // 10),
                      log_every=max(1, steps // 10), device=device, seed=seed, progress=False, desc="pet")
        seconds = (time.perf_counter() - t0) / steps
    scores = {}
    for split in eval_splits:
        pred = mlm_label_scores(model, tok, task.texts[split], template, verbalizer, rule=rule, max_len=max_len)
        scores[split] = float((pred.argmax(-1) == getattr(task, split)["labels"]).float().mean())
    return TuneRun("pet", lr, seed, scores[eval_splits[0]], scores, count, seconds, history, model if keep_model else None)
