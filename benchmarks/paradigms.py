"""Every adaptation paradigm of the notes on one task and one backbone: one table, one plot.

    python benchmarks/paradigms.py --preset cpu --plot benchmarks/results/paradigms_cpu.png   # ~17 min, 2 CPU cores
    python benchmarks/paradigms.py --preset smoke --out /tmp/paradigms.json                  # seconds: the wiring only
    python benchmarks/paradigms.py --preset gpu --plot benchmarks/results/paradigms_gpu.png  # full data, 600 steps

The course's finale (chapter 15 draws its last table and plot from what this writes): fine-tuning
that changes the model (chapter 12), delta-tuning (13), prefix-tuning (14) and prompting (15), all
on Rotten Tomatoes (fresh / rotten, accuracy on the test split) and all on **one backbone**:
MiniLM with its masked-LM head, ``load_minilm_mlm(BertMeanPoolClassifierWithMLM, n_classes=2)``
(``ptm-course backbone build`` makes it once). It is the only backbone of the course with both an
encoder for a classifier head (rows 1–8) and a trained MLM head that can fill the blank of a
cloze prompt (PET, rows 9–10) or keep pre-training (rows 2–3), so every row starts from the same
weights. ``--preset smoke`` builds a 3-step stand-in into a temporary folder instead (as chapter
12's notebook does): it checks the code, its accuracies mean nothing.

Rows, and what each calls (``task``: the full training set, or ``few_shot(task, k, seed)``):

1. ``full`` — ``tune(backbone, "full", task, ...)``: every weight;
2. ``tapt`` — continued MLM pre-training on the task's unlabeled training reviews
   (``continue_pretraining``, once per seed, on all the training texts whatever the column:
   labels are not used, so the k-shot column keeps its k labelled examples), then
   ``adapt(tapt_model, task, masker, tapt_steps=0, ...)``: chapter 12's TAPT arm;
3. ``aux`` — ``adapt(backbone, task, masker, aux_weight=0.5, ...)``: L = L_task + 0.5 · L_MLM;
4. ``houlsby`` / 5. ``lora`` / 6. ``bitfit`` — ``tune`` with ``METHODS["houlsby" | "lora" | "bitfit"]``
   (Houlsby adapters, LoRA r = 8, α = 16 on q and v, BitFit);
7. ``prefix`` — ``tune(..., apply=lambda m: apply_prefix(m, length=P, hidden=H))``: P and H from
   chapter 14's cpu results when present, else P = 16, H = None (the prefix trained directly);
8. ``soft_prompt`` — ``tune(..., apply=lambda m: apply_soft_prompt(m, length=20, init="vocab", tok=tok,
   seed=seed))``: 20 trained input vectors + the classifier head;
9. ``pet_zero`` — ``pet_tune(..., steps=0)``: the template "{x} The movie is {mask}." and the label
   words terrible / great (one WordPiece each), no training, no seed: one number, shown in both columns;
10. ``pet_few`` — ``pet_tune`` with training: the whole masked LM fine-tuned through the template.

In the classifier rows (1, 4–8) the MLM head is frozen: their loss never reads it, so it would get
no gradient; freezing it makes "trainable" count what the task trains. (The mean-pooling classifier
does not read BERT's [CLS] pooler either; as in chapter 13 its 148 k parameters stay in the counts.)

Columns: trainable parameters during training; bytes stored per task in fp32 (the delta's
trainable tensors for rows 4–8, the prefix after ``export_prefix``; the whole model for rows 1–3
and 10; the template and label words as UTF-8 text for row 9); test accuracy with the full
training set and with k = 32 examples per class (mean ± sample std over the seeds; the k-shot
draw changes with the seed); seconds per training step and training seconds per run (TAPT's
continued pre-training included).

Learning rates are the chapters' measured choices, read from ``benchmarks/results/notebooks/``
(each row of the results names the file and key it came from): full, adapters, LoRA, BitFit from
chapter 13's ``values.best_lr``; TAPT and the auxiliary loss from chapter 12 (its notebook's ``LR``
and ``TAPT_LR``: its results file records the steps, not the rate); prefix-tuning from chapter 14's
``14_prefix_tuning_cpu.json`` when it exists (the prefix trained directly or through the MLP,
whichever did better on validation there), else 1e-2 with ``hidden=None``, P = 16; soft prompts 1e-2 (no chapter
has measured them yet); PET ``--pet-lr``. The k-shot column uses the same rates. ``--lr ROW=VALUE``
overrides any of them.

Everything is seeded (``tune``, ``adapt`` and ``pet_tune`` seed the head, the data order and the
masking; the k-shot draw and the soft prompt's initial vectors take the seed too): the same
command gives the same numbers on the same machine and thread count.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import io
import json
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptm_course.io import atomic_write_json, atomic_write_text  # noqa: E402
from ptm_course.models.bert import BertMeanPoolClassifierWithMLM  # noqa: E402
from ptm_course.models.hf_loading import PretrainedNotAvailableError  # noqa: E402
from ptm_course.models.mlm_backbone import (BUILD_COMMAND, Masker, build_minilm_mlm, load_minilm_mlm,  # noqa: E402
                                            minilm_mlm_path)
from ptm_course.tuning import (METHODS, Template, Verbalizer, adapt, apply_prefix, apply_soft_prompt,  # noqa: E402
                               continue_pretraining, count_parameters, export_prefix, few_shot, load_task, mean_std,
                               pet_tune, tune)
from ptm_course.utils import get_device, set_seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "benchmarks" / "results" / "notebooks"

ROWS = {  # key -> the row's name in the table, in the table's order
    "full": "full fine-tuning",
    "tapt": "continued pre-training + fine-tuning",
    "aux": "auxiliary-loss fine-tuning (λ = 0.5)",
    "houlsby": "adapters (Houlsby)",
    "lora": "LoRA",
    "bitfit": "BitFit",
    "prefix": "prefix-tuning",
    "soft_prompt": "soft prompts",
    "pet_zero": "PET zero-shot",
    "pet_few": "PET few-shot",
}
WHOLE_MODEL = ("full", "tapt", "aux", "pet_few")  # rows that store a whole model per task

# the sizes of each preset (cpu: chapters 12-14's 2,000 reviews, 400 test, 40 tokens; steps cut to fit ~18 min)
PRESETS = {
    "smoke": dict(train_n=128, test_n=16, max_len=16, steps=2, batch=8, k_steps=1, k_batch=8, tapt_steps=1,
                  tapt_batch=8, seeds=[0, 1, 2]),
    "cpu": dict(train_n=2000, test_n=400, max_len=40, steps=40, batch=16, k_steps=16, k_batch=16, tapt_steps=24,
                tapt_batch=32, seeds=[0, 1, 2]),
    "gpu": dict(train_n=None, test_n=None, max_len=64, steps=600, batch=32, k_steps=100, k_batch=16, tapt_steps=500,
                tapt_batch=32, seeds=[0, 1, 2]),
}

K = 32  # examples per class in the few-shot column
AUX_WEIGHT = 0.5
SOFT_PROMPT_LENGTH = 20
TEMPLATE = "{x} The movie is {mask}."
LABEL_WORDS = {0: "terrible", 1: "great"}  # rotten, fresh: one WordPiece each in MiniLM's vocabulary

# Seconds per training step at 16 x 40 tokens on 2 CPU cores, for the runtime estimate. full, BitFit,
# LoRA, adapters: chapter 13's cpu run (13_delta_tuning_cpu.json, values.table.rotten-tomatoes);
# TAPT's fine-tuning and λ = 0.5: chapter 12's (12_fine_tuning_cpu.json, values.s_per_step). The others
# were timed against full fine-tuning in one process (interleaved, 1 thread, MiniLM with an MLM head,
# 2026-12-06) and scaled to its 0.568 s: prefix 0.55x, soft prompt 0.86x, PET 1.07x, a continued
# pre-training step at batch 32 2.02x, scoring 400 test reviews 6.7x (classifier) / 6.3x (PET).
S_PER_STEP_CPU = {"full": 0.568, "tapt": 0.518, "aux": 0.98, "houlsby": 0.33, "lora": 0.307, "bitfit": 0.287,
                  "prefix": 0.31, "soft_prompt": 0.49, "pet_zero": 0.0, "pet_few": 0.61}
S_TAPT_STEP_CPU = 1.15  # batch 32
S_EVAL_400_CPU = 3.8


# ------------------------------------------------------------------------------------------------
# Learning rates: the chapters' measured choices
# ------------------------------------------------------------------------------------------------


def _chapter_value(name: str, *keys: str):
    """``values[keys...]`` of ``benchmarks/results/notebooks/<name>``, or None when the file or key is missing."""
    path = CHAPTERS / name
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["values"]
        for k in keys:
            value = value[k]
        return value
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _notebook_constant(notebook: str, name: str) -> float | None:
    """A float constant ``NAME = 1e-4`` at the top level of ``notebooks/<notebook>``, or None."""
    try:
        text = (ROOT / "notebooks" / notebook).read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(rf"^{name}\s*=\s*([0-9.eE+-]+)\s*$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def learning_rates(pet_lr: float, overrides: dict[str, float]) -> tuple[dict, dict]:
    """({row: {"lr", "source"}}, prefix settings {"length", "hidden", "source"}): the chapters' choices."""
    lrs = {}
    for row in ("full", "houlsby", "lora", "bitfit"):
        v = _chapter_value("13_delta_tuning_cpu.json", "best_lr", row)
        lrs[row] = ({"lr": float(v), "source": f"13_delta_tuning_cpu.json values.best_lr.{row}"} if v is not None else
                    {"lr": 2e-4 if row == "full" else 3e-3, "source": "default (13_delta_tuning_cpu.json not found)"})
    ft_lr = _notebook_constant("12_fine_tuning.py", "LR")
    tapt_lr = _notebook_constant("12_fine_tuning.py", "TAPT_LR")
    src12 = "notebooks/12_fine_tuning.py {} (the rate behind 12_fine_tuning_cpu.json, which records no lr)"
    for row in ("tapt", "aux"):
        lrs[row] = ({"lr": ft_lr, "source": src12.format("LR")} if ft_lr is not None else
                    {"lr": 1e-4, "source": "default (no LR in notebooks/12_fine_tuning.py)"})
    lrs["tapt"]["tapt_lr"] = tapt_lr if tapt_lr is not None else 1e-4
    lrs["tapt"]["tapt_lr_source"] = src12.format("TAPT_LR") if tapt_lr is not None else "default"

    prefix = {"length": 16, "hidden": None, "source": "default: 14_prefix_tuning_cpu.json not there yet; lr 1e-2, "
                                                        "hidden=None, P = 16 (a measured good setting)"}
    lrs["prefix"] = {"lr": 1e-2, "source": prefix["source"]}
    v14 = _chapter_value("14_prefix_tuning_cpu.json")
    if v14 is not None:
        try:
            P = int(v14["best_len"])
            direct, mlp = v14["direct_seed0"], v14["mlp"]
            if direct["valid"] >= mlp["valid"]:
                prefix = {"length": P, "hidden": None,
                          "source": f"14_prefix_tuning_cpu.json values.best_len and values.rt.{P}.lr (the prefix "
                                    f"trained directly: validation {direct['valid']} vs {mlp['valid']} through the MLP)"}
                lrs["prefix"] = {"lr": float(v14["rt"][str(P)]["lr"]), "source": prefix["source"]}
            else:
                prefix = {"length": P, "hidden": 512,
                          "source": f"14_prefix_tuning_cpu.json values.best_len and values.mlp.lr (through the MLP, "
                                    f"hidden 512: validation {mlp['valid']} vs {direct['valid']} trained directly)"}
                lrs["prefix"] = {"lr": float(mlp["lr"]), "source": prefix["source"]}
        except (KeyError, TypeError, ValueError) as err:
            prefix["source"] = lrs["prefix"]["source"] = f"default (14_prefix_tuning_cpu.json unreadable: {err!r})"
    lrs["soft_prompt"] = {"lr": 1e-2, "source": "default (no chapter has measured soft prompts on this task yet)"}
    lrs["pet_zero"] = {"lr": 0.0, "source": "no training"}
    lrs["pet_few"] = {"lr": pet_lr, "source": "--pet-lr"}
    for row, lr in overrides.items():
        lrs[row] = {**lrs[row], "lr": lr, "source": "command line (--lr)"}
    return lrs, prefix


