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
# # Exercises 13 — a LoRA layer, the merge, counting what trains, BitFit's filter (delta-tuning)
#
# Chapter 13 tuned a pre-trained BERT without touching most of it: the backbone stays frozen and
# each task trains, and stores, only a small **delta** — LoRA's low-rank factors, adapters, or
# BitFit's biases — plus its own task head. Here you write the pieces that are easiest to get
# wrong: the output of a LoRA layer, merging its update into the frozen weight, the exact number
# of parameters LoRA trains, and the filter that decides what BitFit trains (then you measure it
# on a real pre-trained model).
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
import torch
import torch.nn.functional as F
from torch import nn

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. A LoRA layer's output (4 points)
#
# A frozen projection computes y = x·Wᵀ + b, with W of shape `(out, in)`. LoRA leaves W as it is
# and learns an update of **rank r** in factored form, ΔW = B·A, with A of shape `(r, in)` and
# B of shape `(out, r)`: r·(in + out) numbers instead of in·out. The update is scaled by α/r, so
# that changing the rank does not change how large the update is at a given α:
#
# $$y = x W^\top + b + \frac{\alpha}{r}\, x A^\top B^\top .$$
#
# Read the update from left to right: x `(…, in)` · Aᵀ `(in, r)` squeezes each input into r
# numbers, · Bᵀ `(r, out)` maps them back out. (B starts at zero, so before training the layer is
# exactly the frozen one; here B is random, as after some training.)
#
# Write `lora_forward(x, weight, bias, A, B, alpha)`: x has shape `(…, in)` (any batch dimensions
# in front), `bias` is `(out,)` or `None`, and r is the rank, `A.shape[0]`. Return y, `(…, out)`:
# what `ptm_course.tuning.LoRALinear` computes with these tensors.

# %%
def lora_forward(x, weight, bias, A, B, alpha):
    """y = x·Wᵀ + b + (alpha / r)·x·Aᵀ·Bᵀ, with r = A.shape[0]; bias may be None."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: the frozen layer as usual (F.linear handles a missing bias), plus the update: through A first (down to r numbers), then B (back up), scaled by alpha over the rank, which is the dimension A and B share")


# %%
check("13.lora_linear", lora_forward)


# %% [markdown]
# ## 2. Merging the update (4 points)
#
# After training, LoRA costs nothing at inference: since x·Wᵀ + (α/r)·x·Aᵀ·Bᵀ = x·(W + (α/r)·B·A)ᵀ,
# the update can be folded into the weight once,
#
# $$W_\text{merged} = W + \frac{\alpha}{r}\, B A \qquad (\text{out}, \text{in}),$$
#
# and the layer is a plain `nn.Linear` again (`LoRALinear.merge()` does this in place, `merge_lora`
# for a whole model). B·A is `(out, r)·(r, in)` = `(out, in)`, the shape of W; A·B would be
# something else.
#
# Write `merge_lora_weight(weight, A, B, alpha)`: return the merged weight as a **new** tensor,
# leaving `weight`, `A` and `B` as they were (the frozen weight is shared by every task).

# %%
def merge_lora_weight(weight, A, B, alpha):
    """W + (alpha / r)·B·A, (out, in), r = A.shape[0]; the inputs are not modified."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: the product of the two factors that has W's shape, scaled as in the forward pass, added to W as a new tensor: an in-place update would change the frozen weight every task shares")


# %%
check("13.merge", merge_lora_weight)


