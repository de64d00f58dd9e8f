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
# # Exercises 04 — the encoder table: pooling, n-grams, word order (预训练编码器)
#
# Chapter 04 ran five encoders on one task and rebuilt the notes' table from measurements.
# Here you write the pieces that decide the "position information" column yourself: the
# order-blind mean of a bag of embeddings, one n-gram convolution feature, and a test that
# tells whether a model sees word order. Then one open question on parallel vs serial encoders.
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
import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. The mean over real tokens (3 points)
#
# A batch of sentences of different lengths is padded to the longest: `x` is (B, T, d) and
# `mask` (B, T) is True at real tokens, False at padding. Write `masked_mean(x, mask)`, the
# mean of each sentence's word vectors over its real tokens only, shape (B, d). This is what the
# MLP encoder (a bag of embeddings) pools — and why it cannot see word order.

# %%
def masked_mean(x, mask):
    """Mean of x (B, T, d) over the positions where mask (B, T) is True → (B, d)."""
    ### BEGIN SOLUTION hint: only the real tokens count: add up a sentence's vectors where its mask is True, then divide by how many real tokens it has
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    ### END SOLUTION


# %%
check("04.masked_mean", masked_mean)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import MLPEncoder
from ptm_course.grading import evaluate

enc = MLPEncoder(6)
xb = torch.randn(3, 5, 6)
mb = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
assert torch.allclose(enc(xb, mb), enc.mlp(masked_mean(xb, mb)), atol=1e-6)  # the package pools the same way
assert evaluate("04.masked_mean", masked_mean).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One n-gram convolution feature (4 points)
#
# A CNN encoder slides filters of width n over the sentence. For one sentence `x` (T, d), filter
# weights `weight` (F, d, n) and `bias` (F,), window j covers the words x[j], …, x[j+n−1], and
# filter f scores it with
#
# $$s_{f,j} = b_f + \sum_{k=0}^{n-1} \sum_{c=0}^{d-1} W_{f,c,k}\, x_{j+k,c}$$
#
# Write `ngram_max(x, weight, bias)`: apply relu to every score and return, for every filter,
# its maximum over the T − n + 1 windows — a tensor of shape (F,). (`F.conv1d` computes the
# scores; the tests compare with it, so write the windows yourself.)

# %%
def ngram_max(x, weight, bias):
    """max_j relu(s_{f,j}) for every filter f: one feature map of a CNN encoder → (F,)."""
    ### BEGIN SOLUTION hint: window j is the n words starting at word j; a filter scores it by the sum of filter times window, entry by entry, plus its bias; relu every score and keep each filter's largest
    n = weight.size(-1)
    scores = torch.stack([(weight * x[j : j + n].T).sum(dim=(1, 2)) + bias for j in range(x.size(0) - n + 1)])  # (windows, F)
    return torch.relu(scores).max(dim=0).values
    ### END SOLUTION


# %%
check("04.ngram", ngram_max)
### BEGIN HIDDEN TESTS
xs, ws, bs = torch.randn(9, 4), torch.randn(3, 4, 2), torch.randn(3)
assert torch.allclose(ngram_max(xs, ws, bs), F.relu(F.conv1d(xs.T[None], ws, bs)).amax(-1)[0], atol=1e-5)
assert evaluate("04.ngram", ngram_max).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Does a model see word order? (4 points)
#
# Write `is_order_blind(model, ids, n_trials)`: `model` maps token ids (B, T) to logits, `ids`
# has no padding. Shuffle the words of every sentence (a different random permutation per row)
# `n_trials` times; return `True` when the output never changes (up to `atol=1e-5`) and `False`
# as soon as it does. Put the model in eval mode first: dropout would change the output at random.

# %%
def is_order_blind(model, ids, n_trials):
    """True when shuffling the words of the sentences never changes model(ids)."""
    ### BEGIN SOLUTION hint: put the words of each sentence in a random order and compare the outputs with the unshuffled ones; one change is enough to show that the model sees order
    model.eval()
    with torch.no_grad():
        reference = model(ids)
        for _ in range(n_trials):
            shuffled = torch.stack([row[torch.randperm(len(row))] for row in ids])
            if not torch.allclose(model(shuffled), reference, atol=1e-5):
                return False
    return True
    ### END SOLUTION


# %%
check("04.order_blind", is_order_blind)
### BEGIN HIDDEN TESTS
assert evaluate("04.order_blind", is_order_blind).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Run it on all five encoders of chapter 04 (untrained: order-blindness is a property of the
# architecture, not of training):

# %%
from ptm_course.encoders import ENCODER_KINDS, SentenceClassifier, make_encoder

ids = torch.randint(1, 50, (4, 10), generator=torch.Generator().manual_seed(0))
for kind in ENCODER_KINDS:
    torch.manual_seed(0)
    model = SentenceClassifier(50, make_encoder(kind, 16), 16)
    try:
        print(f"{kind:>12}: order-blind = {is_order_blind(model, ids, 3)}")
    except NotImplementedError:
        print("write is_order_blind above first")
        break

# %% [markdown]
# ## 4. Open question: parallel and serial (4 points, graded by your instructor)
#
# The notes' table sorts encoders into feed-forward + parallel (前馈+并行) and recurrent + serial
# (循环+串行). In 4 to 8 sentences, written into `reflection`:
#
# - explain what makes the RNN/LSTM serial and the MLP, CNN and Transformer parallel;
# - use chapter 04's timing or its count of sequential steps, and say what a GPU changes;
# - say which encoders saw word order in the shuffle test, and through what.

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
An RNN or LSTM computes h_t from h_{t-1}, so a sentence of T words needs T steps one after the
other: T steps on the critical path, however many processors there are. The MLP pools all words
at once, the CNN applies its filters to every window independently, and the Transformer layer
computes all positions with a few matrix products (attention compares every pair at once), so
their critical path does not grow with T. In chapter 04 the recurrent encoders' time grew in
proportion to the length; on one CPU thread everything is serial anyway, so the gap is the
overhead of T small steps, while on a GPU the feed-forward encoders' time hardly grows until the
GPU is full and the RNN's T steps dominate. Only the MLP was blind to order: a mean of word vectors
is the same for every permutation; the CNN saw local order through its n-gram windows, the
RNN/LSTM through the order of the steps, and the Transformer only through its added position vectors.
"""
### END SOLUTION

# %%
check("04.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("04")
