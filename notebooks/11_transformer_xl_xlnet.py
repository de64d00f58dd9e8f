# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     provenance: []
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Transformer-XL and XLNet — relative positions, segment recurrence, the permutation language model
#
# **Learning goals.** After this notebook you can
#
# 1. say why a Transformer that reuses the previous segment's states cannot keep **absolute**
#    positions, and show it on a trained model;
# 2. write Transformer-XL's **relative** attention score (content, position, and the two global
#    biases u and v) and the `rel_shift` trick that puts it in key order, and check it by index;
# 3. train a Transformer-XL on WikiText-2 with a per-layer **memory** (detached), read why that
#    makes it "recurrent and serial" across segments, and measure what the memory buys:
#    perplexity against memory length, and evaluation speed against a vanilla Transformer that
#    recomputes its context;
# 4. build XLNet's **permutation language model**: a factorisation order, `perm_mask`,
#    `target_mapping`, partial prediction, and the two streams (content and query), and draw
#    who may see whom in BERT, GPT and XLNet;
# 5. pre-train a small XLNet beside a BERT of the same size and budget and compare them on the
#    same blanks — and say what that comparison can and cannot show at this scale.
#
# **Time.** The `smoke` preset runs in under a minute; the `cpu` preset took
# 808<!-- notebook_runtimes.json:11_transformer_xl_xlnet.cpu.seconds:.0f --> s end to end on 2 CPU cores
# (`python benchmarks/run_notebook.py notebooks/11_transformer_xl_xlnet.ipynb --preset cpu`, which
# also keeps the figures this text quotes in
# `benchmarks/results/notebooks/11_transformer_xl_xlnet_cpu.json`).
#
# > *The notes*, in the encoder table: **Transformer-XL | XLNet | 循环+串行 (recurrent, serial) |
# > 基于transformer引入相对位置编码** (relative positional encoding introduced on top of the
# > Transformer).
#
# **Glossary** (术语表): every term of the notes in Chinese and English, with the chapter that teaches it — [docs/glossary.md](../docs/glossary.md).

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1. The problem: a fixed window forgets, and absolute positions cannot be reused
#
# The GPT of chapter 10 reads text in windows of `BLOCK` tokens. The first token of a window
# is predicted from nothing; the tenth from nine tokens; none from the window before
# (*context fragmentation*, Dai et al. 2019, section 3.1). The obvious fix: keep the hidden
# states of the previous segment and let the next segment attend to them, as extra keys and
# values in front of its own — the same `past_kv` mechanism that chapter 10's KV cache uses.
#
# With **absolute** positions this breaks. Segment τ and segment τ + 1 both carry positions
# 0 … T − 1 (there is no position T + 5 in a table of T rows, and the segments go on forever):
#
# $$h_{\tau+1} = f(h_\tau,\; E_{s_{\tau+1}} + U_{0:T}), \qquad h_\tau = f(h_{\tau-1},\; E_{s_\tau} + U_{0:T})$$
#
# so the model cannot tell token 5 of the memory from token 5 of the current segment, and a
# query at position 5 now sees memory keys that claim positions 6 … T − 1 — its "future".
#
# Shown on data below (section 4), once the tokens are loaded: a GPT with learned absolute
# positions, trained on windows of 64 tokens, reads the second half of each window three ways.
#
# ## 2. Relative positions (相对位置编码)
#
# Transformer-XL puts no position on the tokens at all. Positions enter every layer's attention
# as the **distance** i − j between query i and key j. In the vanilla Transformer with absolute
# positions U, the score of query i and key j expands into four terms (eq. 3); Transformer-XL
# replaces each absolute position by a relative one (eq. 4):
#
# $$A^{\mathrm{rel}}_{ij} = \underbrace{E_{x_i}^\top W_q^\top W_{k,E} E_{x_j}}_{(a)\ \text{content}}
# + \underbrace{E_{x_i}^\top W_q^\top W_{k,R} R_{i-j}}_{(b)\ \text{content-dependent distance}}
# + \underbrace{u^\top W_{k,E} E_{x_j}}_{(c)\ \text{global content bias}}
# + \underbrace{v^\top W_{k,R} R_{i-j}}_{(d)\ \text{global distance bias}}$$
#
# * R is the sinusoid embedding of a **distance**, fixed, not learned, so a distance never seen in
#   training (a longer memory at test time) still has one;
# * u and v (`r_w_bias`, `r_r_bias`, one vector per head) replace the query's own position
#   term: a query no longer carries a position, so "how much does any query like this key, this
#   distance" needs its own learned vectors;
# * W_{k,E} and W_{k,R} (`k_proj`, `r_proj`) are separate: content keys and distance keys.
#
# In code, (a) + (c) = (q + u)·k and (b) + (d) = (q + v)·W_r R — two matrix products
# (`RelativeMultiHeadAttention.scores`). The second is computed for every (query, distance)
# pair, not every (query, key) pair, and needs re-indexing.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ptm_course.models.transformer_xl import (
    rel_shift,
    rel_shift_reference,
    relative_distances,
    sinusoid_embedding,
)

