"""ERNIE's inputs: Chinese text as one token per character, with the unit each token belongs to.

    tok = train_chinese_wordpiece(texts, vocab_size=8000)      # HF `tokenizers`
    ex = encode_units(tok, ["迈向", "充满", "希望", "的", "新", "世纪"], [0, 0, 1, 1, 2, 2, 3, 4, 5, 5])
    ex.tokens      # ['[CLS]', '迈', '向', '充', '满', '希', '望', '的', '新', '世', '纪', '[SEP]']
    ex.unit_ids    # [-1, 0, 0, 1, 1, 2, 2, 3, 4, 5, 5, -1]
    batch = collate_units([ex, ...], special, vocab_size, mlm_prob=0.15)   # masked by whole units

The tokenizer is BERT's WordPiece with ``handle_chinese_chars``: every CJK character is a word
of its own (as in ``bert-base-chinese`` and ERNIE 1.0), so Chinese is one token per character,
while Latin letters and digits are cut into WordPiece pieces (``1998`` → ``199 ##8``).

A *unit* is what ERNIE masks whole: a character (BERT's basic masking), a word of a segmentation,
a phrase, an entity. Units are given per character of the text; each token takes the unit of its
first character (a WordPiece token never spans two CJK characters, and a Latin or digit token
spanning two units is rare: it takes the first).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from .masking import SpecialTokens, mask_units, masked_positions, pad_batch
from .wordpiece import train_wordpiece

__all__ = ["UnitExample", "collate_units", "encode_units", "train_chinese_wordpiece"]


def train_chinese_wordpiece(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 1):
    """A WordPiece tokenizer for Chinese text: one token per CJK character, pieces for the rest.

    Text is NFKC-normalised first (People's Daily writes digits and Latin letters full-width:
    ``１９９８`` is ``1998``), at training and at encoding; offsets still point into the original
    text. ``min_frequency=1`` keeps every character seen in ``texts`` (rare characters are most of
    a Chinese vocabulary); specials get ids 0..4 as in :func:`ptm_course.data.wordpiece.train_wordpiece`.
    """
    from tokenizers import normalizers

    tok = train_wordpiece((unicodedata.normalize("NFKC", t) for t in texts), vocab_size=vocab_size,
                          lowercase=True, min_frequency=min_frequency)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), tok.normalizer])
    return tok


@dataclass(frozen=True)
class UnitExample:
    """One encoded sequence: token ids, their strings, and each token's unit (−1: [CLS]/[SEP])."""

    input_ids: list[int]
    tokens: list[str]
    unit_ids: list[int]


def encode_units(tok, words: Sequence[str], char_units: Sequence[int], max_len: int | None = None) -> UnitExample:
    """Encode the text ``"".join(words)`` as [CLS] tokens [SEP] with one unit id per token.

    ``char_units[i]`` is the unit of character i of the joined text (e.g. from
    :func:`ptm_course.data.chinese.char_units`); ``max_len`` truncates to that many tokens,
    [CLS] and [SEP] included.
    """
    text = "".join(words)
    if len(char_units) != len(text):
        raise ValueError(f"char_units has {len(char_units)} entries but the text has {len(text)} characters: "
                         "give one unit id per character of ''.join(words)")
    if max_len is not None and max_len < 3:
        raise ValueError(f"max_len must leave room for [CLS], a token and [SEP], got {max_len}")
    enc = tok.encode(text, add_special_tokens=False)
    ids, toks, units = list(enc.ids), list(enc.tokens), []
    for start, end in enc.offsets:
        if end <= start:
            raise ValueError(f"a token with an empty character span at {start}: cannot give it a unit")
        units.append(int(char_units[start]))
    if max_len is not None:
        ids, toks, units = ids[: max_len - 2], toks[: max_len - 2], units[: max_len - 2]
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    return UnitExample([cls, *ids, sep], ["[CLS]", *toks, "[SEP]"], [-1, *units, -1])


def collate_units(examples: Sequence[UnitExample], special: SpecialTokens, vocab_size: int, mlm_prob: float = 0.15,
                  generator: torch.Generator | None = None, max_len: int | None = None,
                  max_predictions: int | None = None) -> dict[str, torch.Tensor]:
    """Unit examples -> a padded batch masked by whole units (a fresh draw every call).

    Returns ``input_ids`` (corrupted), ``attention_mask``, ``token_type_ids`` (zeros),
    ``mlm_labels`` (−100 where nothing is predicted), the padded ``unit_ids`` (−1 on padding) and,
    with ``max_predictions``, ``mlm_positions`` — the keys of BERT's MLM batches, so ``fit`` and
    :func:`ptm_course.models.bert.mlm_loss` take them unchanged.
    """
    if not examples:
        raise ValueError("collate_units needs at least one example")
    ids, mask = pad_batch([e.input_ids for e in examples], special.pad, max_len)
    units, _ = pad_batch([e.unit_ids for e in examples], -1, max_len)
    masked, labels = mask_units(ids, units, special, vocab_size, mlm_prob, generator)  # [UNK] is never a target
    batch = {"input_ids": masked, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
             "mlm_labels": labels, "unit_ids": units}
    if max_predictions is not None:
        batch["mlm_positions"] = masked_positions(labels, max_predictions)
    return batch
