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
# # Exercises 12 — the auxiliary loss, forgetting on the same blanks, how far each block moved, the seed spread (fine-tuning that accommodates the task)
#
# Chapter 12 fine-tuned a whole pre-trained encoder on a task and asked what the model gives up
# for it. It kept the pre-training objective alive while fine-tuning, L = L_task + λ·L_MLM, and it
# measured the sacrifice as the masked-LM loss on general text, before against after, on the same
# blanks — then read every difference against the spread over seeds. Here you write those pieces
# yourself, on a miniature of the chapter's experiment that runs in seconds.
#
# **Learning goals.** After these exercises you can
#
# 1. write the auxiliary loss, with the masked-LM term averaged over the blanks only;
# 2. measure forgetting so that it is a difference between two models, not between two maskings;
# 3. say how far fine-tuning moved each encoder block, relative to its size;
# 4. decide, with the course's rule, whether a difference exceeds the spread over seeds.
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
import statistics

import numpy as np
import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. The auxiliary loss (4 points)
#
# Fine-tuning with the pre-training objective kept (GPT-1's recipe, with BERT's objective) adds a
# masked-LM term to the task's loss on every batch:
#
# $$L = L_\text{task} + \lambda \cdot L_\text{MLM}.$$
#
# The classifier reads the clean sentences and gives `class_logits` `(B, C)` against `labels`
# `(B,)`. The MLM head reads a masked copy of the same sentences and gives `mlm_logits`
# `(B, T, V)`, a score for every word of the vocabulary at every position. Only the blanks have
# a word to predict: `mlm_labels` `(B, T)` holds the original word at each blank and **−100**
# everywhere else. Each term is a mean cross-entropy — the task's over the B examples, the
# masked-LM's over the **blanks only**. The other positions are not "predicted with loss 0":
# they are not predicted at all, and counting them would shrink the term as the sentences grow
# longer. λ weighs the masked-LM term; λ = 0 is plain fine-tuning.
#
# Write `combined_loss(class_logits, labels, mlm_logits, mlm_labels, lam)`: return L as a tensor
# (a scalar that `backward()` can train with), what `ptm_course.tuning.auxiliary_loss` computes
# from the same logits.

# %%
def combined_loss(class_logits, labels, mlm_logits, mlm_labels, lam):
    """CE(class_logits, labels) + lam · (masked-LM cross-entropy averaged over the positions where mlm_labels != -100)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: two mean cross-entropies; the masked-LM one needs its positions laid out as rows of vocabulary scores, and the positions labelled -100 must drop out of it entirely (cross_entropy has an argument for that); lam weighs that term only")


# %%
check("12.aux_loss", combined_loss)


# %% [markdown]
# ## 2. Forgetting, on the same blanks (4 points)
#
# The chapter's yardstick of the sacrifice is the masked-LM loss on general text the task never
# shows: after fine-tuning minus before. Positive means the model got worse at its pre-training
# task: it forgot.
#
# The loss depends on **which** tokens are blanked — some words are easy to guess from their
# neighbours, some are not — so two random maskings of the same text give the same model two
# different losses. Measured that way, a difference between two models would be partly a
# difference between two maskings. So both models fill the **same** blanks: mask the text
# **once**, with a generator seeded by `seed`, and score both models on that one corrupted copy.
# (`mlm_score(model, tensors, masker, seed)` in `ptm_course.models.mlm_backbone` scores one model
# this way; the check compares your answer with two calls of it, and refuses an answer that calls
# it: build yours from the pieces below.)
#
# The pieces, for a model `m` (a `BertMeanPoolClassifierWithMLM`: one encoder `m.bert`, two heads):
#
# * `masker(input_ids, generator)` returns `(corrupted ids, labels)`, both `(B, T)`: BERT's 15 %
#   blanks, labels −100 wherever there is no blank. Mask all rows in one call;
# * `h, _ = m.bert(ids, token_type_ids, attention_mask)` gives the hidden states `(B, T, d)`, and
#   `m.mlm(h)` the vocabulary scores `(B, T, V)`. Some rows are padded: pass the attention mask;
# * score in eval mode (`m.eval()`: no dropout) and under `torch.no_grad()`. The loss is the
#   cross-entropy averaged over the blanks, as in exercise 1.
#
# Write `forgetting(model_before, model_after, tensors, masker, seed)`: `tensors` holds
# `input_ids`, `token_type_ids` and `attention_mask`, each `(B, T)`. Return a float: the MLM loss
# of `model_after` minus that of `model_before`, on the blanks that seed `seed` draws.

# %%
def forgetting(model_before, model_after, tensors, masker, seed):
    """MLM loss of model_after minus that of model_before on `tensors`, both on the blanks one masking with `seed` draws."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: one seeded generator and one call of the masker, before scoring anything: both models must meet the very same corrupted copy; each model's score is its mean cross-entropy at the blanks, in eval mode; the answer is after minus before")