Tq, K = 3, 5                                   # 3 queries, the last 3 of 5 keys (2 are memory)
dist = relative_distances(K, Tq)               # the distances R holds, largest first
print("distance columns:", dist.tolist())
R = sinusoid_embedding(dist, 16)               # (5, 16): [sin | cos] of each distance
print("R:", tuple(R.shape), "| R[distance 0] =", R[-1, :4].tolist(), "...")

# %% [markdown]
# ### `rel_shift`, drawn
#
# Query i is at position K − T_q + i; it meets key j at distance (K − T_q) + i − j. If column c of
# the (query, distance) matrix holds distance `dist[c]`, the entry for key j sits in column
# c = j + T_q − 1 − i: row i must slide left by T_q − 1 − i places. The paper's code does it
# for all rows at once without an index tensor: **pad** a zero column on the left, **read** the
# (T_q, R + 1) block as (R + 1, T_q), **drop** the first row, read it back as (T_q, R). Below, each
# cell holds the distance it was computed for; after the shift, row i should read
# (K − T_q + i) − j along its keys j:

# %%
by_distance = dist.float().expand(Tq, K).clone()          # cell [i, c]: the distance of column c
shifted = rel_shift(by_distance)
reference = rel_shift_reference(by_distance, K)
want = (K - Tq + torch.arange(Tq))[:, None] - torch.arange(K)[None, :]     # i − j, by position
causal = want >= 0                                                         # what a decoder keeps
assert torch.equal(shifted[causal], want[causal].float()), "rel_shift put a distance in the wrong place"
assert torch.equal(shifted[causal], reference[causal])

fig, axes = plt.subplots(1, 3, figsize=(11, 2.4))
panels = [(by_distance, "scores by (query, distance)"),
          (torch.nn.functional.pad(by_distance, (1, 0)), "1. pad a zero column"),
          (shifted.masked_fill(~causal, float("nan")), "2.-3. reshape, drop a row: by (query, key)")]
for ax, (m, title) in zip(axes, panels):
    ax.imshow(m.numpy(), cmap="Blues", vmin=-1, vmax=K)
    for (i, j), val in np.ndenumerate(m.numpy()):
        ax.text(j, i, "·" if val != val else f"{val:.0f}", ha="center", va="center", fontsize=11)
    ax.set_title(title, fontsize=9), ax.set_xticks([]), ax.set_yticks([])
axes[0].set_ylabel("query"), axes[2].set_xlabel("key (the first 2 are memory)");

# %% [markdown]
# The blank cells of the last panel (a key after the query) hold other rows' numbers after the
# reshape; causality masks them. A test checks `rel_shift` against the direct index computation
# (`rel_shift_reference`) on random matrices; the attention uses the fast one.
#
# ### Memory through the one mechanism
#
# Each layer keeps the states its input had over the last `mem_len` tokens, **detached**
# (`update_memory`: stop-gradient, SG(·) in eq. 2 of the paper). For the next segment the layer
# projects them with its own W_k, W_v (`memory_kv` → a `StaticKV`) and passes them as `past_kv`,
# the argument through which chapter 10's KV cache and chapter 14's prefixes enter attention.
# The segments must therefore be read **in order**, each waiting for the states of the one
# before: across segments the model is **recurrent and serial** (循环+串行), inside a segment it
# is as parallel as GPT.
#
# **Memory = recompute.** Reading three segments one after another with memory gives the same
# outputs as one pass over the whole text with a mask that lets each token see its own segment
# (up to itself) and the `mem_len` tokens before the segment:

# %%
from ptm_course.models.transformer_xl import TransformerXL, TransformerXLConfig, segment_recurrence_mask

torch.manual_seed(0)
SEG, MEM = 4, 4
toy = TransformerXL(TransformerXLConfig.tiny(vocab_size=50, mem_len=MEM)).eval()
ids = torch.randint(0, 50, (2, 3 * SEG))
with torch.no_grad():
    mems, pieces = None, []
    for s in range(3):
        logits, mems = toy(ids[:, s * SEG:(s + 1) * SEG], mems)   # segment after segment
        pieces.append(logits)
    replay = segment_recurrence_mask(3, SEG, MEM)
    one_pass, _ = toy(ids, mask=replay)                           # all at once, the same visibility
assert torch.allclose(torch.cat(pieces, 1), one_pass, atol=1e-5)
print("segment by segment == one pass with the recurrence mask:",
      f"max difference {(torch.cat(pieces, 1) - one_pass).abs().max():.1e}")
