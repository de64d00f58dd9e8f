"""Generating text with a decoder: greedy, temperature, top-k, top-p, and the KV cache.

    ids = generate(model, prompt_ids, max_new_tokens=50, temperature=0.8, top_p=0.95,
                   generator=torch.Generator().manual_seed(0))

A causal LM gives p(x_t | x_<t) at every position; generating repeats one step: run the model,
take the logits of the LAST position, turn them into a distribution, draw the next token,
append it, go again. The knobs act on those last logits, in this order (as in Hugging Face's
``generate``):

1. ``temperature`` τ: logits / τ. τ < 1 sharpens the distribution, τ > 1 flattens it;
   τ = 0 means greedy (argmax, no randomness).
2. ``top_k``: keep the k largest logits, −∞ elsewhere (:func:`top_k_filter`).
3. ``top_p`` (nucleus sampling, Holtzman et al. 2020): keep the smallest set of tokens whose
   probabilities sum to at least p (:func:`top_p_filter`).

**The KV cache.** Without it, step t recomputes every projection and all t² attention scores
of the t tokens so far. With it (``use_cache=True``), the prompt is run once and each layer keeps
its keys and values in a :class:`~ptm_course.models.transformer.KVCache`; each step then feeds
only the newest token, whose query attends to the cached keys: O(t) work per step instead of
O(t²), for exactly the same logits.

The model contract (``GPT`` and the Llama-layout decoder both follow it):
``model(input_ids, attention_mask=None, past_kv=None) -> logits (B, T, V)``, ``model.new_cache()``
returns one empty ``KVCache`` per layer, and ``model.config.max_len`` is the longest sequence.

**Batched prompts of different lengths** are left-padded: pass ``attention_mask`` (B, T) with 0 on
the padding. The model takes positions from the mask (the first real token is position 0), and
padded keys are never attended to, so each row generates what it would generate alone.
"""

from __future__ import annotations

import torch

__all__ = ["generate", "sample_next", "top_k_filter", "top_p_filter"]


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (…, V), set the rest to −∞.

    >>> top_k_filter(torch.tensor([1., 3., 2., 0.]), 2).tolist()
    [-inf, 3.0, 2.0, -inf]
    """
    if k <= 0:
        raise ValueError(f"top_k must be a positive integer, got {k}")
    k = min(k, logits.size(-1))
    kth = logits.topk(k, dim=-1).values[..., -1:]  # (…, 1): the k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of tokens whose probability sums to ≥ p (at least one).

    Sort by probability, descending; a token is kept if the mass of the tokens ranked above it
    is still below p.

    >>> [round(q, 4) for q in top_p_filter(torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])), 0.7).exp().tolist()]
    [0.5, 0.3, 0.0, 0.0]
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_above = probs.cumsum(dim=-1) - probs  # (…, V): the mass ranked strictly above each token
    drop_sorted = mass_above >= p
    drop_sorted[..., 0] = False  # the most likely token always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from the last-position logits (B, V): (B, 1) ids.

    ``temperature=0`` is greedy decoding; otherwise temperature, then top-k, then top-p, then a
    draw from the softmax with ``generator`` (same seed → same tokens).
    """
    if logits.dim() != 2:
        raise ValueError(f"sample_next takes the last position's logits (batch, vocab), got shape {tuple(logits.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0 (0 = greedy), got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(model: torch.nn.Module, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None, attention_mask: torch.Tensor | None = None,
             eos_token_id: int | None = None) -> torch.Tensor:
    """Continue ``input_ids`` (B, T) by ``max_new_tokens``: (B, T + max_new_tokens) ids.

    ``attention_mask`` (B, T): 0 on left padding of shorter prompts. ``eos_token_id``: a row that
    produced it keeps producing it, and generation stops early once every row has (the result is
    then shorter). ``use_cache=False`` recomputes the whole sequence at every step (same tokens,
    slower: the reference the cache is tested against).
    """
    if input_ids.dim() != 2 or input_ids.size(1) == 0:
        raise ValueError(f"input_ids must be (batch, prompt_len) with prompt_len ≥ 1, got shape {tuple(input_ids.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be ≥ 0, got {max_new_tokens}")
    max_len = model.config.max_len
    if input_ids.size(1) + max_new_tokens > max_len:
        raise ValueError(f"prompt ({input_ids.size(1)}) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                         f"max_len {max_len}: shorten the prompt or generate fewer tokens")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask {tuple(attention_mask.shape)} must match input_ids {tuple(input_ids.shape)}")
    was_training = model.training
    model.eval()
    ids, mask = input_ids, attention_mask
    cache = model.new_cache() if use_cache else None
    step_input = ids  # with the cache: the whole prompt once, then one token per step
    done = torch.zeros(ids.size(0), dtype=torch.bool, device=ids.device)
    for _ in range(max_new_tokens):
        logits = model(step_input if use_cache else ids, attention_mask=mask, past_kv=cache)[:, -1]  # (B, V)
        next_id = sample_next(logits, temperature, top_k, top_p, generator)  # (B, 1)
        if eos_token_id is not None:
            next_id = next_id.masked_fill(done[:, None], eos_token_id)
            done |= next_id[:, 0] == eos_token_id
        ids = torch.cat([ids, next_id], dim=1)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        step_input = next_id
        if eos_token_id is not None and bool(done.all()):
            break
    model.train(was_training)
    return ids
