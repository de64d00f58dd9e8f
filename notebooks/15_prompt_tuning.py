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
# # 15 · Prompt-tuning — "The movie is ___": the task becomes the pre-training task
#
# **Learning goals.** After this notebook you can
#
# 1. turn a classification task into a fill-in-the-blank with a **template** and a
#    **verbalizer** (label → label word), and score the label words at the blank — with a masked
#    LM (the blank anywhere) and with a causal LM (the blank last);
# 2. see a prompt's **label bias** and remove it with contextual calibration;
# 3. measure how much the wording matters: zero-shot accuracy over templates × verbalizers;
# 4. handle label words that split into several tokens with a stated rule;
# 5. fine-tune *through* the template with few examples (PET) and check the classic result
#    against a classifier head on the same examples;
# 6. train a **soft prompt** (input vectors only, the model frozen) and measure its gap to
#    fine-tuning on a small model;
# 7. read the course's finale: every adaptation paradigm of the notes on one task, in one table.
#
# **Time.** The `smoke` preset runs in under a minute; the `cpu` preset took
# 810<!-- notebook_runtimes.json:15_prompt_tuning.cpu.seconds:.0f --> s end to end on 2 CPU cores
# (`python benchmarks/run_notebook.py notebooks/15_prompt_tuning.ipynb --preset cpu`, which also
# keeps the figures this text quotes in `benchmarks/results/notebooks/15_prompt_tuning_cpu.json`),
# with the MLM backbone of chapter 12 already built. The finale's table comes from its own command
# (section 8).
#
# > *The notes*, adapting the model to downstream tasks: **prompt-tuning — 将人为的规则给到预训练模型,
# > 使模型可以更好地理解人的指令的一项技术 … 例如,在文本情感分类任务中,输入为"I love this movie.",希望输出的是
# > "positive/negative"中的一个标签。那么可以设置一个Prompt,形如:"The movie is _",然后让模型用来表示情感状态的
# > 答案(label),如positive/negative,甚至更细粒度一些的"fantastic"、"boring"等,将空补全作为输出**
# > (give the pre-trained model a human-written rule … for example, in sentiment classification the
# > input is "I love this movie." and the output should be one of the labels positive/negative. Set
# > a prompt such as "The movie is _", and let the model fill the blank with a word that expresses
# > the sentiment — positive/negative, or finer words such as "fantastic", "boring" — and take the
# > filled blank as the output).
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
# ## 1. The idea: ask the model the question it was trained to answer (提示)
#
# Fine-tuning (chapters 08, 12, 13) puts a new head on the model and trains it to map the
# encoder's features to labels: the task comes to the model. A prompt goes the other way — the
# task is rewritten as the model's own pre-training task. A masked LM was trained to fill blanks;
# so wrap the review in a sentence with a blank, and read off which word the model would put there:
#
# | piece | here | in the package |
# |---|---|---|
# | template | `{x} The movie is {mask}` — x is the review | `Template` |
# | verbalizer | negative → " terrible", positive → " great" | `Verbalizer` |
# | score of label l | log P([MASK] = word(l) \| template(x)) — the whole vocabulary's softmax, read at two words | `label_scores`, `mlm_label_scores` |
#
# The prediction is the label whose word scores higher. No parameter is trained: this is
# **zero-shot** classification, with the knowledge of pre-training and a human-written rule.
#
# The masked LM is chapter 12's: MiniLM with the masked-LM head the course trains on WikiText-2
# (MiniLM itself ships without one). Here is the score by hand, next to the package:

# %%
import tempfile
import time
from pathlib import Path

import torch

from ptm_course.models.bert import BertMeanPoolClassifierWithMLM
from ptm_course.models.mlm_backbone import build_minilm_mlm, fill_mask, load_minilm_mlm, minilm_mlm_path

if ctx.preset.name == "smoke":  # a 3-step stand-in: checks that everything runs, learns nothing
    backbone_dir = build_minilm_mlm(Path(tempfile.mkdtemp()) / "stand-in", steps=3, batch_size=4, seq_len=32,
                                    n_valid=8, n_train=64, progress=False)
else:
    backbone_dir = minilm_mlm_path()
    if not (backbone_dir / "model.safetensors").exists():
        print(f"no MLM backbone in {backbone_dir} yet: building it once (about 20 min on 2 CPU cores) ...")
        t0 = time.perf_counter()
        build_minilm_mlm(backbone_dir, device=str(ctx.device))
        print(f"built in {time.perf_counter() - t0:.0f} s")
