"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020): small trainable layers inside a frozen model.

    model = apply_adapters(BertForSequenceClassification(cfg, 2), placement=HOULSBY)   # r = d / 16

An adapter maps h to h + W_up · act(W_down · h): down to a bottleneck of r features, a
non-linearity, back up to d, plus the identity. W_up and its bias start at zero, so at step 0
every adapter is exactly the identity and the model is exactly the frozen one (the paper's
"near-identity" init; W_down starts N(0, 0.01²) so the first step moves W_up).

Where they go, in each Transformer block:

* ``HOULSBY`` — after the attention's output projection and after the feed-forward network's
  second projection, i.e. on each sub-layer's output before the residual sum and LayerNorm
  (Houlsby et al., fig. 2). Houlsby et al. also train the LayerNorms (§2.1): on by default.
* ``PFEIFFER`` — after the feed-forward network only: half the adapters, about the same quality
  (Pfeiffer et al. 2020, AdapterFusion §3), LayerNorms frozen.

Both placements are a wrap of the projection the block *calls* (``attn.o_proj``, ``ffn.fc2``),
the one mechanism of :mod:`ptm_course.tuning.core`: no model file knows adapters exist.

No reference library is used in the tests: the ``adapters`` (AdapterHub) package pins an older
``transformers`` than the parity extra, so the tests check the formula, the identity at init,
the placement and the exact parameter count instead.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..models.transformer import ACTIVATIONS
from .core import DEFAULT_HEADS, _is_head, _require_fresh, _set_spec, freeze_except, register_method, replace_linears

__all__ = ["Adapter", "HOULSBY", "PFEIFFER", "WithAdapter", "apply_adapters"]

HOULSBY = ("attn.o_proj", "ffn.fc2")
PFEIFFER = ("ffn.fc2",)


class Adapter(nn.Module):
    """h ↦ h + W_up · act(W_down · h + b_down) + b_up, with W_up = b_up = 0 at init (the identity)."""

    def __init__(self, d_model: int, bottleneck: int, activation: str = "relu"):
        super().__init__()
        if not 1 <= bottleneck:
            raise ValueError(f"adapter bottleneck must be >= 1, got {bottleneck}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.down = nn.Linear(d_model, bottleneck)  # (d -> r)
        self.act = ACTIVATIONS[activation]
        self.up = nn.Linear(bottleneck, d_model)  # (r -> d)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))


class WithAdapter(nn.Module):
    """A projection followed by an adapter: ``adapter(base(x))``; ``base`` stays as it was (frozen)."""

    def __init__(self, base: nn.Linear, bottleneck: int, activation: str = "relu"):
        super().__init__()
        self.base = base
        w = base.weight
        self.adapter = Adapter(base.out_features, bottleneck, activation).to(device=w.device, dtype=w.dtype)

    def added_parameters(self):
        return tuple(self.adapter.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def apply_adapters(model: nn.Module, placement: Iterable[str] = HOULSBY, bottleneck: int | None = None,
                   reduction_factor: int = 16, activation: str = "relu", train_layer_norms: bool | None = None,
                   heads: Iterable[str] = DEFAULT_HEADS) -> nn.Module:
    """Add an adapter after every projection whose name ends with one of ``placement``; freeze the rest.

    bottleneck: r; default d_model // reduction_factor (16, Houlsby's and AdapterHub's default).
    train_layer_norms: also train every LayerNorm; default True for HOULSBY, False otherwise.
    Trainable: the adapters, the task head(s) and (if asked) the LayerNorms. Returns the model.
    """
    _require_fresh(model)
    placement, heads = tuple(placement), tuple(heads)
    if train_layer_norms is None:
        train_layer_norms = placement == HOULSBY

    def wrap(lin: nn.Linear) -> WithAdapter:
        r = bottleneck if bottleneck is not None else max(1, lin.out_features // reduction_factor)
        return WithAdapter(lin, r, activation)

    def matches(name: str) -> bool:
        return any(name == p or name.endswith("." + p) for p in placement) and not _is_head(name, heads)

    replace_linears(model, matches, wrap)
    norms = {f"{n}.{pn}" for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)
             for pn, _ in m.named_parameters(recurse=False)}
    freeze_except(model, lambda name, p: ".adapter." in name or (train_layer_norms and name in norms), heads)
    _set_spec(model, {"method": "adapters", "placement": list(placement), "bottleneck": bottleneck,
                      "reduction_factor": reduction_factor, "activation": activation,
                      "train_layer_norms": train_layer_norms, "heads": list(heads)})
    return model


register_method("adapters", apply_adapters)
