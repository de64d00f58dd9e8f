"""Pre-training as a command that scales: one process, or N processes under ``torchrun`` (DDP).

    python -m ptm_course.pretrain gpt --preset cpu --out runs/gpt                 # one device (GPU if there is one)
    ptm-course pretrain bert --preset smoke --out runs/bert                          # the same, as a course command
    torchrun --standalone --nproc_per_node 8 -m ptm_course.pretrain gpt --preset gpu --out runs/gpt   # 8 GPUs, NCCL
    torchrun --standalone --nproc_per_node 2 -m ptm_course.pretrain bert --device cpu --out runs/bert # 2 CPU processes, gloo
    python -m ptm_course.pretrain gpt --preset cpu --out runs/gpt --resume          # continue from runs/gpt/checkpoints

The recipes are the chapters' own, each at the sizes its ``--preset`` picks in the notebook:
``bert`` is chapter 07's section 6 (a WordPiece vocabulary trained on WikiText-2, NSP pairs,
masked LM + NSP), ``ernie`` chapter 09's knowledge masking (People's Daily, whole words, phrases
and entities masked), ``gpt`` chapter 10's section 4 (a byte-level BPE on WikiText-2, windows of
the token stream, next-token prediction) and ``xlnet`` chapter 11's section 9 (the same windows,
one factorisation order each). Nothing in the model code changes between one process and many:
the same ``BertForPreTraining``, ``BertForMaskedLM``, ``GPT`` and ``XLNetLMHeadModel`` are
wrapped in PyTorch's ``DistributedDataParallel``.

**What one optimizer step is.** ``--global-batch G`` examples, whatever the launch: each of the
``W`` processes (the world) reads ``G / W`` of them, in ``accum = G / (W · micro)`` micro-batches
of ``--micro-batch`` examples, accumulating gradients; DDP then averages the gradients over the
processes (an all-reduce overlapped with the last backward), and every process takes the same
AdamW step. So ``G`` must be a multiple of ``W × micro``; the command says so before it starts
if it is not.

**Why the loss is a sum divided by a global count.** A masked LM predicts a different number of
tokens in each micro-batch (15 % of each sequence's real tokens). The mean over the global batch
is ``Σ losses / N`` with ``N`` the number of predicted tokens in *all* micro-batches of *all*
processes; averaging per-micro-batch means instead would weight a token by how full its
micro-batch happened to be, and the result would depend on how the batch was split. So each
step first counts its targets (one all-reduce of a few integers), then every micro-batch
contributes ``Σ its losses / N``. With that, a run on 2 processes equals a run on 1 process with
the same global batch, up to float rounding (a test checks losses and final weights) — provided
dropout is off (``--dropout 0``): with dropout each process draws its own masks, which changes
the numbers though not their distribution.

**Which examples a step reads.** Epoch ``e`` shuffles the data set with ``seed + e``
(``DistributedSampler``); process ``r`` of ``W`` reads every ``W``-th example of that order from
``r``, and step ``k`` of the epoch covers examples ``k·G … (k+1)·G − 1`` of the order, split
over the processes: the same examples for every ``W``. BERT's masks are drawn per example from
``(seed, epoch, index)`` — a fresh mask every epoch (dynamic masking, as RoBERTa does; BERT's
own pipeline drew 10 fixed masks per sequence) that does not depend on the process reading it;
ERNIE's masks and XLNet's orders likewise.

**Checkpoints and resume.** Every ``--checkpoint-every`` steps and at the end, process 0 writes
``OUT/checkpoints/step-N/`` — weights (safetensors), optimizer, step, the log so far and every
process's RNG state — into a temporary folder renamed into place (atomic), then points
``OUT/checkpoints/latest`` at it. ``--resume`` continues from there (or from a given folder):
same weights, optimizer moments, learning-rate schedule, data position and dropout streams, so
a resumed run ends equal to an uninterrupted one (a test checks it, bit for bit). Resuming with
another number of processes continues the data exactly but cannot continue per-process dropout
streams; the command says so. The final weights go to ``OUT/final/`` (``model.safetensors``,
``config.json``, ``tokenizer.json``). Every process reads the checkpoint from ``OUT``: on several
machines, ``OUT`` must be on a shared file system.

**Precision and speed.** bf16 autocast on GPUs that compute it natively (fp16 with a gradient
scaler on older ones, fp32 on CPU unless ``--amp on``); ``--compile`` wraps the DDP model in
``torch.compile``. Progress (tqdm) and the log lines — loss, learning rate, tokens per second
over all processes — come from process 0 only; ``OUT/history.json`` holds the log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = ["RECIPES", "PretrainError", "Recipe", "add_arguments", "main", "recipe", "run"]

IGNORE_INDEX = -100


class PretrainError(ValueError):
    """A launch or configuration the command cannot run, with what to change."""


# --------------------------------------------------------------------------------------------
# Recipes: the chapters' sizes per preset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What a pre-training run is: data, model size and optimisation, as one chapter picks them."""

    model: str  # "bert" (chapter 07), "ernie" (09), "gpt" (10) or "xlnet" (11)
    preset: str
    vocab_size: int
    tokenizer_lines: int | None  # training lines (ERNIE: sentences) the tokenizer is trained on (None: all)
    seq_len: int  # BERT: pair length; ERNIE: sentence length; GPT, XLNet: window length
    model_config: Mapping[str, Any]  # BertConfig / GPTConfig / XLNetConfig fields besides vocab and length
    global_batch: int
    steps: int
    lr: float
    warmup_steps: int
    schedule: str
    min_lr_ratio: float
    weight_decay: float
    n_valid: int | None  # BERT: held-out pairs; ERNIE: validation sentences; GPT, XLNet: validation characters
    data_limit: int | None = None  # BERT: articles; ERNIE: sentences; GPT: lines; XLNet: characters (None: all)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_config"] = dict(self.model_config)
        return d


