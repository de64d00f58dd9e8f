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
# # Exercises 14 — attention with a prefix, the reparameterisation, what is stored, measuring a prefix (prefix-tuning)
#
# Chapter 14 tuned a frozen Transformer by giving every layer P extra **keys and values** that
# every token attends to, as if P tokens came before the input — free parameters, not the keys of
# any word. During training a small MLP produces them (Li & Liang's reparameterisation); after
# training only its output is kept. Here you write the pieces that are easiest to get wrong: the
# attention with a prefix and its widened mask, the layout of the MLP's output, the parameters
# trained and kept, the bytes saved by storing one backbone and many prefixes, and a measurement
# of what a trained prefix changes in a language model's loss.
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
# Points: 4 + 4 + 4 + 4 + 4, checked automatically.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import copy
import math

import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. Attention with a prefix (4 points)
#
# In every layer, a head's queries q `(B, nh, T, hs)` normally attend to the T tokens' keys K and
# values V. Prefix-tuning puts P learned keys P_k and values P_v `(nh, P, hs)` — the same for every
# row of the batch — **in front of** them, so each query sees P + T keys:
#
# $$\text{out} = \operatorname{softmax}\!\Big(\frac{q\,[P_k; K]^\top}{\sqrt{hs}} + M\Big)\,[P_v; V],
# \qquad M_{j} = \begin{cases} 0 & j \text{ a prefix position or a real token} \\
#                             -\infty & j \text{ a padded token.} \end{cases}$$
#
# The padding mask `(B, T)` says which of the T tokens are real; the P prefix positions are not
# tokens of the input and are **always visible**, so the mask must grow by P columns — on the side
# where the prefix keys are, or the columns no longer line up with the keys they describe. (This is
# what `ptm_course.tuning.WithPrefix` does in front of each block's attention; there is no causal
# mask here.)
#
# Write `prefix_attention(q, k, v, pk, pv, mask)`: q, k, v `(B, nh, T, hs)`, pk, pv `(nh, P, hs)`,
# mask `(B, T)` with 1 (or `True`) for a real token and 0 (`False`) for padding. Return the
# attention output `(B, nh, T, hs)` for every query, before the heads are merged.

# %%
def prefix_attention(q, k, v, pk, pv, mask):
    """softmax(q·[P_k; K]ᵀ/√hs + M)·[P_v; V]: the P prefix keys always visible, padded keys hidden."""
    ### BEGIN SOLUTION hint: put the prefix keys and values in front of the tokens' own (the same prefix for every row), make the mask say that those P columns are always visible, then ordinary scaled dot-product attention over all P + T keys
    B, P = q.size(0), pk.size(1)
    k = torch.cat([pk.expand(B, -1, -1, -1), k], dim=2)  # (B, nh, P + T, hs): the prefix first
    v = torch.cat([pv.expand(B, -1, -1, -1), v], dim=2)
    visible = torch.cat([mask.new_ones(B, P), mask], dim=1).bool()  # (B, P + T): P more columns, all visible
    return F.scaled_dot_product_attention(q, k, v, attn_mask=visible[:, None, None, :])  # (B, nh, T, hs)
    ### END SOLUTION


# %%
check("14.prefix_attention", prefix_attention)
### BEGIN HIDDEN TESTS
from ptm_course.grading import evaluate

