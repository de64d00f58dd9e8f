"""Prompt tuning (Lester et al. 2021): P trained vectors in front of every input; the model frozen.

    model = apply_soft_prompt(BertMeanPoolClassifier(cfg, 2), length=20, init="text", tok=tok,
                              text="Is this movie review positive or negative?")
    ...train...                       # only the P × d prompt (and the classifier) have requires_grad
    save_delta(model, "rt.prompt.safetensors")      # P · d numbers (+ the head)

A soft prompt is what a hard prompt ("The movie is ___") becomes when its words no longer have to
be words: P vectors of the embedding width, placed before the input's word embeddings and
optimised by gradient descent while every weight of the model stays fixed. Unlike prefix-tuning
(chapter 14), nothing is added inside the layers: the prompt is input, and every layer treats it
as it treats tokens. Lester et al. found that it matches fine-tuning only at billions of
parameters; a small model shows the gap.

**How the prompt enters: as embeddings.** ``BertModel`` and ``GPT`` take word vectors instead of
ids through their one general argument ``inputs_embeds`` (as Hugging Face's models do)::

    x = [p_1, …, p_P, E[x_1], …, E[x_T]]                       # (B, P + T, d)
    h = model(inputs_embeds=x, attention_mask=[1]*P + mask)     # the mask grows by P ones on the left

Positions and segments are then added as for any token: the prompt takes positions 0..P−1 (and
segment A, 0), the input's tokens P..P+T−1. This is PEFT's layout exactly
(``tests/test_soft_prompt_parity.py``). Every token sees the prompt, and padding stays hidden.
Which model file does it? None has a flag: the wrapping lives here.

* Models with ``.bert`` (``BertForSequenceClassification``, ``BertMeanPoolClassifier``,
  ``BertForMaskedLM``, …): :class:`WithSoftPrompt` is put in place of ``model.bert``. It takes the
  same call as ``BertModel``, looks up the ids' vectors, puts the prompt in front, widens the
  mask (and the token types, by zeros) and calls the frozen encoder with ``inputs_embeds``.
* The course's ``GPT``: it has no inner module that reads the ids, so the same two steps are two
  PyTorch hooks on its own forward, registered by :func:`apply_soft_prompt`: before it, the
  ids become vectors with the prompt in front and the mask is widened; after it, the prompt's P
  columns of logits are dropped. With a KV cache (``generate``) the prompt enters on the first
  call only and stays in the cache.

**What a caller gets back: the input's positions, (B, T, …), not (B, P + T, …).** The prompt's
own P output states are dropped, so every head, loss and helper — token classification, QA,
``lm_loss``, ``generate``, the masked LM at ``output_positions`` (shifted by P inside) — indexes
the tokens it was given, unchanged. PEFT returns all P + T positions; its last T equal ours.
Pooling:

* ``BertMeanPoolClassifier`` pools over the real tokens only (its mask is the caller's): the
  prompt's own output states are not part of the sentence; the prompt acts on the sentence's
  states through attention, and the mean is the sentence-embedding model's own summary.
* the [CLS] pooler reads the real [CLS], now at position P. PEFT on HF's BERT pools position 0,
  which is the first soft token; both see every token, but the pooler was pre-trained on [CLS].

Two more differences from PEFT on GPT-2, both shown in the parity test: HF's GPT-2 numbers the
positions by cache position, left padding included, while the course counts real tokens only (a
left-padded row gets the logits it gets alone); and PEFT's causal-LM loss puts P × −100 in front
of the labels, so it also scores the first token as predicted by the last soft vector, where
``lm_loss`` on the course's (B, T, V) logits scores T − 1 predictions per row.

**Initialisation** (``init=``), as in Lester et al. §3.2 and PEFT's ``PromptTuningInit``:

* ``"text"``: the word embeddings of ``text`` tokenised by ``tok`` (no special tokens), repeated
  or cut to P tokens (PEFT's ``TEXT``; PEFT calls ``tokenizer(text)``, which adds [CLS] … [SEP]
  for BERT and nothing for GPT-2). Lester et al.'s best choice was the class labels' words.
* ``"vocab"`` (default): the embeddings of P distinct token ids drawn uniformly (seeded) from the
  whole vocabulary, less ``tok``'s special tokens when a ``tok`` is given. Lester et al. drew
  from the 5,000 most frequent tokens, which needs token counts a model does not carry; PEFT's
  ``SAMPLE_VOCAB`` draws from the whole vocabulary, with replacement.
* ``"random"``: N(0, σ²) with σ the standard deviation of the model's word-embedding matrix, so
  that the prompt has the scale of real tokens. PEFT's ``RANDOM`` keeps ``nn.Embedding``'s own
  init, N(0, 1) — about 50× a BERT embedding (std ≈ 0.02–0.05); Lester et al. used U(−0.5, 0.5).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ..models.bert import BertModel
from ..models.gpt import GPT
from .core import DEFAULT_HEADS, _require_fresh, _set_spec, freeze_except, register_method
from .prompts import _plain

__all__ = ["PROMPT_INITS", "SoftPrompt", "WithSoftPrompt", "apply_soft_prompt"]

PROMPT_INITS = ("text", "vocab", "random")


class SoftPrompt(nn.Module):
    """P trained vectors of the embedding width: ``forward(batch_size)`` → (B, P, d), the same for every row.

    PEFT's ``PromptEmbedding``: an ``nn.Embedding(P, d)`` (looked up at 0..P−1, i.e. its whole weight).
    """

    def __init__(self, length: int, d_model: int):
        super().__init__()
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ValueError(f"soft prompt length must be an int >= 1, got {length!r}")
        self.embedding = nn.Embedding(length, d_model)
        self.prepended = False  # GPT hooks: did this call put the prompt in front (then drop its columns)?

    def __len__(self) -> int:
        return self.embedding.num_embeddings

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.embedding.weight[None].expand(batch_size, -1, -1)  # (B, P, d)

    def added_parameters(self):
        return [self.embedding.weight]

    def extra_repr(self) -> str:
        return f"length={len(self)}"


class WithSoftPrompt(nn.Module):
    """``BertModel`` with a soft prompt in front of its input: the same call, the same output shapes.

    ``forward(input_ids, token_type_ids, attention_mask, output_positions, inputs_embeds)`` returns
    (hidden states (B, T, C) of the input's T tokens, pooled [CLS] (B, C)); with
    ``output_positions`` (B, n) — positions of the input, as without a prompt — (B, n, C).
    """

    def __init__(self, encoder: BertModel, prompt: SoftPrompt):
        super().__init__()
        self.encoder = encoder
        self.soft_prompt = prompt

    # the encoder's parts, where code reads them (model.bert.embeddings.word_embeddings, ...)
    @property
    def config(self):
        return self.encoder.config

    @property
    def embeddings(self) -> nn.Module:
        return self.encoder.embeddings

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.layers

    @property
    def pooler(self) -> nn.Linear:
        return self.encoder.pooler

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_positions: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        bert, P = self.encoder, len(self.soft_prompt)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids (B, T) and inputs_embeds (B, T, d_model)")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        words = bert.embeddings.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        if words.dim() != 3:
            raise ValueError(f"inputs_embeds must be (batch, seq_len, d_model), got shape {tuple(words.shape)}")
        B, T = words.shape[:2]
        if P + T > bert.config.max_len:
            raise ValueError(f"{P} prompt vectors + {T} tokens exceed max_len {bert.config.max_len}")
        if attention_mask is not None and attention_mask.shape != (B, T):
            raise ValueError(f"attention_mask must be (batch={B}, {T}), got shape {tuple(attention_mask.shape)}")
        x = torch.cat([self.soft_prompt(B).to(words.dtype), words], dim=1)  # (B, P + T, C)
        if attention_mask is not None:  # P more key columns, visible to every token
            attention_mask = torch.cat([attention_mask.new_ones(B, P), attention_mask], dim=1)
        if token_type_ids is not None:  # the prompt is segment A
            token_type_ids = torch.cat([token_type_ids.new_zeros(B, P), token_type_ids], dim=1)
        if output_positions is None:
            h, _ = bert(None, token_type_ids, attention_mask, inputs_embeds=x)  # (B, P + T, C)
            h = h[:, P:]  # (B, T, C): the input's tokens, [CLS] first
            return h, torch.tanh(bert.pooler(h[:, 0]))
        if output_positions.dim() != 2 or output_positions.size(0) != B:
            raise ValueError(f"output_positions must be (batch={B}, n), got shape {tuple(output_positions.shape)}")
        keep = torch.cat([output_positions.new_zeros(B, 1), output_positions], dim=1) + P  # [CLS] + the asked, shifted
        h, _ = bert(None, token_type_ids, attention_mask, output_positions=keep, inputs_embeds=x)  # (B, 1 + n, C)
        return h[:, 1:], torch.tanh(bert.pooler(h[:, 0]))


# --------------------------------------------------------------------------------------------
# GPT: the same two steps as hooks on its forward (it has no inner module that reads the ids)
# --------------------------------------------------------------------------------------------

_GPT_ARGS = ("input_ids", "attention_mask", "past_kv", "position_ids", "inputs_embeds")


def _gpt_prompt_in_front(gpt: GPT, args: tuple, kwargs: dict):
    """Forward pre-hook: ids → vectors with the prompt in front, the mask widened by P ones."""
    call = {**dict(zip(_GPT_ARGS, args)), **kwargs}
    prompt = gpt.soft_prompt
    P, past, mask = len(prompt), call.get("past_kv"), call.get("attention_mask")
    ids, embeds = call.get("input_ids"), call.get("inputs_embeds")
    prompt.prepended = False
    if (ids is None) == (embeds is None) or (ids is not None and ids.dim() != 2) or (
            embeds is not None and embeds.dim() != 3):
        return None  # GPT.forward says what is wrong
    if call.get("position_ids") is not None:
        raise ValueError("a soft prompt takes positions 0..P-1 and the input P..P+T-1: position_ids are not "
                         "supported with it (PEFT ignores them with a warning)")
    B, T = (ids if embeds is None else embeds).shape[:2]
    cached = 0 if past is None else len(past[0])  # a cache this model filled holds the prompt already
    if cached == 0:
        if P + T > gpt.config.max_len:
            raise ValueError(f"{P} prompt vectors + {T} tokens exceed max_len {gpt.config.max_len}")
        words = gpt.wte(ids) if embeds is None else embeds  # (B, T, C)
        call["input_ids"] = None
        call["inputs_embeds"] = torch.cat([prompt(B).to(words.dtype), words], dim=1)  # (B, P + T, C)
        prompt.prepended = True
    if mask is not None and mask.shape == (B, max(cached - P, 0) + T):  # the caller's tokens: add the prompt's
        call["attention_mask"] = torch.cat([mask.new_ones(B, P), mask], dim=1)
    elif mask is not None and cached == 0:
        raise ValueError(f"attention_mask must be (batch={B}, {T}), got shape {tuple(mask.shape)}")
    return (), call


def _gpt_drop_prompt(gpt: GPT, args: tuple, kwargs: dict, logits: torch.Tensor) -> torch.Tensor:
    """Forward hook: the logits of the input's tokens only, (B, T, V)."""
    return logits[:, len(gpt.soft_prompt):] if gpt.soft_prompt.prepended else logits


# --------------------------------------------------------------------------------------------
# Applying it
# --------------------------------------------------------------------------------------------


def _word_embeddings(model: nn.Module) -> nn.Embedding:
    if isinstance(model, GPT):
        return model.wte
    if isinstance(getattr(model, "bert", None), BertModel):
        return model.bert.embeddings.word_embeddings
    if isinstance(model, BertModel):
        raise ValueError("apply_soft_prompt takes a model that holds its encoder as .bert (BertForMaskedLM, "
                         "BertForSequenceClassification, ...); a bare BertModel takes a prompt directly: "
                         "bert(inputs_embeds=torch.cat([prompt, bert.embeddings.word_embeddings(ids)], 1), ...)")
    raise ValueError(f"apply_soft_prompt needs the course's GPT or a BERT model with .bert (BertForMaskedLM, "
                     f"BertForSequenceClassification, BertMeanPoolClassifier, ...), got {type(model).__name__}")


def _special_ids(tok) -> set[int]:
    return {i for i, t in tok.get_added_tokens_decoder().items() if getattr(t, "special", False)}


def _init_vectors(E: torch.Tensor, length: int, init: str, tok, text: str | None, seed: int) -> torch.Tensor:
    """The P starting vectors (P, d) from the word-embedding matrix E (V, d)."""
    V, d = E.shape
    g = torch.Generator().manual_seed(seed)
    if init == "text":
        if tok is None or not isinstance(text, str) or not text.strip():
            raise ValueError('init="text" needs tok= (the model\'s tokenizer) and a non-empty text=')
        with _plain(tok):
            ids = tok.encode(text, add_special_tokens=False).ids
        if not ids:
            raise ValueError(f"text {text!r} gives no tokens")
        if max(ids) >= V:
            raise ValueError(f"text {text!r} has token ids up to {max(ids)}, beyond the model's {V} embeddings: "
                             "is tok the model's tokenizer?")
        ids = (ids * (length // len(ids) + 1))[:length]  # repeated, then cut to P
        return E[torch.tensor(ids, device=E.device)].detach().clone()
    if text is not None:
        raise ValueError(f'text= is only used by init="text", not init={init!r}')
    if init == "vocab":
        pool = torch.arange(V)
        if tok is not None:
            special = _special_ids(tok)
            pool = pool[~torch.isin(pool, torch.tensor(sorted(special), dtype=torch.long))] if special else pool
        if length > len(pool):
            raise ValueError(f'init="vocab" draws {length} distinct tokens but the vocabulary has {len(pool)}')
        ids = pool[torch.randperm(len(pool), generator=g)[:length]]
        return E[ids.to(E.device)].detach().clone()
    if init == "random":
        std = float(E.detach().float().std())
        return (torch.randn(length, d, generator=g) * std).to(device=E.device, dtype=E.dtype)
    raise ValueError(f"unknown init {init!r}; choose one of {PROMPT_INITS}")


def _attach(model: nn.Module, length: int, heads: tuple[str, ...]) -> SoftPrompt:
    """Put a soft prompt of ``length`` vectors in front of ``model``'s input; freeze all but it and the heads."""
    E = _word_embeddings(model).weight
    prompt = SoftPrompt(length, E.size(1)).to(device=E.device, dtype=E.dtype)
    if isinstance(model, GPT):
        if hasattr(model, "soft_prompt"):
            raise ValueError("the model already has an attribute `soft_prompt`")
        model.soft_prompt = prompt
        model.register_forward_pre_hook(_gpt_prompt_in_front, with_kwargs=True)
        model.register_forward_hook(_gpt_drop_prompt, with_kwargs=True)
    else:
        model.bert = WithSoftPrompt(model.bert, prompt)
    freeze_except(model, lambda name, p: p is prompt.embedding.weight, heads)
    return prompt


def apply_soft_prompt(model: nn.Module, length: int = 20, init: str = "vocab", tok=None, text: str | None = None,
                      seed: int = 0, heads: Iterable[str] = DEFAULT_HEADS) -> nn.Module:
    """Put ``length`` trainable vectors in front of ``model``'s input and freeze everything else.

    ``model``: the course's ``GPT``, or a BERT model with ``.bert`` (classifier, masked LM, ...).
    ``init``: ``"text"`` (needs ``tok`` and ``text``), ``"vocab"`` or ``"random"`` (the module's
    docstring says what each does); ``seed`` fixes the draws. The task head(s) ``heads`` stay
    trainable, as with every method. Returns the model; its outputs keep the input's positions
    (B, T, ...).
    """
    _require_fresh(model)
    heads = tuple(heads)
    if init not in PROMPT_INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {PROMPT_INITS}")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"soft prompt length must be an int >= 1, got {length!r}")
    vectors = _init_vectors(_word_embeddings(model).weight, length, init, tok, text, seed)  # (P, d)
    prompt = _attach(model, length, heads)
    with torch.no_grad():
        prompt.embedding.weight.copy_(vectors)
    _set_spec(model, {"method": "soft_prompt", "length": length, "init": init, "text": text, "seed": seed,
                      "heads": list(heads)})
    return model


def _apply_for_load(model: nn.Module, length: int, init: str, text: str | None, seed: int, heads) -> nn.Module:
    """What ``load_delta`` calls: the same prompt slot (its values come from the file, so no tokenizer is needed)."""
    _require_fresh(model)
    _attach(model, length, tuple(heads))
    _set_spec(model, {"method": "soft_prompt", "length": length, "init": init, "text": text, "seed": seed,
                      "heads": list(heads)})
    return model


register_method("soft_prompt", _apply_for_load)
