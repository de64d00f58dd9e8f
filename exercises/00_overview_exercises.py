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
# # Exercises 00 — vocabulary, bigrams, perplexity (词表、二元组、困惑度)
#
# Every language model in this course starts by counting: which tokens to keep, which token
# follows which, and how surprised a model is by a text. Here you write those three pieces
# yourself, then answer one open question on the two paradigms of pre-trained models
# (PTMs两大范式) from chapter 00.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it. It prints which tests pass, the call, what was expected
#    and what your code returned, a hint, and your points. Run it as often as you like.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells;
#    then submit the `.ipynb` file (on Colab: File > Download > Download .ipynb).
#
# Points: 4 + 3 + 4 checked automatically, and 4 for the open question, graded by your instructor.

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
from collections import Counter

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. A vocabulary with a minimum count (4 points)
#
# A language model knows a fixed list of tokens, its vocabulary, and a token's id is its position
# in that list. Tokens seen only once or twice are replaced by `<unk>` ("unknown"): there is too
# little data to learn anything about them, and dropping them keeps the model small.
#
# Write `build_vocab(sentences, min_count)`:
#
# - `sentences` is a list of token lists, e.g. `[["the", "cat", "sat"], ["the", "dog"]]`;
# - return a list of tokens: `"<unk>"` first, then every token seen at least `min_count` times in
#   all sentences together, the most frequent first; tokens with the same count keep the order in
#   which they first appear;
# - a `"<unk>"` that occurs in the text is not added a second time.
#
# Example: `build_vocab([["the", "cat", "sat"], ["the", "dog", "sat"]], min_count=2)` returns
# `["<unk>", "the", "sat"]`.

# %%
def build_vocab(sentences, min_count):
    """The vocabulary as a list: "<unk>", then the tokens seen >= min_count times, most frequent first."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: count how often each token occurs, keep those seen at least min_count times, and order them from the most to the least frequent, ties in order of first appearance, after '<unk>'")


# %%
check("00.vocab", build_vocab)


# %% [markdown]
# ## 2. Counting bigrams (3 points)
#
# A bigram language model predicts the next token from the one before it:
# $P(\text{next} \mid \text{previous}) = \dfrac{\text{count}(\text{previous}, \text{next})}{\text{count}(\text{previous})}$.
# All it knows are the counts of adjacent pairs.
#
# Write `bigram_counts(tokens)`: given one list of tokens, return a dict that maps every pair
# `(previous, next)` of adjacent tokens to the number of times it occurs.
#
# Example: `bigram_counts(["a", "b", "a", "b"])` returns `{("a", "b"): 2, ("b", "a"): 1}`.

# %%
def bigram_counts(tokens):
    """How often each adjacent pair (previous, next) occurs in the token list."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: every position except the last starts one pair (previous token, next token); count how often each pair occurs")


# %%
check("00.bigrams", bigram_counts)


# %% [markdown]
# ## 3. Perplexity from log-probabilities (4 points)
#
# A language model gives every token $w_i$ of a text a probability $p_i = P(w_i \mid \text{context})$.
# Its perplexity on the text is
#
# $$\text{PPL} = \exp\Big(-\frac{1}{N}\sum_{i=1}^{N} \log p_i\Big),$$
#
# the exponential of the average cross-entropy. A model with perplexity 100 is as unsure as one
# that picks uniformly among 100 tokens. Chapter 01 reports the NNLM's quality this way.
#
# Write `perplexity(log_probs)`: `log_probs` holds the natural-log probabilities $\log p_i$ (a list
# of floats or a 1-D torch tensor); return the perplexity as a Python float. Work in log space:
# the product of 2000 probabilities of 0.01 is 0.0 in floating point.

# %%
def perplexity(log_probs):
    """exp(-mean(log_probs)) for natural-log token probabilities (a list or a 1-D tensor)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: perplexity is e to the power of the average negative log-probability per token; stay in log space, since the product of many probabilities underflows to 0")


# %%
check("00.perplexity", perplexity)

# %% [markdown]
# ## 4. Open question: the two paradigms of pre-trained models (4 points, graded by your instructor)
#
# Chapter 00 sorts pre-trained models into two paradigms (PTMs两大范式): shallow, non-contextual
# embeddings (浅层次嵌入: NNLM, word2vec, GloVe) and pre-trained encoders that give contextual
# embeddings (预训练编码器: ELMo, BERT, GPT).
#
# In 4 to 8 sentences, written into the string `reflection` below:
#
# - explain what separates the two paradigms;
# - use the word "bank" (a river bank, a bank account) to show what a contextual embedding can do
#   that a word2vec vector cannot (一词多义, polysemy);
# - give one practical advantage of each paradigm.
#
# `check` cannot grade prose: it only tells you whether you have answered, and shows the rubric
# your instructor uses.

# %%
reflection = """
"""

# %%
check("00.reflection", reflection)

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.
# The open question is graded later by your instructor, with the rubric shown above.

# %%
summary("00")
