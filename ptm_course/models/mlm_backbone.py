"""An offline pre-trained encoder *with* a masked-LM head: MiniLM + an MLM head trained onto it.

all-MiniLM-L6-v2 (the course's offline pre-trained BERT, chapter 08) was distilled and then trained
as a sentence embedder: it ships its encoder only. Continued pre-training, the auxiliary MLM loss
(chapter 12) and cloze prompts (chapter 15) all need ``P(word | context)`` at a [MASK], so the
course trains the missing head — a fresh :class:`~ptm_course.models.bert.BertMLMHead`, its decoder
tied to MiniLM's word embeddings — with the **encoder unfrozen**, on WikiText-2's train split, and
measures it on WikiText-2's validation split.

    ptm-course backbone build                      # once: writes the checkpoint and its model card
    model, tok, card = load_minilm_mlm()           # BertForMaskedLM, offline
    model, tok, card = load_minilm_mlm(BertMeanPoolClassifierWithMLM, n_classes=2)
    card["metrics"]["valid"]["accuracy"]           # MLM accuracy on WikiText-2 valid

The pieces any MLM lesson reuses live here too: :func:`wikitext_chunks` (contiguous WordPiece
blocks), :class:`Masker` (BERT's 15 % / 80-10-10 corruption for one tokenizer),
:func:`masked_lm_objective` (a ``fit`` loss that masks each batch afresh, RoBERTa's dynamic
masking) and :func:`mlm_score` (loss and accuracy on a fixed, seeded masking, so that two models
are scored on the same blanks).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..data.masking import IGNORE_INDEX, SpecialTokens, mask_tokens, masked_positions
from .bert import BertForMaskedLM, mlm_loss
from .hf_loading import PretrainedNotAvailableError, load_bert_checkpoint, load_pretrained_bert, save_bert_checkpoint

__all__ = [
    "BUILD_COMMAND",
    "Masker",
    "MLMScore",
    "build_minilm_mlm",
    "fill_mask",
    "load_minilm_mlm",
    "masked_lm_objective",
    "minilm_mlm_path",
    "mlm_score",
    "wikitext_chunks",
]

BUILD_COMMAND = "ptm-course backbone build"


def minilm_mlm_path() -> Path:
    """Where :func:`build_minilm_mlm` writes and :func:`load_minilm_mlm` reads by default:
    ``$PTM_DATA_DIR/checkpoints/minilm-l6-mlm`` (``PTM_MLM_BACKBONE`` overrides it)."""
    from ..data.registry import data_dir

    override = os.environ.get("PTM_MLM_BACKBONE")
    return Path(override) if override else data_dir() / "checkpoints" / "minilm-l6-mlm"


# --------------------------------------------------------------------------------------------
# Data and masking
# --------------------------------------------------------------------------------------------


def wikitext_chunks(tok, split: str = "train", seq_len: int = 128, n: int | None = None) -> dict[str, torch.Tensor]:
    """WikiText-2 ``split`` as contiguous blocks ``[CLS] w_1 … w_{seq_len-2} [SEP]`` (BERT inputs).

    Headings are dropped; the text runs on across lines and articles (RoBERTa's FULL-SENTENCES
    packing). ``n`` keeps the first ``n`` blocks (a fixed evaluation set).
    """
    from ..data.registry import load
    from ..data.wordpiece import special_tokens

    if seq_len < 8:
        raise ValueError(f"seq_len must be at least 8, got {seq_len}")
    sp = special_tokens(tok)
    lines = [t for t in load("wikitext-2", split=split)["text"] if t.strip() and not t.strip().startswith("=")]
    L = seq_len - 2
    flat: list[int] = []
    for i in range(0, len(lines), 2000):  # encode only as much as ``n`` blocks need
        flat += [t for e in tok.encode_batch(lines[i:i + 2000], add_special_tokens=False) for t in e.ids]
        if n is not None and len(flat) >= n * L:
            break
    ids = torch.tensor(flat)
    body = ids[: len(ids) // L * L].view(-1, L)
    if n is not None:
        body = body[:n]
    B = len(body)
    input_ids = torch.cat([torch.full((B, 1), sp.cls), body, torch.full((B, 1), sp.sep)], 1)
    return {"input_ids": input_ids, "token_type_ids": torch.zeros_like(input_ids),
            "attention_mask": torch.ones_like(input_ids)}


@dataclass(frozen=True)
class Masker:
    """BERT's corruption for one vocabulary: ``masker(input_ids) -> (corrupted ids, labels)``.

    15 % of the non-special tokens of each row (padding is special, so never picked), then
    80 % [MASK] / 10 % random / 10 % kept (:func:`ptm_course.data.masking.mask_tokens`).
    """

    special: SpecialTokens
    vocab_size: int
    mlm_prob: float = 0.15

    @classmethod
    def for_tokenizer(cls, tok, mlm_prob: float = 0.15) -> "Masker":
        from ..data.wordpiece import special_tokens

        return cls(special_tokens(tok), tok.get_vocab_size(), mlm_prob)

    def __call__(self, input_ids: torch.Tensor, generator: torch.Generator | None = None):
        return mask_tokens(input_ids, self.special, self.vocab_size, self.mlm_prob, generator=generator)


def _mlm_batch(masker: Masker, batch: Mapping[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
    ids, labels = masker(batch["input_ids"], generator)
    out = {"input_ids": ids, "mlm_labels": labels}
    for k in ("token_type_ids", "attention_mask"):
        if k in batch:
            out[k] = batch[k]
    return out


def masked_lm_objective(masker: Masker) -> Callable:
    """A ``fit`` loss: mask ``batch["input_ids"]`` afresh (dynamic masking), then the MLM loss.

    Works on any model with ``.bert`` and ``.mlm`` (:class:`BertForMaskedLM`,
    :class:`~ptm_course.models.bert.BertMeanPoolClassifierWithMLM`); any ``labels`` in the batch
    are ignored, which is what continued pre-training on a task's unlabeled text needs.
    """

    def loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]):
        mb = _mlm_batch(masker, batch)
        labels = mb["mlm_labels"]
        # the last layer only at the masked positions (fixed width: the most any row has)
        width = int((labels != IGNORE_INDEX).sum(1).max().clamp(min=1))
        mb["mlm_positions"] = masked_positions(labels, width)
        loss, metrics = mlm_loss(model, mb)
        return loss, {"mlm_loss": loss.detach(), **metrics}

    return loss_fn


@dataclass(frozen=True)
class MLMScore:
    """Masked-LM cross-entropy (nats per masked token) and top-1 accuracy on one fixed masking."""

    loss: float
    accuracy: float
    n_predicted: int


@torch.no_grad()
def mlm_score(model: nn.Module, tensors: Mapping[str, torch.Tensor], masker: Masker, seed: int = 0,
              batch_size: int = 64, device: str | torch.device | None = None) -> MLMScore:
    """Score ``model``'s MLM head on ``tensors`` masked once with ``seed``: every model scored with
    the same ``seed`` fills the same blanks (before vs after fine-tuning, one arm vs another)."""
    if not hasattr(model, "mlm") or not hasattr(model, "bert"):
        raise ValueError(f"{type(model).__name__} has no MLM head (.mlm); load it with load_minilm_mlm(...) "
                         "or use BertForMaskedLM / BertMeanPoolClassifierWithMLM")
    device = device or next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    try:
        for i in range(0, len(tensors["input_ids"]), batch_size):
            batch = _mlm_batch(masker, {k: v[i:i + batch_size] for k, v in tensors.items()}, g)
            batch = {k: v.to(device) for k, v in batch.items()}
            h, _ = model.bert(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))
            sel = batch["mlm_labels"] != IGNORE_INDEX
            logits = model.mlm(h[sel]).float()  # only the masked positions meet the vocabulary
            target = batch["mlm_labels"][sel]
            total += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(-1) == target).sum())
            n += int(target.numel())
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("no token was masked: the tensors hold only special tokens")
    return MLMScore(total / n, correct / n, n)


@torch.no_grad()
def fill_mask(model: nn.Module, tok, text: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most probable words at the one ``[MASK]`` of ``text``, with their probabilities."""
    from ..data.wordpiece import special_tokens

    mask_id = special_tokens(tok).mask
    ids = torch.tensor([tok.encode(text).ids])
    where = (ids[0] == mask_id).nonzero().flatten()
    if len(where) != 1:
        raise ValueError(f"fill_mask needs exactly one [MASK] in the text, found {len(where)}: {text!r}")
    model.eval()
    dev = next(model.parameters()).device
    h, _ = model.bert(ids.to(dev))
    probs = model.mlm(h[0, where]).float().softmax(-1)[0]
    top = probs.topk(k)
    return [(tok.id_to_token(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


def _unigram_baseline(train_ids: torch.Tensor, tensors: Mapping[str, torch.Tensor], masker: Masker,
                      seed: int = 0) -> MLMScore:
    """The context-free reference: predict every blank from the training unigram distribution."""
    counts = torch.bincount(train_ids.flatten(), minlength=masker.vocab_size).double() + 1.0
    for s in masker.special.ids:
        counts[s] = 0.0
    logp = (counts / counts.sum()).log()
    g = torch.Generator().manual_seed(seed)
    _, labels = masker(tensors["input_ids"], g)
    target = labels[labels != IGNORE_INDEX]
    return MLMScore(float(-logp[target].mean()), float((target == int(logp.argmax())).double().mean()),
                    int(target.numel()))


# --------------------------------------------------------------------------------------------
# Build and load
# --------------------------------------------------------------------------------------------


def build_minilm_mlm(out: str | os.PathLike | None = None, steps: int = 400, batch_size: int = 32, seq_len: int = 128,
                     lr: float = 2e-4, seed: int = 0, n_valid: int = 256, n_train: int | None = None, device: str = "auto",
                     progress: bool = True, command: str | None = None) -> Path:
    """Train an MLM head onto all-MiniLM-L6-v2 (encoder unfrozen) on WikiText-2 train; score it on
    WikiText-2 valid; save safetensors + config + tokenizer + model card (``README.md``) to ``out``.
    ``n_train`` keeps the first blocks of the training split only (a quick stand-in for tests).

    Defaults: 400 steps of 32 × 128 tokens (1.6 M tokens, 15 % of them predicted), AdamW at 2e-4
    with 10 % warm-up and linear decay. Returns the folder.
    """
    from ..data.bert_inputs import tensor_loader
    from ..train import fit
    from ..utils import set_seed

    out = Path(out) if out is not None else minilm_mlm_path()
    set_seed(seed)
    model, tok = load_pretrained_bert("all-MiniLM-L6-v2", model_cls=BertForMaskedLM, verbose=False)
    masker = Masker.for_tokenizer(tok)
    train = wikitext_chunks(tok, "train", seq_len, n=n_train)
    valid = wikitext_chunks(tok, "validation", seq_len, n=n_valid)
    before = mlm_score(model, valid, masker)
    unigram = _unigram_baseline(train["input_ids"], valid, masker)
    t0 = time.perf_counter()
    history = fit(model, tensor_loader(train, batch_size, shuffle=True), masked_lm_objective(masker),
                  max_steps=steps, lr=lr, weight_decay=0.01, warmup_steps=max(1, steps // 10),
                  log_every=max(1, steps // 20), device=device, seed=seed, progress=progress, desc="MLM head")
    seconds = time.perf_counter() - t0
    model = model.cpu()
    after = mlm_score(model, valid, masker)
    card = {
        "name": "minilm-l6-mlm",
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), encoder weights",
        "head": "BertMLMHead (dense 384->384, GELU, LayerNorm, decoder tied to the word embeddings), fresh",
        "trained": "encoder and head together (nothing frozen), masked-LM loss only",
        "data": f"WikiText-2 train (CC BY-SA 3.0), {len(train['input_ids']):,} contiguous blocks of {seq_len} "
                "WordPiece tokens",
        "masking": "15 % of tokens per block; 80 % [MASK], 10 % random, 10 % kept; re-drawn every batch",
        "command": command or f"{BUILD_COMMAND} --steps {steps} --batch-size {batch_size} --lr {lr:g} --seed {seed}",
        "steps": steps, "batch_size": batch_size, "seq_len": seq_len, "lr": lr, "seed": seed,
        "tokens_seen": steps * batch_size * seq_len,
        "train_seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                   f"device {_device_name(device)}",
        "torch": torch.__version__,
        "metrics": {
            "eval_set": f"WikiText-2 validation, first {n_valid} blocks of {seq_len}, masked once with seed 0",
            "valid": asdict(after),
            "valid_fresh_head": asdict(before),
            "valid_unigram": asdict(unigram),
            "train_final": {k: history.last(k) for k in ("mlm_loss", "mlm_acc") if k in history.keys()},
            "train_curve": {k: history.series(k)[1] for k in ("mlm_loss", "mlm_acc") if k in history.keys()},
        },
    }
    save_bert_checkpoint(model, out, tokenizer=tok, card=card)
    _write_text(out / "README.md", model_card_text(card))
    return out


def _device_name(device: str) -> str:
    from ..utils import get_device

    dev = get_device(device)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev)


def model_card_text(card: Mapping) -> str:
    """The model card (``README.md``) for a :func:`build_minilm_mlm` checkpoint."""
    m = card["metrics"]
    rows = [("this checkpoint", m["valid"]), ("MiniLM + fresh head (before)", m["valid_fresh_head"]),
            ("unigram frequencies (no context)", m["valid_unigram"])]
    table = "\n".join(f"| {name} | {r['accuracy']:.1%} | {r['loss']:.3f} |" for name, r in rows)
    return f"""# {card['name']}: MiniLM with a masked-LM head

- **Base:** {card['base']}
- **Head:** {card['head']}
- **Training:** {card['trained']}; {card['steps']} steps × {card['batch_size']} blocks
  ({card['tokens_seen']:,} tokens), AdamW lr {card['lr']:g}, seed {card['seed']}, {card['train_seconds']:.0f} s
  on {card['machine']} (torch {card['torch']})
- **Data:** {card['data']}
- **Masking:** {card['masking']}
- **Rebuild:** `{card['command']}`

## Masked-LM on {m['eval_set']} ({m['valid']['n_predicted']:,} blanks)

| model | top-1 accuracy | loss (nats) |
|---|---|---|
{table}

{_verdict(m)}
"""


def _verdict(m: Mapping) -> str:
    ours, uni = m["valid"], m["valid_unigram"]
    if ours["loss"] < uni["loss"] and ours["accuracy"] > uni["accuracy"]:
        return (f"It uses the context: {ours['loss']:.2f} nats per blank against {uni['loss']:.2f} for word "
                f"frequencies alone, {ours['accuracy']:.1%} of blanks right against {uni['accuracy']:.1%}. "
                "A small encoder trained briefly: good for lessons about the MLM objective, weak as a language model.")
    return ("It does not yet beat word frequencies on these blanks: train it longer (--steps) before using it "
            "in a lesson.")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_minilm_mlm(model_cls: type[nn.Module] = BertForMaskedLM, path: str | os.PathLike | None = None,
                    verbose: bool = False, **head_kwargs):
    """(model, tokenizer, card): the :func:`build_minilm_mlm` checkpoint in ``model_cls`` (eval mode).

    Offline only. Raises :class:`PretrainedNotAvailableError` with the command that builds it when
    the folder is missing.
    """
    folder = Path(path) if path is not None else minilm_mlm_path()
    if not (folder / "model.safetensors").exists() or not (folder / "config.json").exists():
        raise PretrainedNotAvailableError(
            f"no MiniLM-with-MLM-head checkpoint in {folder}. Build it once with `{BUILD_COMMAND}` "
            "(about 20 minutes on 2 CPU cores, a minute on a GPU; it needs the offline data of "
            "`ptm-course data prepare all-minilm-l6-v2 wikitext-2`), or pass path= to a folder that "
            "build_minilm_mlm(...) wrote"
        )
    card = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("card", {})
    if not any(k.startswith("mlm.") for k in _saved_keys(folder)):
        raise ValueError(f"{folder} holds no MLM head: it is not a build_minilm_mlm checkpoint")
    model, tok = load_bert_checkpoint(folder, model_cls, verbose=verbose, **head_kwargs)
    return model, tok, card


def _saved_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        return list(f.keys())
