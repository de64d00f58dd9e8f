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
# # Exercises 06 — ELMo: character ids, highway, ScalarMix, the backward LM (一词多义)
#
# Chapter 06 built ELMo from the package. Here you write five of its pieces yourself: the
# character ids a word is read as, one highway layer of the token layer, the ScalarMix that
# mixes all layers for a task, the targets of the backward language model, and the features a
# task reads from the two directions. Then one open question on why ELMo keeps both directions.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it prints which tests pass, a hint, and your points.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 5 + 3 + 3 + 4 + 5 checked automatically, and 4 for the open question, graded by your instructor.

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

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. Character ids (5 points)
#
# ELMo reads every token as `max_chars` character ids. The values are those of allenai/bilm-tf
# plus one (so that 0 can mean "no token" in a padded batch):
#
# | what | bilm-tf | here |
# |---|---|---|
# | a byte b of the word's UTF-8 encoding | b | b + 1 |
# | begin of sentence (BOS) / end of sentence (EOS) | 256 / 257 | 257 / 258 |
# | begin of word (BOW) / end of word (EOW) | 258 / 259 | 259 / 260 |
# | padding after EOW (PAD) | 260 | 261 |
#
# A token is `[BOW, bytes…, EOW, PAD, PAD, …]`, exactly `max_chars` long; a word longer than
# `max_chars − 2` bytes is cut so that BOW and EOW fit. The sentence markers `"<S>"` and `"</S>"`
# are not spelled letter by letter: they are `[BOW, BOS, EOW, PAD…]` and `[BOW, EOS, EOW, PAD…]`.
# Write `char_ids(word, max_chars)` returning a list of ints.

# %%
def char_ids(word, max_chars):
    """ELMo's character ids of one token (bilm-tf values + 1), a list of max_chars ints."""
    ### BEGIN SOLUTION hint: a token is: the begin-of-word id, its UTF-8 bytes each shifted up by one (cut so that both word markers fit), the end-of-word id, then padding up to max_chars; a sentence marker puts its single BOS or EOS id between the word markers instead of its letters
    if word == "<S>":
        chars = [257]
    elif word == "</S>":
        chars = [258]
    else:
        chars = [b + 1 for b in word.encode("utf-8")[: max_chars - 2]]
    ids = [259, *chars, 260]
    return ids + [261] * (max_chars - len(ids))
    ### END SOLUTION


# %%
check("06.char_ids", char_ids)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import word_char_ids
from ptm_course.grading import evaluate

for w in ["bank", "<S>", "</S>", "naïve", "x" * 60, "Zürich-Nord"]:
    assert char_ids(w, 50) == word_char_ids(w, 50), w
assert evaluate("06.char_ids", char_ids).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One highway layer (3 points)
#
# A highway layer computes `proj = x @ W.T + b` with W of shape (2d, d); the first d columns of
# `proj` are n (the transform), the last d are g (the gate), and
#
# $$y = \sigma(g) \odot x + (1 - \sigma(g)) \odot \operatorname{relu}(n)$$
#
# Write `highway(x, W, b)` for x of shape (B, d).

# %%
def highway(x, W, b):
    """y = σ(g)·x + (1 − σ(g))·relu(n) with [n; g] = W·x + b."""
    ### BEGIN SOLUTION hint: one affine map gives twice the width: its first half is the transform n, its second half the gate g; the gate's sigmoid decides, per dimension, how much of x to carry and how much of relu(n) to take
    n, g = (x @ W.T + b).chunk(2, dim=-1)  # (B, d) each
    gate = torch.sigmoid(g)
    return gate * x + (1 - gate) * torch.relu(n)
    ### END SOLUTION


# %%
check("06.highway", highway)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import Highway

hw = Highway(5, n_layers=1)
xh = torch.randn(4, 5)
assert torch.allclose(highway(xh, hw.layers[0].weight, hw.layers[0].bias), hw(xh), atol=1e-6)
assert evaluate("06.highway", highway).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. ScalarMix (3 points)
#
# ELMo gives a task every layer h_0 … h_L and learns how to mix them:
# $\gamma \sum_k s_k h_k$ with $s = \operatorname{softmax}(w)$. Write `scalar_mix(layers, w, gamma)`:
# `layers` is a list of tensors of the same shape, `w` a 1-D tensor (one entry per layer),
# `gamma` a 0-d tensor.

# %%
def scalar_mix(layers, w, gamma):
    """γ · Σ_k softmax(w)_k · layers[k]."""
    ### BEGIN SOLUTION hint: turn the raw weights into proportions that are positive and sum to one (a softmax over the layers), weigh each layer by its proportion, add them up and scale by gamma
    s = torch.softmax(w, dim=0)
    return gamma * sum(s[k] * h for k, h in enumerate(layers))
    ### END SOLUTION


# %%
check("06.scalar_mix", scalar_mix)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import ScalarMix

mix = ScalarMix(3)
with torch.no_grad():
    mix.w.copy_(torch.tensor([1.0, -2.0, 0.5]))
    mix.gamma.fill_(0.7)
hs = [torch.randn(2, 3) for _ in range(3)]
assert torch.allclose(scalar_mix(hs, mix.w.detach(), mix.gamma.detach()), mix(hs).detach(), atol=1e-6)
assert evaluate("06.scalar_mix", scalar_mix).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The backward language model's targets (4 points)
#
# The forward LM at position t predicts the word at t + 1; the backward LM reads right to left,
# so at position t it predicts the word at **t − 1**. Write `backward_targets(word_ids,
# ignore_index)`: `word_ids` is (B, T), with `ignore_index` at padding; return a new (B, T)
# tensor whose entry t is `word_ids[:, t − 1]`, and `ignore_index` at t = 0 (there is no
# previous word). Do not modify `word_ids`.
#
# Example: `[[<S>, the, bank, </S>]]` as ids `[[1, 7, 8, 2]]` → `[[-100, 1, 7, 8]]`.