# %%
check("12.forgetting", forgetting)

# %% [markdown]
# ### The chapter's experiment, in miniature
#
# A 2-block BERT (d = 32, a vocabulary of 60 ids, 0–4 special) on a toy language whose rows count
# up, `[CLS] 17 18 19 … 26 [SEP]`, so that every blank follows from its neighbours. First a short
# pre-training (chapter 12's `continue_pretraining` is the same masked-LM loop), then copies
# fine-tuned on a toy task — does the row start below 27? — with λ = 0 and with λ = 1, three seeds
# each (`adapt`, as in the chapter). The yardstick is 64 held-out rows. Unlike the chapter's
# reviews and Wikipedia, the task's sentences here are written in the very language the yardstick
# measures, which is the most favourable case for the auxiliary term. A few seconds on a CPU.

# %%
from ptm_course.data.masking import SpecialTokens
from ptm_course.models.bert import BertConfig, BertMeanPoolClassifierWithMLM
from ptm_course.models.mlm_backbone import Masker, mlm_score
from ptm_course.tuning import Task, adapt, continue_pretraining

SPECIAL = SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
masker = Masker(SPECIAL, vocab_size=60)


def counting_rows(n, seed, length=12):
    """n rows [CLS] s s+1 ... [SEP] (word ids 5..59, wrapping round), labelled 1 when the row starts below 27."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, 55, (n, 1), generator=g)
    words = 5 + (start + torch.arange(length - 2)) % 55
    ids = torch.cat([torch.full((n, 1), SPECIAL.cls), words, torch.full((n, 1), SPECIAL.sep)], 1)
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids),
            "labels": (start[:, 0] < 27).long()}


torch.manual_seed(0)
backbone = BertMeanPoolClassifierWithMLM(BertConfig.tiny(vocab_size=60, max_len=32), 2)
general = counting_rows(64, seed=100)
untrained = mlm_score(backbone, general, masker).loss
continue_pretraining(backbone, counting_rows(512, seed=1), masker, steps=150, lr=3e-3, batch_size=32)
backbone.eval()
print(f"MLM loss on the held-out rows: {untrained:.3f} nats untrained, "
      f"{mlm_score(backbone, general, masker).loss:.3f} after pre-training")
print("the same model on five other maskings of the same rows: "
      + ", ".join(f"{mlm_score(backbone, general, masker, seed=s).loss:.3f}" for s in range(1, 6)))

task = Task("starts below 27?", "sentence", 2, counting_rows(256, 2), counting_rows(64, 3), counting_rows(64, 4))
runs = {lam: [adapt(backbone, task, masker, lr=3e-3, steps=40, seed=s, aux_weight=lam, keep_model=True)
              for s in (0, 1, 2)]
        for lam in (0.0, 1.0)}
for lam, rs in runs.items():
    print(f"λ = {lam:g}: test accuracy " + ", ".join(f"{r.scores['test']:.3f}" for r in rs))

# %% [markdown]
# The five other maskings show the noise a second masking would add to every comparison. Now your
# measurement, for every fine-tuned copy, against the pre-trained backbone:

# %%
try:
    for lam, rs in runs.items():
        print(f"λ = {lam:g}: forgetting " + ", ".join(f"{forgetting(backbone, r.model, general, masker, 0):+.3f}"
                                                      for r in rs) + " nats  (seeds 0, 1, 2)")
except NotImplementedError:
    print("write forgetting above first")


# %% [markdown]
# ## 3. How far each block moved (4 points)
#
# Fine-tuning changes every weight of the encoder; does it change them all alike? Compare each
# encoder block before and after, relative to its size:
#
# $$\text{drift} = \frac{\lVert \theta_\text{after} - \theta_\text{before} \rVert}{\lVert \theta_\text{before} \rVert},$$
#
# where θ is **one vector** holding all the numbers of the block — its attention projections, its
# feed-forward layers, its LayerNorms — laid end to end, and ‖·‖ is the Euclidean norm. One norm
# over the whole block: an average of per-tensor ratios would weigh a 32-number bias like a
# 1,024-number weight matrix, and a bias that starts at 0 has no ratio at all. The blocks are
# `model.bert.layers`; the embeddings, the pooler and the heads are not blocks and do not count.
#
# Write `layer_drift(before, after)`: a list of floats, one per block, block 0 (the one nearest
# the input) first. `before` and `after` are two models of the same shape.

# %%
def layer_drift(before, after):
    """[‖θ_after − θ_before‖ / ‖θ_before‖ for each block of model.bert.layers], θ = all the block's parameters together."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: walk the two models' encoder blocks side by side; for each, put all its parameters into one flat vector (for both models, in the same order) and take one relative change of those vectors")