mlm, tok, card = load_minilm_mlm(BertMeanPoolClassifierWithMLM, path=backbone_dir, n_classes=2)
mlm = mlm.to(ctx.device).eval()
print(f"MiniLM + MLM head: {card['metrics']['valid']['accuracy']:.1%} top-1 on WikiText-2 blanks "
      f"(unigram guessing: {card['metrics']['valid_unigram']['accuracy']:.1%})")

# %%
import torch.nn.functional as F

from ptm_course.tuning import Template, Verbalizer, encode_prompts, mlm_label_scores

template = Template("{x} The movie is {mask}")
verbalizer = Verbalizer({0: " terrible", 1: " great"})  # the leading space matters to a byte-level BPE, not to WordPiece
review = "I love this movie."

enc = encode_prompts(tok, [review], template)
print(tok.decode(enc["input_ids"][0].tolist(), skip_special_tokens=False))
with torch.no_grad():
    h, _ = mlm.bert(enc["input_ids"].to(ctx.device), None, enc["attention_mask"].to(ctx.device))
    logits = mlm.mlm(h[0, enc["mask_positions"][0, 0]])  # (V,) at the blank
log_p = F.log_softmax(logits, dim=-1)  # over the whole vocabulary
by_hand = torch.stack([log_p[tok.token_to_id(w.strip())] for w in verbalizer.words])
package = mlm_label_scores(mlm, tok, [review], template, verbalizer)[0]
print(f"log P(terrible), log P(great): by hand {by_hand.cpu().numpy().round(3)}, package {package.numpy().round(3)}")
assert torch.allclose(by_hand.cpu(), package, atol=1e-4)
print("what the model itself would put in the blank:", fill_mask(mlm, tok, template.fill(review), k=5))

# %% [markdown]
# ## 2. The blank at the end: a causal LM fills it, and shows a bias
#
# The notes' template puts the blank **last**, so a left-to-right language model can fill it too:
# the label words are scored as the **next token** after "I love this movie. The movie is". The GPT
# chapter loads a real pre-trained decoder offline, SmolLM2-135M; its byte-level BPE has " great"
# (with its space) as one token. Five reviews written for this notebook:

# %%
from ptm_course.models.llama import load_smollm2
from ptm_course.tuning import calibrate, causal_label_scores

llm, llm_tok = load_smollm2()
llm = llm.to(ctx.device)
hand = ["I love this movie.", "What a waste of two hours.", "A warm, funny and moving film.",
        "The plot makes no sense and the acting is wooden.", "Boring, predictable and far too long."]
hand_labels = torch.tensor([1, 0, 1, 0, 0])
raw = causal_label_scores(llm, llm_tok, hand, template, verbalizer)  # (5, 2) log P(" terrible"), log P(" great")
content_free = causal_label_scores(llm, llm_tok, ["N/A"], template, verbalizer)[0]
fixed = calibrate(raw, content_free)
for text, r, c, y in zip(hand, raw, fixed, hand_labels):
    print(f"{text[:48]:48s} log P: terrible {r[0]:6.2f} great {r[1]:6.2f} -> {'+-'[int(r.argmax() == 0)]}   "
          f"calibrated -> {'+-'[int(c.argmax() == 0)]}   (true {'+-'[int(y == 0)]})")
print(f"on the content-free input 'N/A': log P(terrible) {content_free[0]:.2f}, log P(great) {content_free[1]:.2f}")
hand_raw, hand_cal = (raw.argmax(-1) == hand_labels).sum().item(), (fixed.argmax(-1) == hand_labels).sum().item()
print(f"right: {hand_raw} of 5 as it is, {hand_cal} of 5 calibrated")

# %% [markdown]
# **Label bias.** A prompt prefers some label words whatever the input: " great" is simply a
# likelier next word after "The movie is" than " terrible", so an uncalibrated prompt leans
# positive. Zhao et al. (2021, "Calibrate before use") estimate the bias on a **content-free**
# input — "N/A" in place of the review — and divide it out: with p̂(l | x) the label words'
# probabilities renormalised over the labels and p̂_cf(l) the same for "N/A",
#
# $$\hat q(l \mid x) \;\propto\; \hat p(l \mid x)\,/\,\hat p_{\text{cf}}(l),$$
#
# so a label that "N/A" already favours must earn its lead from the review. One extra forward
# pass per template, no training.
#
# ## 3. How much the wording matters: templates × verbalizers, zero-shot
#
# The notes leave the wording open ("positive/negative, or finer words such as fantastic,
# boring"). Measured on held-out Rotten Tomatoes reviews, for both models, with and without
# calibration — every template has its blank last, so both models read the same prompts:

# %%
from ptm_course.tuning import load_task