q, k, v = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
pk, pv = torch.randn(3, 2, 5), torch.randn(3, 2, 5)
mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
keys, values = torch.cat([pk.expand(2, -1, -1, -1), k], 2), torch.cat([pv.expand(2, -1, -1, -1), v], 2)
scores = q @ keys.transpose(-1, -2) / 5 ** 0.5  # (B, nh, T, P + T)
scores = scores.masked_fill(~torch.cat([torch.ones(2, 2), mask], 1).bool()[:, None, None, :], float("-inf"))
assert torch.allclose(prefix_attention(q, k, v, pk, pv, mask), scores.softmax(-1) @ values, atol=1e-5)
assert evaluate("14.prefix_attention", prefix_attention).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The reparameterisation's layout (4 points)
#
# Optimising the prefix tensors directly is unstable (Li & Liang), so during training they come
# out of a small network: an embedding E `(P, d)`, one row per prefix position, through an MLP to
# every layer's keys and values at once,
#
# $$\text{out} = W_2 \tanh(W_1 E^\top + b_1) + b_2 \;\Rightarrow\; \text{out}: (P,\; L\cdot 2\cdot d),
# \qquad d = n_\text{heads}\cdot hs .$$
#
# Row p of `out` holds everything about prefix position p: for layer 0 its key (d numbers, head by
# head), then its value, then the same for layer 1, and so on — the order `(L, 2, nh, hs)` within a
# row, as in Hugging Face's PEFT. The attention wants, per layer, keys and values of shape
# `(nh, P, hs)`, so the whole prefix is `(L, 2, nh, P, hs)`: the same numbers, with the position
# axis moved. A tensor's shape can be changed without moving its numbers only in the order they are
# stored; the axes are moved afterwards.
#
# Write `prefix_from_mlp(out, n_layers, n_heads)`: out `(P, L·2·d)` → the prefix
# `(L, 2, n_heads, P, hs)`, where `[l, 0]` are layer l's keys and `[l, 1]` its values — what
# `ptm_course.tuning.PrefixEncoder.forward()` returns. The MLP is trained through your result, so
# gradients must flow back to `out`.

# %%
def prefix_from_mlp(out, n_layers, n_heads):
    """(P, L·2·d) -> (L, 2, n_heads, P, d_head), the layout of PrefixEncoder.forward()."""
    ### BEGIN SOLUTION hint: first split each row in the order it is stored (layer, key/value, head, feature) with P in front, then move the position axis to its place between the head and the feature; do not copy or detach the numbers
    P = out.size(0)
    d_head = out.size(1) // (2 * n_layers * n_heads)
    return out.view(P, n_layers, 2, n_heads, d_head).permute(1, 2, 3, 0, 4)  # (L, 2, nh, P, hs)
    ### END SOLUTION


# %%
check("14.reparam", prefix_from_mlp)
### BEGIN HIDDEN TESTS
from ptm_course.tuning import PrefixEncoder

enc = PrefixEncoder(n_layers=3, n_heads=2, d_head=4, length=5, hidden=7)
with torch.no_grad():
    assert torch.equal(prefix_from_mlp(enc.mlp(enc.embedding.weight), 3, 2), enc())
assert evaluate("14.reparam", prefix_from_mlp).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. What trains, what is kept (4 points)
#
# During training the prefix's parameters are those of the reparameterisation (the backbone is
# frozen; the task head, if any, is counted separately): the embedding E `(P, d)`, the first Linear
# `d → hidden` and the second `hidden → L·2·d`, both with a bias. After training,
# `export_prefix(model)` runs the MLP once and keeps only its output — the prefix tensor
# `(L, 2, nh, P, hs)`:
#
# $$\underbrace{P d + (d\,h + h) + (h\cdot L\cdot 2d + L\cdot 2d)}_\text{trained,\ h = hidden}
# \qquad\text{vs}\qquad \underbrace{L\cdot 2\cdot P\cdot d}_\text{kept after export}.$$
#
# Write `prefix_parameters(n_layers, d_model, length, hidden)`: the pair of ints
# `(trained, kept)` — what `count_parameters` reports for a `PrefixEncoder` with these sizes, and
# for the `PrefixKV` that `export_prefix` puts in its place.

# %%
def prefix_parameters(n_layers, d_model, length, hidden):
    """(parameters of the reparameterised prefix, parameters of the exported prefix), two ints."""
    ### BEGIN SOLUTION hint: count the embedding and both Linear layers, each with its bias; after export only the keys and the values of every layer remain
    L, d, P, h = n_layers, d_model, length, hidden
    trained = P * d + (d * h + h) + (h * L * 2 * d + L * 2 * d)  # E, Linear(d, h), Linear(h, L·2·d)
    kept = L * 2 * P * d  # (L, 2, nh, P, hs)
    return trained, kept
    ### END SOLUTION


# %%
check("14.count", prefix_parameters)
### BEGIN HIDDEN TESTS
from ptm_course.tuning import PrefixKV, count_parameters

enc = PrefixEncoder(n_layers=4, n_heads=1, d_head=16, length=6, hidden=32)
assert prefix_parameters(4, 16, 6, 32) == (count_parameters(enc).total, count_parameters(PrefixKV(enc())).total)
assert evaluate("14.count", prefix_parameters).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# At all-MiniLM-L6-v2's sizes (6 layers, d = 384) with P = 10 and Li & Liang's hidden width 512:

