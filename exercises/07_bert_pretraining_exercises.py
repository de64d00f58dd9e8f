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
# # Exercises 07 — attention, Masked LM, Next Sentence Prediction (BERT 预训练: Masked LM, NSP)
#
# Chapter 07 built BERT's encoder and its two pre-training tasks with the course package. Here
# you write four small pieces at their heart yourself: attention that ignores padding, the
# 80/10/10 corruption of Masked LM, the `[CLS] A [SEP] B [SEP]` input of Next Sentence Prediction —
# and the Masked LM loss, with which you measure a claim of the chapter.
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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: every query scores every key with a dot product scaled by the square root of d; a padding key must end up with weight zero, so its score has to be minus infinity before the softmax — mask the key (a column), never the query; the output averages the values with the weights")


# %%
check("07.attention", masked_attention)


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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: the labels keep the original token exactly where a token was selected and -100 elsewhere; each selected token's fate is decided by its own u (below 0.8 it becomes [MASK], from 0.8 to 0.9 its random id, above that it stays), and an unselected token never changes — work elementwise on new tensors, with no loop")


# %%
check("07.corrupt", corrupt)


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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: truncate first, then assemble: as long as both sentences plus the three special tokens exceed max_len, drop the last token of the longer side (A on a tie), working on copies; then [CLS], A and the first [SEP] are segment 0, B and the last [SEP] segment 1")


# %%
check("07.nsp_input", nsp_input)


# %% [markdown]
# ## 4. The Masked LM loss, and a claim to measure (4 points)
#
# $$\mathcal{L}_\text{MLM} = -\frac{1}{|S|}\sum_{i \in S} \log \mathrm{softmax}(\text{logits}_i)[x_i]$$
#
# where $S$ is the set of masked positions (label ≠ −100). Write `masked_lm_loss(logits, labels)`:
# `logits` `(B, T, V)`, `labels` `(B, T)` with the original token id at masked positions and −100
# elsewhere; return the scalar loss.
#
# Chapter 07 printed "a model that knows nothing" as $\ln V$. Below, after `check`, you measure
# two claims with your own loss: a freshly initialised BERT scores about $\ln V$, and 200 steps on
# a toy corpus take it far below.

# %%
def masked_lm_loss(logits, labels):
    """Mean cross-entropy of the original tokens at the masked positions (labels != -100) only."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: select the masked positions first — everything else must not count; at each, take the log-probability the softmax gives the original token, and average the negatives over the masked positions (not over all B·T)")


# %%
check("07.mlm_loss", masked_lm_loss)

# %% [markdown]
# **Measure it.** A tiny BERT on six toy sentences: at initialisation your loss should be close to
# $\ln V$ and equal to the package's `mlm_loss` on the same batch; 200 steps of AdamW with your
# loss should take it well below $\ln V$.

# %%
from ptm_course.data.masking import mask_tokens, pad_batch
from ptm_course.data.wordpiece import special_tokens, train_wordpiece
from ptm_course.models.bert import BertConfig, BertForMaskedLM, mlm_loss

corpus = ["the cat sat on the mat .", "the dog sat on the rug .", "a cat ran to the door .",
          "a dog ran to the park .", "the bird sang in the tree .", "the cat slept on the bed ."]
toy_tok = train_wordpiece(corpus * 20, vocab_size=60, min_frequency=1)
toy_sp, V_toy = special_tokens(toy_tok), toy_tok.get_vocab_size()
toy_ids, toy_am = pad_batch([toy_tok.encode(s).ids for s in corpus], toy_sp.pad)
torch.manual_seed(0)
toy = BertForMaskedLM(BertConfig.tiny(vocab_size=V_toy, d_model=32, n_heads=2, d_ff=64, n_layers=1, max_len=32))
try:
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(toy_ids, toy_sp, V_toy, generator=g)
    toy.eval()
    with torch.no_grad():
        at_init = float(masked_lm_loss(toy(masked, attention_mask=toy_am), labels))
        package = float(mlm_loss(toy, {"input_ids": masked, "attention_mask": toy_am, "mlm_labels": labels})[0])
    print(f"at initialisation: yours {at_init:.4f}, package {package:.4f}, ln V = {math.log(V_toy):.4f}")
    assert abs(at_init - package) < 1e-4 and abs(at_init - math.log(V_toy)) < 0.2

    toy.train()
    opt = torch.optim.AdamW(toy.parameters(), lr=3e-3)
    for step in range(200):
        masked, labels = mask_tokens(toy_ids, toy_sp, V_toy, generator=g)  # a fresh mask every step
        loss = masked_lm_loss(toy(masked, attention_mask=toy_am), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"after 200 steps: {loss.item():.3f} (ln V = {math.log(V_toy):.3f})")
    assert loss.item() < math.log(V_toy) - 1.0, "200 steps did not take the loss well below ln V"
except NotImplementedError:
    print("write masked_lm_loss above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("07")