print(replay.int().numpy())

# %% [markdown]
# Each row is one token; its ones are the tokens it sees. The band is the memory: a token of
# segment 3 sees the 4 tokens before its segment, whose states saw 4 tokens before *them* —
# with L layers, information can travel L × `mem_len` tokens back (the paper's O(N × L) context).
#
# ## 3. The data
#
# WikiText-2 (Merity et al. 2016) with the course's byte-level BPE of chapter 10, trained on its
# training text.

# %%
from ptm_course.data import load
from ptm_course.data.bpe import wikitext_bpe

VOCAB = ctx.pick(smoke=1024, cpu=4096, gpu=8192)
tok = wikitext_bpe(VOCAB, max_lines=ctx.pick(smoke=3000, cpu=None, gpu=None))
wiki = load("wikitext-2")


def encode(split, n_chars=None):
    text = "".join(wiki[split]["text"])
    return torch.tensor(tok.encode(text if n_chars is None else text[:n_chars]).ids)


train_ids = encode("train", ctx.pick(smoke=300_000, cpu=None, gpu=None))
valid_ids = encode("validation", ctx.pick(smoke=20_000, cpu=300_000, gpu=None))
test_ids = encode("test", ctx.pick(smoke=20_000, cpu=None, gpu=None))
print(f"vocabulary {VOCAB:,}; train {len(train_ids):,}, validation {len(valid_ids):,}, test {len(test_ids):,} tokens")

# %% [markdown]
# ## 4. Absolute positions break when a segment reuses the previous one's states
#
# A GPT with learned absolute positions (chapter 10), trained on windows of 64 tokens. Each test
# window is split in two halves of 32, and the second half is scored three ways:
#
# 1. **alone**: the half on its own, positions 0 … 31 — no context (what a vanilla segment model does);
# 2. **recompute**: the whole window, positions 0 … 63 — the second half sees the first;
# 3. **reuse, positions restarted**: the first half's keys and values are cached (positions
#    0 … 31), then the second half attends to them *and is given positions 0 … 31 again* — what
#    recurrence over unbounded segments would have to do with a table of absolute positions.

# %%
from torch.utils.data import DataLoader

from ptm_course.data.lm import LMWindows
from ptm_course.models.gpt import GPT, GPTConfig, lm_loss
from ptm_course.notebook import record
from ptm_course.train import fit

import torch.nn.functional as F

SIZE = dict(d_model=ctx.pick(smoke=64, cpu=128, gpu=256), n_layers=ctx.pick(smoke=2, cpu=4, gpu=6),
            n_heads=ctx.pick(smoke=2, cpu=4, gpu=8))