# %%
try:
    trained, kept = prefix_parameters(6, 384, 10, 512)
    print(f"{trained:,} parameters trained, {kept:,} kept per task ({trained / kept:.0f}× fewer after export)")
except NotImplementedError:
    print("write prefix_parameters above first")

# %% [markdown]
# ## 4. One backbone and many prefixes (4 points)
#
# The notes' point of prefix-tuning: **store one large Transformer and many small task
# prefixes**. With fine-tuning, every task keeps its own copy of the whole model; with
# prefix-tuning, the frozen backbone is stored once and each task adds its exported prefix and its
# own task head (a classifier `d → n_classes` with a bias). In fp32, 4 bytes a number, for N tasks:
#
# $$\text{with prefixes} = 4\,\big(B + N\,(L\cdot 2\cdot P\cdot d + d\,c + c)\big),
# \qquad \text{with copies} = 4\,N\,(B + d\,c + c),$$
#
# where B is the backbone's parameter count and c the number of classes.
#
# Write `storage_bytes(backbone_params, n_layers, d_model, length, n_classes, n_tasks)`: the pair of
# ints `(with_prefixes, with_copies)`, in bytes.

# %%
def storage_bytes(backbone_params, n_layers, d_model, length, n_classes, n_tasks):
    """(bytes of one fp32 backbone + n_tasks prefixes and heads, bytes of n_tasks fine-tuned copies)."""
    ### BEGIN SOLUTION hint: the prefix setup stores the backbone once and, for each task, a prefix (keys and values of every layer) and a head; fine-tuning stores a whole model with its head for each task; 4 bytes per number
    head = d_model * n_classes + n_classes  # each task's classifier
    prefix = n_layers * 2 * length * d_model  # each task's exported prefix
    with_prefixes = 4 * (backbone_params + n_tasks * (prefix + head))
    with_copies = 4 * n_tasks * (backbone_params + head)
    return with_prefixes, with_copies
    ### END SOLUTION


# %%
check("14.storage", storage_bytes)
### BEGIN HIDDEN TESTS
assert storage_bytes(1000, 1, 4, 2, 2, 1) == (4 * (1000 + 16 + 10), 4 * (1000 + 10))
assert evaluate("14.storage", storage_bytes).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# For all-MiniLM-L6-v2 (22,713,216 backbone parameters, 6 layers, d = 384), prefixes of length
# 10 and 2-class heads: the bytes of 100 tasks each way, and how many more prefix tasks fit in the
# bytes that one more fine-tuned copy costs.

# %%
try:
    with_prefixes, with_copies = storage_bytes(22_713_216, 6, 384, 10, 2, 100)
    one_more_copy = storage_bytes(22_713_216, 6, 384, 10, 2, 101)[1] - with_copies
    one_more_prefix = storage_bytes(22_713_216, 6, 384, 10, 2, 101)[0] - with_prefixes
    print(f"100 tasks: {with_prefixes / 1e6:,.1f} MB with prefixes, {with_copies / 1e6:,.1f} MB with copies "
          f"({with_copies / with_prefixes:.0f}× more)")
    print(f"one more fine-tuned copy costs {one_more_copy / 1e6:.1f} MB: the bytes of "
          f"{one_more_copy // one_more_prefix:,} more prefix tasks")
except NotImplementedError:
    print("write storage_bytes above first")

# %% [markdown]
# ## 5. Measuring what a prefix changes (4 points)
#
# Does a prefix change what the frozen model predicts? Measure it: the mean next-token loss of a
# language model on a batch, without and with the prefix. The logits at position t predict token
# t + 1, and only **real** next tokens count (the attention mask is 1 there); with N of them in the
# whole batch,
#
# $$\mathcal{L} = -\frac{1}{N}\sum_{b}\sum_{t\,:\,m_{b,t+1}=1} \log p\big(x_{b,t+1}\mid x_{b,\le t}\big),
# \qquad \text{perplexity} = e^{\mathcal{L}} .$$
#
# Every next token weighs the same: a short row counts for its few tokens, not as much as a long
# one. The model may come straight out of training, so measure in evaluation mode (the course GPT
# has dropout) and without gradients. The prefix enters as `apply_prefix` puts it — in front of
# every layer's keys and values, the tokens keeping their positions 0 … T − 1 — and
# `apply_prefix` changes the model it is given (it wraps every block and freezes the weights):
# **leave the caller's model as it was**.
#
# Write `prefix_loss(model, prefix, input_ids, attention_mask)`: `model` is a course GPT
# (`ptm_course.models.gpt.GPT`), `prefix` a tensor `(L, 2, n_heads, P, hs)` (what `export_prefix`
# keeps), `input_ids` and `attention_mask` `(B, T)`, right-padded. Return the pair of floats
# `(loss_without, loss_with)`.