def _bert(preset: str, vocab: int, lines, seq_len, cfg, batch, steps, lr, n_valid, articles) -> Recipe:
    return Recipe("bert", preset, vocab, lines, seq_len, cfg, batch, steps, lr, steps // 10, "linear", 0.0, 0.01,
                  n_valid, articles)


def _ernie(preset: str, sentences, max_len, cfg, batch, steps, lr, n_valid) -> Recipe:
    return Recipe("ernie", preset, 8000, sentences, max_len, {**cfg, "dropout": 0.0, "attn_dropout": 0.0}, batch, steps,
                  lr, max(1, steps // 20), "linear", 0.0, 0.01, n_valid, sentences)


def _gpt(preset: str, vocab: int, lines, block, cfg, batch, tokens, lr, n_valid) -> Recipe:
    steps = tokens // (batch * block)
    return Recipe("gpt", preset, vocab, lines, block, {**cfg, "dropout": 0.0, "attn_dropout": 0.0}, batch, steps, lr,
                  max(1, steps // 20), "cosine", 0.1, 0.1, n_valid, lines)


def _xlnet(preset: str, vocab: int, lines, size, steps, train_chars, valid_chars) -> Recipe:
    return Recipe("xlnet", preset, vocab, lines, 64, {**size, "d_ff": 4 * size["d_model"]}, 16, steps, 1e-3,
                  max(1, steps // 20), "cosine", 0.1, 0.01, valid_chars, train_chars)


_BERT_SMALL = dict(d_model=256, n_layers=4, n_heads=4, d_ff=1024)  # BertConfig.small
# notebooks 07 (section 6), 09 (section 5, knowledge masking), 10 (section 4) and 11 (section 9):
# what their ctx.pick(smoke=..., cpu=..., gpu=...) gives
RECIPES: dict[tuple[str, str], Recipe] = {
    ("bert", "smoke"): _bert("smoke", 4000, 3000, 64, dict(d_model=64, n_layers=2, n_heads=4, d_ff=256), 32, 200, 2e-3,
                             256, 120),
    ("bert", "cpu"): _bert("cpu", 8000, None, 96, {**_BERT_SMALL, "dropout": 0.0, "attn_dropout": 0.0}, 32, 1500, 5e-4,
                           1024, None),
    ("bert", "gpu"): _bert("gpu", 16000, None, 128, dict(d_model=512, n_layers=8, n_heads=8, d_ff=2048), 128, 20000,
                           3e-4, 2048, None),
    ("ernie", "smoke"): _ernie("smoke", 3000, 48, dict(d_model=64, n_layers=2, n_heads=2, d_ff=128), 32, 30, 2e-3, 200),
    ("ernie", "cpu"): _ernie("cpu", None, 48, dict(d_model=128, n_layers=2, n_heads=4, d_ff=512), 64, 2500, 2e-3, 1500),
    ("ernie", "gpu"): _ernie("gpu", None, 128, dict(d_model=256, n_layers=6, n_heads=8, d_ff=1024), 128, 8000, 1e-3,
                             4000),
    ("gpt", "smoke"): _gpt("smoke", 1024, 3000, 64, dict(d_model=64, n_layers=2, n_heads=2), 16, 20_000, 3e-3, 5_000),
    ("gpt", "cpu"): _gpt("cpu", 4096, None, 128, dict(d_model=128, n_layers=4, n_heads=4), 16, 2_400_000, 2e-3, 100_000),
    ("gpt", "gpu"): _gpt("gpu", 8192, None, 256, dict(d_model=384, n_layers=6, n_heads=6), 64, 20_000_000, 1e-3,
                         500_000),
    ("xlnet", "smoke"): _xlnet("smoke", 1024, 3000, dict(d_model=64, n_layers=2, n_heads=2), 30, 300_000, 20_000),
    ("xlnet", "cpu"): _xlnet("cpu", 4096, None, dict(d_model=128, n_layers=4, n_heads=4), 1000, None, 300_000),
    ("xlnet", "gpu"): _xlnet("gpu", 8192, None, dict(d_model=256, n_layers=6, n_heads=8), 6000, None, None),
}


def recipe(model: str, preset: str) -> Recipe:
    """The recipe of ``model`` ("bert", "ernie", "gpt" or "xlnet") at ``preset`` ("smoke", "cpu" or "gpu")."""
    if (model, preset) not in RECIPES:
        models = sorted({m for m, _ in RECIPES})
        presets = sorted({p for _, p in RECIPES})
        raise PretrainError(f"no recipe for model {model!r} at preset {preset!r}: models {models}, presets {presets}")
    return RECIPES[model, preset]


# --------------------------------------------------------------------------------------------
# Processes: who am I, on which device, and the collectives the loop needs
# --------------------------------------------------------------------------------------------


@dataclass
class World:
    """This process's place in the run: ``rank`` of ``size``, on ``device``."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over the processes (in place); the identity on one process."""
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise PretrainError(f"environment variable {name}={value!r} is not an integer; launch with torchrun, "
                            "which sets RANK, LOCAL_RANK and WORLD_SIZE") from None


def _world_from_env(device: str) -> World:
    """Rank, world size and device from torchrun's environment (one process without it); checks them."""
    size, rank, local = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise PretrainError(f"RANK={rank} and WORLD_SIZE={size} do not fit together; launch with torchrun")
    name = device.strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PretrainError(f"--device {device} asked for a GPU but CUDA is not available here; use --device cpu "
                                "(torchrun then runs the processes with the gloo backend)")
        n_gpus = torch.cuda.device_count()
        if size > 1 and local >= n_gpus:
            raise PretrainError(f"process {rank} has LOCAL_RANK {local} but this machine has {n_gpus} GPU(s): launch "
                                f"at most --nproc_per_node {n_gpus}, or use --device cpu")
        dev = torch.device("cuda", local if size > 1 else (torch.device(name).index or 0))
    elif name == "cpu":
        dev = torch.device("cpu")
    else:
        raise PretrainError(f"--device {device!r}: use auto, cpu or cuda")
    return World(rank, size, local, dev)


def _start(world: World, timeout_s: float) -> None:
    if world.distributed:
        if world.device.type == "cuda":
            torch.cuda.set_device(world.device)
        backend = "nccl" if world.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))


def _stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------------
# Which examples a step reads
# --------------------------------------------------------------------------------------------


def _example_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of example ``index``'s random draws (mask, order) in ``epoch``: a function of the three only."""
    return ((seed * 1_000_003 + epoch) * 2_147_483_647 + index) % (2**63 - 1)


def step_batches(dataset: Dataset, world: World, micro: int, accum: int, seed: int, epoch: int,
                 first_step: int) -> tuple[int, Any]:
    """(full steps in ``epoch``, an iterator over this process's micro-batches from step ``first_step`` on).

    ``DistributedSampler`` shuffles with ``seed + epoch`` and gives process ``r`` the examples
    ``r, r + W, r + 2W, …`` of that order; a step reads ``accum`` micro-batches of ``micro``.
    """
    sampler = DistributedSampler(dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed,
                                 drop_last=True)
    sampler.set_epoch(epoch)
    dataset.set_epoch(epoch)
    order = list(sampler)
    per_step = micro * accum
    n_steps = len(order) // per_step
    chunks = [order[i:i + micro] for i in range(first_step * per_step, n_steps * per_step, micro)]
    # a generator of its own: making the iterator must not draw from the global RNG (dropout's), or a
    # resumed run, which makes it at another point of the stream, would draw other dropout masks
    loader = DataLoader(dataset, batch_sampler=chunks, collate_fn=dataset.collate,
                        generator=torch.Generator().manual_seed(seed + epoch))
    return n_steps, iter(loader)


@dataclass
class Corpus:
    """A recipe's data: the training set, what validation reads, the tokenizer."""

    train: Dataset
    valid: Any
    tokenizer: Any


class _PerExample(Dataset):
    """A data set whose examples draw their random numbers from ``(seed, epoch, index)``."""

    seed: int
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self, i: int) -> torch.Generator:
        return torch.Generator().manual_seed(_example_seed(self.seed, self.epoch, i))


def _pad_rows(items: Sequence[dict], keys: Mapping[str, int], length: int) -> dict[str, torch.Tensor]:
    """Right-pad the 1-D tensors ``items[b][key]`` to ``length`` with ``keys[key]``, and build the attention mask."""
    B = len(items)
    out = {k: torch.full((B, length), fill, dtype=torch.long) for k, fill in keys.items()}
    out["attention_mask"] = torch.zeros(B, length, dtype=torch.long)
    for b, it in enumerate(items):
        n = it["input_ids"].numel()
        for k in keys:
            out[k][b, :n] = it[k]
        out["attention_mask"][b, :n] = 1
    return out


def _mlm_sums(m: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Masked-LM sums of a BERT with ``.bert`` and ``.mlm`` (the chapter 07 loss, summed), and the pooled output."""
    positions = batch.get("mlm_positions")
    h, pooled = m.bert(batch["input_ids"], batch.get("token_type_ids"), batch["attention_mask"], output_positions=positions)
    if positions is not None:  # fixed width: (B, P, C) at the masked positions, −100 marks padding
        target = batch["mlm_labels"].gather(1, positions).flatten()
        logits = m.mlm(h).flatten(0, 1)
    else:  # whole-unit masking can mask more than a fixed width holds: select the positions
        sel = batch["mlm_labels"] != IGNORE_INDEX
        target, logits = batch["mlm_labels"][sel], m.mlm(h[sel])
    return {"mlm": F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX, reduction="sum"),
            "mlm_correct": ((logits.argmax(-1) == target) & (target != IGNORE_INDEX)).sum()}, pooled


# --------------------------------------------------------------------------------------------
# bert: chapter 07 — NSP pairs, masked LM + NSP
# --------------------------------------------------------------------------------------------


class MaskedPairs(_PerExample):
    """NSP pairs whose masks are drawn per example from ``(seed, epoch, index)`` (see the module docstring)."""

    def __init__(self, examples: Sequence[dict], special, vocab_size: int, seq_len: int, seed: int):
        self.examples, self.special, self.vocab_size = examples, special, vocab_size
        self.seq_len, self.seed, self.epoch = seq_len, seed, 0
        self.max_predictions = round(0.15 * seq_len) + 1  # BERT's max_predictions_per_seq

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        from .data.masking import mask_tokens

        e = self.examples[i]
        masked, labels = mask_tokens(torch.tensor([e["input_ids"]]), self.special, self.vocab_size, generator=self.generator(i))
        return {"input_ids": masked[0], "mlm_labels": labels[0], "token_type_ids": torch.tensor(e["token_type_ids"]),
                "nsp_label": e["nsp_label"]}

    def collate(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Pad to ``seq_len`` (fixed shapes) and list the masked positions at fixed width."""
        from .data.masking import masked_positions

        batch = _pad_rows(items, {"input_ids": self.special.pad, "token_type_ids": 0, "mlm_labels": IGNORE_INDEX},
                          self.seq_len)
        batch["nsp_labels"] = torch.tensor([it["nsp_label"] for it in items], dtype=torch.long)
        batch["mlm_positions"] = masked_positions(batch["mlm_labels"], self.max_predictions)
        return batch


class BertPretrainingSums(nn.Module):
    """Masked LM + NSP as sums over a micro-batch: ``{"mlm": Σ CE, "nsp": Σ CE, "*_correct": hits}``.

    The same terms as :func:`ptm_course.models.bert.pretraining_loss` (the vocabulary projection at
    the masked positions only), summed instead of averaged; ``mlm / N_mlm + nsp / N_nsp`` is that
    loss when the counts are the micro-batch's own (a test checks it).
    """

    terms = ("mlm", "nsp")
    unused_parameters = False

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @staticmethod
    def counts(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"mlm": (batch["mlm_labels"] != IGNORE_INDEX).sum(), "nsp": torch.tensor(batch["nsp_labels"].numel()),
                "tokens": batch["attention_mask"].sum()}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out, pooled = _mlm_sums(self.model, batch)
        nsp_logits = self.model.nsp(pooled)  # (B, 2)
        return {**out, "nsp": F.cross_entropy(nsp_logits.float(), batch["nsp_labels"], reduction="sum"),
                "nsp_correct": (nsp_logits.argmax(-1) == batch["nsp_labels"]).sum()}


class BertTask:
    """Chapter 07: WordPiece on WikiText-2, NSP pairs, ``BertForPreTraining``; validation on held-out pairs."""

    def corpus(self, r: Recipe, seed: int, limit: int | None) -> Corpus:
        from .data.masking import collate_pretraining, make_nsp_examples
        from .data.wordpiece import special_tokens, wikitext_documents, wikitext_wordpiece

        tok = wikitext_wordpiece(r.vocab_size, max_lines=r.tokenizer_lines)
        sp, V = special_tokens(tok), tok.get_vocab_size()
        docs = wikitext_documents(tok, "train", max_articles=r.data_limit)
        examples = make_nsp_examples(docs, max_len=r.seq_len, special=sp, seed=seed)
        train, valid = examples[r.n_valid:], examples[: r.n_valid]
        mp = round(0.15 * r.seq_len) + 1
        valid_batches = [collate_pretraining(valid[i:i + 64], sp, V, generator=torch.Generator().manual_seed(i),
                                             max_len=r.seq_len, max_predictions=mp) for i in range(0, len(valid), 64)]
        return Corpus(MaskedPairs(train[:limit] if limit else train, sp, V, r.seq_len, seed), valid_batches, tok)

    def model(self, r: Recipe, vocab_size: int, extra: Mapping) -> tuple[nn.Module, nn.Module, dict]:
        from .models.bert import BertConfig, BertForPreTraining

        cfg = BertConfig(**{**r.model_config, "vocab_size": vocab_size, "max_len": r.seq_len, **extra})
        model = BertForPreTraining(cfg)
        return model, BertPretrainingSums(model), cfg.to_dict()

    def evaluate(self, r: Recipe, model: nn.Module, corpus: Corpus, device: torch.device) -> dict[str, float]:
        from .models.bert import pretraining_loss

        sums: dict[str, float] = {}
        for b in corpus.valid:  # fixed masks: evaluations are comparable
            loss, metrics = pretraining_loss(model, {k: t.to(device) for k, t in b.items()})
            for k, v in {"loss": loss, **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v) / len(corpus.valid)
        return sums


# --------------------------------------------------------------------------------------------
# ernie: chapter 09 — People's Daily, knowledge masking (whole words, phrases, entities)
# --------------------------------------------------------------------------------------------


class MaskedUnits(_PerExample):
    """Chinese sentences masked by whole units (ERNIE), the mask drawn per example from ``(seed, epoch, index)``."""

    def __init__(self, examples: Sequence, special, vocab_size: int, seq_len: int, seed: int):
        self.examples, self.special, self.vocab_size = examples, special, vocab_size
        self.seq_len, self.seed, self.epoch = seq_len, seed, 0

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict:
        from .data.masking import mask_units

        e = self.examples[i]
        masked, labels = mask_units(torch.tensor([e.input_ids]), torch.tensor([e.unit_ids]), self.special,
                                    self.vocab_size, generator=self.generator(i))
        return {"input_ids": masked[0], "mlm_labels": labels[0]}

    def collate(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = _pad_rows(items, {"input_ids": self.special.pad, "mlm_labels": IGNORE_INDEX}, self.seq_len)
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
        return batch


class MaskedLMSums(nn.Module):
    """Masked LM alone (``BertForMaskedLM``) as sums over a micro-batch: ``{"mlm": Σ CE, "mlm_correct": hits}``."""

    terms = ("mlm",)
    unused_parameters = True  # BertModel's pooler takes no part in a masked-LM-only loss

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @staticmethod
    def counts(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"mlm": (batch["mlm_labels"] != IGNORE_INDEX).sum(), "tokens": batch["attention_mask"].sum()}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return _mlm_sums(self.model, batch)[0]


class ErnieTask:
    """Chapter 09: character WordPiece on People's Daily; a third of the sentences each masked by
    words, phrases or entities; ``BertForMaskedLM``; validation: blanked characters and whole words."""

    LEVELS = ("word", "phrase", "entity")

    def corpus(self, r: Recipe, seed: int, limit: int | None) -> Corpus:
        from .data import load
        from .data.chinese import char_units
        from .data.ernie_inputs import encode_units, train_chinese_wordpiece
        from .data.registry import data_dir
        from .data.wordpiece import special_tokens
        from .io import cached_tokenizer
        from .models.ernie import fill_in_batches

        pd = load("peoples-daily-1998")
        rows = pd["train"] if r.data_limit is None else pd["train"].select(range(min(r.data_limit, len(pd["train"]))))
        tok = cached_tokenizer(data_dir() / "wordpiece" / f"peoples-daily-{r.vocab_size}-{r.data_limit or 'all'}.json",
                               lambda: train_chinese_wordpiece(rows["text"], vocab_size=r.vocab_size))
        sp = special_tokens(tok)
        if limit:
            rows = rows.select(range(min(limit, len(rows))))
        train = [encode_units(tok, x["words"], char_units(x["words"], self.LEVELS[i % 3], x["tags"]), max_len=r.seq_len)
                 for i, x in enumerate(rows)]
        valid_rows = pd["validation"].select(range(min(r.n_valid or len(pd["validation"]), len(pd["validation"]))))
        valid = [encode_units(tok, x["words"], char_units(x["words"], "word"), max_len=r.seq_len) for x in valid_rows]
        blanks = {kind: fill_in_batches(valid, kind, sp, batch_size=64, seed=0) for kind in ("char", "word")}
        return Corpus(MaskedUnits(train, sp, tok.get_vocab_size(), r.seq_len, seed), blanks, tok)

    def model(self, r: Recipe, vocab_size: int, extra: Mapping) -> tuple[nn.Module, nn.Module, dict]:
        from .models.bert import BertConfig, BertForMaskedLM

        cfg = BertConfig(**{**r.model_config, "vocab_size": vocab_size, "max_len": r.seq_len, **extra})
        model = BertForMaskedLM(cfg)
        return model, MaskedLMSums(model), cfg.to_dict()

    def evaluate(self, r: Recipe, model: nn.Module, corpus: Corpus, device: torch.device) -> dict[str, float]:
        from .models.ernie import fill_in_accuracy

        return {f"{kind}_fill_in_acc": fill_in_accuracy(model, b) for kind, b in corpus.valid.items() if b}


# --------------------------------------------------------------------------------------------
# gpt: chapter 10 — byte-level BPE on WikiText-2, windows, next-token prediction
# --------------------------------------------------------------------------------------------


class TokenWindows(Dataset):
    """Windows of ``seq_len`` tokens side by side (chapter 10's ``LMWindows``), with a no-op ``set_epoch``."""

    def __init__(self, ids: torch.Tensor, seq_len: int):
        from .data.lm import LMWindows

        self.windows = LMWindows(ids, seq_len)

    def set_epoch(self, epoch: int) -> None:  # windows draw nothing at random
        pass

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        return self.windows[i]

    def collate(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.stack([it["input_ids"] for it in items])}


class CausalLMSums(nn.Module):
    """Next-token prediction as sums over a micro-batch: ``{"lm": Σ CE, "lm_correct": hits}``
    (:func:`ptm_course.models.gpt.lm_loss` summed instead of averaged)."""

    terms = ("lm",)
    unused_parameters = False

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @staticmethod
    def counts(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ids = batch["input_ids"]
        return {"lm": torch.tensor(ids[:, 1:].numel()), "tokens": torch.tensor(ids.numel())}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ids = batch["input_ids"]
        logits = self.model(ids)[:, :-1].flatten(0, 1)  # position t predicts token t + 1
        target = ids[:, 1:].flatten()
        return {"lm": F.cross_entropy(logits.float(), target, reduction="sum"),
                "lm_correct": (logits.argmax(-1) == target).sum()}


def _wikitext_ids(tok, split: str, n_chars: int | None = None, n_lines: int | None = None) -> torch.Tensor:
    from .data import load

    lines = load("wikitext-2")[split]["text"]
    text = "".join(lines if n_lines is None else lines[:n_lines])
    return torch.tensor(tok.encode(text if n_chars is None else text[:n_chars]).ids)


class GPTTask:
    """Chapter 10: byte-level BPE on WikiText-2, windows of the training text, ``GPT``; validation loss."""

    def corpus(self, r: Recipe, seed: int, limit: int | None) -> Corpus:
        from .data.bpe import wikitext_bpe

        tok = wikitext_bpe(r.vocab_size, max_lines=r.tokenizer_lines)
        train_ids = _wikitext_ids(tok, "train", n_lines=r.data_limit)
        valid_ids = _wikitext_ids(tok, "validation", n_chars=r.n_valid)
        return Corpus(TokenWindows(train_ids[: limit * r.seq_len] if limit else train_ids, r.seq_len), valid_ids, tok)

    def model(self, r: Recipe, vocab_size: int, extra: Mapping) -> tuple[nn.Module, nn.Module, dict]:
        from .models.gpt import GPT, GPTConfig

        cfg = GPTConfig(**{**r.model_config, "vocab_size": vocab_size, "max_len": r.seq_len, **extra})
        model = GPT(cfg)
        return model, CausalLMSums(model), cfg.to_dict()

    def evaluate(self, r: Recipe, model: nn.Module, corpus: Corpus, device: torch.device) -> dict[str, float]:
        from .metrics import causal_lm_nll

        nll, n = causal_lm_nll(model, corpus.valid, r.seq_len)
        return {"loss": nll / n}


# --------------------------------------------------------------------------------------------
# xlnet: chapter 11 — the same windows, one factorisation order per window, its last T/K predicted
# --------------------------------------------------------------------------------------------


class PermutedWindows(_PerExample):
    """Windows of the token stream, each with an order drawn from ``(seed, epoch, index)``
    (:func:`ptm_course.models.xlnet.permutation_batch`, ``K = 6``: the last T // 6 of the order predicted)."""

    K = 6

    def __init__(self, ids: torch.Tensor, seq_len: int, seed: int):
        from .data.lm import LMWindows

        self.windows, self.seed, self.epoch = LMWindows(ids, seq_len), seed, 0

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        from .models.xlnet import permutation_batch

        b = permutation_batch(self.windows[i]["input_ids"][None], K=self.K, generator=self.generator(i))
        return {k: b[k] for k in ("input_ids", "perm_mask", "target_mapping", "labels")}

    def collate(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        return {k: torch.cat([it[k] for it in items]) for k in items[0]}


class PermutationLMSums(nn.Module):
    """XLNet's permutation LM as sums over a micro-batch: ``{"plm": Σ CE, "plm_correct": hits}``
    (:func:`ptm_course.models.xlnet.xlnet_loss` summed instead of averaged)."""

    terms = ("plm",)
    unused_parameters = True  # the segment terms take no part without segments

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @staticmethod
    def counts(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"plm": torch.tensor(batch["labels"].numel()), "tokens": torch.tensor(batch["input_ids"].numel())}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits, _ = self.model(batch["input_ids"], batch["perm_mask"], batch["target_mapping"])  # (B, n, V)
        labels = batch["labels"]
        return {"plm": F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), reduction="sum"),
                "plm_correct": (logits.argmax(-1) == labels).sum()}


class XLNetTask:
    """Chapter 11: byte-level BPE on WikiText-2, windows of 64 tokens, ``XLNetLMHeadModel``; validation:
    the permutation-LM loss on the first validation windows with fixed orders."""

    def corpus(self, r: Recipe, seed: int, limit: int | None) -> Corpus:
        from .data.bpe import wikitext_bpe

        tok = wikitext_bpe(r.vocab_size, max_lines=r.tokenizer_lines)
        train_ids = _wikitext_ids(tok, "train", n_chars=r.data_limit)
        valid = PermutedWindows(_wikitext_ids(tok, "validation", n_chars=r.n_valid), r.seq_len, seed=seed + 1)
        n = min(len(valid), 256)
        valid_batches = [valid.collate([valid[i] for i in range(s, min(s + 64, n))]) for s in range(0, n, 64)]
        train = PermutedWindows(train_ids[: limit * r.seq_len] if limit else train_ids, r.seq_len, seed)
        return Corpus(train, valid_batches, tok)

    def model(self, r: Recipe, vocab_size: int, extra: Mapping) -> tuple[nn.Module, nn.Module, dict]:
        from .models.xlnet import XLNetConfig, XLNetLMHeadModel

        cfg = XLNetConfig(**{**r.model_config, "vocab_size": vocab_size, **extra})
        model = XLNetLMHeadModel(cfg)
        return model, PermutationLMSums(model), cfg.to_dict()

    def evaluate(self, r: Recipe, model: nn.Module, corpus: Corpus, device: torch.device) -> dict[str, float]:
        from .models.xlnet import xlnet_loss

        losses = [float(xlnet_loss(model, {k: t.to(device) for k, t in b.items()})[0]) for b in corpus.valid]
        return {"plm_loss": sum(losses) / max(1, len(losses))}


TASKS = {"bert": BertTask(), "ernie": ErnieTask(), "gpt": GPTTask(), "xlnet": XLNetTask()}


def build_corpus(r: Recipe, seed: int, limit: int | None = None) -> Corpus:
    """The chapter's data for recipe ``r``; ``limit`` keeps only the first training examples (quick runs)."""
    return TASKS[r.model].corpus(r, seed, limit)


def build_model(r: Recipe, vocab_size: int, dropout: float | None = None) -> tuple[nn.Module, nn.Module, dict]:
    """(model, its objective, its config as a dict) for recipe ``r``; ``dropout`` overrides the recipe's."""
    extra = {} if dropout is None else {"dropout": dropout, "attn_dropout": dropout}
    return TASKS[r.model].model(r, vocab_size, extra)


def _evaluate(r: Recipe, model: nn.Module, corpus: Corpus, device: torch.device) -> dict[str, float]:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = TASKS[r.model].evaluate(r, model, corpus, device)
    model.train(was_training)
    return {f"valid_{k}": round(float(v), 5) for k, v in out.items()}


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Settings:
    """A run: the recipe with the command line's overrides, and how to launch and log it."""

    recipe: Recipe
    out: Path
    micro_batch: int
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    compile: bool = False
    dropout: float | None = None
    limit: int | None = None
    log_every: int = 10
    eval_every: int | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    resume: str | None = None  # None, "latest" or a checkpoint folder
    progress: bool = True
    timeout_s: float = 600.0


def _check_launch(s: Settings, world: World) -> int:
    """The number of micro-batches each process accumulates per step, or a PretrainError that says what to change."""
    G, m, W = s.recipe.global_batch, s.micro_batch, world.size
    if m < 1 or G < 1:
        raise PretrainError(f"--global-batch ({G}) and --micro-batch ({m}) must be positive")
    if G % (W * m):
        ok = sorted({W * m * max(1, G // (W * m)), W * m * (G // (W * m) + 1)})
        fits = [d for d in range(1, G // W + 1) if G % (W * d) == 0]
        raise PretrainError(
            f"the global batch must be a multiple of processes × micro-batch, but --global-batch {G} is not a "
            f"multiple of {W} × {m} = {W * m}: use --global-batch {' or '.join(map(str, ok))}, or a --micro-batch "
            f"that divides {G} / {W}" + (f" ({', '.join(map(str, fits[-4:]))})" if fits and G % W == 0 else
                                         f" (and a global batch divisible by {W})"))
    if s.recipe.steps < 1:
        raise PretrainError(f"--steps must be positive, got {s.recipe.steps}")
    if s.amp not in ("auto", "on", "off"):
        raise PretrainError(f"--amp {s.amp!r}: use auto, on or off")
    return G // (W * m)


def _log(world: World, msg: str) -> None:
    if world.is_main:
        print(msg, flush=True)


def _rng_tensors(world: World) -> dict[str, torch.Tensor]:
    """Every process's torch (and CUDA) RNG state, gathered for process 0 to save."""
    mine = {"torch": torch.get_rng_state()}
    if world.device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(world.device)
    every = [mine]
    if world.distributed:
        every = [None] * world.size
        dist.all_gather_object(every, mine)
    return {f"rng.rank{r:04d}.{k}": v for r, states in enumerate(every) for k, v in states.items()}


def _find_resume(s: Settings) -> Path | None:
    if s.resume is None:
        return None
    if s.resume == "latest":
        latest = s.out / "checkpoints" / "latest"
        if not latest.exists():
            return None  # nothing written yet: start fresh
        path = s.out / "checkpoints" / latest.read_text(encoding="utf-8").strip()
    else:
        path = Path(s.resume)
    if not (path / "trainer.json").exists():
        raise PretrainError(f"--resume {s.resume}: {path} is not a checkpoint folder of this command (no trainer.json)")
    return path


def run(s: Settings, corpus: Corpus | None = None) -> dict:
    """Pre-train as ``s`` says, in this process (one of ``WORLD_SIZE``); returns the final log row.

    ``corpus``: data other than the recipe's (the same in every process), e.g. a test's.
    """
    from tqdm.auto import tqdm

    from .train import _load_checkpoint, _save_checkpoint, lr_schedule, make_optimizer, save_model_weights
    from .utils import amp_dtype, autocast, count_params, grad_scaler, set_seed

    world = _world_from_env(s.device)
    accum = _check_launch(s, world)  # before any collective: a bad launch fails on every process, no hang
    r = s.recipe
    resume_from = _find_resume(s)
    _start(world, s.timeout_s)
    try:
        # data: process 0 first (it trains and caches the tokenizer), then the others read the cache
        if corpus is None and world.is_main:
            corpus = build_corpus(r, s.seed, s.limit)
        world.barrier()
        if corpus is None:
            corpus = build_corpus(r, s.seed, s.limit)
        set_seed(s.seed)  # the same initial weights in every process (DDP also broadcasts process 0's)
        model, objective, model_cfg = build_model(r, corpus.tokenizer.get_vocab_size(), s.dropout)
        objective.to(world.device)
        opt = make_optimizer(model, "adamw", r.lr, r.weight_decay)
        dtype = amp_dtype(world.device, {"auto": None, "on": True, "off": False}[s.amp])
        scaler = grad_scaler(world.device, dtype)
        state = {"step": 0, "epoch": 0, "step_in_epoch": 0, "history": [], "eval": []}
        if resume_from is not None:
            saved = _load_checkpoint(resume_from, model, opt, scaler, world.device)
            if saved["global_batch"] != r.global_batch or saved["model"] != r.model:
                raise PretrainError(f"{resume_from} was written by a {saved['model']} run with global batch "
                                    f"{saved['global_batch']}: resume with the same model and --global-batch")
            state = {k: saved[k] for k in state}
            key = f"rng.rank{world.rank:04d}.torch"
            if saved["world_size"] == world.size and key in saved["_tensors"]:
                torch.set_rng_state(saved["_tensors"][key])
                cuda_key = f"rng.rank{world.rank:04d}.cuda"
                if world.device.type == "cuda" and cuda_key in saved["_tensors"]:
                    torch.cuda.set_rng_state(saved["_tensors"][cuda_key], world.device)
            else:
                _log(world, f"note: the checkpoint was written by {saved['world_size']} process(es), this run has "
                            f"{world.size}: the data continues exactly, the dropout streams start afresh")
                torch.manual_seed(s.seed + 1_000_003 * state["step"] + world.rank)
            _log(world, f"resumed from {resume_from} at step {state['step']}")
        wrapped: nn.Module = objective
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            wrapped = DDP(objective, device_ids=[world.device.index] if world.device.type == "cuda" else None,
                          find_unused_parameters=objective.unused_parameters)
        forward = torch.compile(wrapped) if s.compile else wrapped

        _log(world, f"pre-training {r.model} ({r.preset} recipe): {count_params(model) / 1e6:.2f} M parameters, "
                    f"{len(corpus.train):,} training examples; {r.steps} steps of {r.global_batch} = {world.size} "
                    f"process(es) x {accum} micro-batch(es) x {s.micro_batch}; device {world.device}, "
                    f"autocast {dtype}, compile {s.compile}; out {s.out}")

        def save_checkpoint() -> None:
            rng = _rng_tensors(world)  # a collective: every process takes part
            if world.is_main:
                trainer_state = {**state, "model": r.model, "global_batch": r.global_batch, "world_size": world.size,
                                 "max_steps": r.steps, "seed": s.seed, "recipe": r.to_dict()}
                _save_checkpoint(s.out / "checkpoints", model, opt, scaler, trainer_state, s.keep_checkpoints, rng)
            world.barrier()

        terms = objective.terms
        bar = tqdm(total=r.steps, initial=state["step"], desc=f"pretrain {r.model}", disable=not (world.is_main and s.progress),
                   dynamic_ncols=True)
        n_steps, batches = step_batches(corpus.train, world, s.micro_batch, accum, s.seed, state["epoch"],
                                        state["step_in_epoch"])
        if n_steps == 0:
            raise PretrainError(f"the training set has {len(corpus.train)} examples, fewer than one global batch of "
                                f"{r.global_batch}: lower --global-batch")
        tic, tokens_since, steps_since, logged = time.perf_counter(), 0.0, 0, None
        log_sums = torch.zeros(2 * len(objective.terms), dtype=torch.float64, device=world.device)
        model.train()
        while state["step"] < r.steps:
            if state["step_in_epoch"] == n_steps:  # epoch read to its end: the next one, in a new order
                state["epoch"], state["step_in_epoch"] = state["epoch"] + 1, 0
                n_steps, batches = step_batches(corpus.train, world, s.micro_batch, accum, s.seed, state["epoch"], 0)
            cpu_micro = [next(batches) for _ in range(accum)]
            # the global number of targets of each term in this step: one all-reduce of a few integers
            names = [*terms, "tokens"]
            local = [objective.counts(b) for b in cpu_micro]
            counts = world.all_sum(torch.tensor([float(sum(c[n] for c in local)) for n in names], dtype=torch.float64,
                                                device=world.device))
            N = dict(zip(names, counts.tolist()))
            micro = [{k: t.to(world.device, non_blocking=True) for k, t in b.items()} for b in cpu_micro]
            lr = r.lr * lr_schedule(state["step"], r.steps, r.warmup_steps, r.schedule, r.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            for i, b in enumerate(micro):
                # DDP all-reduces the gradients in the backward of the last micro-batch only
                sync = contextlib.nullcontext() if not world.distributed or i == accum - 1 else wrapped.no_sync()
                with sync:
                    with autocast(world.device, dtype=dtype, enabled=dtype is not None):
                        out = forward(b)
                    # DDP averages over the W processes: × W makes the result Σ (loss) / N over the global batch
                    loss = sum(out[t] / max(N[t], 1.0) for t in terms) * world.size
                    scaler.scale(loss).backward()
                # this process's share of the step's mean loss and accuracy of each term (summed at log time)
                log_sums += torch.stack([out[t].detach().double() / max(N[t], 1.0) for t in terms]
                                        + [out[f"{t}_correct"].double() / max(N[t], 1.0) for t in terms])
            scaler.unscale_(opt)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(grad_norm):  # the same on every process: the gradients were all-reduced
                raise FloatingPointError(f"the gradient norm is {float(grad_norm)} at step {state['step']} (lr {lr:.3g}); "
                                         "lower --lr or check the data")
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            state["step"] += 1
            state["step_in_epoch"] += 1
            steps_since += 1
            tokens_since += N["tokens"]
            bar.update(1)
            if state["step"] % s.log_every == 0 or state["step"] == r.steps:
                # log: the global batch's mean loss and accuracy of each term, and tokens per second
                world.all_sum(log_sums)
                if world.device.type == "cuda":
                    torch.cuda.synchronize(world.device)
                elapsed = time.perf_counter() - tic
                means = (log_sums / steps_since).tolist()
                row = {"step": state["step"], "epoch": state["epoch"], "lr": lr,
                       "loss": round(sum(means[: len(terms)]), 6),
                       **{t: round(means[j], 6) for j, t in enumerate(terms)},
                       **{f"{t}_acc": round(means[len(terms) + j], 6) for j, t in enumerate(terms)},
                       "grad_norm": round(float(grad_norm), 6), "tokens_per_s": round(tokens_since / elapsed, 1)}
                state["history"].append(row)
                logged = row
                bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}")
                if not s.progress:
                    _log(world, json.dumps(row))
                log_sums.zero_()
                steps_since, tokens_since, tic = 0, 0.0, time.perf_counter()
            if s.eval_every and state["step"] % s.eval_every == 0 and state["step"] < r.steps:
                if world.is_main:
                    state["eval"].append({"step": state["step"], **_evaluate(r, model, corpus, world.device)})
                    _log(world, f"step {state['step']}: {state['eval'][-1]}")
                world.barrier()
            if s.checkpoint_every and state["step"] % s.checkpoint_every == 0 and state["step"] < r.steps:
                save_checkpoint()
        bar.close()
        if world.is_main:
            state["eval"].append({"step": state["step"], **_evaluate(r, model, corpus, world.device)})
            _log(world, f"step {state['step']}: {state['eval'][-1]}")
        save_checkpoint()
        if world.is_main:
            from .io import atomic_write_json, atomic_write_text

            card = {"model": r.model, "config": model_cfg, "recipe": r.to_dict(), "steps": state["step"],
                    "world_size": world.size, "micro_batch": s.micro_batch, "seed": s.seed,
                    "dropout_override": s.dropout, "limit": s.limit}
            final = save_model_weights(model, s.out / "final", config=card)
            atomic_write_text(final / "tokenizer.json", corpus.tokenizer.to_str())
            atomic_write_json(s.out / "history.json", {"train": state["history"], "eval": state["eval"], **card})
            _log(world, f"final weights in {final}; log in {s.out / 'history.json'}")
        world.barrier()
        return {**(logged or {}), **(state["eval"][-1] if state["eval"] else {})}
    finally:
        _stop(world)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's arguments (shared by ``python -m ptm_course.pretrain`` and ``ptm-course pretrain``)."""
    p.add_argument("model", choices=sorted({m for m, _ in RECIPES}),
                   help="bert (chapter 07), ernie (09), gpt (10) or xlnet (11)")
    p.add_argument("--preset", default=None, help="smoke, cpu or gpu (default: PTM_PRESET, else gpu with CUDA, cpu without)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/pretrain-MODEL-PRESET)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the recipe's)")
    p.add_argument("--global-batch", type=int, default=None, help="examples per optimizer step over all processes")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="examples per forward/backward in each process (default: global batch / processes)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--dropout", type=float, default=None, help="override the model's dropout (0 for exact equivalence checks)")
    p.add_argument("--limit", type=int, default=None, help="keep only the first N training examples (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK if there are GPUs), cpu or cuda")
    p.add_argument("--amp", default="auto", help="autocast: auto (bf16/fp16 on GPU, off on CPU), on or off")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPU; slow to start on CPU)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-every", type=int, default=None, help="validate every N steps (always at the end)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="write a checkpoint every N steps (always at the end)")
    p.add_argument("--keep-checkpoints", type=int, default=2)
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from OUT/checkpoints/latest, or from the checkpoint folder given")
    p.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a process waits for the others before failing")


def settings_from_args(args: argparse.Namespace) -> Settings:
    from .utils import get_preset

    try:
        preset = get_preset(args.preset, "cpu" if args.device == "cpu" else "auto").name
    except (ValueError, RuntimeError) as e:
        raise PretrainError(str(e)) from None
    r = recipe(args.model, preset)
    overrides = {k: v for k, v in {"steps": args.steps, "global_batch": args.global_batch, "lr": args.lr,
                                   "warmup_steps": args.warmup_steps}.items() if v is not None}
    if "steps" in overrides and args.warmup_steps is None:
        overrides["warmup_steps"] = min(r.warmup_steps, max(0, overrides["steps"] // 10))
    r = replace(r, **overrides)
    world_size = _env_int("WORLD_SIZE", 1)
    micro = args.micro_batch if args.micro_batch is not None else max(1, r.global_batch // world_size)
    return Settings(recipe=r, out=args.out or Path("runs") / f"pretrain-{r.model}-{r.preset}", micro_batch=micro,
                    seed=args.seed, device=args.device, amp=args.amp, compile=args.compile, dropout=args.dropout,
                    limit=args.limit, log_every=max(1, args.log_every), eval_every=args.eval_every,
                    checkpoint_every=args.checkpoint_every, keep_checkpoints=max(1, args.keep_checkpoints),
                    resume=args.resume, progress=not args.no_progress, timeout_s=args.timeout)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the parsed command; a bad launch or missing data prints one clear line per process and returns 2."""
    from .data import DataNotAvailableError

    rank, size = os.environ.get("RANK", "0"), os.environ.get("WORLD_SIZE", "1")
    try:
        run(settings_from_args(args))
    except (PretrainError, DataNotAvailableError) as e:
        print(f"pretrain (process {rank} of {size}): error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ptm_course.pretrain", description=__doc__.split("\n")[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
