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
# # 13 · Delta-tuning — adapters, LoRA, BitFit: train a sliver, keep the rest frozen
#
# **Learning goals.** After this notebook you can
#
# 1. say what the notes mean by delta-tuning and tell its two kinds apart: tune **a small part**
#    of the parameters (BitFit: the biases) or **add a small set** (adapters, LoRA);
# 2. apply each method to a pre-trained BERT with one call, and count exactly what trains and
#    what a task has to store;
# 3. explain why every method starts as the frozen model (the zero init) and check it;
# 4. write LoRA's update W + (α/r)·B·A, fold it into W after training, and check that the
#    merged model computes the same thing at no extra cost;
# 5. compare full fine-tuning, BitFit, LoRA and two adapter placements on two tasks — each
#    method at its own learning rate, over three seeds — and read the table: accuracy against
#    trainable parameters, bytes per task, time per step.
#
# **Time.** The `smoke` preset runs in under a minute; the `cpu` preset took
# 785<!-- notebook_runtimes.json:13_delta_tuning.cpu.seconds:.0f --> s end to end on 2 CPU cores
# (`python benchmarks/run_notebook.py notebooks/13_delta_tuning.ipynb --preset cpu`, which also
# keeps the figures this text quotes in `benchmarks/results/notebooks/13_delta_tuning_cpu.json`).
#
# > *The notes*, adapting the model to downstream tasks: **delta-tuning — 仅微调模型参数的一小部分,
# > 或是增加一组参数,而其余部分保持不变** (tune only a small part of the model's parameters, or add
# > a small set of parameters, and keep the rest unchanged).
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
# ## 1. Why not fine-tune everything?
#
# Chapter 08 fine-tuned every one of MiniLM's 22 million parameters for each task. That works,
# and it is the reference row of every table below. But each task then owns a full copy of the
# model: a hundred tasks are a hundred copies, and training one needs gradients and two AdamW
# moments for every parameter — three more copies in memory. Delta-tuning keeps **one frozen
# backbone** shared by all tasks and trains, per task, a delta Δ that is a small fraction of it:
#
# | method | what trains | kind (the notes) |
# |---|---|---|
# | **BitFit** (Ben Zaken et al. 2022) | every bias term, nothing else | a small part of the parameters |
# | **Adapters** (Houlsby et al. 2019) | a bottleneck layer h + W_up·act(W_down·h) after the attention and after the FFN of every block | a small added set |
# | **Adapters, Pfeiffer** (Pfeiffer et al. 2020) | the same, after the FFN only | a small added set |
# | **LoRA** (Hu et al. 2021) | a low-rank update W + (α/r)·B·A of W_q and W_v | a small added set |
#
# Every method also trains the task's new head (the classifier): it does not exist before the
# task, so it belongs to every task's delta.
#
# The backbone is chapter 08's MiniLM (all-MiniLM-L6-v2, 6 layers, d = 384), with one change of
# head: MiniLM was trained as a sentence embedder on the **mean** of its token states, and its
# [CLS] vector hardly varies from one review to the next. A classifier on [CLS] would make every
# delta method first teach the frozen encoder to fill [CLS]; `BertMeanPoolClassifier` reads the
# mean over the real tokens instead — the representation this checkpoint was built to give.
#
# In the package each method is a function that takes a model and returns it with only its
# delta trainable (`ptm_course.tuning`). None of them touches `bert.py`: the Transformer blocks
# only ever *call* their projections (`attn.q_proj(x)`, …, `ffn.fc2(h)`), so LoRA and the adapters
# are modules put in place of a projection, and BitFit is a choice of `requires_grad`.

# %%
import copy

import torch

from ptm_course.models.bert import BertMeanPoolClassifier
from ptm_course.models.hf_loading import load_pretrained_bert
from ptm_course.tuning import METHODS, count_parameters

N_LAYERS = ctx.pick(smoke=2, cpu=6, gpu=6)
backbone, tok = load_pretrained_bert("all-MiniLM-L6-v2", BertMeanPoolClassifier, n_layers=N_LAYERS, n_classes=2,
                                     verbose=False)
print(f"MiniLM, {N_LAYERS} layers, d = {backbone.config.d_model}: {count_parameters(backbone).backbone:,} parameters")