# %%
from ptm_course.models.gpt import GPT, GPTConfig, lm_loss
from ptm_course.tuning import apply_prefix


def prefix_loss(model, prefix, input_ids, attention_mask):
    """(mean next-token loss without the prefix, with it) over the batch's real next tokens; `model` unchanged."""
    ### BEGIN SOLUTION hint: work on a copy of the model in evaluation mode and without gradients; measure once as it is, then once after putting the given prefix in as apply_prefix does (a prefix optimised directly, no MLP); the loss is the next-token cross-entropy averaged over every real next token of the batch
    m = copy.deepcopy(model).eval()  # apply_prefix changes the model it is given
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    with torch.no_grad():
        without = lm_loss(m, batch)[0].item()  # shifted: t predicts t + 1; padded targets skipped
        m = apply_prefix(m, length=prefix.shape[3], hidden=None)
        m.prefix.kv.copy_(prefix)
        with_prefix = lm_loss(m, batch)[0].item()
    return without, with_prefix
    ### END SOLUTION


# %%
check("14.measure", prefix_loss)
### BEGIN HIDDEN TESTS
torch.manual_seed(0)
gpt = GPT(GPTConfig.tiny(vocab_size=30, max_len=16))
ids, m = torch.randint(0, 30, (2, 8)), torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
a, b = prefix_loss(gpt, torch.randn(2, 2, 4, 3, 8), ids, m)
with torch.no_grad():
    assert math.isclose(a, lm_loss(gpt.eval(), {"input_ids": ids, "attention_mask": m})[0].item(), rel_tol=1e-5)
assert a != b and not hasattr(gpt, "prefix")
assert evaluate("14.measure", prefix_loss).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Now train a prefix and measure it. The backbone is a tiny course GPT, frozen (here untrained, so
# it knows nothing: whatever the prefix achieves, it achieves through P = 10 keys and values per
# layer alone). The task's text: sequences that count up, 7 8 9 10 …, modulo the vocabulary. The
# prefix is optimised directly (`hidden=None`) on 16 sequences and measured with your function on
# 16 others.

# %%
torch.manual_seed(0)
backbone = GPT(GPTConfig.tiny(vocab_size=50, max_len=32))
g = torch.Generator().manual_seed(0)


def counting(n):
    starts = torch.randint(0, 50, (n, 1), generator=g)
    ids = (starts + torch.arange(16)) % 50  # (n, 16)
    return ids, torch.ones_like(ids)


train_ids, train_mask = counting(16)
test_ids, test_mask = counting(16)
tuned = apply_prefix(copy.deepcopy(backbone).eval(), length=10, hidden=None)
opt = torch.optim.Adam([tuned.prefix.kv], lr=0.3)
for step in range(ctx.pick(smoke=60, cpu=150, gpu=150)):
    loss, _ = lm_loss(tuned, {"input_ids": train_ids, "attention_mask": train_mask})
    opt.zero_grad()
    loss.backward()
    opt.step()
trained_prefix = tuned.prefix.kv.detach()  # (L, 2, nh, P, hs)

try:
    without, with_prefix = prefix_loss(backbone, trained_prefix, test_ids, test_mask)
    print(f"held-out sequences: loss {without:.3f} without the prefix (perplexity {math.exp(without):.1f}), "
          f"{with_prefix:.3f} with it (perplexity {math.exp(with_prefix):.1f}); "
          f"{trained_prefix.numel():,} numbers trained, the backbone's {sum(p.numel() for p in backbone.parameters()):,} frozen")
except NotImplementedError:
    print("write prefix_loss above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("14")
