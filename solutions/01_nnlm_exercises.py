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
    ### BEGIN SOLUTION hint: look up each context word's vector in the one shared matrix C and concatenate them, oldest word first; the logits are the output bias plus U times the tanh of (H times that concatenation plus d), plus W times the concatenation when there are direct connections
    B = x.size(0)
    e = C[x].reshape(B, -1)  # (B, (n-1)·m): the n-1 rows of C side by side
    y = torch.tanh(e @ H.T + d) @ U.T + b
    if W is not None:
        y = y + e @ W.T  # the direct connections
    return y
    ### END SOLUTION


# %%
check("01.forward", nnlm_logits)
### BEGIN HIDDEN TESTS
from ptm_course.embeddings import NNLM, NNLMConfig
from ptm_course.grading import evaluate

torch.manual_seed(0)
model = NNLM(NNLMConfig.tiny(vocab_size=20))
torch.nn.init.normal_(model.W.weight)  # the package starts W at zero; make it matter
xs = torch.randint(0, 20, (4, 3))
ours = nnlm_logits(xs, model.C.weight, model.H.weight, model.H.bias, model.U.weight, model.b, model.W.weight)
assert torch.allclose(ours, model(xs), atol=1e-5)
assert evaluate("01.forward", nnlm_logits).status == "passed"
### END HIDDEN TESTS

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
    ### BEGIN SOLUTION hint: turn each row of logits into log-probabilities in a numerically stable way, take the log-probability of each row's target word, average over the batch, negate, and exponentiate
    logp = torch.log_softmax(logits.double(), dim=-1)
    nll = -logp[torch.arange(len(targets)), targets].mean()
    return math.exp(float(nll))
    ### END SOLUTION


# %%
check("01.perplexity", window_perplexity)
### BEGIN HIDDEN TESTS
lg, tg = torch.randn(10, 7), torch.randint(0, 7, (10,))
assert abs(window_perplexity(lg, tg) - math.exp(F.cross_entropy(lg, tg).item())) < 1e-4
assert evaluate("01.perplexity", window_perplexity).status == "passed"
### END HIDDEN TESTS

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
    ### BEGIN SOLUTION hint: count the entries of every parameter tensor of the model from its shape — the shared embedding table, the hidden layer and its bias, the output layer and its bias, and the direct connections only when they are present — and add them up
    V, n1, m, h = vocab_size, context, d_emb, d_hidden
    total = V * m + h * n1 * m + h + V * h + V
    if direct:
        total += V * n1 * m
    return total
    ### END SOLUTION


# %%
check("01.params", nnlm_num_params)
### BEGIN HIDDEN TESTS
# Bengio et al. (2003): |θ| = V(1 + n·m + h) + h(1 + (n−1)·m) with direct connections
V, n, m, h = 17964, 5, 30, 50
assert nnlm_num_params(V, n - 1, m, h, True) == V * (1 + n * m + h) + h * (1 + (n - 1) * m)
assert evaluate("01.params", nnlm_num_params).status == "passed"
### END HIDDEN TESTS

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
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
C is trained only through the language-model loss: the gradient of −log P(next word) flows
back through the hidden layer into the rows of C of the context words. Two words that appear in
similar contexts have to produce similar predictions, and the cheapest way to do that is to give
them similar rows, so similarity in C is a side effect of predicting well. The most expensive part
is the output: the full softmax over all V words needs U·a, that is V·h multiplications per
example, plus the tanh hidden layer; word2vec drops the hidden layer and replaces the full
softmax by hierarchical softmax or negative sampling. The fixed window is a limit: the model sees
only n − 1 words of history, and it still gives one vector per word type, whatever the sense.
"""
### END SOLUTION

# %%
check("01.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("01")