# %% [markdown]
# ## 2. What each method trains, counted exactly
#
# `count_parameters` counts the trainable parameters (the head included), their share of the
# original backbone, and the bytes a task must store (fp32: 4 bytes each). LoRA with r = 8 on
# W_q and W_v adds 2 · r · (d + d) numbers per layer; an adapter with bottleneck r = d/16 adds
# 2 · d · r + r + d; BitFit adds nothing and unfreezes what is already there.

# %%
from ptm_course.tuning import tuning_spec

counts = {}
for name, apply in METHODS.items():
    m = apply(copy.deepcopy(backbone))
    c = count_parameters(m)
    counts[name] = {"trainable": c.trainable, "percent": c.percent_of_backbone, "bytes": c.trainable_bytes}
    spec = {k: v for k, v in (tuning_spec(m) or {}).items() if k not in ("method", "heads")}
    print(f"{name:9s} trainable {c.trainable:>11,}  {c.percent_of_backbone:7.3f} % of the backbone  "
          f"{c.trainable_bytes / 2**20:8.2f} MiB per task   {spec}")

d = backbone.config.d_model
assert counts["lora"]["trainable"] == N_LAYERS * 2 * 8 * (d + d) + d * 2 + 2  # r (in + out) per projection, + head
assert counts["full"]["percent"] > 99.9 and counts["bitfit"]["percent"] < 0.5

# %% [markdown]
# ## 3. Every method starts as the frozen model
#
# A delta that changed the model's output before training would throw away what pre-training
# learnt. So LoRA starts with **B = 0** (ΔW = B·A = 0, whatever A is) and each adapter with
# **W_up = 0** (h + 0 = h); BitFit adds nothing. A trained delta can then only *move* the
# pre-trained function, starting from where it is. The logits below are the frozen model's, to
# the last bit or to rounding:

# %%
from ptm_course.data.bert_inputs import encode_texts

