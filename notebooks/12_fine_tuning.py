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
# # 12 · Fine-tuning that accommodates the task — continued pre-training, auxiliary losses, and what the model gives up
#
# **Learning goals.** After this notebook you can
#
# 1. say what the notes mean when they say that in fine-tuning the pre-trained model
#    "accommodates" (迁就) the task and "makes more of the sacrifices";
# 2. give a sentence encoder the masked-LM head it lacks, and measure how good that head is;
# 3. continue pre-training on the task's own unlabeled text before fine-tuning
#    (task-adaptive pre-training) and measure what it changes;
# 4. fine-tune with an auxiliary loss, L = L_task + λ·L_MLM (GPT-1's recipe, with BERT's
#    objective), for λ = 0, 0.5 and 1;
# 5. measure the sacrifice: how much worse the model gets at its pre-training task on general
#    text after fine-tuning, with and without the auxiliary loss — and read every difference
#    against the spread over seeds.
#
# **Time.** The `smoke` preset runs in under a minute; the `cpu` preset took
# 815<!-- notebook_runtimes.json:12_fine_tuning.cpu.seconds:.0f --> s end to end on 2 CPU cores
# (`python benchmarks/run_notebook.py notebooks/12_fine_tuning.ipynb --preset cpu`, which also
# keeps the figures this text quotes in `benchmarks/results/notebooks/12_fine_tuning_cpu.json`),
# with the MLM backbone already built (section 2: building it once took
# 1633<!-- notebooks/12_fine_tuning_cpu.json:values.backbone.train_seconds:.0f --> s here, on a machine shared with other jobs).
#
# > *The notes*, adapting the model to downstream tasks: **fine-tuning — 预训练语言模型"迁就"各种
# > 下游任务。具体体现就是通过引入各种辅助任务loss,将其添加到预训练模型中,然后继续pre-training,
# > 以便让其更加适配下游任务,这个过程中,预训练语言模型做出了更多的牺牲** (the pre-trained
# > language model accommodates each downstream task: auxiliary task losses are added to it and
# > pre-training continues, so that it fits the task better; in this, the pre-trained language
# > model makes more of the sacrifices).
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
# ## 1. Two ways to meet in the middle
#
# A pre-trained model and a downstream task can be brought together from either side. The
# chapters after this one (13–15) bend the **task** toward the model: freeze the model, add a
# small delta, or rewrite the input as a fill-in-the-blank the model already knows. This chapter
# is the other side, the one the notes call fine-tuning: the **model** changes, all of it, to suit
# the task. The notes name three things that happen:
#
# | the notes | here | in the package |
# |---|---|---|
# | the model is trained on the task | fine-tuning every weight with the task's loss | `adapt(..., aux_weight=0)` |
# | 继续pre-training (pre-training continues) | masked-LM training on the task's own sentences, labels unused, before fine-tuning (*task-adaptive pre-training*, Gururangan et al. 2020) | `continue_pretraining`, `adapt(..., tapt_steps=...)` |
# | 辅助任务loss (auxiliary losses are added) | L = L_task + λ·L_MLM on every fine-tuning batch (Radford et al. 2018 add λ·L_LM to GPT-1's fine-tuning) | `auxiliary_loss`, `adapt(..., aux_weight=λ)` |
# | 做出了更多的牺牲 (the model makes the sacrifices) | the masked-LM loss on general text (WikiText-2), before and after | `mlm_score` |
#
# The last row is the one courses skip: everyone fine-tunes, few measure what the model loses.

