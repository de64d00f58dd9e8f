# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 01 — the NNLM forward pass, perplexity, parameter count (神经网络语言模型)
#
# Chapter 01 trained Bengio's neural language model with the package's `NNLM`. Here you write
# its pieces yourself with plain tensor operations: the forward pass from the parameter
# tensors, the perplexity of a context-window model, and the number of parameters of a
# configuration. Then one open question on the embedding as a by-product.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it prints which tests pass, a hint, and your points.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 4 + 3 + 3 checked automatically, and 4 for the open question, graded by your instructor.

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
from torch.nn import functional as F

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. The NNLM forward pass (4 points)
#
# The model predicts word t from the n−1 words before it. Each context word is looked up in
# **one shared** matrix C (V × m), the n−1 vectors are concatenated (oldest word first) into
# x of size (n−1)·m, and
#
# $$y = b + W x + U \tanh(d + H x), \qquad P(w_t = i \mid \text{context}) = \operatorname{softmax}(y)_i .$$
#
# Write `nnlm_logits(x, C, H, d, U, b, W=None)`: `x` is a (B, n−1) tensor of word ids, `C` is
# (V, m), `H` is (h, (n−1)·m), `d` is (h,), `U` is (V, h), `b` is (V,), and `W` is
# (V, (n−1)·m) or `None` (no direct connections). Return the logits y, a (B, V) tensor.
# Use tensor operations only (no `nn.Module`); the tests compare with the package's
# `nnlm_forward`.

# %%
def nnlm_logits(x, C, H, d, U, b, W=None):
    """y = b + W·x + U·tanh(d + H·x) for a batch of contexts; returns (B, V) logits."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: look up each context word's vector in the one shared matrix C and concatenate them, oldest word first; the logits are the output bias plus U times the tanh of (H times that concatenation plus d), plus W times the concatenation when there are direct connections")


# %%
check("01.forward", nnlm_logits)


# %% [markdown]
# ## 2. Perplexity of a context-window model (3 points)
#
# A window model such as the NNLM gives one row of logits per context, and the target is the
# word that really came next. Its perplexity is
#
# $$\mathrm{PPL} = \exp\Big(-\frac{1}{B}\sum_{k=1}^{B} \log \operatorname{softmax}(y_k)_{t_k}\Big).$$
#
# Write `window_perplexity(logits, targets)`: `logits` is (B, V), `targets` is (B,) word ids.
# Return a Python float. Mind the numbers: logits of a trained model can be large.

# %%
def window_perplexity(logits, targets):
    """exp(mean cross-entropy of the targets under softmax(logits))."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: turn each row of logits into log-probabilities in a numerically stable way, take the log-probability of each row's target word, average over the batch, negate, and exponentiate")


# %%
check("01.perplexity", window_perplexity)


# %% [markdown]
# ## 3. Counting the parameters (3 points)
#
# Write `nnlm_num_params(vocab_size, context, d_emb, d_hidden, direct)`: the number of free
# parameters of an NNLM with V = `vocab_size` words, n − 1 = `context` words of history,
# m = `d_emb`, h = `d_hidden`, and direct connections W when `direct` is true. Count C, H, d,
# U, b (and W). Return an int. The tests compare with the package's `NNLM`.

# %%
def nnlm_num_params(vocab_size, context, d_emb, d_hidden, direct=True):
    """Number of parameters of C, H, d, U, b (and W when direct)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: count the entries of every parameter tensor of the model from its shape — the shared embedding table, the hidden layer and its bias, the output layer and its bias, and the direct connections only when they are present — and add them up")


# %%
check("01.params", nnlm_num_params)

# %% [markdown]
# How are the parameters split in the paper's Brown model? (Run it after section 3.)

# %%
try:
    total = nnlm_num_params(16383, 4, 60, 100, True)
    print(f"all parameters: {total:,}")
    print(f"of which C (the embeddings): {16383 * 60:,} = {16383 * 60 / total:.0%}")
except NotImplementedError:
    print("write nnlm_num_params above first")

# %% [markdown]
# ## 4. Open question: the embedding as a by-product (4 points, graded by your instructor)
#
# The notes say of the NNLM: 基于语言模型训练, 词嵌入只是NNLM的一个产物 — it is trained as a
# language model, and the word embedding is only a by-product. In 4 to 8 sentences, written
# into `reflection`:
#
# - why do words used in similar contexts end up with similar rows of C, although no loss
#   ever looks at C directly?
# - which part of the NNLM is the most expensive per example (see section 3), and what did
#   word2vec change about it?
# - name one limit of the fixed window of n − 1 words.

# %%
reflection = """
"""

# %%
check("01.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("01")
