"""BitFit (Ben Zaken et al. 2022): train the bias terms only, and the task head.

    model = apply_bitfit(BertForSequenceClassification(cfg, 2))

Every ``bias`` parameter of the backbone stays trainable — the attention projections', the
feed-forward's, the LayerNorms' β, the pooler's — and every weight is frozen. Nothing is added,
so the model is unchanged at step 0 and there is nothing to merge afterwards: the delta is the
biases, about 0.1 % of a BERT.
"""

from __future__ import annotations

from typing import Iterable

from torch import nn

from .core import DEFAULT_HEADS, _require_fresh, _set_spec, freeze_except, register_method

__all__ = ["apply_bitfit", "is_bias"]


def is_bias(name: str) -> bool:
    """True for a bias parameter's qualified name (``bert.layers.0.attn.q_proj.bias``, ``...norm1.bias``)."""
    return name.rsplit(".", 1)[-1] == "bias"


def apply_bitfit(model: nn.Module, heads: Iterable[str] = DEFAULT_HEADS) -> nn.Module:
    """Freeze every parameter except the biases and the task head(s); returns the model."""
    _require_fresh(model)
    heads = tuple(heads)
    if not any(is_bias(n) for n, _ in model.named_parameters()):
        raise ValueError(f"{type(model).__name__} has no bias parameters: BitFit has nothing to train")
    freeze_except(model, lambda name, p: is_bias(name), heads)
    _set_spec(model, {"method": "bitfit", "heads": list(heads)})
    return model


register_method("bitfit", apply_bitfit)