# ------------------------------------------------------------------------------------------------
# What each row applies, trains and stores
# ------------------------------------------------------------------------------------------------


def _mlm_head_frozen(apply):
    """``apply`` then freeze the MLM head (a classifier's loss never reads it; its decoder weight is tied
    to the word embeddings and is named there, so it keeps whatever ``apply`` decided)."""
    def wrapped(model):
        model = apply(model)
        for name, p in model.named_parameters():
            if name.startswith("mlm."):
                p.requires_grad_(False)
        return model
    return wrapped


def method_of(row: str, prefix: dict, tok, seed: int):
    """``model -> model`` for a ``tune`` row."""
    if row == "prefix":
        return _mlm_head_frozen(lambda m: apply_prefix(m, length=prefix["length"], hidden=prefix["hidden"]))
    if row == "soft_prompt":
        return _mlm_head_frozen(lambda m: apply_soft_prompt(m, length=SOFT_PROMPT_LENGTH, init="vocab", tok=tok, seed=seed))
    return _mlm_head_frozen(METHODS[row])


def counts(row: str, backbone, prefix: dict, tok) -> tuple[int, int]:
    """(trainable parameters during training, bytes stored per task in fp32) for ``row``."""
    total = count_parameters(backbone).total
    if row == "pet_zero":
        return 0, len((TEMPLATE + "".join(LABEL_WORDS.values())).encode("utf-8"))
    if row in ("tapt", "aux", "pet_few"):
        return total, 4 * total
    model = method_of(row, prefix, tok, 0)(copy.deepcopy(backbone))
    trainable = count_parameters(model).trainable
    if row == "full":
        return trainable, 4 * total
    if row == "prefix":
        export_prefix(model)  # the prefix the MLP computes, not the MLP: what a task keeps
    return trainable, 4 * count_parameters(model).trainable