two = encode_texts(tok, ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate."])
ids, mask = two["input_ids"], two["attention_mask"]
with torch.no_grad():
    frozen_logits = backbone.eval()(ids, None, mask)
    for name, apply in METHODS.items():
        diff = (apply(copy.deepcopy(backbone)).eval()(ids, None, mask) - frozen_logits).abs().max().item()
        print(f"{name:9s} largest change of a logit at step 0: {diff:.1e}")
        assert diff <= 1e-6

# %% [markdown]
# ## 4. LoRA up close: a low-rank update, merged away after training
#
# For a frozen projection y = W x + b (W is d_out × d_in), LoRA learns
#
# $$y = W x + b + \frac{\alpha}{r}\, B A x, \qquad A \in \mathbb{R}^{r \times d_\text{in}},\; B \in \mathbb{R}^{d_\text{out} \times r},$$
#
# with r ≪ d: the update ΔW = (α/r)·B·A has rank at most r, and costs r·(d_in + d_out) numbers
# instead of d_in·d_out. Hu et al. found that the updates fine-tuning needs have low "intrinsic
# rank", so small r loses little. The scale α/r keeps the update's size steady when r changes
# (change r, keep α, and the learning rate need not be tuned again).
#
# After training, ΔW can be **added into W**: the merged model is a plain BERT again, with no
# extra layer and no extra time at inference — unlike an adapter, which stays in the forward
# pass. `merge_lora` does that; the outputs agree to rounding:

# %%
from ptm_course.tuning import LoRALinear, apply_lora, merge_lora

lora_model = apply_lora(copy.deepcopy(backbone), rank=8, alpha=16)
torch.manual_seed(ctx.seed)
with torch.no_grad():  # stand-in for training: give every B some values
    for mod in lora_model.modules():
        if isinstance(mod, LoRALinear):
            mod.lora_B.normal_(0, 0.02)
    q = lora_model.bert.layers[0].attn.q_proj
    print(q, "\nrank of ΔW:", torch.linalg.matrix_rank(q.delta_weight()).item(), "of", tuple(q.delta_weight().shape))
    before = lora_model.eval()(ids, None, mask)
    merged = merge_lora(lora_model)(ids, None, mask)
print("after merge_lora, q_proj is", type(lora_model.bert.layers[0].attn.q_proj).__name__,
      f"| largest difference merged vs unmerged: {(merged - before).abs().max():.1e}")
assert (merged - before).abs().max() <= 1e-5

# %% [markdown]
# ## 5. The comparison: one task, every method, each at its own learning rate
#
# The main task is chapter 08's case 1, **Rotten Tomatoes** sentiment (fresh / rotten). A fair
# comparison needs care in two places:
#
# * **the learning rate.** Delta methods train few parameters from a zero start and want a rate
#   10–100× that of full fine-tuning (Hu et al. used 4e-4–5e-4 for LoRA on RoBERTa-base;
#   Houlsby et al. swept adapters' rate up to 3e-3). One shared rate would be a table biased against someone, so
#   each method gets a small sweep, scored on the **validation** split;
# * **the seeds.** With a short budget the seed (the head's init and the data order) moves
#   accuracy by a point or more, so each method runs at its chosen rate with three seeds, scored
#   on the **test** split, which the sweep never saw.
#
# Every run deep-copies the same backbone, applies one method, trains the same number of steps
# with the same batches and schedule (`ptm_course.tuning.tune`).

# %%
from ptm_course.tuning import load_task, tune

TRAIN_N = ctx.pick(smoke=256, cpu=2000, gpu=None)
EVAL_N = ctx.pick(smoke=64, cpu=400, gpu=None)
MAX_LEN = ctx.pick(smoke=32, cpu=40, gpu=64)
STEPS = ctx.pick(smoke=8, cpu=50, gpu=600)
BATCH = ctx.pick(smoke=16, cpu=16, gpu=32)
SEEDS = ctx.pick(smoke=[0], cpu=[0, 1, 2], gpu=[0, 1, 2])
SWEEP = ctx.pick(
    smoke={"full": [1e-4], "bitfit": [3e-3], "lora": [2e-3], "houlsby": [2e-3], "pfeiffer": [2e-3]},
    cpu={"full": [1e-4, 2e-4], "bitfit": [3e-3, 1e-2], "lora": [1e-3, 3e-3], "houlsby": [1e-3, 3e-3],
         "pfeiffer": [1e-3, 3e-3]},
    gpu={"full": [2e-5, 5e-5, 1e-4], "bitfit": [1e-3, 3e-3, 1e-2], "lora": [3e-4, 1e-3, 3e-3],
         "houlsby": [3e-4, 1e-3, 3e-3], "pfeiffer": [3e-4, 1e-3, 3e-3]},
)

rt = load_task("rotten-tomatoes", tok, n_train=TRAIN_N, n_valid=EVAL_N, n_test=EVAL_N, max_len=MAX_LEN, seed=ctx.seed)
rt_majority = max(rt.test["labels"].float().mean().item(), 1 - rt.test["labels"].float().mean().item())
print(f"Rotten Tomatoes: {len(rt.train['labels'])} training reviews, {len(rt.test['labels'])} test; "
      f"majority class {rt_majority:.3f}")

sweep = {}  # (method, lr) -> the seed-0 run, scored on validation (to choose) and test (to report)
for method, rates in SWEEP.items():
    for lr in rates:
        sweep[(method, lr)] = tune(backbone, method, rt, lr=lr, steps=STEPS, seed=SEEDS[0], batch_size=BATCH,
                                   eval_splits=("valid", "test"), device=ctx.device, keep_model=method == "lora")
        print(f"{method:9s} lr {lr:.0e}: validation accuracy {sweep[(method, lr)].scores['valid']:.3f}")
best_lr = {m: max(rates, key=lambda lr: sweep[(m, lr)].scores["valid"]) for m, rates in SWEEP.items()}
print("chosen on validation:", best_lr)

# %% [markdown]
# The chosen rate's seed-0 run is one of the three seeds (its test score played no part in the
# choice); the other seeds run at the same rate.

# %%
import statistics


def over_seeds(task, backbone, lrs, first=None):
    """Each method at its rate, every seed, scored on the test split: {method: [TuneRun, ...]}."""
    out = {}
    for method, lr in lrs.items():
        runs = [first[(method, lr)]] if first else []
        runs += [tune(backbone, method, task, lr=lr, steps=STEPS, seed=s, batch_size=BATCH, eval_splits=("test",),
                      device=ctx.device) for s in SEEDS[len(runs):]]
        out[method] = runs
        accs = [r.scores["test"] for r in runs]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{method:9s} lr {lr:.0e}: test accuracy {statistics.mean(accs):.3f} ± {sd:.3f}  "
              f"({', '.join(f'{a:.3f}' for a in accs)})")
    return out


