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
# # Exercises 03 — GloVe: the weighting, one AdaGrad step, the co-occurrence counts
#
# Chapter 03 counted the global co-occurrence matrix of WikiText-2 and fitted GloVe to it with
# the package's functions. Here you write them yourself: the weighting function f, one AdaGrad
# update of glove.c on one co-occurrence record, and the co-occurrence counts of a toy corpus.
# Then one open question on global counts against local windows.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it prints which tests pass, a hint, and your points.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 3 + 4 + 4 checked automatically, and 4 for the open question, graded by your instructor.

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

import numpy as np
import torch

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. The weighting function (3 points)
#
# GloVe fits w_i·w̃_j + b_i + b̃_j ≈ log X_ij by weighted least squares,
# J = Σ f(X_ij)(w_i·w̃_j + b_i + b̃_j − log X_ij)², with
#
# $$f(x) = \begin{cases} (x / x_{\max})^{\alpha} & x < x_{\max} \\ 1 & \text{otherwise.} \end{cases}$$
#
# Write `weight_fn(x, x_max=100.0, alpha=0.75)` for a tensor `x` of counts, element-wise;
# return a tensor of the same shape.

# %%
def weight_fn(x, x_max=100.0, alpha=0.75):
    """GloVe's f(x), element-wise."""
    ### BEGIN SOLUTION hint: below x_max the weight is x divided by x_max, raised to the power alpha; from x_max on it is exactly 1; apply this to every element of the tensor
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    ### END SOLUTION


# %%
check("03.weight", weight_fn)
### BEGIN HIDDEN TESTS
from ptm_course.grading import evaluate

assert float(weight_fn(torch.tensor([100.0]))[0]) == 1.0
assert evaluate("03.weight", weight_fn).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One AdaGrad step (4 points)
#
# glove.c trains with AdaGrad, one co-occurrence record (i, j, X_ij) at a time. The parameters
# come in a dict `params` of tensors: word vectors `W` (V, d), context vectors `W_ctx` (V, d),
# biases `b`, `b_ctx` (V,), and the running sums of squared steps `G`, `G_ctx` (V, d) and
# `Gb`, `Gb_ctx` (V,), which glove.c starts at **1.0**. One step on record (i, j, x):
#
# ```text
# diff  = w_i·w̃_j + b_i + b̃_j − log x
# fdiff = f(x) · diff
# t_i   = η · clip(fdiff · w̃_j, ±grad_clip)       t_j = η · clip(fdiff · w_i, ±grad_clip)   (old w_i, w̃_j!)
# w_i  −= t_i / √G_i                              w̃_j −= t_j / √G̃_j
# G_i  += t_i²                                    G̃_j += t_j²
# b_i  −= fdiff / √Gb_i                           b̃_j −= fdiff / √Gb̃_j          (no η: glove.c's quirk)
# Gb_i += fdiff²                                  Gb̃_j += fdiff²
# ```
#
# Write `glove_update(params, i, j, x_ij, eta=0.05, x_max=100.0, alpha=0.75, grad_clip=100.0)`:
# update the eight tensors **in place** (e.g. `params["W"][i] -= ...`) and return the record's
# cost ½·f(x)·diff² as a float. The tests compare with the package's `glove_adagrad_step`.

# %%
def glove_update(params, i, j, x_ij, eta=0.05, x_max=100.0, alpha=0.75, grad_clip=100.0):
    """One in-place AdaGrad step of GloVe on record (i, j, x_ij); returns ½·f·diff²."""
    ### BEGIN SOLUTION hint: the error is the word and context vectors' dot product plus both biases minus log x_ij, weighted by f(x_ij); each vector steps by eta times that weighted error times the other vector (both computed from the old values, each component clipped), divided by the square root of its running sum G, which then grows by the squared step; the biases step by the weighted error alone
    W, W_ctx, b, b_ctx = params["W"], params["W_ctx"], params["b"], params["b_ctx"]
    G, G_ctx, Gb, Gb_ctx = params["G"], params["G_ctx"], params["Gb"], params["Gb_ctx"]
    wi, wj = W[i].clone(), W_ctx[j].clone()  # both updates read the old vectors
    diff = float(wi @ wj + b[i] + b_ctx[j]) - math.log(x_ij)
    f = (x_ij / x_max) ** alpha if x_ij < x_max else 1.0
    fdiff = f * diff
    t_i = (fdiff * wj).clamp(-grad_clip, grad_clip) * eta
    t_j = (fdiff * wi).clamp(-grad_clip, grad_clip) * eta
    W[i] -= t_i / G[i].sqrt()
    W_ctx[j] -= t_j / G_ctx[j].sqrt()
    G[i] += t_i * t_i
    G_ctx[j] += t_j * t_j
    b[i] -= fdiff / math.sqrt(float(Gb[i]))
    b_ctx[j] -= fdiff / math.sqrt(float(Gb_ctx[j]))
    Gb[i] += fdiff * fdiff
    Gb_ctx[j] += fdiff * fdiff
    return 0.5 * fdiff * diff
    ### END SOLUTION