def run_one(row: str, backbone, task, tok, masker, lr: dict, prefix: dict, steps: int, batch: int, seed: int,
            cfg: dict, device, tapt_models: dict) -> dict:
    """Train ``row`` once on ``task``: {"acc", "loss" (the last logged training loss), "s_per_step", "train_s"}."""
    template, verbalizer = Template(TEMPLATE), Verbalizer(LABEL_WORDS)
    pet_max_len = cfg["max_len"] + 5  # " the movie is [MASK] ." : the review keeps the classifiers' room
    if row in ("full", "houlsby", "lora", "bitfit", "prefix", "soft_prompt"):
        run = tune(backbone, row, task, lr=lr["lr"], steps=steps, seed=seed, batch_size=batch, eval_splits=("test",),
                   device=device, apply=method_of(row, prefix, tok, seed))
        return {"acc": run.scores["test"], "loss": run.history.last("loss"), "s_per_step": run.seconds_per_step,
                "train_s": run.seconds_per_step * steps}
    if row == "aux":
        run = adapt(backbone, task, masker, lr=lr["lr"], steps=steps, seed=seed, batch_size=batch,
                    aux_weight=AUX_WEIGHT, eval_splits=("test",), device=device)
        return {"acc": run.scores["test"], "loss": run.history.last("loss"), "s_per_step": run.seconds_per_step,
                "train_s": run.seconds_per_step * steps}
    if row == "tapt":
        tapt_model, tapt_s = tapt_models[seed]
        run = adapt(tapt_model, task, masker, lr=lr["lr"], steps=steps, seed=seed, batch_size=batch, tapt_steps=0,
                    eval_splits=("test",), device=device)
        return {"acc": run.scores["test"], "loss": run.history.last("loss"), "s_per_step": run.seconds_per_step,
                "train_s": tapt_s + run.seconds_per_step * steps, "tapt_s": tapt_s}
    if row == "pet_few":
        run = pet_tune(backbone, tok, task, template, verbalizer, lr=lr["lr"], steps=steps, seed=seed, batch_size=batch,
                       eval_splits=("test",), device=device, max_len=pet_max_len)
        return {"acc": run.scores["test"], "loss": run.history.last("loss"), "s_per_step": run.seconds_per_step,
                "train_s": run.seconds_per_step * steps}
    if row == "pet_zero":
        run = pet_tune(backbone, tok, task, template, verbalizer, lr=0.0, steps=0, eval_splits=("test",), device=device,
                       max_len=pet_max_len)
        return {"acc": run.scores["test"], "loss": None, "s_per_step": None, "train_s": 0.0}
    raise ValueError(f"unknown row {row!r}")