rt_runs = over_seeds(rt, backbone, best_lr, first=sweep)

# %% [markdown]
# ## 6. A second task: a tag for every word
#
# Sentiment needs one decision per review; part-of-speech tagging (chapter 08's case 2) needs a
# decision per word, from features that must say *which* word class each token is. Methods that
# only nudge the pooled summary may fare differently here. The same backbone gets a token
# classifier; each method keeps the rate it won on Rotten Tomatoes (a second sweep would double
# the cost: a stated shortcut, not a tuned result).

# %%
from ptm_course.models.bert import BertForTokenClassification

pos = load_task("pos-oanc", tok, n_train=TRAIN_N, n_valid=EVAL_N, n_test=EVAL_N, max_len=MAX_LEN, seed=ctx.seed)
pos_backbone, _ = load_pretrained_bert("all-MiniLM-L6-v2", BertForTokenClassification, n_layers=N_LAYERS,
                                       n_classes=pos.n_classes, verbose=False)
words = pos.test["labels"][pos.test["labels"] != -100]
pos_majority = words.bincount().max().item() / len(words)
print(f"POS: {pos.n_classes} tags, {len(pos.train['labels'])} training sentences; most frequent tag {pos_majority:.3f}")
pos_runs = over_seeds(pos, pos_backbone, best_lr)

# %% [markdown]
# ## 7. The table and the picture
#
# Accuracy (mean ± standard deviation over the seeds), what trains, what a task stores, and the
# time per training step on this machine. Memory for training is dominated, for full
# fine-tuning, by the gradients and AdamW's two moments: three numbers per trainable parameter
# (the "grad + Adam" column, exact); the activations are about the same for every method, since
# the backward pass still runs through every frozen layer to reach the deltas of the early ones.

# %%
def summarise(runs):
    out = {}
    for method, rs in runs.items():
        accs = [r.scores["test"] for r in rs]
        out[method] = {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                       "accs": accs, "lr": rs[0].lr, "trainable": rs[0].count.trainable,
                       "percent": rs[0].count.percent_of_backbone, "bytes": rs[0].count.trainable_bytes,
                       "s_per_step": statistics.median(r.seconds_per_step for r in rs)}
    return out


table = {"rotten-tomatoes": summarise(rt_runs), "pos-oanc": summarise(pos_runs)}
print(f"{'method':9s} {'trainable':>11s} {'%':>7s} {'MiB/task':>9s} {'grad+Adam MiB':>14s} {'s/step':>7s} "
      f"{'Rotten Tomatoes':>16s} {'POS':>14s}")
for method in METHODS:
    r, p = table["rotten-tomatoes"][method], table["pos-oanc"][method]
    print(f"{method:9s} {r['trainable']:>11,} {r['percent']:>7.3f} {r['bytes'] / 2**20:>9.2f} "
          f"{3 * r['bytes'] / 2**20:>14.2f} {r['s_per_step']:>7.3f} {r['mean']:>9.3f} ± {r['std']:.3f} "
          f"{p['mean']:>7.3f} ± {p['std']:.3f}")
print(f"majority class: Rotten Tomatoes {rt_majority:.3f}, POS {pos_majority:.3f}")
if ctx.preset.name != "smoke":  # a few steps of smoke learn nothing; every real run clears the floor widely
    for rows, floor in ((table["rotten-tomatoes"], rt_majority), (table["pos-oanc"], pos_majority)):
        assert all(r["mean"] > floor + 0.05 for r in rows.values()), (floor, rows)

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
for ax, (task_name, rows), floor in zip(axes, table.items(), (rt_majority, pos_majority)):
    for method, r in rows.items():
        ax.errorbar(r["trainable"], r["mean"], yerr=r["std"], fmt="o", capsize=4, label=method)
        ax.annotate(method, (r["trainable"], r["mean"]), textcoords="offset points", xytext=(6, -10), fontsize=9)
    ax.axhline(floor, color="gray", ls=":", lw=1, label="majority class")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_title(task_name)
axes[0].set_ylabel("test accuracy (mean ± std over seeds)")
axes[1].legend(fontsize=8, loc="lower right")
plt.tight_layout()
plt.show()

# %%
from ptm_course.notebook import record