# %% [markdown]
# ## 3. Counting what LoRA trains (4 points)
#
# `apply_lora(model, rank, targets=...)` wraps the chosen projections of **every** layer and
# freezes everything else, except the task head, which is new for every task and always trains.
# In the course BERT the attention projections `q_proj`, `k_proj`, `v_proj`, `o_proj` are all
# d×d (d = `d_model`), so each targeted projection adds A `(r, d)` and B `(d, r)`:
#
# $$\underbrace{n_\text{layers}\cdot n_\text{targets}\cdot r\,(d + d)}_\text{LoRA factors}
#   \;+\; \underbrace{d\cdot n_\text{classes} + n_\text{classes}}_\text{classifier: weight and bias}.$$
#
# The frozen W and b of a wrapped projection do not count: they do not train.
#
# Write `lora_trainable_parameters(d_model, n_layers, rank, n_targets, n_classes)`: the exact
# number (an `int`) of trainable parameters of
# `apply_lora(BertForSequenceClassification(cfg, n_classes), rank, targets=...)` with `n_targets`
# of the four projections (the grader takes them in the order `q_proj`, `v_proj`, `k_proj`,
# `o_proj`: 2 is `apply_lora`'s default, the query and value) — what
# `count_parameters(model).trainable` reports.

# %%
def lora_trainable_parameters(d_model, n_layers, rank, n_targets, n_classes):
    """Trainable parameters of a BERT classifier with LoRA of rank `rank` on `n_targets` d×d projections per layer."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: per layer and target r·(d + d) for A and B; times n_layers and n_targets; plus the classifier, d·n_classes + n_classes")


# %%
check("13.count", lora_trainable_parameters)

# %% [markdown]
# At the scale of BERT-base (d = 768, 12 layers, about 110 million parameters), LoRA of rank 8 on
# the query and value projections with a 2-class head trains:

# %%
try:
    n = lora_trainable_parameters(768, 12, 8, 2, 2)
    print(f"{n:,} trainable parameters, {100 * n / 110e6:.2f} % of BERT-base's 110 M")
except NotImplementedError:
    print("write lora_trainable_parameters above first")


# %% [markdown]
# ## 4. BitFit's filter (4 points)
#
# BitFit adds nothing: it trains the **bias** terms of the frozen model — every projection's b,
# the LayerNorms' β, the pooler's bias — and the task head `classifier`, and freezes every weight
# and embedding. Which parameters those are is decided from their qualified names, as
# `model.named_parameters()` gives them: `bert.layers.0.attn.q_proj.bias`,
# `bert.layers.0.norm1.weight`, `classifier.weight`, ...
#
# A bias is a parameter whose **own** name — the last part of the dotted name — is exactly
# `bias`. A name that merely *contains* "bias" is not one: Transformer-XL's `r_w_bias` is a learned
# vector of its own, and `my_bias_table.weight` is a weight. The head is the top-level module
# `classifier`, with everything in it.
#
# Write `bitfit_trainable(name)`: `True` when BitFit trains the parameter called `name`, else
# `False` (a `bool`).

# %%
def bitfit_trainable(name):
    """True for a bias parameter (last part of the name == 'bias') or anything in the task head `classifier`."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: a dotted name is module path + parameter name: the parameter is a bias when its own name (the last part) is exactly \"bias\"; it is in the head when the module path starts at the classifier")


# %%
check("13.bitfit", bitfit_trainable)

# %% [markdown]
# Now measure what your filter trains on a real pre-trained model: `all-MiniLM-L6-v2`, a 6-layer
# BERT with d = 384 (about 22.7 M parameters), with a fresh 2-class head. The percentage is of the
# backbone (everything but the head).

# %%
from ptm_course.models.bert import BertForSequenceClassification
from ptm_course.models.hf_loading import load_pretrained_bert
from ptm_course.tuning import count_parameters

minilm, _ = load_pretrained_bert("all-MiniLM-L6-v2", BertForSequenceClassification, n_classes=2, verbose=False)
try:
    for name, p in minilm.named_parameters():
        p.requires_grad_(bool(bitfit_trainable(name)))
    counts = count_parameters(minilm)
    print(f"BitFit on all-MiniLM-L6-v2: {counts.trainable:,} trainable parameters "
          f"({counts.trainable - counts.trainable_backbone:,} of them the head), "
          f"{counts.percent_of_backbone:.3f} % of the backbone's {counts.backbone:,}")
except NotImplementedError:
    print("write bitfit_trainable above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("13")