WINDOW = 64
GPT_STEPS = ctx.pick(smoke=30, cpu=800, gpu=4000)
torch.manual_seed(0)
gpt = GPT(GPTConfig(vocab_size=VOCAB, max_len=WINDOW, dropout=0.0, attn_dropout=0.0, **SIZE))
fit(gpt, DataLoader(LMWindows(train_ids, WINDOW), batch_size=16, shuffle=True, drop_last=True), lm_loss,
    max_steps=GPT_STEPS, lr=2e-3, warmup_steps=max(1, GPT_STEPS // 20), schedule="cosine", min_lr_ratio=0.1,
    log_every=max(1, GPT_STEPS // 10), device=ctx.device, desc="GPT, absolute positions")
gpt.eval()


@torch.no_grad()
def second_half_nll(model, windows, how):
    """Mean NLL of the second half's next-token predictions (positions 32..62 predict 33..63)."""
    first, second = windows[:, :WINDOW // 2], windows[:, WINDOW // 2:]
    if how == "alone":
        logits = model(second)
    elif how == "recompute":
        logits = model(windows)[:, WINDOW // 2:]
    else:  # reuse the first half's keys and values, and restart the positions at 0
        cache = model.new_cache()
        model(first, past_kv=cache)
        logits = model(second, past_kv=cache, position_ids=torch.arange(WINDOW // 2, device=windows.device))
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), second[:, 1:].flatten()).item()


test_windows = torch.stack([w["input_ids"] for w in LMWindows(test_ids, WINDOW)]).to(ctx.device)
abs_demo = {how: math.exp(second_half_nll(gpt, test_windows, how)) for how in ("alone", "recompute", "reuse_restarted")}
for how, ppl in abs_demo.items():
    print(f"{how:16s} perplexity {ppl:8.1f}")
record("absolute_positions_ppl", {k: round(v, 1) for k, v in abs_demo.items()})
if ctx.preset.name != "smoke":  # a trained model shows it; 30 steps of smoke cannot
    assert abs_demo["recompute"] < abs_demo["alone"], abs_demo
    assert abs_demo["reuse_restarted"] > abs_demo["recompute"], abs_demo

# %% [markdown]
# In the cpu-preset run: alone 229.0<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.absolute_positions_ppl.alone:.1f -->,
# recompute 227.2<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.absolute_positions_ppl.recompute:.1f -->,
# reuse with restarted positions 234.4<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.absolute_positions_ppl.reuse_restarted:.1f -->.
# The context helps, a little (a 4-layer model trained for a few minutes makes small use of 32
# earlier tokens), but the same states, reused with the positions a recurrence would have to give
# them, make the model worse than no context at all: the model reads the memory's positions as
# the current segment's own. For a causal
# decoder, caching the first half at its own positions and giving the second half positions
# 32 … 63 is exact — that is the KV cache — but only until the table of positions runs out; a
# recurrence must go on past it. Relative positions remove the question.
#
# ## 5. Training Transformer-XL on WikiText-2
#
# `BPTTBatches` (chapter 05) cuts the token stream into 16 parallel streams read 32 tokens at a
# time: row b of batch k + 1 continues row b of batch k, exactly what the memory needs.
# `MemoryLoss` carries the memory from batch to batch (starting empty at each pass over the
# text) — the same loop chapter 05's LSTM uses for its hidden state. Training memory: twice the
# segment.

# %%
from ptm_course.encoders import BPTTBatches
from ptm_course.models.transformer_xl import MemoryLoss, evaluate_with_memory
from ptm_course.viz import plot_history

SEG_LEN, TRAIN_MEM = 32, 64
TXL_STEPS = ctx.pick(smoke=40, cpu=2000, gpu=10000)
torch.manual_seed(0)
txl = TransformerXL(TransformerXLConfig(vocab_size=VOCAB, mem_len=TRAIN_MEM, **SIZE))
print(f"{sum(p.numel() for p in txl.parameters()):,} parameters (the GPT above: "
      f"{sum(p.numel() for p in gpt.parameters()):,}); {TXL_STEPS} steps of 16 x {SEG_LEN} tokens")


def txl_valid(m):
    return {"valid_loss": evaluate_with_memory(m, valid_ids[:25_000], SEG_LEN)}


history = fit(txl, BPTTBatches(train_ids, 16, SEG_LEN), MemoryLoss(), max_steps=TXL_STEPS, lr=2e-3,
              warmup_steps=max(1, TXL_STEPS // 20), schedule="cosine", min_lr_ratio=0.1, grad_clip=0.25,
              eval_fn=txl_valid, eval_every=max(1, TXL_STEPS // 4), log_every=max(1, TXL_STEPS // 20),
              device=ctx.device, desc="Transformer-XL")
plot_history(history, keys=["loss", "valid_loss"], title="Transformer-XL on WikiText-2");

# %% [markdown]
# ## 6. What the memory buys: perplexity against memory length
#
# The same trained model reads the **test split** (its first 150,000 tokens on the cpu preset) in
# segments of 32 tokens, with a memory
# of 0 (every segment blind: a vanilla segment model), 1×, 2× (as trained) and 4× the segment.
# Relative positions let it use a longer memory than it was trained with: the distances 65 … 159
# were never seen, but they have sinusoid embeddings.

# %%
MEMS = [0, SEG_LEN, 2 * SEG_LEN, 4 * SEG_LEN]
test_part = test_ids[: ctx.pick(smoke=None, cpu=150_000, gpu=None)]
ppl_by_mem = {m: math.exp(evaluate_with_memory(txl, test_part, SEG_LEN, mem_len=m)) for m in MEMS}
for m, p in ppl_by_mem.items():
    print(f"memory {m:4d} tokens ({m // SEG_LEN}x segment): test perplexity {p:7.2f}")
record("ppl_by_memory", {str(m): round(p, 2) for m, p in ppl_by_mem.items()})
plt.figure(figsize=(5, 3.2))
plt.plot(MEMS, list(ppl_by_mem.values()), "o-")
plt.axvline(TRAIN_MEM, ls=":", c="gray", label="trained with this memory")
plt.xlabel("memory length (tokens), segment = 32"), plt.ylabel("test perplexity"), plt.legend(), plt.grid(alpha=0.3)
plt.title("longer context through recurrence");
if ctx.preset.name != "smoke":
    assert ppl_by_mem[SEG_LEN] < ppl_by_mem[0] and ppl_by_mem[2 * SEG_LEN] < ppl_by_mem[SEG_LEN], ppl_by_mem

# %% [markdown]
# In the cpu-preset run the test perplexity fell from
# 148.22<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.ppl_by_memory.0:.2f --> without memory to
# 127.35<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.ppl_by_memory.32:.2f --> with one segment of memory and
# 126.46<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.ppl_by_memory.64:.2f --> with two (as trained); four gave
# 126.11<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.ppl_by_memory.128:.2f --> — a memory longer than any seen in training still helps a little.
# The first segment of memory buys the most: most of what a token needs is close by, and
# without memory the first tokens of every segment are predicted almost blind. (The paper's
# WikiText-103 model, 151 M parameters trained far longer with a memory of 640, reaches 18.3;
# these are 4-layer models trained for minutes.)
#
# ## 7. Evaluation speed: cached memory against recomputing the context
#
# To predict a new segment of 32 tokens with C tokens of context, a vanilla Transformer must run
# all C + 32 tokens through every layer again (its states of the context depend on where the
# window starts); Transformer-XL runs only the 32 new ones and attends to the cached memory.
# Both models here have the same width and depth; the vanilla one is chapter 10's GPT (random
# weights: speed does not depend on them). The median of several repeats, default threads:

# %%
import time

CONTEXTS = ctx.pick(smoke=[32, 64], cpu=[32, 64, 128, 256, 480], gpu=[64, 128, 256, 480, 992])
BATCH_EVAL, N_SEG, REPEATS = 8, ctx.pick(smoke=2, cpu=4, gpu=8), ctx.pick(smoke=2, cpu=5, gpu=5)
vanilla = GPT(GPTConfig(vocab_size=VOCAB, max_len=max(CONTEXTS) + SEG_LEN, dropout=0.0, attn_dropout=0.0,
                        **SIZE)).to(ctx.device).eval()
txl.eval()
stream = test_ids[: BATCH_EVAL * (max(CONTEXTS) + (N_SEG + 1) * SEG_LEN)].view(BATCH_EVAL, -1).to(ctx.device)


def sync():
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def seconds_per_segment(C, model_kind):
    times = []
    for _ in range(REPEATS):
        if model_kind == "txl":  # fill a memory of C tokens, then time the new segments
            txl.config.mem_len = C
            _, mems = txl(stream[:, :C])
        sync()
        t0 = time.perf_counter()
        for s in range(N_SEG):
            new = stream[:, C + s * SEG_LEN: C + (s + 1) * SEG_LEN]
            if model_kind == "txl":
                _, mems = txl(new, mems)
            else:  # the window of C + 32 tokens, recomputed
                vanilla(stream[:, s * SEG_LEN: C + (s + 1) * SEG_LEN])
        sync()
        times.append((time.perf_counter() - t0) / N_SEG)
    txl.config.mem_len = TRAIN_MEM
    return sorted(times)[len(times) // 2]


speed = {kind: [BATCH_EVAL * SEG_LEN / seconds_per_segment(C, kind) for C in CONTEXTS] for kind in ("txl", "vanilla")}
ratio = [a / b for a, b in zip(speed["txl"], speed["vanilla"])]
for C, a, b, r in zip(CONTEXTS, speed["txl"], speed["vanilla"], ratio):
    print(f"context {C:4d}: Transformer-XL {a:8.0f} tokens/s, vanilla recompute {b:8.0f} tokens/s  ({r:.1f}x)")
record("eval_speedup", {str(C): round(r, 2) for C, r in zip(CONTEXTS, ratio)})
plt.figure(figsize=(5, 3.2))
plt.plot(CONTEXTS, speed["txl"], "o-", label="Transformer-XL, cached memory")
plt.plot(CONTEXTS, speed["vanilla"], "s-", label="vanilla, recompute the window")
plt.xscale("log", base=2), plt.yscale("log"), plt.xlabel("context length (tokens)"), plt.ylabel("new tokens / s")
plt.legend(), plt.grid(alpha=0.3), plt.title("evaluation speed (this run)");
if ctx.preset.name != "smoke":  # 9x fewer tokens through every layer at the longest context: a wide margin
    assert ratio[-1] > 2, ratio

# %% [markdown]
# In the cpu-preset run the speed-up grew with the context, from
# 0.9<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.eval_speedup.32:.1f -->× at 32 tokens (with as much context as new tokens, the relative
# attention — its position term and `rel_shift`, outside the fused kernel — costs more than
# recomputing 32 tokens) to
# 3.9<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.eval_speedup.480:.1f -->× at 480. The vanilla model's
# cost per new segment grows with C (C + 32 tokens through every layer, attention over all of
# them); Transformer-XL's grows only through the attention over C + 32 keys. The paper measured
# up to 1,874× at a context of 3,800, against a vanilla model that moves its window **one token**
# at a time (Dai et al. 2019, table 9) — the same effect, at a larger scale and a harsher baseline.
#
# ## 8. XLNet: a language model over a random order of the tokens
#
# BERT sees both sides but predicts its [MASK]ed tokens **independently** of each other and
# trains on a [MASK] symbol that fine-tuning never shows it; GPT factorises the text properly
# but only left to right. XLNet (Yang et al. 2019) keeps the product rule of a language model and
# changes the **order** of the factorisation: sample a permutation z of the positions, and
#
# $$\log p(x) = \sum_{t=1}^{T} \log p\big(x_{z_t} \mid x_{z_{<t}}\big)$$
#
# Over many orders, every token is predicted from context on both sides, and no [MASK] is ever
# fed in. The text keeps its order — only the **attention masks** change.
#
# * `perm_mask[i, j] = 1` means position i may **not** attend to position j (j comes at or after
#   i in the order) — Hugging Face's and the paper code's convention.
# * **Partial prediction** (K ≈ 6): only the last T/K positions of the order are predicted; the
#   rest come first, see each other freely and give every target a long context.
# * `target_mapping[m, j] = 1` marks target m's position j.

# %%
from ptm_course.models.xlnet import (
    content_stream_mask,
    permutation_masks,
    query_stream_mask,
    sample_order,
)

T_DEMO, N_PRED = 8, 3
order = sample_order(T_DEMO, torch.Generator().manual_seed(3))
perm_mask, target_mapping = permutation_masks(order, N_PRED)
print("order z:", order.tolist(), "-> targets (the last 3 of z):", order[-N_PRED:].tolist())
print("target_mapping picks positions", target_mapping.argmax(-1).tolist())
print("perm_mask (1 = may NOT attend):\n", perm_mask.int().numpy())

# %% [markdown]
# **Two streams.** To predict x at position z_t the model must know *where* it predicts, but not
# *what* is there — otherwise the task is trivial. A standard Transformer state at z_t has already
# mixed in its own token. So XLNet runs two streams with shared weights:
#
# * the **content stream** h: a normal Transformer state, it *sees itself* (and what comes before
#   it in the order): `content_stream_mask`;
# * the **query stream** g: starts from one learned vector (`mask_emb`), plus the position (through
#   the relative attention), and attends to the *content* of the positions before it in the
#   order, never to its own content: `query_stream_mask`. Its last layer feeds the output layer.
#
# The masks of the order above, side by side:

# %%
def show_mask(ax, m, title):
    ax.imshow(m.int().numpy(), cmap="Greens", vmin=0, vmax=1.4)
    ax.set_title(title, fontsize=9), ax.set_xlabel("key position j"), ax.set_ylabel("query position i")
    ax.set_xticks(range(m.size(1))), ax.set_yticks(range(m.size(0)))


targets = set(order[-N_PRED:].tolist())
fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.5, 3.6))
show_mask(a1, content_stream_mask(perm_mask), "content stream h: may attend (sees itself)")
show_mask(a2, query_stream_mask(perm_mask), "query stream g: may attend (not itself)")
for ax in (a1, a2):
    for p in targets:
        ax.get_yticklabels()[p].set_color("crimson")
fig.suptitle(f"order {order.tolist()}; targets in red: {sorted(targets)}", fontsize=9);
assert not query_stream_mask(perm_mask)[list(targets), list(targets)].any(), "a target saw itself in the query stream"
assert content_stream_mask(perm_mask).diagonal().all()

# %% [markdown]
# And who may see whom in the three pre-training objectives, for one sentence of 8 tokens (BERT
# with positions 2 and 5 masked: everyone sees every position, the masked ones as [MASK];
# GPT: the past; XLNet: what precedes in the order — a causal triangle with its rows and columns
# permuted):

# %%
from ptm_course.models.transformer import causal_mask

rank = torch.empty(T_DEMO, dtype=torch.long)
rank[order] = torch.arange(T_DEMO)
full_order_content = rank[None, :] <= rank[:, None]          # XLNet, full prediction: z-order causal
fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4))
show_mask(axes[0], torch.ones(T_DEMO, T_DEMO, dtype=torch.bool), "BERT: all (2, 5 are [MASK] symbols)")
for j in (2, 5):
    axes[0].axvline(j, c="crimson", lw=6, alpha=0.3)
show_mask(axes[1], causal_mask(T_DEMO), "GPT: left to right")
show_mask(axes[2], full_order_content, f"XLNet, order {order.tolist()}")
assert torch.equal(full_order_content[order][:, order], causal_mask(T_DEMO)), "sorted by the order it is GPT's triangle"

# %% [markdown]
# Sorted by the order z, XLNet's mask *is* GPT's triangle (the assert): a left-to-right model
# over a shuffled sequence, whose tokens keep their true relative positions.
#
# **The rest of XLNet** (`ptm_course.models.xlnet`): it is built on Transformer-XL's attention —
# relative positions, now looking both ways, and a memory entering as earlier keys and values;
# segments (sentence A / B) enter as a learned **relative** bias — "same segment or not" — rather
# than an absolute segment embedding (`token_type_ids`). The course's `XLNetLMHeadModel` is
# tested to give the same logits as Hugging Face's `XLNetLMHeadModel` (copied weights, with
# `perm_mask`, `target_mapping`, and memory) to ≤ 1e-5.
#
# ## 9. Pre-training XLNet beside a BERT of the same size and budget
#
# Both read the same windows of 64 WikiText-2 tokens, with the same width, depth, batch, steps
# and learning rate. BERT masks 15 % of the tokens (80/10/10, chapter 07); its [MASK] is one id
# beyond the BPE vocabulary. XLNet samples one order per window and predicts its last 64 // 6 = 10
# positions (`permutation_batch`, K = 6) — about as many predictions per window as BERT's.

# %%
from ptm_course.data.masking import SpecialTokens, mask_tokens
from ptm_course.models.bert import BertConfig, BertForMaskedLM, mlm_loss
from ptm_course.models.xlnet import XLNetConfig, XLNetLMHeadModel, permutation_batch, score_targets, xlnet_loss

SEQ, PT_STEPS = 64, ctx.pick(smoke=30, cpu=1000, gpu=6000)
MASK_ID = VOCAB                                   # one id beyond the text's vocabulary
eot = tok.token_to_id("<|endoftext|>")            # never inside a window; stands in for BERT's other specials
special = SpecialTokens(pad=eot, unk=eot, cls=eot, sep=eot, mask=MASK_ID)
windows = LMWindows(train_ids, SEQ)


def bert_batch(examples, g=torch.Generator().manual_seed(0)):
    ids, labels = mask_tokens(torch.stack([e["input_ids"] for e in examples]), special, VOCAB + 1,
                              generator=g, random_token_range=(0, VOCAB))
    return {"input_ids": ids, "mlm_labels": labels}


def xlnet_batch(examples, g=torch.Generator().manual_seed(0)):
    return permutation_batch(torch.stack([e["input_ids"] for e in examples]), K=6, generator=g)


def loader(collate):
    return DataLoader(windows, batch_size=16, shuffle=True, drop_last=True, collate_fn=collate,
                      generator=torch.Generator().manual_seed(0))


common = dict(max_steps=PT_STEPS, lr=1e-3, warmup_steps=max(1, PT_STEPS // 20), schedule="cosine",
              min_lr_ratio=0.1, weight_decay=0.01, log_every=max(1, PT_STEPS // 10), device=ctx.device)
torch.manual_seed(0)
xlnet = XLNetLMHeadModel(XLNetConfig(vocab_size=VOCAB, **SIZE))
h_xlnet = fit(xlnet, loader(xlnet_batch), xlnet_loss, desc="XLNet", **common)
torch.manual_seed(0)
bert = BertForMaskedLM(BertConfig(vocab_size=VOCAB + 1, d_ff=4 * SIZE["d_model"], max_len=SEQ, dropout=0.0,
                                  attn_dropout=0.0, pad_token_id=eot, **SIZE))
h_bert = fit(bert, loader(bert_batch), mlm_loss, desc="BERT", **common)
print(f"parameters: XLNet {sum(p.numel() for p in xlnet.parameters()):,}, BERT {sum(p.numel() for p in bert.parameters()):,}")

# %% [markdown]
# The XLNet run is also a command (`ptm-course pretrain xlnet --preset cpu`, or on 8 GPUs
# `torchrun --standalone --nproc_per_node 8 -m ptm_course.pretrain xlnet --preset gpu --out runs/xlnet`;
# the README's "Pre-training on many GPUs"): each window's factorisation order is drawn from
# (seed, epoch, window), whichever process reads it.
#
# **The measured row.** On validation windows, the same 10 positions per window are blanked for
# both models:
#
# * **BERT**: the 10 positions become [MASK]; each is predicted from the 54 others — on its own;
# * **XLNet, on its own**: `target_masks(..., in_order=False)` — each target sees the 54 others
#   and no other target, the same information BERT has (and no [MASK] symbols);
# * **XLNet, in order**: the targets left to right, each also seeing the targets before it. The
#   sum of these log-probabilities is the **joint** log p(10 tokens | the rest), by the chain rule
#   — something BERT cannot compute: its independent predictions do not multiply into a joint.

# %%
@torch.no_grad()
def bert_scores(model, ids, targets):
    blanked = ids.scatter(1, targets, MASK_ID)
    logp = model.eval()(blanked).float().log_softmax(-1)
    return logp.gather(-1, ids.gather(1, targets)[..., None]).squeeze(-1)


val = torch.stack([w["input_ids"] for w in LMWindows(valid_ids, SEQ)])[: ctx.pick(smoke=16, cpu=512, gpu=2048)]
g = torch.Generator().manual_seed(1)
blanks = torch.stack([torch.randperm(SEQ, generator=g)[: SEQ // 6].sort().values for _ in range(len(val))])
val, blanks = val.to(ctx.device), blanks.to(ctx.device)
rows = {"bert": bert_scores(bert, val, blanks),
        "xlnet_alone": score_targets(xlnet, val, blanks, in_order=False),
        "xlnet_in_order": score_targets(xlnet, val, blanks, in_order=True)}
unigram = torch.bincount(train_ids, minlength=VOCAB).float().add(1).log().log_softmax(-1)  # add-one counts
rows["unigram"] = unigram.to(ctx.device)[val.gather(1, blanks)]
blank_nll = {k: -v.mean().item() for k, v in rows.items()}
for k, v in blank_nll.items():
    print(f"{k:16s} {v:.3f} nats per blank  (perplexity {math.exp(v):7.1f})")
record("blank_nll", {k: round(v, 3) for k, v in blank_nll.items()})
if ctx.preset.name != "smoke":
    assert blank_nll["xlnet_alone"] < blank_nll["unigram"] - 0.5, blank_nll
    assert blank_nll["xlnet_in_order"] < blank_nll["xlnet_alone"], blank_nll

# %% [markdown]
# In the cpu-preset run (1,000 steps of 16 windows each): BERT
# 7.536<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.blank_nll.bert:.3f --> nats per blank, XLNet on its own
# 5.460<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.blank_nll.xlnet_alone:.3f -->, XLNet in order
# 5.319<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.blank_nll.xlnet_in_order:.3f --> (unigram counts:
# 6.810<!-- notebooks/11_transformer_xl_xlnet_cpu.json:values.blank_nll.unigram:.3f -->).
#
# **What this row can and cannot show.** It shows XLNet filling blanks from context on both
# sides, well below the unigram line, and its factorisation letting a blank use the blanks
# predicted before it (in order < on its own) — the dependency between targets that BERT's
# independence assumption leaves out. It does **not** show that the permutation objective beats
# masking: at this budget our BERT is still in the early stage of masked-LM training where it
# predicts little more than word frequencies — its blanks score no better than unigram counts
# (worse, here, because it trained on 80/10/10 corruption and is scored on [MASK] alone). A
# likely reason is the positions: BERT must learn 64 absolute position embeddings from scratch,
# while XLNet's relative sinusoids give every layer the distances for free; we did not run the
# ablation that would settle it, and a fair race needs budgets where both have converged.
# Nor can it show what the paper claims, that XLNet *fine-tunes* better than BERT on downstream tasks: that result came from models of 340 M
# parameters trained on 33 B tokens, with more compute than BERT-large, and it is measured on
# GLUE, SQuAD and RACE, not on blank filling. Here: one seed, one size, a few minutes of
# training. And the two objectives do not train the same thing per step: BERT's 15 % targets see
# everything else; each XLNet target sees a random part of the other targets, which makes its
# task harder and its training signal noisier at equal steps.
#
# ## Summary
#
# | piece | what it does | in the package |
# |---|---|---|
# | relative attention | (q + u)·k + (q + v)·W_r R_{i−j}; no positions on the tokens | `models.transformer_xl.RelativeMultiHeadAttention` |
# | `rel_shift` | (query, distance) → (query, key) by pad, reshape, drop | `rel_shift`, `rel_shift_reference` |
# | memory | per-layer states of the last `mem_len` tokens, detached, as `past_kv` | `update_memory`, `TransformerXL(ids, mems)` |
# | memory = recompute | segments in order = one pass with the recurrence mask | `segment_recurrence_mask` |
# | training, evaluation | memory carried across `BPTTBatches`; any memory length at test | `MemoryLoss`, `evaluate_with_memory` |
# | positions in GPT | explicit absolute positions, for the failure demo | `GPT(ids, past_kv, position_ids=...)` |
# | permutation LM | an order, `perm_mask` (1 = may not attend), `target_mapping`, K | `models.xlnet.permutation_masks`, `permutation_batch` |
# | two streams | content sees itself; query from `mask_emb`, not itself | `content_stream_mask`, `query_stream_mask`, `TwoStreamAttention` |
# | scoring blanks | on their own or in order (the joint) | `target_masks`, `score_targets` |
# | XLNet | relative positions both ways, relative segments, memory | `XLNetLMHeadModel`, `xlnet_loss`, `load_hf_xlnet_weights` |
#
# The graded exercises of this chapter are in `exercises/11_transformer_xl_xlnet_exercises.ipynb`:
# `rel_shift`, the two masks from an order, which positions a target may see, and perplexity
# with and without memory on a tiny model.