# %%
check("03.adagrad", glove_update)
### BEGIN HIDDEN TESTS
# Many steps on one record drive its error towards 0.
p = {"W": torch.full((2, 3), 0.1, dtype=torch.float64), "W_ctx": torch.full((2, 3), 0.1, dtype=torch.float64),
     "b": torch.zeros(2, dtype=torch.float64), "b_ctx": torch.zeros(2, dtype=torch.float64),
     "G": torch.ones(2, 3, dtype=torch.float64), "G_ctx": torch.ones(2, 3, dtype=torch.float64),
     "Gb": torch.ones(2, dtype=torch.float64), "Gb_ctx": torch.ones(2, dtype=torch.float64)}
costs = [glove_update(p, 0, 1, 20.0) for _ in range(200)]
assert costs[-1] < 0.01 * costs[0]
assert evaluate("03.adagrad", glove_update).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Co-occurrence counts (4 points)
#
# GloVe's matrix X counts, over the whole corpus, how often word j appears near word i. Like
# glove.c's `cooccur`, the window is **symmetric** (`window` words on each side), it never
# crosses a sentence boundary, and an occurrence at distance k adds **1/k**.
#
# Write `cooccurrence_counts(sentences, vocab_size, window)`: `sentences` is a list of
# sentences, each a list of word ids. Return the dense `vocab_size × vocab_size` matrix X (a
# NumPy array, a tensor or a list of lists). Example: the one sentence `[0, 1, 2, 0]` with
# window 2 gives `[[0, 1.5, 1.5], [1.5, 0, 1], [1.5, 1, 0]]`.

# %%
def cooccurrence_counts(sentences, vocab_size, window):
    """Symmetric, 1/distance-weighted co-occurrence counts within each sentence."""
    ### BEGIN SOLUTION hint: inside each sentence, every pair of words at distance k between 1 and window adds 1/k to the cell of the pair in both orders; pairs never cross a sentence boundary
    X = np.zeros((vocab_size, vocab_size))
    for sent in sentences:
        for t, w in enumerate(sent):
            for k in range(1, window + 1):
                if t + k >= len(sent):
                    break
                c = sent[t + k]
                X[w, c] += 1.0 / k
                X[c, w] += 1.0 / k
    return X
    ### END SOLUTION


# %%
check("03.cooccur", cooccurrence_counts)
### BEGIN HIDDEN TESTS
from ptm_course.embeddings.glove import cooccurrence_matrix

sents = [[0, 3, 1, 3, 2], [4, 4], [1]]
ref = cooccurrence_matrix(np.array([w for s in sents for w in s]), np.array([k for k, s in enumerate(sents) for _ in s]), 5, window=2)
assert np.allclose(cooccurrence_counts(sents, 5, 2), ref.toarray())
assert evaluate("03.cooccur", cooccurrence_counts).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Open question: global counts against local windows (4 points, graded by your instructor)
#
# The notes' table calls word2vec's corpus scope 局部语料 (local) and GloVe's 全局语料 (global).
# In 4 to 8 sentences, written into `reflection`:
#
# - what does each model look at in one update, and what does GloVe fit to?
# - what does the weighting f do to rare pairs, frequent pairs, and pairs never seen?
# - name one practical consequence of counting first (time per epoch, memory).

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
word2vec slides a window over the corpus and updates the vectors on each local window as it
goes, so every occurrence is one training step. GloVe first counts, once, over the whole corpus
how often each word j appears near each word i (the global matrix X), and then fits
w_i·w̃_j + b_i + b̃_j to log X_ij by weighted least squares over the non-zero cells. The weight
f(x) = (x/x_max)^0.75 gives rare, noisy pairs little weight and caps frequent pairs at 1 so that
"the, of" does not dominate; pairs never seen (X_ij = 0, where log X_ij is undefined) are simply
left out and cost nothing. A practical consequence: after one counting pass, an epoch visits the
non-zero cells of X, whose number grows much more slowly than the corpus, but X has to be kept in
memory (sparse, still large for a big vocabulary).
"""
### END SOLUTION

# %%
check("03.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("03")