def pretrain_on_task_text(backbone, task, masker, seed: int, cfg: dict, tapt_lr: float, device):
    """TAPT for seed ``seed``: MLM on the task's training reviews (labels unused); (model, seconds)."""
    set_seed(seed)
    model = copy.deepcopy(backbone)
    for p in model.parameters():
        p.requires_grad_(True)
    t0 = time.perf_counter()
    continue_pretraining(model, task.train, masker, cfg["tapt_steps"], lr=tapt_lr, batch_size=cfg["tapt_batch"],
                         seed=seed, device=device)
    return model, time.perf_counter() - t0


def estimate_seconds(rows: list[str], cfg: dict, n_test: int, n_seeds: int) -> float:
    """Runtime on 2 CPU cores from the measured per-step times (S_PER_STEP_CPU), scaled by tokens per step."""
    scale, k_scale = cfg["batch"] * cfg["max_len"] / 640, cfg["k_batch"] * cfg["max_len"] / 640
    eval_s = S_EVAL_400_CPU * n_test * cfg["max_len"] / (400 * 40)
    total = 15.0  # loading the backbone and the data
    for row in rows:
        if row == "pet_zero":
            total += eval_s
            continue
        per_seed = S_PER_STEP_CPU[row] * (cfg["steps"] * scale + cfg["k_steps"] * k_scale) + 2 * eval_s
        if row == "tapt":
            per_seed += S_TAPT_STEP_CPU * cfg["tapt_steps"] * cfg["tapt_batch"] * cfg["max_len"] / (32 * 40)
        total += n_seeds * per_seed
    return total


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


