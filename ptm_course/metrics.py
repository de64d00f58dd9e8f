"""Metrics shared by the chapters: perplexity and bits per character, entity F1, SQuAD exact match and F1,
and ``predict``, the model outputs over a dict of encoded examples that the scores are computed from.

    >>> import math
    >>> round(perplexity(math.log(50.0)), 6)
    50.0
"""

from __future__ import annotations

import collections
import math
import re
import string

import torch
from torch.nn import functional as F

__all__ = ["bio_spans", "bits_per_character", "causal_lm_nll", "entity_f1", "lm_mean_nll", "perplexity", "predict",
           "squad_em_f1"]


def perplexity(mean_nll: float | torch.Tensor) -> float:
    """exp of the mean negative log-likelihood (in nats): ppl = exp(-1/N · Σ log P(w_t | context))."""
    return float(math.exp(float(mean_nll)))


@torch.no_grad()
def lm_mean_nll(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Mean cross-entropy of ``model(x[i]) -> logits`` against next tokens ``y``, in batches.

    ``x``: (N, ...) model inputs, ``y``: (N,) targets. Runs on the model's device; returns a float.
    """
    if x.size(0) != y.size(0):
        raise ValueError(f"x has {x.size(0)} examples but y has {y.size(0)}")
    if y.numel() == 0:
        raise ValueError("no examples to evaluate")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, y.size(0), batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = y[start : start + batch_size].to(device)
        logits = model(xb)
        total += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
    model.train(was_training)
    return total / y.size(0)


def bits_per_character(total_nll: float, n_chars: int) -> float:
    """Bits per character: the total negative log-likelihood of a text (in nats) / ln 2 / its characters.

    Perplexities of models with different tokenisers are not comparable (a token of one is not a
    token of the other); the cost of the same text in bits per character is.

    >>> round(bits_per_character(math.log(2) * 300, 100), 6)   # 300 bits for 100 characters
    3.0
    """
    if n_chars <= 0:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    return float(total_nll) / math.log(2) / n_chars


@torch.no_grad()
def causal_lm_nll(model: torch.nn.Module, ids: torch.Tensor, block_size: int, batch_size: int = 16) -> tuple[float, int]:
    """(total NLL in nats, tokens predicted) of a causal LM ``model(input_ids) -> logits (B, T, V)`` on a stream.

    The stream is cut into windows of ``block_size`` that overlap by one token, so every token
    after the first is predicted exactly once, from the tokens before it in its window.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if ids.numel() < 2 or block_size < 2:
        raise ValueError(f"need at least 2 tokens and block_size ≥ 2, got {ids.numel()} tokens, block_size {block_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    windows = [ids[s : s + block_size] for s in range(0, ids.numel() - 1, block_size - 1)]
    full = [w for w in windows if w.numel() == block_size]
    batches = [torch.stack(full[b : b + batch_size]) for b in range(0, len(full), batch_size)]
    batches += [w[None] for w in windows if w.numel() < block_size]  # the last, shorter window
    total, count = 0.0, 0
    for x in batches:
        x = x.to(device)  # (B, T)
        logits = model(x)  # (B, T, V): position t predicts token t + 1
        total += float(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), x[:, 1:].flatten(), reduction="sum"))
        count += x[:, 1:].numel()
    model.train(was_training)
    return total, count


def bio_spans(labels: list[str]) -> set[tuple[int, int, str]]:
    """The entities of one BIO-labelled sequence as (start, end, type), end exclusive.

    An entity starts at ``B-T`` and runs over the following ``I-T``; an ``I-T`` that does not
    continue an entity of type T starts one (CoNLL's lenient reading).

    >>> sorted(bio_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"]))
    [(0, 2, 'PER'), (3, 4, 'LOC'), (4, 5, 'ORG')]
    """
    spans, start, kind = set(), None, None
    for i, lab in enumerate([*labels, "O"]):
        tag, _, t = lab.partition("-")
        if tag not in ("B", "I", "O"):
            raise ValueError(f"label {lab!r} at {i} is not B-TYPE, I-TYPE or O")
        continues = tag == "I" and kind == t
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if tag == "B" or (tag == "I" and not continues):
            start, kind = i, t
    return spans


def entity_f1(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 over sentences of BIO labels (micro-averaged).

    An entity counts as found only if its span and its type are both exact, as in CoNLL's
    ``conlleval`` and ``seqeval``.

    >>> entity_f1([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])["f1"]
    0.5
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    tp = n_gold = n_pred = 0
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold labels but {len(p)} predicted")
        gs, ps = bio_spans(g), bio_spans(p)
        tp, n_gold, n_pred = tp + len(gs & ps), n_gold + len(gs), n_pred + len(ps)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# SQuAD: exact match and token F1 (chapter 08, case 4)


def _normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, squeeze white space."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_em_f1(prediction: str, gold_answers: list[str] | str) -> tuple[float, float]:
    """Exact match and token F1 of one prediction against its gold answers (max over answers).

    >>> squad_em_f1("the Eiffel Tower", ["Eiffel Tower"])
    (1.0, 1.0)
    >>> squad_em_f1("Eiffel", ["Eiffel Tower"])
    (0.0, 0.6666666666666666)
    """
    if isinstance(gold_answers, str):
        gold_answers = [gold_answers]
    if not gold_answers:
        raise ValueError("no gold answers given")
    pred = _normalize_answer(prediction)
    em = max(float(pred == _normalize_answer(g)) for g in gold_answers)

    def f1(g: str) -> float:
        p_tok, g_tok = pred.split(), _normalize_answer(g).split()
        common = collections.Counter(p_tok) & collections.Counter(g_tok)
        same = sum(common.values())
        if not p_tok or not g_tok:
            return float(p_tok == g_tok)
        if same == 0:
            return 0.0
        precision, recall = same / len(p_tok), same / len(g_tok)
        return 2 * precision * recall / (precision + recall)

    return em, max(f1(g) for g in gold_answers)


@torch.no_grad()
def predict(model: torch.nn.Module, tensors: dict, batch_size: int = 64,
            device: torch.device | str = "cpu") -> list[torch.Tensor] | torch.Tensor:
    """Run ``model(input_ids, token_type_ids, attention_mask)`` over all rows of ``tensors`` (the
    dict that :mod:`ptm_course.data.bert_inputs` encodes) in eval mode, batch by batch.

    Returns the concatenated output (a tensor, or a list of tensors for models that return a
    tuple, e.g. QA start/end logits), padded back to the full sequence length where it has one.
    The model's train/eval mode is restored afterwards.
    """
    from .data.bert_inputs import tensor_loader

    was_training = model.training
    model.eval()
    outs: list = []
    T_full = tensors["input_ids"].shape[1]
    for batch in tensor_loader(tensors, batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        y = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        ys = list(y) if isinstance(y, tuple) else [y]
        T = batch["input_ids"].shape[1]
        fixed = []
        for t in ys:
            t = t.float().cpu()
            if t.dim() >= 2 and t.shape[1] == T and T < T_full:  # per-token output: pad back
                pad = torch.full((t.shape[0], T_full - T, *t.shape[2:]), -1e4)
                t = torch.cat([t, pad], 1)
            fixed.append(t)
        outs.append(fixed)
    model.train(was_training)
    cat = [torch.cat([o[i] for o in outs]) for i in range(len(outs[0]))]
    return cat if len(cat) > 1 else cat[0]