# %%
def backward_targets(word_ids, ignore_index):
    """What the backward LM predicts at every position: the previous word (ignore_index at t = 0)."""
    ### BEGIN SOLUTION hint: at position t the backward LM predicts the word just before it, so every id moves one position to the right; position 0 has nothing before it and gets ignore_index
    first = torch.full_like(word_ids[:, :1], ignore_index)
    return torch.cat([first, word_ids[:, :-1]], dim=1)
    ### END SOLUTION


# %%
check("06.backward_targets", backward_targets)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import bilm_targets

wid = torch.tensor([[1, 4, 5, 6, 2, -100], [1, 9, 2, -100, -100, -100]])
assert torch.equal(backward_targets(wid, -100), bilm_targets(wid)[1])
assert evaluate("06.backward_targets", backward_targets).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Forward, backward or both: the features a task reads (5 points)
#
# The notes: 有从前到后和从后到前两种embedding, 都要 — there is a forward and a backward embedding:
# use both. The backward LM reads each sentence from its last token to its first, so its states
# come out in *its* reading order. Write `direction_features(fwd, bwd, lengths, use)`:
#
# - `fwd` (B, T, d): the forward LM's states; `fwd[b, t]` belongs to token t;
# - `bwd` (B, T, d): the backward LM's states in its reading order: for sentence b with
#   n = `lengths[b]` real tokens, `bwd[b, j]` (j < n) is its state after reading tokens
#   n − 1, …, n − 1 − j, so it belongs to token **n − 1 − j**; entries j ≥ n are padding (any values);
# - `use`: `"forward"`, `"backward"` or `"both"`.
#
# Return the features of every token in sentence order: the forward states, the backward states
# realigned to their tokens, or both concatenated as [forward; backward] (shape (B, T, 2d)), with
# **zeros** at padding positions (t ≥ n). A probe that reads only one direction sees only one
# side of a word; chapter 06's layers 1 and 2 are exactly the `"both"` features of each LSTM layer.

# %%
def direction_features(fwd, bwd, lengths, use):
    """The token features of one biLM layer: forward, backward (in token order) or [forward; backward]."""
    ### BEGIN SOLUTION hint: the backward state of token t sits, in the backward LM's order, at index n − 1 − t of its own sentence, so reverse every sentence within its own length (padding does not move); pick or join the directions forward first; then zero every padding position
    B, T, _ = fwd.shape
    t = torch.arange(T).expand(B, T)
    n = lengths.view(B, 1)
    real = t < n  # (B, T)
    src = torch.where(real, n - 1 - t, t)  # token t reads the backward state at n − 1 − t
    bwd_in_order = bwd.gather(1, src.unsqueeze(-1).expand_as(bwd))
    chosen = {"forward": fwd, "backward": bwd_in_order, "both": torch.cat([fwd, bwd_in_order], dim=-1)}[use]
    return chosen * real.unsqueeze(-1).to(chosen.dtype)
    ### END SOLUTION


# %%
check("06.directions", direction_features)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import reverse_padded

fb, bb, lb = torch.randn(3, 6, 4), torch.randn(3, 6, 4), torch.tensor([6, 3, 1])
real_b = (torch.arange(6)[None] < lb[:, None]).unsqueeze(-1)
reference = torch.cat([fb, reverse_padded(bb, lb)], dim=-1) * real_b  # the package reverses the same way
assert torch.allclose(direction_features(fb, bb, lb, "both"), reference)
assert evaluate("06.directions", direction_features).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Open question: why both directions? (4 points, graded by your instructor)
#
# In 4 to 8 sentences, written into `reflection`:
#
# - say what the forward state of a word has seen and what the backward state has seen, and give
#   an example sentence where the sense of an ambiguous word (一词多义) is decided only by words
#   on one side of it;
# - explain why ELMo trains two separate language models (and what chapter 06's "no leak" check
#   tests) instead of one network that reads the whole sentence to predict each word, and what its
#   training objective adds up (Peters et al. 2018, eq. 1);
# - use a measurement of chapter 06: the token layer's vectors, or the ScalarMix proportions
#   the two tasks learned.

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
The forward state of token t has read w_1 ... w_t and the backward state w_t ... w_T, so each sees
only one side of the word. In "the bank was muddy after the flood" the sense of "bank" is decided
by words after it, which only the backward LM has read at that position; in "the river bank" it is
decided by the word before it, which only the forward LM has read. Each LM predicts a word it has
not seen: the forward one the next word, the backward one the previous word. One network that
read the whole sentence could simply copy the word it is asked to predict, which is what the
"no leak" check rules out: changing words after t must not change the forward state at t, and
changing words before t must not change the backward state. Training maximises the sum of the
two directions' log-likelihoods, with the token layer and the softmax shared. In chapter 06 the
token layer gave "bank" one vector in every sentence, while the [forward; backward] LSTM layers
grouped its occurrences by sense; and the context task (after a determiner?) moved weight from
the token layer to the LSTM layers, while the spelling task kept more on the token layer.
"""
### END SOLUTION

# %%
check("06.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("06")