TEMPLATES = {
    "The movie is ___": Template("{x} The movie is {mask}"),
    "It was ___": Template("{x} It was {mask}"),
    "Review/Sentiment": Template("Review: {x} Sentiment: {mask}"),
}
VERBALIZERS = {
    "negative/positive": Verbalizer({0: " negative", 1: " positive"}),
    "terrible/great": Verbalizer({0: " terrible", 1: " great"}),
    "boring/fantastic": Verbalizer({0: " boring", 1: " fantastic"}),
    "bad/good": Verbalizer({0: " bad", 1: " good"}),
}
MAX_LEN = ctx.pick(smoke=48, cpu=48, gpu=64)
N_EVAL = ctx.pick(smoke=32, cpu=400, gpu=None)
N_LLM = ctx.pick(smoke=8, cpu=160, gpu=1000)  # SmolLM2 is the slower of the two: fewer reviews
rt = load_task("rotten-tomatoes", tok, n_train=ctx.pick(smoke=256, cpu=2000, gpu=None), n_valid=N_EVAL,
               n_test=N_EVAL, max_len=MAX_LEN, seed=ctx.seed)
test_texts, test_labels = rt.texts["test"], rt.test["labels"]
majority = max(test_labels.float().mean().item(), 1 - test_labels.float().mean().item())

words = sorted({w for v in VERBALIZERS.values() for w in v.words})
every = Verbalizer(words)  # every label word at once: one forward pass per template, then each verbalizer's columns


def zero_shot_table(score, texts, labels, cf_text="N/A"):
    """{(template, verbalizer): (accuracy, calibrated accuracy)} from one scoring pass per template."""
    out = {}
    for t_name, t in TEMPLATES.items():
        s, cf = score(texts, t), score([cf_text], t)[0]
        for v_name, v in VERBALIZERS.items():
            cols = [words.index(w) for w in v.words]
            acc = (s[:, cols].argmax(-1) == labels).float().mean().item()
            cal = (calibrate(s[:, cols], cf[cols]).argmax(-1) == labels).float().mean().item()
            out[(t_name, v_name)] = (acc, cal)
    return out


t0 = time.perf_counter()
mlm_zero = zero_shot_table(lambda texts, t: mlm_label_scores(mlm, tok, texts, t, every, max_len=MAX_LEN),
                           test_texts, test_labels)
t_mlm = time.perf_counter() - t0
t0 = time.perf_counter()
llm_zero = zero_shot_table(lambda texts, t: causal_label_scores(llm, llm_tok, texts, t, every, max_len=MAX_LEN),
                           test_texts[:N_LLM], test_labels[:N_LLM])
t_llm = time.perf_counter() - t0
llm_majority = max(test_labels[:N_LLM].float().mean().item(), 1 - test_labels[:N_LLM].float().mean().item())
print(f"zero-shot accuracy on {len(test_texts)} test reviews (MiniLM-MLM, {t_mlm:.0f} s) and the first {N_LLM} "
      f"(SmolLM2-135M, {t_llm:.0f} s); raw / calibrated; majority class {majority:.3f} / {llm_majority:.3f}")
print(f"{'template':18s} {'verbalizer':18s} {'MiniLM-MLM':>15s} {'SmolLM2':>15s}")
for key in mlm_zero:
    (a, c), (la, lc) = mlm_zero[key], llm_zero[key]
    print(f"{key[0]:18s} {key[1]:18s} {a:7.3f} / {c:5.3f} {la:7.3f} / {lc:5.3f}")

# %%
import statistics

import matplotlib.pyplot as plt
import numpy as np

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for ax, (name, table) in zip(axes, (("MiniLM + MLM head (calibrated)", mlm_zero), ("SmolLM2-135M (calibrated)", llm_zero))):
    grid = np.array([[table[(t, v)][1] for v in VERBALIZERS] for t in TEMPLATES])
    im = ax.imshow(grid, vmin=0.4, vmax=0.9, cmap="viridis")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="w" if grid[i, j] < 0.7 else "k")
    ax.set_xticks(range(len(VERBALIZERS)), list(VERBALIZERS), rotation=20, fontsize=8)
    ax.set_yticks(range(len(TEMPLATES)), list(TEMPLATES), fontsize=8)
    ax.set_title(name, fontsize=10)
fig.colorbar(im, ax=axes, shrink=0.8, label="zero-shot test accuracy")
plt.show()

# %%
from ptm_course.notebook import record

record("hand", {"raw": hand_raw, "calibrated": hand_cal,
                "content_free": [round(float(x), 2) for x in content_free]})
