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
# # Exercises 07 — attention, Masked LM, Next Sentence Prediction (BERT 预训练: Masked LM, NSP)
#
# Chapter 07 built BERT's encoder and its two pre-training tasks with the course package. Here
# you write the three small pieces at their heart yourself: attention that ignores padding, the
# 80/10/10 corruption of Masked LM, and the `[CLS] A [SEP] B [SEP]` input of Next Sentence Prediction.
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
# Points: 4 + 4 + 4, checked automatically.

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

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. Scaled dot-product attention with a padding mask (4 points)
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}} + M\right) V,
# \qquad M_{ij} = -\infty \text{ when key } j \text{ is padding, else } 0.$$
#
# Write `masked_attention(q, k, v, attention_mask)`: `q`, `k`, `v` are `(B, T, d)` tensors,
# `attention_mask` is `(B, T)` with 1 for real tokens and 0 for padding. Return the `(B, T, d)`
# output. Padding is masked as a **key** (a column of the score matrix): no token attends to it.
# (Every sequence has at least one real token, so no row is all −∞.)

# %%
def masked_attention(q, k, v, attention_mask):
    """softmax(q·kᵀ/√d + M)·v with M = -inf on padding keys; shapes (B, T, d) and (B, T)."""
    ### BEGIN SOLUTION hint: scores (B, T, T) = q @ k.transpose(-2, -1) / sqrt(d); mask columns where attention_mask == 0
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, T, T)
    scores = scores.masked_fill(attention_mask[:, None, :] == 0, float("-inf"))
    return scores.softmax(dim=-1) @ v
    ### END SOLUTION


# %%
check("07.attention", masked_attention)
### BEGIN HIDDEN TESTS
from ptm_course.grading import evaluate
from ptm_course.models.transformer import MultiHeadAttention, padding_mask

mha = MultiHeadAttention(8, 1).eval()
x = torch.randn(2, 5, 8)
am = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
q, k, v = mha.q_proj(x), mha.k_proj(x), mha.v_proj(x)
assert torch.allclose(mha.o_proj(masked_attention(q, k, v, am)), mha(x, mask=padding_mask(am)), atol=1e-6)
assert evaluate("07.attention", masked_attention).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The 80/10/10 rule (4 points)
#
# Masked LM selects 15 % of the tokens. A selected token is replaced by `[MASK]` 80 % of the
# time, by a random token 10 % of the time, and kept 10 % of the time. The model must predict the
# original token at every selected position, and nowhere else (label −100 = ignored).
#
# Write `corrupt(ids, selected, u, mask_id, random_ids)`, with the random draws given to you so
# that the result is deterministic: `ids` `(B, T)` token ids, `selected` `(B, T)` bool, `u`
# `(B, T)` uniform numbers in [0, 1), `random_ids` `(B, T)` the random token to use where one is
# needed. For a selected token: `u < 0.8` → `mask_id`; `0.8 ≤ u < 0.9` → `random_ids`; otherwise
# unchanged. Return `(corrupted_ids, labels)` where `labels` holds the original id at selected
# positions and −100 elsewhere. Do not modify `ids` in place.

# %%
def corrupt(ids, selected, u, mask_id, random_ids):
    """BERT's 80/10/10 corruption of the selected tokens; returns (corrupted ids, labels)."""
    ### BEGIN SOLUTION hint: use torch.where three times: labels, then [MASK] where selected & (u < 0.8), then random ids where selected & 0.8 <= u < 0.9
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    out = torch.where(selected & (u < 0.8), torch.full_like(ids, mask_id), ids)
    out = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, out)
    return out, labels
    ### END SOLUTION


# %%
check("07.corrupt", corrupt)
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(0)
ids = torch.randint(5, 1000, (64, 64), generator=g)
selected = torch.rand(64, 64, generator=g) < 0.15
out, labels = corrupt(ids, selected, torch.rand(64, 64, generator=g), 4, torch.randint(5, 1000, (64, 64), generator=g))
assert abs(float((out[selected] == 4).float().mean()) - 0.8) < 0.05
assert evaluate("07.corrupt", corrupt).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. An NSP input (4 points)
#
# Next Sentence Prediction reads `[CLS] A [SEP] B [SEP]`; the segment (token type) id is 0 for
# `[CLS]`, the tokens of A and the first `[SEP]`, and 1 for the tokens of B and the last `[SEP]`.
#
# Write `nsp_input(a, b, cls_id, sep_id, max_len)`: `a` and `b` are lists of token ids. If the
# pair is too long (`len(a) + len(b) + 3 > max_len`), remove tokens from the **end of the longer**
# of the two, one at a time (from A when they are equally long), until it fits — the rule of
# BERT's original data code. Return `(input_ids, token_type_ids)`, two lists of the same length.
#
# Example: `nsp_input([7, 8, 9], [5], 2, 3, max_len=6)` returns `([2, 7, 8, 3, 5, 3], [0, 0, 0, 0, 1, 1])`.

# %%
def nsp_input(a, b, cls_id, sep_id, max_len):
    """[CLS] a [SEP] b [SEP] and its segment ids, the longer side truncated to fit max_len."""
    ### BEGIN SOLUTION hint: copy a and b, then while len(a) + len(b) > max_len - 3: pop from the longer one
    a, b = list(a), list(b)
    while len(a) + len(b) > max_len - 3:
        (b if len(b) > len(a) else a).pop()
    ids = [cls_id, *a, sep_id, *b, sep_id]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return ids, types
    ### END SOLUTION


# %%
check("07.nsp_input", nsp_input)
### BEGIN HIDDEN TESTS
assert nsp_input([7, 8, 9], [5], 2, 3, 6) == ([2, 7, 8, 3, 5, 3], [0, 0, 0, 0, 1, 1])
assert evaluate("07.nsp_input", nsp_input).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("07")