# %% [markdown]
# ## 2. A backbone that can fill blanks
#
# Continued pre-training and the auxiliary loss need the pre-training objective, so the model
# needs its masked-LM head: P(word | context) at a [MASK]. The course's offline backbones:
#
# * **MiniLM** (all-MiniLM-L6-v2, chapters 08 and 13): a real pre-trained encoder, but shipped as
#   a sentence embedder — encoder only, **no MLM head**;
# * **chapter 07's BERT**: has an MLM head, but was pre-trained for minutes on WikiText-2 and
#   classifies reviews far worse than MiniLM;
# * **SmolLM2-135M** (chapter 10): real and strong, but a *causal* LM — its objective is the next
#   word, the right one for GPT-1's auxiliary loss, not for BERT's.
#
# We choose MiniLM and give it the head it lacks: `ptm-course backbone build` puts a fresh
# `BertMLMHead` on it (its decoder tied to MiniLM's word embeddings), trains head **and encoder**
# with the MLM loss on WikiText-2's training split, scores it on the validation split, and saves
# safetensors + config + a model card. (Training the head alone on the frozen encoder does not
# work: the sentence-embedding encoder's token states no longer say which word sits where, and
# the head learns to predict frequent words.) The smoke preset builds a 3-step stand-in
# in a temporary folder instead, which checks the code but has learned nothing.

# %%
import tempfile
import time
from pathlib import Path

from ptm_course.models.bert import BertMeanPoolClassifierWithMLM
from ptm_course.models.mlm_backbone import build_minilm_mlm, fill_mask, load_minilm_mlm, minilm_mlm_path

if ctx.preset.name == "smoke":
    backbone_dir = build_minilm_mlm(Path(tempfile.mkdtemp()) / "stand-in", steps=3, batch_size=4, seq_len=32,
                                    n_valid=8, n_train=64, progress=False)
else:
    backbone_dir = minilm_mlm_path()
    if not (backbone_dir / "model.safetensors").exists():
        print(f"no MLM backbone in {backbone_dir} yet: building it once (about 20 min on 2 CPU cores) ...")
        t0 = time.perf_counter()
        build_minilm_mlm(backbone_dir, device=str(ctx.device))
        print(f"built in {time.perf_counter() - t0:.0f} s")
backbone, tok, card = load_minilm_mlm(BertMeanPoolClassifierWithMLM, path=backbone_dir, n_classes=2)
m = card["metrics"]
print(f"{card['steps']} steps × {card['batch_size']} blocks of {card['seq_len']} tokens; rebuild: {card['command']}")
for name, key in (("this backbone", "valid"), ("MiniLM + fresh head", "valid_fresh_head"),
                  ("unigram (no context)", "valid_unigram")):
    print(f"  {name:22s} MLM accuracy {m[key]['accuracy']:6.1%}   loss {m[key]['loss']:.3f} nats   "
          f"({m[key]['n_predicted']:,} blanks of WikiText-2 valid)")
if ctx.preset.name != "smoke":  # the head uses the context: better than word frequencies on both counts
    assert m["valid"]["loss"] < m["valid_unigram"]["loss"] and m["valid"]["accuracy"] > m["valid_unigram"]["accuracy"]

# %% [markdown]
# The model card (`README.md` in the checkpoint's folder) states the same figures. What does
# such a model put in a blank?

# %%
for text in ("the capital of france is [MASK] .", "the movie was [MASK] .", "she [MASK] the door and walked in .",
             "an utterly [MASK] waste of two hours ."):
    print(f"{text:40s} ->  " + ", ".join(f"{w} ({p:.2f})" for w, p in fill_mask(backbone, tok, text, k=5)))

# %% [markdown]
# ## 3. The task, and the yardstick of what the model knows
#
# The task is chapter 08's first case and chapter 13's main one: Rotten Tomatoes reviews,
# fresh or rotten, classified from the mean of the encoder's token states
# (`BertMeanPoolClassifierWithMLM`: chapter 13's classifier plus the MLM head, one encoder).
#
# The yardstick of the sacrifice is **general text the task never shows**: blocks of 128 tokens
# from WikiText-2's validation split, 15 % of their tokens masked once with a fixed seed, so that
# every model — before, after, with and without the auxiliary loss — fills the very same blanks
# (`mlm_score`). Lower loss = the model still knows how general English continues.