record("counts", {m: {"trainable": c["trainable"], "percent": round(c["percent"], 3)} for m, c in counts.items()})
record("best_lr", best_lr)
record("table", {t: {m: {"mean": round(100 * r["mean"], 1), "std": round(100 * r["std"], 1),
                         "s_per_step": round(r["s_per_step"], 3)} for m, r in rows.items()}
                 for t, rows in table.items()})
record("majority", {"rotten-tomatoes": round(100 * rt_majority, 1), "pos-oanc": round(100 * pos_majority, 1)})

# %% [markdown]
# ## 8. Storing a task: the delta alone
#
# What a task adds to the shared backbone is exactly its trainable tensors. `save_delta` writes
# those and nothing else (with the method's settings); `load_delta` applies the same method to a
# fresh copy of the backbone and loads them — the tuned model comes back, bit for bit:

# %%
import tempfile
from pathlib import Path

from ptm_course.tuning import load_delta, save_delta

tuned = sweep[("lora", best_lr["lora"])].model  # the seed-0 LoRA run at its chosen rate, kept
with tempfile.TemporaryDirectory() as tmp:
    path = save_delta(tuned, Path(tmp) / "rotten_tomatoes.lora.safetensors")
    size = path.stat().st_size
    restored = load_delta(copy.deepcopy(backbone), path)
with torch.no_grad():
    same = torch.equal(restored.eval()(ids, None, mask), tuned.eval()(ids, None, mask))
full_bytes = sum(p.numel() * p.element_size() for p in backbone.parameters())
print(f"the LoRA delta file: {size / 2**10:.0f} KiB, vs {full_bytes / 2**20:.0f} MiB for a full copy of the model "
      f"({full_bytes / size:.0f}x); reloaded onto a fresh backbone, same logits: {same}")
assert same