record("zero_shot", {"mlm": {f"{t} | {v}": [round(100 * a, 1), round(100 * c, 1)] for (t, v), (a, c) in mlm_zero.items()},
                     "llm": {f"{t} | {v}": [round(100 * a, 1), round(100 * c, 1)] for (t, v), (a, c) in llm_zero.items()},
                     "n_mlm": len(test_texts), "n_llm": N_LLM, "majority": round(100 * majority, 1),
                     "llm_majority": round(100 * llm_majority, 1)})
best_mlm = max(mlm_zero, key=lambda k: mlm_zero[k][1])
best_llm = max(llm_zero, key=lambda k: llm_zero[k][1])
spread = {name: round(100 * (max(c for _, c in t.values()) - min(c for _, c in t.values())), 1)
          for name, t in (("mlm", mlm_zero), ("llm", llm_zero))}
record("zero_shot_best", {"mlm": list(best_mlm), "llm": list(best_llm), "spread": spread})
llm_raw_mean = statistics.mean(a for a, _ in llm_zero.values())
llm_cal_mean = statistics.mean(c for _, c in llm_zero.values())
print(f"SmolLM2, mean over the 12 prompts: {llm_raw_mean:.3f} as it is, {llm_cal_mean:.3f} calibrated")
if ctx.preset.name != "smoke":  # the claims: the wording moves accuracy by points, calibration helps the causal LM
    assert spread["llm"] > 5 and spread["mlm"] > 5, spread
    assert llm_cal_mean > llm_raw_mean, (llm_raw_mean, llm_cal_mean)

# %% [markdown]
# ## 4. Label words of several tokens: a rule, stated
#
# Every word above is one token in both vocabularies. Not every word is: "mediocre" is
# med ##io ##cre in MiniLM's WordPiece. A blank holds one token, so a multi-token label word
# needs a rule (`rule=` in the package):
#
# * `"single"` (the default) refuses it, naming the word and its pieces;
# * `"first"` scores its first piece only — cheap, but "med" says little about "mediocre";
# * `"mean"` gives the template **as many [MASK]s as the word has pieces** and averages the
#   pieces' log-probabilities, (1/k) Σ_j log P(w_j at blank j) — the mean, not the sum, so a
#   long word is not punished for its length.

# %%
finer = Verbalizer({0: " mediocre", 1: " masterpiece"})
print("pieces:", [tok.encode(w.strip(), add_special_tokens=False).tokens for w in finer.words])
try:
    mlm_label_scores(mlm, tok, ["I love this movie."], template, finer)
except ValueError as err:
    print("rule 'single':", str(err)[:150], "...")
rules = {}
for rule in ("first", "mean"):
    s = mlm_label_scores(mlm, tok, test_texts, template, finer, rule=rule, max_len=MAX_LEN)
    rules[rule] = (s.argmax(-1) == test_labels).float().mean().item()
    blanks = len(tok.encode("mediocre", add_special_tokens=False).ids) if rule == "mean" else 1
    print(f"rule {rule!r}: the prompt for 'mediocre' has {blanks} [MASK](s); zero-shot accuracy {rules[rule]:.3f}")
record("rules", {r: round(100 * a, 1) for r, a in rules.items()});

# %% [markdown]
# ## 5. Few examples: fine-tune through the template (PET) or fit a new head?
#
# Zero-shot needs no data; with a few labelled examples we can train. Two ways to use the same k
# examples per class, both training every parameter of the same MLM-headed MiniLM:
#
# * **a classifier head** (chapter 08's way): a new `Linear(d, 2)` on the mean of the token
#   states, trained from scratch with the encoder;
# * **PET** (Schick & Schütze 2021): no new parameter — train the masked LM *through the
#   template*, with cross-entropy over the label words' scores at the blank,
#   L = −log softmax_l(s(l))[y] (`pet_tune`, `pet_objective`). The task keeps the form of
#   pre-training, so the few examples only need to sharpen what the LM already prefers.
#
# The classic result to check: with little data, prompts win. Each k gets three seeds (each its
# own draw of examples and data order), the same steps and batch size for both, scored on the same
# test reviews.

# %%
import statistics

from ptm_course.tuning import few_shot, pet_tune, tune

KS = ctx.pick(smoke=[8], cpu=[8, 16, 32], gpu=[8, 16, 32, 64])
SEEDS = ctx.pick(smoke=[0], cpu=[0, 1, 2], gpu=[0, 1, 2, 3, 4])
FS_STEPS = ctx.pick(smoke=4, cpu=30, gpu=100)
FS_BATCH = 16
HEAD_LR = ctx.pick(smoke=1e-4, cpu=1e-4, gpu=5e-5)
PET_LR = ctx.pick(smoke=1e-4, cpu=1e-4, gpu=2e-5)
PET_TEMPLATE, PET_VERBALIZER = TEMPLATES["The movie is ___"], VERBALIZERS["terrible/great"]