# %%
from ptm_course.models.mlm_backbone import Masker, mlm_score, wikitext_chunks
from ptm_course.tuning import load_task

TRAIN_N = ctx.pick(smoke=256, cpu=2000, gpu=None)
EVAL_N = ctx.pick(smoke=64, cpu=400, gpu=None)
MAX_LEN = ctx.pick(smoke=32, cpu=40, gpu=64)
GENERAL_N = ctx.pick(smoke=8, cpu=48, gpu=256)

rt = load_task("rotten-tomatoes", tok, n_train=TRAIN_N, n_valid=EVAL_N, n_test=EVAL_N, max_len=MAX_LEN, seed=ctx.seed)
masker = Masker.for_tokenizer(tok)
general = wikitext_chunks(tok, "validation", seq_len=128, n=GENERAL_N)
general_before = mlm_score(backbone, general, masker)
domain_before = mlm_score(backbone, rt.test, masker)
majority = max(rt.test["labels"].float().mean().item(), 1 - rt.test["labels"].float().mean().item())
print(f"Rotten Tomatoes: {len(rt.train['labels'])} training reviews, {len(rt.test['labels'])} test "
      f"(majority class {majority:.3f})")
print(f"before any fine-tuning, MLM loss: general text {general_before.loss:.3f} nats "
      f"({general_before.n_predicted:,} blanks), the reviews {domain_before.loss:.3f}")

# %% [markdown]
# ## 4. Continued pre-training on the task's own text
#
# Gururangan et al. (2020, *Don't Stop Pretraining*) continue the MLM on the task's unlabeled
# training text before fine-tuning (TAPT) and find it helps most when that text is far from the
# pre-training text. Reviews are not Wikipedia: short, opinionated, full of film words. First
# what continued pre-training does to the language model itself — on a copy, measured on held-out
# reviews (the test sentences; their labels play no part) and on the general text:

# %%
import copy

import torch

from ptm_course.tuning import continue_pretraining

TAPT_STEPS = ctx.pick(smoke=3, cpu=60, gpu=500)
TAPT_LR = 1e-4
probe = copy.deepcopy(backbone)
t0 = time.perf_counter()
continue_pretraining(probe, rt.train, masker, TAPT_STEPS, lr=TAPT_LR, batch_size=32, seed=ctx.seed, device=ctx.device)
tapt_seconds = time.perf_counter() - t0
probe = probe.cpu()
domain_after, general_after_tapt = mlm_score(probe, rt.test, masker), mlm_score(probe, general, masker)
print(f"{TAPT_STEPS} steps of MLM on the {len(rt.train['labels'])} training reviews ({tapt_seconds:.0f} s):")
print(f"  MLM loss on held-out reviews {domain_before.loss:.3f} -> {domain_after.loss:.3f}")
print(f"  MLM loss on general text     {general_before.loss:.3f} -> {general_after_tapt.loss:.3f}")
if ctx.preset.name != "smoke":  # it learns the reviews' language
    assert domain_after.loss < domain_before.loss
del probe

# %% [markdown]
# ## 5. Four recipes, three seeds each
#
# Every run copies the same backbone, gives it a fresh classifier (seeded), and fine-tunes all
# of it for the same number of steps with the same batches (`ptm_course.tuning.adapt`):
#
# * **fine-tune** — the task's loss only (λ = 0): chapter 08's recipe;
# * **TAPT, then fine-tune** — section 4's continued pre-training first, then the same;
# * **λ = 0.5** and **λ = 1** — L = L_task + λ·L_MLM on every batch: the classifier reads the clean
#   review, the MLM head fills blanks in a freshly masked copy of it (a second forward pass).
#
# Each run also scores the general text every third of its fine-tuning (`track_every`), to
# watch the sacrifice grow. One learning rate for all four (they all train every weight the same
# way; 1e-4 is within the range chapter 13 swept for full fine-tuning).

# %%
from ptm_course.tuning import adapt, mean_std, separated