# %% [markdown]
# ## 9. What we saw
#
# In the cpu-preset run (MiniLM, 50 steps of 16 examples per run, 3 seeds, test accuracy in %):
#
# | method | trainable | % of the backbone | Rotten Tomatoes | POS |
# |---|---|---|---|---|
# | full fine-tuning | 22,713,986<!-- notebooks/13_delta_tuning_cpu.json:values.counts.full.trainable:, --> | 100.0<!-- notebooks/13_delta_tuning_cpu.json:values.counts.full.percent:.1f --> | 74.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.full.mean:.1f --> ± 2.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.full.std:.1f --> | 73.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.full.mean:.1f --> ± 0.1<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.full.std:.1f --> |
# | BitFit | 26,882<!-- notebooks/13_delta_tuning_cpu.json:values.counts.bitfit.trainable:, --> | 0.118<!-- notebooks/13_delta_tuning_cpu.json:values.counts.bitfit.percent:.3f --> | 67.8<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.bitfit.mean:.1f --> ± 2.1<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.bitfit.std:.1f --> | 74.7<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.bitfit.mean:.1f --> ± 1.0<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.bitfit.std:.1f --> |
# | LoRA, r = 8, q and v | 74,498<!-- notebooks/13_delta_tuning_cpu.json:values.counts.lora.trainable:, --> | 0.328<!-- notebooks/13_delta_tuning_cpu.json:values.counts.lora.percent:.3f --> | 71.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.lora.mean:.1f --> ± 0.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.lora.std:.1f --> | 75.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.lora.mean:.1f --> ± 0.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.lora.std:.1f --> |
# | adapters, Houlsby | 236,834<!-- notebooks/13_delta_tuning_cpu.json:values.counts.houlsby.trainable:, --> | 1.043<!-- notebooks/13_delta_tuning_cpu.json:values.counts.houlsby.percent:.3f --> | 71.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.houlsby.mean:.1f --> ± 1.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.houlsby.std:.1f --> | 79.1<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.houlsby.mean:.1f --> ± 0.9<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.houlsby.std:.1f --> |
# | adapters, Pfeiffer | 113,810<!-- notebooks/13_delta_tuning_cpu.json:values.counts.pfeiffer.trainable:, --> | 0.501<!-- notebooks/13_delta_tuning_cpu.json:values.counts.pfeiffer.percent:.3f --> | 69.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.pfeiffer.mean:.1f --> ± 3.4<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.pfeiffer.std:.1f --> | 73.7<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.pfeiffer.mean:.1f --> ± 0.3<!-- notebooks/13_delta_tuning_cpu.json:values.table.pos-oanc.pfeiffer.std:.1f --> |
#
# (majority class: 56.5<!-- notebooks/13_delta_tuning_cpu.json:values.majority.rotten-tomatoes:.1f --> and 12.8<!-- notebooks/13_delta_tuning_cpu.json:values.majority.pos-oanc:.1f -->.) Reading it against the seed spread:
#
# * **Every method learns both tasks from a fraction of a percent of the parameters**: all are
#   far above the majority class, with at most about one percent of MiniLM trainable and a
#   delta of well under a megabyte per task instead of a full copy of the model. That is the
#   notes' sentence, measured.
# * **On Rotten Tomatoes full fine-tuning is best**, and its lead over BitFit (about 6 points) is
#   well outside the spread of either. Its lead over LoRA and Houlsby adapters (about 3 points) is
#   barely larger than full fine-tuning's own seed spread: with three seeds we cannot call it.
# * **On POS the order changes.** Houlsby adapters lead, clearly outside every spread; full
#   fine-tuning comes last, level with Pfeiffer adapters, at the rate it won on Rotten Tomatoes.
#   A likely reading: in 50 steps, full fine-tuning moves all 22 M parameters a little, at a
#   rate chosen for another task, while an adapter after every sub-layer (and trained
#   LayerNorms) can reshape each token's features quickly. The same method is not best
#   everywhere, and a short budget favours the methods that learn fast.
# * **Choosing rates matters as much as choosing methods**: each delta method's validation
#   accuracy moved by several points between the two rates of its sweep (printed in section 5).
#   Every delta method chose the top of its sweep (0.003<!-- notebooks/13_delta_tuning_cpu.json:values.best_lr.lora:.3f --> for LoRA), so the best rate may lie
#   higher still; full fine-tuning chose 0.0002<!-- notebooks/13_delta_tuning_cpu.json:values.best_lr.full:.4f -->.
# * **Time per step** is about half of full fine-tuning's for every delta method
#   (0.31<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.lora.s_per_step:.2f --> s for LoRA vs 0.57<!-- notebooks/13_delta_tuning_cpu.json:values.table.rotten-tomatoes.full.s_per_step:.2f --> s here), not a
#   thousandth: the backward pass still runs through every frozen layer, only the weight
#   gradients and AdamW's update of 22 M numbers are saved. The memory saved is the "grad + Adam"
#   column: three numbers per trainable parameter.
#
# What this table is not: 50 steps is a short budget, far from convergence, and the published
# comparisons (LoRA on RoBERTa-base, GLUE 87.2 vs 86.4 for full fine-tuning; Hu et al. 2021)
# train for epochs on larger models, where the gap closes or reverses. The `gpu` preset runs
# 600 steps on the full training sets.
#
# **Try it yourself.** LoRA on all four projections (`apply_lora(m, targets=("q_proj", "k_proj",
# "v_proj", "o_proj"))`) or with r = 2 and r = 32; adapters with `bottleneck=4`; full
# fine-tuning with the word embeddings frozen — where on the plot does each land?
#
# ## Summary
#
# | piece | what it does | in the package |
# |---|---|---|
# | one mechanism | a method is a module put in place of a projection the blocks call, or a choice of `requires_grad` | `tuning.replace_linears`, `freeze_except` |
# | BitFit | biases (and the head) only | `apply_bitfit` |
# | LoRA | W + (α/r)·B·A, B = 0 at the start; merged into W after training | `apply_lora`, `LoRALinear`, `merge_lora` |
# | adapters | h + W_up·act(W_down·h), W_up = 0 at the start; Houlsby or Pfeiffer placement | `apply_adapters`, `HOULSBY`, `PFEIFFER` |
# | counting | trainable, % of the backbone, bytes per task | `count_parameters` |
# | a task's delta | only the trainable tensors, reloaded onto a fresh backbone | `save_delta`, `load_delta` |
# | the comparison | copy, apply, train, score — the same loop for chapters 13–15 | `load_task`, `tune`, `METHODS` |
#
# The graded exercises of this chapter are in `exercises/13_delta_tuning_exercises.ipynb`: a
# LoRA layer's output, merging its update, counting what LoRA trains, and BitFit's filter.
