"""What every tuning method shares: freezing, counting, wrapping a projection, saving only the delta.

**The one mechanism.** The course's Transformer blocks (:mod:`ptm_course.models.transformer`)
only ever *call* their ``nn.Linear`` projections (``attn.q_proj``, ..., ``attn.o_proj``,
``ffn.fc1``, ``ffn.fc2``); they never read a weight. So a method that changes what a projection
computes is a module with the same call signature put in its place — :func:`replace_linears` —
and every model built from the blocks (BERT, GPT, ...), on every path (the full forward, the
masked-LM shortcut, the KV cache), uses it. No model file has a flag for any method.

**What is trained.** :func:`freeze_except` leaves ``requires_grad`` on for the parameters a method
names and turns it off for all others; the optimizer (:func:`ptm_course.train.make_optimizer`)
takes only those. A task head (``classifier``, ``qa_outputs``) is new for every task, so it is
always trained: it is part of every method's delta.

**Counting.** A wrapper that adds parameters (``LoRALinear``, ``WithAdapter``) lists them in an
``added_parameters()`` method, so :func:`count_parameters` can tell the original backbone from
what a method put beside it.

**The delta.** What a method stores per task is exactly the trainable parameters:
:func:`save_delta` writes them (and nothing of the frozen backbone) to one safetensors file with
the method's settings in its metadata; :func:`load_delta` applies the same method to a fresh
backbone and loads them, which reproduces the tuned model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

__all__ = [
    "DEFAULT_HEADS",
    "ParameterCount",
    "count_parameters",
    "delta_state_dict",
    "freeze_except",
    "load_delta",
    "replace_linears",
    "save_delta",
    "tuning_spec",
]

# top-level modules that are a task's own head: trained by every method
DEFAULT_HEADS = ("classifier", "qa_outputs")

_APPLIERS: dict[str, Callable[..., nn.Module]] = {}


def register_method(name: str, apply: Callable[..., nn.Module]) -> None:
    """Let :func:`load_delta` re-apply method ``name`` (``apply(model, **settings)``) to a fresh model."""
    _APPLIERS[name] = apply


def tuning_spec(model: nn.Module) -> dict | None:
    """The method applied to ``model`` and its settings (``{"method": "lora", "rank": 8, ...}``), or None."""
    return getattr(model, "_ptm_tuning", None)


def _require_fresh(model: nn.Module) -> None:
    if tuning_spec(model) is not None:
        raise ValueError(f"{type(model).__name__} already has {tuning_spec(model)['method']} applied; "
                         "apply one method to a fresh model (or merge_lora first)")


def _set_spec(model: nn.Module, spec: dict) -> None:
    _require_fresh(model)
    object.__setattr__(model, "_ptm_tuning", dict(spec))


def _is_head(name: str, heads: Iterable[str]) -> bool:
    return name.split(".", 1)[0] in tuple(heads)


def freeze_except(model: nn.Module, keep: Callable[[str, nn.Parameter], bool],
                  heads: Iterable[str] = DEFAULT_HEADS) -> nn.Module:
    """``requires_grad`` = keep(name, parameter) or the parameter belongs to a task head; returns the model."""
    heads = tuple(heads)
    for name, p in model.named_parameters():
        p.requires_grad_(bool(keep(name, p)) or _is_head(name, heads))
    return model


@dataclass(frozen=True)
class ParameterCount:
    """Trainable and total parameters of a model, and of its backbone (everything but the task heads)."""

    trainable: int
    total: int
    trainable_backbone: int  # trainable parameters outside the task heads
    backbone: int  # frozen + trainable parameters outside the task heads, before any method was added
    trainable_bytes: int  # what a task's delta stores (all trainable tensors, at their dtype)

    @property
    def percent_of_backbone(self) -> float:
        """Trainable parameters (the head included) as a percentage of the original backbone's."""
        return 100.0 * self.trainable / self.backbone


def count_parameters(model: nn.Module, heads: Iterable[str] = DEFAULT_HEADS) -> ParameterCount:
    """Exact counts. Parameters a method added (LoRA factors, adapters) are not part of the backbone.

    >>> count_parameters(nn.Linear(3, 2)).total
    8
    """
    heads = tuple(heads)
    added = {id(p) for m in model.modules() for p in getattr(m, "added_parameters", lambda: ())()}
    trainable = total = trainable_backbone = backbone = nbytes = 0
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:  # tied weights count once
            continue
        seen.add(id(p))
        n = p.numel()
        total += n
        head = _is_head(name, heads)
        if not head and id(p) not in added:
            backbone += n
        if p.requires_grad:
            trainable += n
            nbytes += n * p.element_size()
            if not head:
                trainable_backbone += n
    return ParameterCount(trainable, total, trainable_backbone, backbone, nbytes)


def replace_linears(model: nn.Module, match: Callable[[str], bool], wrap: Callable[[nn.Linear], nn.Module]) -> list[str]:
    """Put ``wrap(linear)`` in place of every ``nn.Linear`` whose qualified name ``match``es; returns the names.

    Raises ValueError when nothing matched, listing the Linear names the model has.
    """
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and match(name)]
    if not found:
        linears = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear in {type(model).__name__} matched; its Linear modules are named {linears}")
    for name, linear in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, wrap(linear))
    return [name for name, _ in found]


def delta_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable tensors (what a task adds to the shared backbone), detached, by parameter name."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def save_delta(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the trainable parameters only, with the method's settings, to a safetensors file (atomically)."""
    from safetensors.torch import save

    from ..io import atomic_write_bytes

    spec = tuning_spec(model)
    if spec is None:
        raise ValueError("save_delta: no tuning method was applied to this model (apply_lora, apply_adapters, "
                         "apply_bitfit); for a fully fine-tuned model save the whole model with save_model_weights")
    tensors = {k: v.contiguous().cpu() for k, v in delta_state_dict(model).items()}
    return atomic_write_bytes(path, save(tensors, metadata={"ptm_tuning": json.dumps(spec)}))


def load_delta(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Apply the saved method to ``model`` (a fresh backbone, unless it already has that method) and load its delta.

    Every trainable parameter of the result must be in the file and every tensor of the file must
    fit: otherwise a ValueError names what differs.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no delta file at {path}; write one with save_delta(model, {str(path)!r})")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if "ptm_tuning" not in meta:
        raise ValueError(f"{path} has no 'ptm_tuning' metadata: it was not written by save_delta")
    spec = json.loads(meta["ptm_tuning"])
    have = tuning_spec(model)
    if have is None:
        method = spec.pop("method")
        if method not in _APPLIERS:
            raise ValueError(f"{path} was saved with an unknown method {method!r}; known: {sorted(_APPLIERS)}")
        _APPLIERS[method](model, **spec)
        spec["method"] = method
    elif have != spec:
        raise ValueError(f"the model has {have} applied, the file {spec}: load it onto a fresh backbone")
    params = dict(model.named_parameters())
    trainable = {k for k, p in params.items() if p.requires_grad}
    missing, unexpected = sorted(trainable - tensors.keys()), sorted(tensors.keys() - params.keys())
    wrong = sorted(k for k in tensors.keys() & params.keys() if tensors[k].shape != params[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{path} does not fit this model: missing {missing[:4]}, unexpected {unexpected[:4]}, "
                         f"wrong shape {wrong[:4]}; was it saved from another backbone or configuration?")
    with torch.no_grad():
        for k, v in tensors.items():
            params[k].copy_(v)
    return model
