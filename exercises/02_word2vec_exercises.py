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
# # Exercises 02 — Huffman codes, subsampling, negative sampling (word2vec)
#
# Chapter 02 trained word2vec with the package's tables and losses. Here you write them
# yourself: the Huffman tree of hierarchical softmax, the probability of keeping a frequent
# word (subsampling), the unigram^0.75 distribution the negatives are drawn from, and the
# negative-sampling loss and its gradients. Then one open question on the two ways of avoiding the
# full softmax.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it prints which tests pass, a hint, and your points.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 4 + 4 + 3 + 4 + 4 checked automatically, and 4 for the open question, graded by your
# instructor.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import heapq
import math

import torch
from torch.nn import functional as F

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. Huffman codes and inner nodes (4 points)
#
# Hierarchical softmax puts the V words at the leaves of a binary tree; word w's probability is
# the product of binary decisions along its path. word2vec (and gensim) build a **Huffman tree**
# from the counts, so frequent words get short paths:
#
# 1. Put one node per word, with its count, on a min-heap (`heapq`), in word order.
# 2. V − 1 times: pop the two nodes with the smallest counts; the **first** popped becomes the
#    left child (code 0), the second the right child (code 1) of a new inner node whose count
#    is their sum. The i-th merge (i = 0, 1, …) creates inner node **i**; push it back.
# 3. Walk down from the root (inner node V − 2): `codes[w]` are the turns from the root to leaf w,
#    `points[w]` the inner nodes on the way, root first.
#
# Ties matter for the exact codes: like gensim, compare heap items **by count only** (a small
# class with `__lt__`), not by tuples `(count, id)`.
#
# Write `huffman_codes(counts)` returning the tuple `(codes, points)`, two lists of V lists of
# ints. Example: `huffman_codes([5, 3, 2, 1])` gives codes `[[0], [1, 0], [1, 1, 1], [1, 1, 0]]`
# and points `[[2], [2, 1], [2, 1, 0], [2, 1, 0]]`.

# %%
def huffman_codes(counts):
    """(codes, points): each word's 0/1 path from the root and the inner nodes on it (root first)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: repeatedly merge the two rarest nodes into a new inner node, numbered in merge order, until one root is left; then walk from the root to every leaf, writing 0 for a step to the first-merged child and 1 for the other")


# %%
check("02.huffman", huffman_codes)

# %% [markdown]
# The average code length, weighted by the counts, is the number of inner nodes one training
# pair touches on average — compare it with log2 V:

# %%
try:
    zipf = [1000 // r for r in range(1, 201)]
    zcodes, _ = huffman_codes(zipf)
    avg = sum(c * len(code) for c, code in zip(zipf, zcodes)) / sum(zipf)
    print(f"V = {len(zipf)}: average path {avg:.2f} inner nodes, log2 V = {math.log2(len(zipf)):.2f}")
except NotImplementedError:
    print("write huffman_codes above first")


# %% [markdown]
# ## 2. Subsampling frequent words (4 points)
#
# word2vec drops some occurrences of frequent words before training. With N = Σ counts and a
# threshold t = s·N (s = `sample`, e.g. 1e-3), word2vec.c keeps each occurrence of word w with
#
# $$\text{keep}(w) = \min\Big(1,\ \Big(\sqrt{\frac{c_w}{t}} + 1\Big)\cdot\frac{t}{c_w}\Big).$$
#
# (The paper *discards* an occurrence with probability 1 − √(s/f), where f = c_w/N is the word's
# frequency, i.e. it keeps it with probability √(s/f) = √(t/c_w); the code's keep(w) = √(t/c_w) + t/c_w
# keeps a little more.) `sample = 0` switches
# subsampling off. Write `keep_prob(counts, sample)` returning one probability per word (a list,
# NumPy array or tensor).

# %%
def keep_prob(counts, sample):
    """word2vec.c's probability of keeping each occurrence of each word."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: with t the threshold sample times the total count, a word of count c is kept with probability (square root of c over t, plus one) times t over c, never more than 1; sample 0 keeps every word")


# %%
check("02.keep", keep_prob)