def human_bytes(n: int) -> str:
    """``44 -> '44 B'``, ``107520 -> '105.0 KiB'``, ``90_000_000 -> '85.8 MiB'``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def markdown(res: dict) -> str:
    s, k = res["settings"], res["settings"]["k"]
    n_train = res["task"]["n_train"]
    lines = [f"# Every paradigm on one task: Rotten Tomatoes, MiniLM with its MLM head (preset {res['preset']})", "",
             f"- backbone: {res['backbone']['description']}",
             f"- task: {n_train:,} training reviews, {res['task']['n_test']:,} test reviews, max_len {s['max_len']}; "
             f"majority class {100 * res['task']['majority']:.1f} %",
             f"- full training set: {s['steps']} steps x {s['batch']}; k = {k} per class "
             f"(`few_shot(task, {k}, seed)`, a new draw per seed): {s['k_steps']} steps x {s['k_batch']}; "
             f"TAPT: {s['tapt_steps']} MLM steps x {s['tapt_batch']} on the {n_train:,} training texts, per seed",
             f"- seeds {res['seeds']} (mean ± sample std); PET zero-shot trains nothing and has no seed: one number, "
             "shown in both columns",
             f"- {res['machine']}, torch {res['torch']}, {res['date']}; {res['total_seconds']:.0f} s in all "
             f"(estimated {res['estimated_seconds']:.0f} s)",
             f"- command: `{res['command']}`", "",
             f"| paradigm | trainable (training) | stored per task (fp32) | accuracy, full set (%) | accuracy, k = {k} (%) "
             "| s / step | train s / run (full / k) | lr | lr from |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, r in res["rows"].items():
        f, few = r["full_data"], r["k_shot"]
        sps = "–" if f["s_per_step"] is None else f"{f['s_per_step']:.3f}"
        lr = "–" if key == "pet_zero" else f"{r['lr']:g}" + (f" (MLM {r['tapt_lr']:g})" if "tapt_lr" in r else "")
        lines.append(f"| {r['label']} | {r['trainable']:,} | {human_bytes(r['stored_bytes'])} | "
                     f"{100 * f['acc_mean']:.1f} ± {100 * f['acc_std']:.1f} | "
                     f"{100 * few['acc_mean']:.1f} ± {100 * few['acc_std']:.1f} | {sps} | "
                     f"{f['train_s']:.1f} / {few['train_s']:.1f} | {lr} | {r['lr_source']} |")
    return "\n".join(lines) + "\n"


def _summary(runs: list[dict], seeds: list[int]) -> dict:
    accs = [r["acc"] for r in runs]
    m, sd = mean_std(accs)
    sps = [r["s_per_step"] for r in runs if r["s_per_step"] is not None]
    out = {"acc_mean": m, "acc_std": sd, "accs": accs, "seeds": seeds, "losses": [r["loss"] for r in runs],
           "s_per_step": statistics.median(sps) if sps else None,
           "train_s": statistics.fmean(r["train_s"] for r in runs), "train_s_runs": [r["train_s"] for r in runs]}
    if "tapt_s" in runs[0]:
        out["tapt_s_runs"] = [r["tapt_s"] for r in runs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=list(PRESETS), default="smoke")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/paradigms_{preset}.json); "
                                                "the .md table goes beside it")
    ap.add_argument("--plot", default=None, help="also draw accuracy vs bytes stored per task to this PNG")
    ap.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS), help="run only these rows")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="override the preset's seeds (>= 3 for the table)")
    ap.add_argument("--k", type=int, default=K, help="examples per class in the few-shot column")
    ap.add_argument("--pet-lr", type=float, default=5e-5, help="PET few-shot's learning rate (PET's paper: 1e-5 to 5e-5; chapter 15 uses 5e-5 at cpu)")
    ap.add_argument("--lr", action="append", default=[], metavar="ROW=LR", help="override one row's learning rate")
    ap.add_argument("--backbone", default=None, help="a build_minilm_mlm checkpoint folder (default: the course's; "
                                                     "smoke builds a 3-step stand-in)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = ap.parse_args()

    overrides = {}
    for item in args.lr:
        row, _, value = item.partition("=")
        if row not in ROWS or row == "pet_zero":
            ap.error(f"--lr {item!r}: ROW must be one of {[r for r in ROWS if r != 'pet_zero']}")
        try:
            overrides[row] = float(value)
        except ValueError:
            ap.error(f"--lr {item!r}: {value!r} is not a number")
    if args.k < 1 or (args.seeds is not None and not args.seeds) or not args.pet_lr > 0:
        ap.error("--k must be >= 1, --seeds non-empty and --pet-lr > 0")
    cfg = dict(PRESETS[args.preset])
    seeds = args.seeds if args.seeds is not None else cfg["seeds"]
    rows = [r for r in ROWS if r in args.rows]  # the table's order
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"paradigms_{args.preset}.json"
    device = get_device(args.device)
    lrs, prefix = learning_rates(args.pet_lr, overrides)
    t_start = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        if args.backbone is None and args.preset == "smoke":
            folder = build_minilm_mlm(Path(tmp) / "stand-in", steps=3, batch_size=4, seq_len=32, n_valid=8, n_train=64,
                                      progress=False)
            description = "3-step stand-in (smoke: checks the code, has learned nothing)"
        else:
            folder = Path(args.backbone) if args.backbone else minilm_mlm_path()
            description = None
        try:
            backbone, tok, card = load_minilm_mlm(BertMeanPoolClassifierWithMLM, path=folder, n_classes=2)
        except PretrainedNotAvailableError as err:
            sys.exit(f"paradigms.py: {err}\n(every row shares this backbone: run `{BUILD_COMMAND}` once, "
                     "or pass --backbone DIR)")
    backbone = backbone.to(device)
    if description is None:
        valid = card.get("metrics", {}).get("valid", {})
        description = (f"{folder} ({card.get('steps', '?')} MLM steps; WikiText-2 valid MLM accuracy "
                       f"{100 * valid.get('accuracy', float('nan')):.1f} %)")
    Verbalizer(LABEL_WORDS).token_ids(tok)  # each label word one WordPiece, or a clear error now
    task = load_task("rotten-tomatoes", tok, n_train=cfg["train_n"], n_valid=cfg["test_n"], n_test=cfg["test_n"],
                     max_len=cfg["max_len"], seed=0)
    n_train, n_test = len(task.train["labels"]), len(task.test["labels"])
    majority = float(task.test["labels"].float().mean())
    majority = max(majority, 1 - majority)
    masker = Masker.for_tokenizer(tok)
    estimate = estimate_seconds(rows, cfg, n_test, len(seeds))
    print(f"preset {args.preset}: {len(rows)} rows x {len(seeds)} seeds x (full set, k = {args.k}); {n_train:,} training "
          f"/ {n_test:,} test reviews; estimated {estimate / 60:.1f} min on 2 CPU cores"
          + (" (a GPU takes far less)" if args.preset == "gpu" else ""), flush=True)

    results = {}
    tapt_models = {}
    for i, row in enumerate(rows, 1):
        t_row = time.perf_counter()
        trainable, stored = counts(row, backbone, prefix, tok)
        if row == "pet_zero":
            one = run_one(row, backbone, task, tok, masker, lrs[row], prefix, 0, 1, 0, cfg, device, tapt_models)
            full = few = {**_summary([one], []), "acc_std": 0.0}
        else:
            full_runs, few_runs = [], []
            for seed in seeds:
                if row == "tapt":
                    tapt_models = {seed: pretrain_on_task_text(backbone, task, masker, seed, cfg,
                                                               lrs["tapt"]["tapt_lr"], device)}
                full_runs.append(run_one(row, backbone, task, tok, masker, lrs[row], prefix, cfg["steps"], cfg["batch"],
                                         seed, cfg, device, tapt_models))
                few_runs.append(run_one(row, backbone, few_shot(task, args.k, seed), tok, masker, lrs[row], prefix,
                                        cfg["k_steps"], cfg["k_batch"], seed, cfg, device, tapt_models))
            tapt_models = {}
            full, few = _summary(full_runs, seeds), _summary(few_runs, seeds)
        results[row] = {"label": ROWS[row], "trainable": trainable, "stored_bytes": stored, "full_data": full,
                        "k_shot": few, **lrs[row], "lr_source": lrs[row]["source"], "wall_s": time.perf_counter() - t_row}
        results[row].pop("source")
        if row == "prefix":
            results[row]["prefix"] = {"length": prefix["length"], "hidden": prefix["hidden"]}
        print(f"[{i}/{len(rows)}] {ROWS[row]:38s} full {100 * full['acc_mean']:5.1f} ± {100 * full['acc_std']:4.1f}  "
              f"k={args.k} {100 * few['acc_mean']:5.1f} ± {100 * few['acc_std']:4.1f}  {human_bytes(stored):>10s}  "
              f"({time.perf_counter() - t_start:.0f} s so far)", flush=True)

    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                     f"{torch.get_num_threads()} torch threads)")
    res = {
        "preset": args.preset,
        "command": shlex.join(["python", *sys.argv]),
        "machine": dev_name, "python": platform.python_version(), "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "total_seconds": time.perf_counter() - t_start, "estimated_seconds": estimate,
        "backbone": {"description": description, "card_steps": card.get("steps"),
                     "mlm_valid_accuracy": card.get("metrics", {}).get("valid", {}).get("accuracy")},
        "task": {"name": "rotten-tomatoes", "n_train": n_train, "n_test": n_test, "split": "test",
                 "majority": majority},
        "settings": {**{k: v for k, v in cfg.items() if k != "seeds"}, "k": args.k, "aux_weight": AUX_WEIGHT,
                     "soft_prompt_length": SOFT_PROMPT_LENGTH, "prefix": prefix, "template": TEMPLATE,
                     "label_words": LABEL_WORDS, "pet_max_len": cfg["max_len"] + 5},
        "seeds": seeds,
        "rows": results,
    }
    table = markdown(res)
    print(table)
    atomic_write_json(out, res)
    atomic_write_text(out.with_suffix(".md"), table)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from ptm_course.io import atomic_write_bytes
        from ptm_course.viz import plot_paradigms

        fig = plot_paradigms(res)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        atomic_write_bytes(args.plot, buf.getvalue())
    print(f"wrote {out} and {out.with_suffix('.md')}" + (f" and {args.plot}" if args.plot else ""))


if __name__ == "__main__":
    main()