shots = {"head": {}, "pet": {}}
for k in KS:
    for seed in SEEDS:
        small = few_shot(rt, k, seed)
        shots["head"].setdefault(k, []).append(
            tune(mlm, "full", small, lr=HEAD_LR, steps=FS_STEPS, seed=seed, batch_size=FS_BATCH, eval_splits=("test",),
                 device=ctx.device).scores["test"])
        shots["pet"].setdefault(k, []).append(
            pet_tune(mlm, tok, small, PET_TEMPLATE, PET_VERBALIZER, lr=PET_LR, steps=FS_STEPS, seed=seed,
                     batch_size=FS_BATCH, eval_splits=("test",), device=ctx.device, max_len=MAX_LEN).scores["test"])
    for name in shots:
        accs = shots[name][k]
        print(f"k = {k:3d} per class, {name:4s}: test accuracy {statistics.mean(accs):.3f} ± "
              f"{statistics.stdev(accs) if len(accs) > 1 else 0:.3f}  ({', '.join(f'{a:.3f}' for a in accs)})")
pet_zero = mlm_zero[("The movie is ___", "terrible/great")][0]
print(f"PET's starting point, the same prompt zero-shot: {pet_zero:.3f}; majority class {majority:.3f}")
if ctx.preset.name != "smoke":  # more examples help both ways of using them
    assert all(statistics.mean(shots[n][KS[-1]]) > statistics.mean(shots[n][KS[0]]) for n in shots), shots

# %%
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, label in (("pet", "PET: the MLM through the template"), ("head", "a new classifier head")):
    means = [statistics.mean(shots[name][k]) for k in KS]
    stds = [statistics.stdev(shots[name][k]) if len(SEEDS) > 1 else 0 for k in KS]
    ax.errorbar(KS, means, yerr=stds, fmt="o-", capsize=4, label=label)
ax.axhline(pet_zero, color="tab:blue", ls="--", lw=1, label="the prompt, zero-shot")
ax.axhline(majority, color="gray", ls=":", lw=1, label="majority class")
ax.set_xscale("log", base=2)
ax.set_xticks(KS, [str(k) for k in KS])
ax.set_xlabel("labelled examples per class (k)")
ax.set_ylabel("test accuracy (mean ± std over seeds)")
ax.set_title("Few-shot Rotten Tomatoes: PET vs a classifier head")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
record("few_shot", {name: {str(k): {"mean": round(100 * statistics.mean(v), 1),
                                    "std": round(100 * (statistics.stdev(v) if len(v) > 1 else 0.0), 1)}
                           for k, v in runs.items()} for name, runs in shots.items()})
record("few_shot_settings", {"steps": FS_STEPS, "batch": FS_BATCH, "head_lr": HEAD_LR, "pet_lr": PET_LR});

# %% [markdown]
# ## 6. Soft prompts: train the prompt, not the model (Lester et al. 2021)
#
# A template is a handful of words a person chose. Prompt tuning lets gradient descent choose
# instead: P vectors are put **before the input embeddings** and trained, and everything else —
# the encoder, the MLM head, the label words at the blank — stays frozen. What a task stores is
# P × d numbers. (Prefix-tuning, chapter 14, trains keys and values at every layer; a soft prompt
# lives at the input only, so it can only steer the model through what the frozen layers make of
# it.)
#
# Lester et al. compared three starting points for the vectors, all here: the embeddings of a
# text (a description of the task, repeated to P), the embeddings of P random vocabulary words,
# and random vectors. The model is scored exactly as PET is — the label words at the template's
# blank — and trained on the full training set for the same steps as PET's full fine-tuning, the
# reference that trains every parameter.

# %%
import copy

from ptm_course.data.bert_inputs import tensor_loader
from ptm_course.train import fit
from ptm_course.tuning import apply_soft_prompt, count_parameters, pet_objective, pet_tensors

SP_LEN = ctx.pick(smoke=4, cpu=20, gpu=20)
SP_STEPS = ctx.pick(smoke=4, cpu=150, gpu=1500)
SP_LR = ctx.pick(smoke=1e-1, cpu=1e-1, gpu=1e-1)
INIT_TEXT = "a review of a movie. was the movie terrible or great?"
train_data = pet_tensors(tok, rt.texts["train"], rt.train["labels"].tolist(), PET_TEMPLATE, PET_VERBALIZER,
                         max_len=MAX_LEN)


