"""Turning text into BERT inputs for the four fine-tuning cases, and answers back into text.

    enc = encode_texts(tok, reviews, max_len=64)                   # case 1: one sentence
    enc = encode_texts(tok, claims, evidence, max_len=128)         # case 3: a pair, segments 0 / 1
    enc = encode_tagged(tok, words, tags, tag_ids, max_len=64)     # case 2: a label per word
    enc = encode_squad(tok, questions, contexts, answers, 192)     # case 4: answer start/end tokens
    loader = tensor_loader(enc, batch_size=32, shuffle=True)       # for ptm_course.train.fit

Every function returns a dict of equally long tensors (``input_ids``, ``token_type_ids``,
``attention_mask`` and the labels of the task), padded to the longest example (at most max_len).

Words and sub-words: a word split into several WordPiece pieces gets its label on the FIRST
piece only; the other pieces get −100 and are ignored by the loss (BERT paper, §5.3).
Answers: character offsets of the answer are mapped to the first and last token that cover
them; an answer cut off by truncation has no valid span and the example is dropped for training.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "TensorDictDataset",
    "encode_squad",
    "encode_tagged",
    "encode_texts",
    "squad_answers",
    "tensor_loader",
]

IGNORE_INDEX = -100


def _pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    T = max(len(r) for r in rows)
    out = torch.full((len(rows), T), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
    return out


def _pad_id(tok) -> int:
    pid = tok.token_to_id("[PAD]")
    if pid is None:
        raise ValueError("the tokenizer has no [PAD] token")
    return pid


def _encode(tok, first, second=None, max_len: int = 128, strategy: str = "longest_first", **kw):
    tok.enable_truncation(max_length=max_len, strategy=strategy)
    try:
        if second is None:
            return tok.encode_batch(list(first), **kw)
        return tok.encode_batch(list(zip(first, second)), **kw)
    finally:
        tok.no_truncation()


def _tensors(encodings, pad_id: int) -> dict[str, torch.Tensor]:
    return {
        "input_ids": _pad([e.ids for e in encodings], pad_id),
        "token_type_ids": _pad([e.type_ids for e in encodings], 0),
        "attention_mask": _pad([e.attention_mask for e in encodings], 0),
    }


def encode_texts(tok, texts: Sequence[str], texts_b: Sequence[str] | None = None, labels: Sequence[int] | None = None,
                 max_len: int = 128) -> dict[str, torch.Tensor]:
    """[CLS] text [SEP] (text_b [SEP]) for each example; ``labels`` become a ``labels`` tensor."""
    if texts_b is not None and len(texts_b) != len(texts):
        raise ValueError(f"{len(texts)} first sentences but {len(texts_b)} second ones")
    out = _tensors(_encode(tok, texts, texts_b, max_len), _pad_id(tok))
    if labels is not None:
        out["labels"] = torch.tensor(list(labels), dtype=torch.long)
    return out


def encode_tagged(tok, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], tag_ids: dict[str, int],
                  max_len: int = 128) -> dict[str, torch.Tensor]:
    """Pre-split words with one tag each -> token inputs with labels on each word's first piece."""
    encs = _encode(tok, [list(w) for w in words], max_len=max_len, is_pretokenized=True)
    labels = []
    for enc, row in zip(encs, tags):
        lab, prev = [], None
        for w in enc.word_ids:
            lab.append(IGNORE_INDEX if w is None or w == prev else tag_ids.get(row[w], IGNORE_INDEX))
            prev = w
        labels.append(lab)
    out = _tensors(encs, _pad_id(tok))
    out["labels"] = _pad(labels, IGNORE_INDEX)
    return out


def encode_squad(tok, questions: Sequence[str], contexts: Sequence[str], answers: Sequence[dict] | None = None,
                 max_len: int = 192, drop_unanswerable: bool = True) -> dict:
    """[CLS] question [SEP] context [SEP] (the context truncated), with answer token positions.

    Returns the tensors plus ``context_mask`` (bool, True on context tokens: where an answer may
    lie), and the python lists ``offsets`` (character span of every token) and ``example``
    (index of the source example), which :func:`squad_answers` needs to turn spans into text.
    ``answers``: SQuAD dicts ``{"text": [...], "answer_start": [...]}`` (the first one is trained on).
    """
    encs = _encode(tok, questions, contexts, max_len, strategy="only_second")
    keep, starts, ends = [], [], []
    for i, enc in enumerate(encs):
        if answers is None:
            keep.append(i)
            continue
        text, char_start = answers[i]["text"][0], answers[i]["answer_start"][0]
        char_end = char_start + len(text)  # exclusive
        s = e = None
        for t, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets)):
            if seq != 1:
                continue
            if s is None and a <= char_start < b:
                s = t
            if a < char_end <= b:
                e = t
        if s is None or e is None or e < s:
            if drop_unanswerable:
                continue
            s = e = 0  # points at [CLS]: "no answer in this window"
        keep.append(i)
        starts.append(s)
        ends.append(e)
    kept = [encs[i] for i in keep]
    if not kept:
        raise ValueError("no example kept: every answer was truncated away; raise max_len")
    out: dict = _tensors(kept, _pad_id(tok))
    out["context_mask"] = _pad([[int(s == 1) for s in e.sequence_ids] for e in kept], 0).bool()
    if answers is not None:
        out["start_positions"] = torch.tensor(starts)
        out["end_positions"] = torch.tensor(ends)
    out["offsets"] = [e.offsets for e in kept]
    out["example"] = keep
    return out


class TensorDictDataset(Dataset):
    """Rows of a dict of equally long tensors (non-tensor entries are left out)."""

    def __init__(self, tensors: dict):
        self.tensors = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
        lengths = {len(v) for v in self.tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors of different lengths: { {k: len(v) for k, v in self.tensors.items()} }")
        self.n = lengths.pop()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def _trim(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    # stack, then cut the columns that are padding in every row of this batch (shorter = faster)
    out = {k: torch.stack([b[k] for b in batch]) for k in batch[0]}
    T = int(out["attention_mask"].sum(1).max())
    return {k: (v[:, :T] if v.dim() == 2 else v) for k, v in out.items()}


def tensor_loader(tensors: dict, batch_size: int, shuffle: bool = False) -> DataLoader:
    """A DataLoader over :class:`TensorDictDataset` that trims each batch to its longest row."""
    return DataLoader(TensorDictDataset(tensors), batch_size=batch_size, shuffle=shuffle, collate_fn=_trim)


def squad_answers(start_logits: torch.Tensor, end_logits: torch.Tensor, enc: dict, contexts: Sequence[str],
                  max_answer_len: int = 30) -> list[str]:
    """The answer text of each feature: the best valid span inside the context, cut from the context."""
    from ..models.bert import best_span

    s, e, _ = best_span(start_logits, end_logits, enc["context_mask"], max_answer_len=max_answer_len)
    texts = []
    for k, (i, j) in enumerate(zip(s.tolist(), e.tolist())):
        offsets = enc["offsets"][k]
        texts.append(contexts[enc["example"][k]][offsets[i][0]: offsets[j][1]])
    return texts
