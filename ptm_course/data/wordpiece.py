"""WordPiece tokenisation (Wu et al. 2016; BERT): train a vocabulary, or load BERT's.

    tok = train_wordpiece(texts, vocab_size=8000)                 # HF `tokenizers`, in seconds
    tok.encode("the unaffable ones").tokens   # e.g. [CLS] the una ##ff ##able ones [SEP]
    tok = load_wordpiece("vocab.txt")                             # the uncased BERT / MiniLM vocabulary
    special_tokens(tok)                                           # SpecialTokens(pad=0, unk=100, cls=101, ...)

Both give a ``tokenizers.Tokenizer`` that lower-cases and strips accents (BERT's "uncased"),
splits on white space and punctuation, then cuts each word greedily into the longest pieces of
the vocabulary; a piece that continues a word carries the prefix ``##``. ``encode(a)`` gives
``[CLS] a [SEP]`` and ``encode(a, b)`` gives ``[CLS] a [SEP] b [SEP]`` with segment ids 0/1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .masking import SpecialTokens

__all__ = ["SPECIAL_TOKENS", "load_wordpiece", "special_tokens", "train_wordpiece", "wikitext_documents", "wikitext_wordpiece",
           "with_special_tokens"]

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4 in a trained vocabulary


def _finish(tok, lowercase: bool):
    from tokenizers import decoders, normalizers, pre_tokenizers, processors

    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase, clean_text=True,
                                                handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls is None or sep is None:
        raise ValueError("the vocabulary has no [CLS] or [SEP] token")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return with_special_tokens(tok)


def with_special_tokens(tok):
    """Register the vocabulary's [PAD] [UNK] [CLS] [SEP] [MASK] as special (added) tokens, so that
    "[MASK]" written in a text is the mask token, never "[", "mask", "]" (as HF BertTokenizer does)."""
    tok.add_special_tokens([t for t in SPECIAL_TOKENS if tok.token_to_id(t) is not None])
    return tok


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000, lowercase: bool = True, min_frequency: int = 2):
    """Train a WordPiece vocabulary on ``texts`` with HF ``tokenizers``; specials get ids 0..4."""
    from tokenizers import Tokenizer, models, trainers

    from tokenizers import normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##",
                                        show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return _finish(tok, lowercase)


def load_wordpiece(vocab_path: str | os.PathLike, lowercase: bool = True):
    """A tokenizer from a BERT ``vocab.txt`` (one piece per line, the line number is the id)."""
    from tokenizers import Tokenizer, models

    path = Path(vocab_path)
    if not path.exists():
        raise FileNotFoundError(f"no vocabulary file {path}")
    vocab = {line.rstrip("\n"): i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    return _finish(tok, lowercase)


def special_tokens(tok) -> SpecialTokens:
    """The ids of [PAD], [UNK], [CLS], [SEP], [MASK] in ``tok``'s vocabulary."""
    ids = {name: tok.token_to_id(name) for name in SPECIAL_TOKENS}
    missing = [n for n, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"the vocabulary lacks {missing}")
    return SpecialTokens(pad=ids["[PAD]"], unk=ids["[UNK]"], cls=ids["[CLS]"], sep=ids["[SEP]"], mask=ids["[MASK]"])


def wikitext_wordpiece(vocab_size: int = 8000, max_lines: int | None = None, cache: bool = True):
    """WordPiece trained on WikiText-2's train split (cached in the data folder, keyed by its size)."""
    from ..io import cached_tokenizer
    from .registry import data_dir, load

    def train():
        lines = [t for t in load("wikitext-2", split="train")["text"] if t.strip() and not t.strip().startswith("=")]
        return train_wordpiece(lines if max_lines is None else lines[:max_lines], vocab_size=vocab_size)

    return cached_tokenizer(data_dir() / "wordpiece" / f"wikitext2-{vocab_size}-{max_lines or 'all'}.json", train, cache)


def wikitext_documents(tok, split: str = "train", max_articles: int | None = None) -> list[list[list[int]]]:
    """WikiText-2 as documents (articles) of sentences of WordPiece ids, for NSP pairs.

    An article starts at a top-level heading line `` = Title = ``; sub-headings are dropped;
    paragraphs are cut into sentences at `` . `` (WikiText puts spaces around punctuation).
    """
    import re

    from .registry import load

    articles: list[list[str]] = []
    for line in load("wikitext-2", split=split)["text"]:
        s = line.strip()
        if not s:
            continue
        if re.fullmatch(r"= [^=].* =", s):  # a new article
            if max_articles is not None and len(articles) >= max_articles:
                break
            articles.append([])
            continue
        if s.startswith("=") or not articles:
            continue
        articles[-1].extend(p.strip() + " ." for p in s.split(" . ") if p.strip())
    flat = [s for a in articles for s in a]
    ids = [e.ids for e in tok.encode_batch(flat, add_special_tokens=False)]
    docs, k = [], 0
    for a in articles:
        docs.append([x for x in ids[k:k + len(a)] if x])
        k += len(a)
    return [d for d in docs if len(d) >= 2]