# %% [markdown]
# ## 3. The noise distribution (3 points)
#
# Negative sampling draws its K "noise" words from the unigram distribution raised to the power
# 3/4 and renormalised:
#
# $$P_n(w) = \frac{c_w^{0.75}}{\sum_v c_v^{0.75}}.$$
#
# Write `noise_distribution(counts, power=0.75)` returning one probability per word (list,
# array or tensor), in the order of `counts`.

# %%
def noise_distribution(counts, power=0.75):
    """P(w) ∝ count(w) ** power, normalised to sum to 1."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: raise every count to the given power, then divide each result by the sum of all of them so that the probabilities add up to 1")


# %%
check("02.noise", noise_distribution)

# %% [markdown]
# How much does the power 0.75 flatten a Zipf distribution? (Run it after section 3.)

# %%
try:
    zipf = [1000 // r for r in range(1, 201)]
    p1, p75 = noise_distribution(zipf, 1.0), noise_distribution(zipf, 0.75)
    print(f"most frequent word: {float(p1[0]):.3f} → {float(p75[0]):.3f};  rarest: {float(p1[-1]):.5f} → {float(p75[-1]):.5f}")
except NotImplementedError:
    print("write noise_distribution above first")


# %% [markdown]
# ## 4. The negative-sampling loss (4 points)
#
# For an input vector h (skip-gram: the centre word's vector v_c), the output vector v_o of the
# true context word and K negatives v_1 … v_K, the loss of one example is
#
# $$\ell = -\log\sigma(v_o\cdot h) - \sum_{k=1}^{K}\log\sigma(-v_k\cdot h).$$
#
# Write `ns_loss(h, v_pos, v_neg)`: `h` and `v_pos` are (B, d), `v_neg` is (B, K, d). Return the
# (B,) tensor of per-example losses. It must stay finite when the dot products are large.

# %%
def ns_loss(h, v_pos, v_neg):
    """Per-example negative-sampling loss, shape (B,)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: per example: the log-sigmoid of the true word's score (its dot product with h) plus, summed over the K negatives, the log-sigmoid of minus each negative's score; the loss is minus that total, computed with a log-sigmoid that stays finite for large scores")


# %%
check("02.ns_loss", ns_loss)


# %% [markdown]
# ## 5. The gradients by hand (4 points)
#
# word2vec.c never calls autograd: it applies the gradient of ℓ directly. Derive it. Write
# s_o = v_o·h for the true word's score and s_k = v_k·h for the negatives', and use
# σ′(x) = σ(x)(1 − σ(x)) and σ(−x) = 1 − σ(x). Then find
#
# - ∂ℓ/∂v_o, the gradient for the true context word's output vector,
# - ∂ℓ/∂v_k, the gradient for each negative's output vector,
# - ∂ℓ/∂h, the gradient for the centre vector (it appears in all 1 + K scores).
#
# Write `ns_grads(h, v_pos, v_neg)` returning the tuple `(grad_h, grad_pos, grad_neg)` with the
# shapes of `h` (B, d), `v_pos` (B, d) and `v_neg` (B, K, d): each example's gradients of its own
# loss, computed by your formulas, without autograd. The check compares them with autograd. (In
# word2vec.c's update, g = α·(label − σ(s)) is minus the learning rate times the derivative of ℓ
# with respect to the score s.)

# %%
def ns_grads(h, v_pos, v_neg):
    """(∂ℓ/∂h, ∂ℓ/∂v_pos, ∂ℓ/∂v_neg) of the per-example negative-sampling loss, by hand."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: differentiate each term with respect to its score first: minus log σ of a score has derivative σ(score) − 1, minus log σ of minus a score has derivative σ(score); then the chain rule through a dot product multiplies by the other vector, and h collects one such term from every score")


# %%
check("02.ns_grads", ns_grads)

# %% [markdown]
# ## 6. Open question: hierarchical softmax or negative sampling? (4 points, graded by your instructor)
#
# In 4 to 8 sentences, written into `reflection`:
#
# - how many output vectors does one training pair touch with the full softmax, with
#   hierarchical softmax and with negative sampling?
# - why does a Huffman tree (rather than any balanced tree) make hierarchical softmax cheaper on
#   real text? Use the average path you printed in section 1.
# - what do subsampling and the power 0.75 do for the quality of the vectors?

# %%
reflection = """
"""

# %%
check("02.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("02")