def pet_accuracy(model, texts, labels):
    return (mlm_label_scores(model, tok, texts, PET_TEMPLATE, PET_VERBALIZER, max_len=MAX_LEN).argmax(-1)
            == labels).float().mean().item()


soft = {}
for init in ("text", "vocab", "random"):
    torch.manual_seed(ctx.seed)
    model = apply_soft_prompt(copy.deepcopy(mlm), length=SP_LEN, init=init, tok=tok,
                              text=INIT_TEXT if init == "text" else None, seed=ctx.seed, heads=())
    t0 = time.perf_counter()
    fit(model, tensor_loader(train_data, 16, shuffle=True), pet_objective(PET_VERBALIZER, tok), max_steps=SP_STEPS,
        lr=SP_LR, warmup_steps=max(1, SP_STEPS // 10), device=ctx.device, seed=ctx.seed, progress=False, desc=init)
    soft[init] = {"acc": pet_accuracy(model, test_texts, test_labels), "s_per_step": (time.perf_counter() - t0) / SP_STEPS,
                  "trainable": count_parameters(model).trainable}
    print(f"soft prompt, init {init:6s}: test accuracy {soft[init]['acc']:.3f}  "
          f"({soft[init]['trainable']:,} trainable, {soft[init]['s_per_step']:.2f} s/step)")
pet_full = pet_tune(mlm, tok, rt, PET_TEMPLATE, PET_VERBALIZER, lr=PET_LR, steps=SP_STEPS, seed=ctx.seed,
                    batch_size=16, eval_splits=("test",), device=ctx.device, max_len=MAX_LEN)
print(f"PET, every parameter trained, the same data and steps: {pet_full.scores['test']:.3f} "
      f"({pet_full.count.trainable:,} trainable, {pet_full.seconds_per_step:.2f} s/step); zero-shot {pet_zero:.3f}")
record("soft", {i: {"acc": round(100 * r["acc"], 1), "trainable": r["trainable"], "s_per_step": round(r["s_per_step"], 3)}
                for i, r in soft.items()})
if ctx.preset.name != "smoke":  # the gap on a small model: training everything beats training the prompt
    assert pet_full.scores["test"] > max(r["acc"] for r in soft.values()), (pet_full.scores, soft)
record("pet_full", {"acc": round(100 * pet_full.scores["test"], 1), "trainable": pet_full.count.trainable,
                    "s_per_step": round(pet_full.seconds_per_step, 3), "steps": SP_STEPS});

# %% [markdown]
# ## 7. Look: what the blank holds, for a review you type
#
# Type a review, pick a template and a verbalizer: the bars are the label words' probabilities
# at [MASK] (renormalised over the two words), with the raw log-probabilities beside them. Without
# a widget front-end, the table of every template × verbalizer for the default review is printed.

# %%
from ptm_course.viz import prompt_playground

prompt_playground(mlm, tok, TEMPLATES, VERBALIZERS, text="A warm, funny and moving film.")

# %% [markdown]
# ## 8. The finale: every paradigm of the notes on one task
#
# The notes name four ways to adapt a pre-trained model: **fine-tuning** (the model accommodates
# the task, chapter 12), **delta-tuning** (a small part or a small addition, chapter 13),
# **prefix-tuning** (chapter 14) and **prompt-tuning** (this chapter). Each chapter measured its
# own; here they meet on one task, one backbone, one budget — written by one command,
#
#     python benchmarks/paradigms.py --preset cpu      # from the repository's root; about 17 min on 2 CPU cores
#
# which keeps its table in `benchmarks/results/paradigms_cpu.json` (and `.md`). The backbone is this
# chapter's MiniLM with its MLM head: the one model of the course that can both carry a classifier
# head and fill a blank, so every row starts from the same weights. Each row trains at the learning
# rate its own chapter chose on validation (the file says which), on the full training set and on
# k = 32 reviews per class, over three seeds. The notebook reads the file rather than rerun the
# command, which would double its time.

# %%
import json

from ptm_course.viz import plot_paradigms

FINALE = Path("..") / "benchmarks" / "results" / f"paradigms_{'gpu' if ctx.preset.name == 'gpu' else 'cpu'}.json"
if not FINALE.exists():
    print(f"{FINALE} is not here (a Colab install has the package, not the repository's results): run "
          "`python benchmarks/paradigms.py --preset cpu` in a clone of the repository to make it")
else:
    finale = json.loads(FINALE.read_text(encoding="utf-8"))
    k = finale["settings"]["k"]
    print(f"{finale['task']['n_train']:,} training reviews, {finale['task']['n_test']:,} test; "
          f"{finale['settings']['steps']} steps x {finale['settings']['batch']} on the full set, "
          f"{finale['settings']['k_steps']} x {finale['settings']['k_batch']} on k = {k}; seeds {finale['seeds']}; "
          f"{finale['machine']}, {finale['total_seconds'] / 60:.1f} min")
    print(f"{'paradigm':38s} {'trainable':>11s} {'stored/task':>12s} {'full set %':>12s} {f'k = {k} %':>12s} {'s/step':>7s}")
    for r in finale["rows"].values():
        f, few = r["full_data"], r["k_shot"]
        sps = "–" if f["s_per_step"] is None else f"{f['s_per_step']:.2f}"
        print(f"{r['label']:38s} {r['trainable']:>11,} {r['stored_bytes'] / 2**10:>9,.0f} KiB "
              f"{100 * f['acc_mean']:>6.1f} ± {100 * f['acc_std']:3.1f} {100 * few['acc_mean']:>6.1f} ± "
              f"{100 * few['acc_std']:3.1f} {sps:>7s}")
    plot_paradigms(finale)
    plt.show()

# **What the finale shows** (the cpu run: 2,000 training reviews, 40 steps × 16 on the full set,
# 16 × 16 on k = 32, three seeds; the whole command took 1012<!-- paradigms_cpu.json:total_seconds:.0f --> s on 2 cores; the
# table above prints its figures):
#
# * **On the full training set, the smallest delta ties the largest.** Prefix-tuning, storing
#   5,378<!-- paradigms_cpu.json:rows.prefix.trainable:, --> numbers per task (21 KiB), matched full fine-tuning of all
#   22,713,986<!-- paradigms_cpu.json:rows.full.trainable:, --> parameters (a copy of the model per task) within the seed spread; PET
#   through the template came next, then LoRA, soft prompts and the Houlsby adapters. BitFit,
#   continued pre-training for 24 steps and the auxiliary loss stayed near the majority class at
#   this budget (the auxiliary loss exactly at it, as in chapter 12).
# * **With 32 reviews per class nothing separates.** The trained rows lie within a few points of
#   each other and of the majority class, their spreads overlapping; PET, which needs its prompt
#   to start from a useful prior, was lowest — this backbone's zero-shot prompt predicts the
#   majority class (section 3).
# * **Cost.** The delta methods stored kilobytes per task and took about half of full
#   fine-tuning's time per step; the auxiliary loss, with its second forward pass, about twice.
#
# These are 40-step runs of a small encoder whose MLM head the course trained for a few minutes:
# they rank the paradigms at this budget, on this model, and no further. The `gpu` preset of the
# command trains 600 steps on the full data set.
#
# ## 9. What we saw
#
# In the cpu-preset run (test reviews of Rotten Tomatoes, accuracy in %; majority class
# 56.5<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.majority:.1f -->):
#
# * **The notes' example works with a real pre-trained LM, once calibrated.** SmolLM2 scored
#   3<!-- notebooks/15_prompt_tuning_cpu.json:values.hand.raw:d --> of the 5 hand-written reviews right as it is and 4<!-- notebooks/15_prompt_tuning_cpu.json:values.hand.calibrated:d --> calibrated: " great" is the likelier
#   next word after "The movie is" whatever the review (on "N/A": log P -7.22<!-- notebooks/15_prompt_tuning_cpu.json:values.hand.content_free.1:.2f --> against
#   -8.90<!-- notebooks/15_prompt_tuning_cpu.json:values.hand.content_free.0:.2f --> for " terrible"), so the raw prompt leans positive.
# * **The wording matters by many points.** On SmolLM2 (the first 160<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.n_llm:d --> test reviews, majority
#   53.8<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm_majority:.1f -->) the twelve template × verbalizer pairs span 18.1<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot_best.spread.llm:.1f --> points calibrated, from
#   55.0<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.Review/Sentiment | boring/fantastic.1:.1f --> to 73.1<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.The movie is ___ | boring/fantastic.1:.1f --> ("The movie is ___" with boring/fantastic). Calibration helped most
#   pairs — terrible/great went from 56.9<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.The movie is ___ | terrible/great.0:.1f --> to 71.2<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.The movie is ___ | terrible/great.1:.1f --> — but not all: "Review: … Sentiment:" with
#   negative/positive fell from 71.2<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.Review/Sentiment | negative/positive.0:.1f --> to 59.4<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.llm.Review/Sentiment | negative/positive.1:.1f -->, its best raw pair. A prompt is a
#   hyper-parameter, and "N/A" is one guess at a neutral input.
# * **The course's masked LM is a weak prompt-taker.** MiniLM with the MLM head the course trained
#   for 400 steps stays near the majority class on almost every prompt (best: 62.3<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.mlm.The movie is ___ | terrible/great.1:.1f --> calibrated,
#   with terrible/great; "Review: … Sentiment:" below chance at 47.2<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.mlm.Review/Sentiment | negative/positive.0:.1f -->). Its head fills blanks of
#   Wikipedia text with frequent words ("known", "very" after "the movie is"), and has seen no
#   reviews: the knowledge a prompt draws on has to be in the model. `bert-base-uncased` (online)
#   is the model Schick & Schütze used.
# * **Multi-token label words:** with mediocre/masterpiece, rule "first" gave 58.7<!-- notebooks/15_prompt_tuning_cpu.json:values.rules.first:.1f --> and rule "mean"
#   44.7<!-- notebooks/15_prompt_tuning_cpu.json:values.rules.mean:.1f --> — below chance: three [MASK]s in a row make a different prompt, and this model's
#   scores for the three pieces are not comparable with one whole word's. The rule has to be
#   stated, and checked.
# * **Few-shot: PET and a new head tie here.** With k = 8, 16, 32 reviews per class (30 steps,
#   three seeds), PET reached 52.8<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.8.mean:.1f --> ± 5.6<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.8.std:.1f -->, 56.6<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.16.mean:.1f --> ± 2.9<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.16.std:.1f -->, 62.3<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.32.mean:.1f --> ± 2.6<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.pet.32.std:.1f --> and the classifier
#   head 54.6<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.8.mean:.1f --> ± 5.3<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.8.std:.1f -->, 57.2<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.16.mean:.1f --> ± 4.8<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.16.std:.1f -->, 62.1<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.32.mean:.1f --> ± 3.0<!-- notebooks/15_prompt_tuning_cpu.json:values.few_shot.head.32.std:.1f --> — every difference inside the seed spread.
#   The classic result (prompts win when data is scarce; Schick & Schütze with RoBERTa-large) is
#   **not** reproduced, and the zero-shot row says why: PET's head start is what the LM already
#   puts in the blank, and this prompt starts at the majority class. Both learn with more data.
# * **Soft prompts train, slowly, and stay far below fine-tuning.** 7,680<!-- notebooks/15_prompt_tuning_cpu.json:values.soft.vocab.trainable:, --> trained numbers (20
#   vectors) took the frozen model from 56.5<!-- notebooks/15_prompt_tuning_cpu.json:values.zero_shot.mlm.The movie is ___ | terrible/great.0:.1f --> zero-shot to 60.8<!-- notebooks/15_prompt_tuning_cpu.json:values.soft.text.acc:.1f --> (init from text), 64.5<!-- notebooks/15_prompt_tuning_cpu.json:values.soft.vocab.acc:.1f --> (vocabulary)
#   and 60.8<!-- notebooks/15_prompt_tuning_cpu.json:values.soft.random.acc:.1f --> (random) in 150<!-- notebooks/15_prompt_tuning_cpu.json:values.pet_full.steps:d --> steps (one seed each: the init's effect is not
#   separated from the seed's); PET training all 22,893,116<!-- notebooks/15_prompt_tuning_cpu.json:values.pet_full.trainable:, --> parameters on the same data and steps
#   reached 75.2<!-- notebooks/15_prompt_tuning_cpu.json:values.pet_full.acc:.1f -->. That is Lester et al.'s finding at the small end: prompt tuning matches
#   fine-tuning only as models reach billions of parameters, and on small ones needs far more steps.
#
# ## Summary
#
# | piece | what it does | in the package |
# |---|---|---|
# | template | the input wrapped in a sentence with a blank (anywhere for a masked LM, last for a causal LM) | `Template` |
# | verbalizer | label → label word; multi-token words by a stated rule | `Verbalizer`, `rule="single" / "first" / "mean"` |
# | scores | log P(label word) at the blank, the whole vocabulary's softmax | `mlm_label_scores`, `causal_label_scores`, `label_scores` |
# | calibration | divide by the label words' probabilities on "N/A" | `calibrate` |
# | PET | fine-tune the MLM through the template, no new head | `pet_tune`, `pet_objective`, `pet_tensors` |
# | k-shot data | k examples per class, seeded | `few_shot`, `k_per_class` |
# | soft prompts | P trained vectors before the input, the model frozen | `apply_soft_prompt` |
#
# The graded exercises of this chapter are in `exercises/15_prompt_tuning_exercises.ipynb`:
# label-word scores from MLM logits, the template input and its [MASK], calibration, measuring a
# prompt's label bias, and the mean rule for multi-token label words.