STEPS = ctx.pick(smoke=4, cpu=60, gpu=600)
BATCH = ctx.pick(smoke=16, cpu=16, gpu=32)
LR = 1e-4
SEEDS = ctx.pick(smoke=[0], cpu=[0, 1, 2], gpu=[0, 1, 2])
ARMS = {
    "fine-tune": dict(),
    "TAPT, then fine-tune": dict(tapt_steps=TAPT_STEPS, tapt_lr=TAPT_LR),
    "λ = 0.5": dict(aux_weight=0.5),
    "λ = 1": dict(aux_weight=1.0),
}
KEYS = {"fine-tune": "finetune", "TAPT, then fine-tune": "tapt", "λ = 0.5": "aux05", "λ = 1": "aux1"}  # results-file keys

runs = {}
for arm, kw in ARMS.items():
    runs[arm] = [adapt(backbone, rt, masker, lr=LR, steps=STEPS, seed=s, batch_size=BATCH, general=general,
                       track_every=max(1, STEPS // 3), eval_splits=("test",), device=ctx.device, **kw)
                 for s in SEEDS]
    accs = [r.scores["test"] for r in runs[arm]]
    gens = [r.general.loss for r in runs[arm]]
    print(f"{arm:22s} test accuracy {mean_std(accs)[0]:.3f} ± {mean_std(accs)[1]:.3f}   "
          f"general MLM loss {mean_std(gens)[0]:.3f} ± {mean_std(gens)[1]:.3f} (before: {general_before.loss:.3f})   "
          f"{runs[arm][0].seconds_per_step:.2f} s/step")

# %% [markdown]
# ## 6. The sacrifice, step by step
#
# The general-text MLM loss during fine-tuning (mean over seeds), against the level before.

# %%
import matplotlib.pyplot as plt
import numpy as np

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ax = axes[0]
for arm, rs in runs.items():
    steps = [0] + [int(row["step"]) for row in rs[0].history.eval]
    curves = np.array([[r.general_start.loss] + [row["general_mlm_loss"] for row in r.history.eval] for r in rs])
    ax.plot(steps, curves.mean(0), marker="o", label=arm)
ax.axhline(general_before.loss, color="gray", ls=":", lw=1, label="before fine-tuning")
ax.set_xlabel("fine-tuning step")
ax.set_ylabel("MLM loss on general text (nats)")
ax.set_title("what the model forgets")
ax.legend(fontsize=8)
ax = axes[1]
for arm, rs in runs.items():
    a, g = mean_std([r.scores["test"] for r in rs]), mean_std([r.general.loss for r in rs])
    ax.errorbar(g[0], a[0], xerr=g[1], yerr=a[1], fmt="o", capsize=4, label=arm)
ax.axvline(general_before.loss, color="gray", ls=":", lw=1)
ax.set_xlabel("MLM loss on general text after (nats; left = kept more)")
ax.set_ylabel("test accuracy")
ax.set_title("the task gained vs the language model kept")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. The table, read against the seed spread
#
# A difference "exceeds the seed spread" here when the two means differ by more than the sum of
# their standard deviations (`separated`: the ±1 std bands do not overlap). With three seeds that
# is a rough screen, not a significance test — but it keeps us from reading noise.

# %%
from ptm_course.notebook import record

table = {}
for arm, rs in runs.items():
    accs, gens = [r.scores["test"] for r in rs], [r.general.loss for r in rs]
    table[arm] = {"acc": mean_std(accs), "general": mean_std(gens), "accs": accs, "gens": gens,
                  "forgetting": mean_std([g - general_before.loss for g in gens])}
print(f"{'recipe':22s} {'test accuracy':>16s} {'general MLM loss':>18s} {'forgetting':>14s}")
for arm, r in table.items():
    print(f"{arm:22s} {r['acc'][0]:9.3f} ± {r['acc'][1]:.3f} {r['general'][0]:11.3f} ± {r['general'][1]:.3f} "
          f"{r['forgetting'][0]:+9.3f} ± {r['forgetting'][1]:.3f}")
print(f"before fine-tuning: general MLM loss {general_before.loss:.3f}; majority class {majority:.3f}")

verdicts = {}
for other in ARMS:
    if other == "fine-tune":
        continue
    verdicts[other] = {
        "accuracy": separated(table[other]["accs"], table["fine-tune"]["accs"]),
        "general": separated(table[other]["gens"], table["fine-tune"]["gens"]),
    }
    print(f"{other:22s} vs fine-tune: accuracy difference {'exceeds' if verdicts[other]['accuracy'] else 'within'} "
          f"the seed spread; general-text difference {'exceeds' if verdicts[other]['general'] else 'within'} it")

if ctx.preset.name != "smoke":
    # the sacrifice: plain fine-tuning makes the model worse at its pre-training task, on every seed
    assert all(g > general_before.loss for g in table["fine-tune"]["gens"]), table["fine-tune"]
    # continued pre-training on the task's text, before or during fine-tuning, gives up more of it
    for other in ("TAPT, then fine-tune", "λ = 0.5", "λ = 1"):
        assert table[other]["general"][0] > table["fine-tune"]["general"][0] and verdicts[other]["general"], other
    for arm in ("fine-tune", "TAPT, then fine-tune"):  # the task is learned
        assert table[arm]["acc"][0] > majority + 0.05, table[arm]

record("backbone", {k: {"accuracy": round(100 * m[k]["accuracy"], 1), "loss": round(m[k]["loss"], 3)}
                    for k in ("valid", "valid_fresh_head", "valid_unigram")}
       | {"steps": card["steps"], "train_seconds": card["train_seconds"], "blanks": m["valid"]["n_predicted"]})
record("before", {"general": round(general_before.loss, 3), "domain": round(domain_before.loss, 3)})
record("tapt", {"domain": round(domain_after.loss, 3), "general": round(general_after_tapt.loss, 3),
                "steps": TAPT_STEPS})
record("majority", round(100 * majority, 1))
record("table", {KEYS[arm]: {"acc": round(100 * r["acc"][0], 1), "acc_std": round(100 * r["acc"][1], 1),
                             "general": round(r["general"][0], 3), "general_std": round(r["general"][1], 3),
                             "forgetting": round(r["forgetting"][0], 3), "forgetting_std": round(r["forgetting"][1], 3)}
                 for arm, r in table.items()})
record("s_per_step", {KEYS[arm]: round(float(np.median([r.seconds_per_step for r in rs])), 3)
                      for arm, rs in runs.items()})
record("verdicts", {KEYS[arm]: v for arm, v in verdicts.items()})
record("settings", {"steps": STEPS, "batch": BATCH, "train_n": len(rt.train["labels"]), "tapt_steps": TAPT_STEPS})

# %% [markdown]
# ## 8. Why the auxiliary term can drown the task
#
# At the first step the classifier is fresh (weights of size 0.02): its loss is about ln 2 = 0.69
# nats, and it has not yet learned which directions of the encoder's states matter. The
# masked-LM term is a trained head's loss of about 5 nats over a vocabulary of 30,522 words.
# Summed, which of the two steers the encoder? The size of each term's gradient on the encoder
# blocks' weights, on one batch:

# %%
from ptm_course.data.bert_inputs import tensor_loader
from ptm_course.models.bert import sequence_classification_loss
from ptm_course.models.mlm_backbone import masked_lm_objective
from ptm_course.tuning import fresh_head

probe = fresh_head(copy.deepcopy(backbone)).train()  # a fresh classifier, as every run starts with
encoder = [p for n, p in probe.named_parameters() if n.startswith("bert.layers.")]
batch = next(iter(tensor_loader(rt.train, BATCH)))


def grad_norm(loss):
    grads = torch.autograd.grad(loss, encoder, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))


torch.manual_seed(ctx.seed)
g_task = grad_norm(sequence_classification_loss(probe, batch)[0])
g_mlm = grad_norm(masked_lm_objective(masker)(probe, batch)[0])
print(f"‖∇ L_task‖ = {g_task:.4f}, ‖∇ L_MLM‖ = {g_mlm:.4f} on the encoder's blocks: the MLM term is "
      f"{g_mlm / g_task:.0f}x larger at the start")
record("grad_norms", {"task": round(g_task, 4), "mlm": round(g_mlm, 4), "ratio": round(g_mlm / g_task, 1)})
del probe

# %% [markdown]
# ## 9. What we saw
#
# In the cpu-preset run (60<!-- notebooks/12_fine_tuning_cpu.json:values.settings.steps:d --> fine-tuning steps of 16<!-- notebooks/12_fine_tuning_cpu.json:values.settings.batch:d --> reviews drawn from
# 2,000<!-- notebooks/12_fine_tuning_cpu.json:values.settings.train_n:, --> training reviews, 3 seeds; MiniLM with its MLM head from section 2, whose blanks on
# WikiText-2 valid it fills 29.8<!-- notebooks/12_fine_tuning_cpu.json:values.backbone.valid.accuracy:.1f --> % right against 6.4<!-- notebooks/12_fine_tuning_cpu.json:values.backbone.valid_unigram.accuracy:.1f --> % for word frequencies):
#
# | recipe | test accuracy (%) | general-text MLM loss after (nats) | forgetting (nats) |
# |---|---|---|---|
# | fine-tune (λ = 0) | 69.3<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.acc:.1f --> ± 1.7<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.acc_std:.1f --> | 4.948<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.general:.3f --> ± 0.017<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.general_std:.3f --> | +0.157<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.forgetting:.3f --> |
# | TAPT, then fine-tune | 68.1<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.acc:.1f --> ± 1.2<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.acc_std:.1f --> | 5.193<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.general:.3f --> ± 0.023<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.general_std:.3f --> | +0.402<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.forgetting:.3f --> |
# | λ = 0.5 | 56.5<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.acc:.1f --> ± 0.0<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.acc_std:.1f --> | 5.068<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.general:.3f --> ± 0.019<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.general_std:.3f --> | +0.277<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.forgetting:.3f --> |
# | λ = 1 | 56.5<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.acc:.1f --> ± 0.0<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.acc_std:.1f --> | 5.072<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.general:.3f --> ± 0.018<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.general_std:.3f --> | +0.281<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.forgetting:.3f --> |
#
# Before fine-tuning the general-text loss was 4.791<!-- notebooks/12_fine_tuning_cpu.json:values.before.general:.3f --> nats; the majority class is
# 56.5<!-- notebooks/12_fine_tuning_cpu.json:values.majority:.1f --> %. Reading it against the seed spread:
#
# * **Fine-tuning costs the language model something, on every seed.** Plain fine-tuning raised
#   the general-text MLM loss by 0.157<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.forgetting:.3f --> nats, many times its spread over seeds
#   (± 0.017<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.forgetting_std:.3f -->). The model that now tells fresh from rotten fills Wikipedia's blanks
#   worse: the sacrifice, measured.
# * **Continued pre-training and the auxiliary loss sacrifice more, not less** — all beyond the
#   seed spread. Both train the MLM on reviews, and an MLM trained on reviews is a worse model of
#   Wikipedia: continued pre-training first forgets 0.402<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.forgetting:.3f --> nats, the auxiliary arms
#   0.277<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux05.forgetting:.3f --> and 0.281<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.forgetting:.3f -->. This is the notes' sentence in numbers: to fit the task, the pre-trained
#   model gives up more of itself — its language model moves to the task's text. (Keeping general
#   knowledge would take the auxiliary MLM on *general* text; GPT-1 added its auxiliary loss for
#   better generalisation on the task and faster convergence, not to remember Wikipedia.)
# * **Continued pre-training learned the reviews' language but did not help the task here.** It
#   lowered the MLM loss on held-out reviews from 5.574<!-- notebooks/12_fine_tuning_cpu.json:values.before.domain:.3f --> to 5.065<!-- notebooks/12_fine_tuning_cpu.json:values.tapt.domain:.3f --> nats (section 4), yet
#   its accuracy, 68.1<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.acc:.1f --> ± 1.2<!-- notebooks/12_fine_tuning_cpu.json:values.table.tapt.acc_std:.1f -->, is within the seed spread of plain fine-tuning's
#   69.3<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.acc:.1f --> ± 1.7<!-- notebooks/12_fine_tuning_cpu.json:values.table.finetune.acc_std:.1f -->. Gururangan et al. run task-adaptive pre-training for 100 epochs and gain
#   most on domains far from the pre-training text; 60<!-- notebooks/12_fine_tuning_cpu.json:values.settings.tapt_steps:d --> steps on 2,000 reviews is a taste of it.
# * **At this budget the auxiliary term drowned the task.** With λ = 0.5 and λ = 1 every seed ends at
#   the majority class, 56.5<!-- notebooks/12_fine_tuning_cpu.json:values.table.aux1.acc:.1f --> %: the classifier learned nothing a majority vote does not
#   know. Section 8 says why: at the start the MLM term's gradient on the encoder is
#   8.1<!-- notebooks/12_fine_tuning_cpu.json:values.grad_norms.ratio:.1f --> times the task's, so for 60<!-- notebooks/12_fine_tuning_cpu.json:values.settings.steps:d --> steps the encoder follows the MLM, and the fresh
#   classifier chases features that keep moving. Each auxiliary step also costs a second forward
#   and backward pass (1.00<!-- notebooks/12_fine_tuning_cpu.json:values.s_per_step.aux1:.2f --> s against 0.54<!-- notebooks/12_fine_tuning_cpu.json:values.s_per_step.finetune:.2f --> s per step here). What one would try next: a much
#   smaller λ (0.01–0.1), a λ that decays over training, a few task-only steps to warm up the
#   head before the auxiliary term starts, or simply many more steps (GPT-1 fine-tuned for 3
#   epochs; this run sees less than half of one).
#
# Three seeds, 60 steps and a 22 M-parameter model make this a small experiment: the
# forgetting differences are large and consistent; the accuracy differences between fine-tuning
# with and without continued pre-training are not. The `gpu` preset runs 600 steps on the full
# training set.
#
# **Try it yourself.** Fine-tune for 4× the steps: does the forgetting keep growing, or level
# off? Give λ = 1 a smaller learning rate for the MLM term only (two parameter groups). Continue
# pre-training on *all* 8,530 training reviews while fine-tuning on 200 labelled ones — the
# setting where task-adaptive pre-training is meant to pay (Gururangan et al.'s "curated TAPT").
#
# ## Summary
#
# | piece | what it does | in the package |
# |---|---|---|
# | an MLM head for MiniLM | head + encoder trained on WikiText-2, saved with a model card; built once, loaded offline | `ptm-course backbone build`, `load_minilm_mlm`, `build_minilm_mlm` |
# | one encoder, two heads | mean-pooled classifier + MLM head | `BertMeanPoolClassifierWithMLM` |
# | masking and scoring | BERT's 15 % / 80-10-10; the same blanks for every model | `Masker`, `mlm_score`, `wikitext_chunks`, `fill_mask` |
# | continued pre-training | MLM on the task's unlabeled text | `continue_pretraining` |
# | the auxiliary loss | L = L_task + λ·L_MLM | `auxiliary_loss` |
# | the experiment | copy, (continue pre-training), fine-tune, score the task and the general text | `adapt`, `mean_std`, `separated` |
#
# The graded exercises of this chapter are in `exercises/12_fine_tuning_exercises.ipynb`.
