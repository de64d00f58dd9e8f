# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 11 — rel_shift, XLNet's masks, what a target sees, what the memory buys (Transformer-XL, XLNet)
#
# Chapter 11 gave Transformer-XL relative positions and a memory of the previous segments, and
# built XLNet's permutation language model on top. Here you write the pieces that are easiest to
# get wrong: the `rel_shift` that moves position scores from distance order into key order, the
# content- and query-stream masks of a factorisation order, the positions a target may read, and
# a measurement of what the memory buys on a small model.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it shows which tests pass, what was expected, a hint,
#    and your points. Run it as often as you like.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 4 + 4 + 4 + 4, checked automatically.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import math

import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. `rel_shift` (4 points)
#
# Transformer-XL computes the position part of its attention scores, (q_i + v)·W_r R, once per
# (query, **distance**) pair: an input `x` of shape `(..., T_q, R)` whose column c belongs to the
# distance R − 1 − c (the largest distance first, 0 last). The T_q queries are the last T_q of R
# keys (the first R − T_q keys are the memory), so query i meets key j at distance
# (R − T_q) + i − j, which sits in column **c = j + T_q − 1 − i**.
#
# Write `shift_to_keys(x)`: the same scores in (query, **key**) order,
# `out[..., i, j] = x[..., i, j + T_q − 1 − i]`, with the shape of `x`. Only the entries where
# key j is at or before query i are graded (a causal model masks the others). The paper's trick
# needs no index tensor: pad a zero column on the left, reshape `(T_q, R + 1)` → `(R + 1, T_q)`,
# drop the first row, reshape back to `(T_q, R)`. (An index-based answer with `gather` is fine too.)

# %%
def shift_to_keys(x):
    """(..., T_q, R) scores by distance column -> (..., T_q, R) by key: out[..., i, j] = x[..., i, j + T_q - 1 - i]."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: follow the paper's trick on the last two dimensions only: pad, reshape to the other shape, drop one row, reshape back; check it on a small labelled matrix")


# %%
check("11.rel_shift", shift_to_keys)

# %% [markdown]
# Each cell of `by_distance` holds the distance of its column; after the shift, row i should read
# (R − T_q + i) − j along its keys (the upper right is garbage that causality hides):

# %%
by_distance = torch.arange(4, -1, -1).float().expand(3, 5)
try:
    print(shift_to_keys(by_distance))
except NotImplementedError:
    print("write shift_to_keys above first")


# %% [markdown]
# ## 2. The two masks of a factorisation order (4 points)
#
# XLNet samples an order z of the T positions and predicts only the last `n_predict` of it (the
# **targets**); every other position counts as coming first, all together. With True = may attend
# and rows = the attending position i, columns = the key position j:
#
# * the **query stream** g of position i reads the content of j when j comes before i in the order:
#   a non-target reads every non-target and no target; a target reads the non-targets and the
#   targets before it, never itself;
# * the **content stream** h sees the same, plus itself (the diagonal).
#
# Write `xlnet_masks(order, n_predict)`: `order` is a permutation of `0..T−1` (a 1-D long tensor,
# `order[t]` = the t-th position of the order). Return `(content_mask, query_mask)`, two `(T, T)`
# bool tensors indexed by **position**.

# %%
def xlnet_masks(order, n_predict):
    """(content_mask, query_mask), (T, T) bool, True = may attend, for one order with the last n_predict predicted."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: give each position its place in the order, and all non-targets one shared place before every target; then compare places, row = the reader, column = the one read")


# %%
check("11.xlnet_masks", xlnet_masks)


# %% [markdown]
# ## 3. What a target may see (4 points)
#
# Write `visible_positions(order, n_predict, target)`: the positions whose content the query
# stream of the target at position `target` may read, as a sorted list of ints. (You may use your
# `xlnet_masks`, or reason it out directly from the order.)

# %%
def visible_positions(order, n_predict, target):
    """Sorted positions whose content the query stream of position `target` may read."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: the non-targets (order[:-n_predict]) and the targets that come before this one in the order, i.e. before its place in order[-n_predict:]")


# %%
check("11.visible", visible_positions)


# %% [markdown]
# ## 4. What the memory buys, measured (4 points)
#
# Write `perplexity_with_and_without_memory(model, ids, seg_len)`: read the 1-D stream `ids` as
# **one** sequence (batch 1), segment after segment — segment s is `ids[s·seg_len : (s+1)·seg_len]`,
# its targets the same slice shifted by one (the last segment may be shorter) — with a
# `TransformerXL` `model` called as `logits, mems = model(x, mems)`. Return the tuple
# `(ppl_without, ppl_with)`: without memory (every segment starts from `mems=None`) and with
# the memory the model keeps (`model.config.mem_len`). Perplexity is exp(mean NLL per token,
# natural log). Leave the model as you found it.

# %%
@torch.no_grad()
def perplexity_with_and_without_memory(model, ids, seg_len):
    """(perplexity without memory, perplexity with the model's memory) of a 1-D stream read in segments."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: one pass over the segments per setting, inputs and targets offset by one; add up the summed NLL and the number of targets, divide at the end; pass back the mems the model returns only when using memory")


# %%
check("11.memory_ppl", perplexity_with_and_without_memory)

# %% [markdown]
# Now the measurement itself. A tiny Transformer-XL learns a stream made of one random phrase of
# 20 tokens repeated over and over, in segments of 8: without memory, a segment's first tokens
# cannot know where in the phrase they are; with a memory of 16 they can.

# %%
from ptm_course.encoders import BPTTBatches
from ptm_course.models.transformer_xl import MemoryLoss, TransformerXL, TransformerXLConfig
from ptm_course.train import fit

torch.manual_seed(0)
phrase = torch.randint(0, 30, (20,))
stream = phrase.repeat(60)
tiny = TransformerXL(TransformerXLConfig.tiny(vocab_size=30, mem_len=16))
fit(tiny, BPTTBatches(stream, 4, 8), MemoryLoss(), max_steps=ctx.pick(smoke=150, cpu=300, gpu=300), lr=3e-3,
    progress=False, device="cpu")
try:
    without, with_memory = perplexity_with_and_without_memory(tiny, phrase.repeat(10), 8)
    print(f"perplexity without memory {without:.2f}, with a memory of 16 tokens {with_memory:.2f}")
except NotImplementedError:
    print("write perplexity_with_and_without_memory above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("11")