# %%
check("12.layer_drift", layer_drift)

# %% [markdown]
# How far did the miniature's fine-tuning move each block, with and without the auxiliary term
# (mean over the three seeds)?

# %%
try:
    for lam, rs in runs.items():
        per_block = np.mean([layer_drift(backbone, r.model) for r in rs], axis=0)
        print(f"λ = {lam:g}: drift " + "   ".join(f"block {i} {d:.4f}" for i, d in enumerate(per_block)))
except NotImplementedError:
    print("write layer_drift above first")


# %% [markdown]
# ## 4. Does a difference exceed the seed spread? (4 points)
#
# Each recipe ran with a few seeds, and every seed gives a somewhat different number. The chapter
# calls a difference between two recipes real only when it is larger than that spread — the
# course's rule (`separated` in `ptm_course.tuning`): the two means differ by more than the sum of
# the two standard deviations, that is, their ±1 std bands do not overlap:
#
# $$|\bar a - \bar b| > s_a + s_b .$$
#
# The standard deviation here is the **sample** one, $s = \sqrt{\sum_i (x_i - \bar x)^2 / (n - 1)}$:
# with a handful of seeds, dividing by n instead makes the spread look smaller than it is (with 3
# seeds by a factor √(2/3) ≈ 0.82) and calls more differences real. Mind the defaults:
# `statistics.stdev` and `torch.std` divide by n − 1, `np.std` divides by n unless told otherwise.
# A rough screen, not a significance test — but it keeps us from reading noise.
#
# Write `exceeds_spread(a, b)`: `a` and `b` are lists of numbers (one per seed, at least two each,
# not necessarily as many); return `True` when the difference of their means exceeds the sum of
# their sample standard deviations, else `False`. Write the rule yourself: `separated` and
# `mean_std` are what the check compares with, and it refuses an answer that calls them.

# %%
def exceeds_spread(a, b):
    """|mean(a) − mean(b)| > std(a) + std(b), with the sample standard deviation (n − 1)."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: the distance between the two means against the two spreads added together; mind which standard deviation your library computes by default")


# %%
check("12.seed_spread", exceeds_spread)

# %% [markdown]
# The miniature's verdicts, read the chapter's way: does the auxiliary term change what the model
# keeps, and what it learns, by more than the seeds do? (Where every seed gives the same score, the
# spread is zero and any difference "exceeds" it: the rule screens out noise, it proves nothing.)

# %%
try:
    kept = {lam: [forgetting(backbone, r.model, general, masker, 0) for r in rs] for lam, rs in runs.items()}
    accs = {lam: [r.scores["test"] for r in rs] for lam, rs in runs.items()}
    for name, values, fmt in (("forgetting", kept, "+.3f"), ("test accuracy", accs, ".3f")):
        verdict = "exceeds" if exceeds_spread(values[0.0], values[1.0]) else "is within"
        print(f"{name:14s} λ = 0: {np.mean(values[0.0]):{fmt}} ± {np.std(values[0.0], ddof=1):.3f}   "
              f"λ = 1: {np.mean(values[1.0]):{fmt}} ± {np.std(values[1.0], ddof=1):.3f}   "
              f"the difference {verdict} the seed spread")
except NotImplementedError:
    print("write forgetting and exceeds_spread above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("12")
