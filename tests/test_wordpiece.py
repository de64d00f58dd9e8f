"""WordPiece: training, BERT's templates, the shipped uncased vocabulary."""

from __future__ import annotations

import pytest

from ptm_course.data.wordpiece import SPECIAL_TOKENS, load_wordpiece, special_tokens, train_wordpiece

TEXT = ["the playing players played playfully", "unbelievable believers believe", "a quick brown fox jumps"] * 50


def test_train_wordpiece_specials_and_templates():
    tok = train_wordpiece(TEXT, vocab_size=120, min_frequency=1)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    enc = tok.encode("Playing Believers")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert all(t == t.lower() for t in enc.tokens if not t.startswith("["))  # uncased
    pair = tok.encode("a fox", "the players")
    sep = pair.tokens.index("[SEP]")
    assert pair.type_ids == [0] * (sep + 1) + [1] * (len(pair.tokens) - sep - 1)
    assert tok.get_vocab_size() <= 120
    # a word missing from the vocabulary is cut into pieces marked ##, never lost
    pieces = tok.encode("playfulness").tokens[1:-1]
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert tok.decode(tok.encode("playfully played").ids) == "playfully played"


def test_load_wordpiece_from_vocab_file(tmp_path):
    vocab = SPECIAL_TOKENS + ["un", "##believ", "##able", "the", "a"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = load_wordpiece(tmp_path / "vocab.txt")
    assert tok.encode("The Unbelievable").tokens == ["[CLS]", "the", "un", "##believ", "##able", "[SEP]"]
    assert tok.encode("zebra").tokens == ["[CLS]", "[UNK]", "[SEP]"]
    sp = special_tokens(tok)
    assert (sp.pad, sp.unk, sp.cls, sp.sep, sp.mask) == (0, 1, 2, 3, 4)
    with pytest.raises(FileNotFoundError):
        load_wordpiece(tmp_path / "nope.txt")
    (tmp_path / "bad.txt").write_text("[PAD]\n[UNK]\nx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="CLS"):
        load_wordpiece(tmp_path / "bad.txt")


def test_minilm_vocabulary_when_prepared():
    from ptm_course.data import DataNotAvailableError, file_paths

    try:
        path = file_paths("all-minilm-l6-v2", auto_prepare=False)["vocab.txt"]
    except DataNotAvailableError as err:
        pytest.skip(f"MiniLM not prepared: {err}")
    tok = load_wordpiece(path)
    sp = special_tokens(tok)
    assert (sp.pad, sp.unk, sp.cls, sp.sep, sp.mask) == (0, 100, 101, 102, 103)
    assert tok.encode("unaffable").tokens == ["[CLS]", "una", "##ffa", "##ble", "[SEP]"]
