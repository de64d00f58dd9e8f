"""ERNIE's inputs: one token per Chinese character, each token with the unit it belongs to."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.ernie_inputs import collate_units, encode_units, train_chinese_wordpiece
from ptm_course.data.wordpiece import special_tokens

TEXTS = ["迈向充满希望的新世纪——一九九八年新年讲话", "１２月３１日，中共中央总书记发表１９９８年新年讲话",
         "北京举行新年音乐会", "Hello world 1998年", "新华社记者兰红光摄"] * 4


@pytest.fixture(scope="module")
def tok():
    return train_chinese_wordpiece(TEXTS, vocab_size=300)


def test_one_token_per_chinese_character_and_units_from_the_words(tok):
    words = ["迈向", "充满", "希望", "的", "新", "世纪"]
    ex = encode_units(tok, words, [0, 0, 1, 1, 2, 2, 3, 4, 5, 5])
    assert ex.tokens == ["[CLS]", "迈", "向", "充", "满", "希", "望", "的", "新", "世", "纪", "[SEP]"]
    assert ex.unit_ids == [-1, 0, 0, 1, 1, 2, 2, 3, 4, 5, 5, -1]
    assert ex.input_ids[0] == tok.token_to_id("[CLS]") and ex.input_ids[-1] == tok.token_to_id("[SEP]")


def test_full_width_digits_and_latin_are_normalised_and_cut_into_pieces(tok):
    ex = encode_units(tok, ["１９９８年", "ＨＥＬＬＯ"], [0] * 5 + [1] * 5)
    assert "[UNK]" not in ex.tokens
    assert ex.tokens[1:-1] == tok.encode("1998年hello", add_special_tokens=False).tokens  # NFKC: same as half-width
    # the digit pieces and 年 belong to the word 1998年 (unit 0); the Latin pieces to unit 1
    n_digits = len(tok.encode("1998", add_special_tokens=False).tokens)
    assert ex.unit_ids[1:-1] == [0] * (n_digits + 1) + [1] * (len(ex.tokens) - 3 - n_digits)


def test_truncation_keeps_cls_and_sep_and_bad_units_are_refused(tok):
    ex = encode_units(tok, ["北京", "举行", "新年", "音乐会"], list(range(9)), max_len=5)
    assert ex.tokens == ["[CLS]", "北", "京", "举", "[SEP]"] and ex.unit_ids == [-1, 0, 1, 2, -1]
    with pytest.raises(ValueError, match="one unit id per character"):
        encode_units(tok, ["北京"], [0])
    with pytest.raises(ValueError, match="max_len"):
        encode_units(tok, ["北京"], [0, 0], max_len=2)


def test_collated_batches_mask_whole_units_and_feed_the_bert_mlm_loss(tok):
    from ptm_course.models.bert import BertConfig, BertForMaskedLM, mlm_loss

    sp = special_tokens(tok)
    exs = [encode_units(tok, ["迈向", "充满", "希望", "的", "新", "世纪"], [0, 0, 1, 1, 2, 2, 3, 4, 5, 5]),
           encode_units(tok, ["北京", "举行", "新年", "音乐会"], [0, 0, 1, 1, 2, 2, 3, 3, 3])]
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        b = collate_units(exs, sp, tok.get_vocab_size(), generator=g, max_predictions=6)
        sel = b["mlm_labels"] != -100
        for r in range(2):
            for u in b["unit_ids"][r].unique().tolist():
                if u >= 0:
                    s = sel[r][b["unit_ids"][r] == u]
                    assert s.all() or not s.any()  # a unit is masked whole or not at all
            assert sel[r].sum() >= 1
        assert not sel[b["attention_mask"] == 0].any() and not sel[:, 0].any()
    assert b["unit_ids"][1, -1] == -1 and b["attention_mask"][1].sum() == len(exs[1].input_ids)
    model = BertForMaskedLM(BertConfig.tiny(vocab_size=tok.get_vocab_size()))
    loss, metrics = mlm_loss(model, b)
    assert torch.isfinite(loss) and 0.0 <= metrics["mlm_acc"] <= 1.0


def test_an_unknown_character_is_never_a_prediction_target(tok):
    sp = special_tokens(tok)
    ex = encode_units(tok, ["龘", "新年"], [0, 1, 1])  # 龘 is not in the vocabulary
    assert ex.tokens[1] == "[UNK]"
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        b = collate_units([ex], sp, tok.get_vocab_size(), mlm_prob=0.5, generator=g)
        assert b["mlm_labels"][0, 1] == -100
    with pytest.raises(ValueError, match="at least one example"):
        collate_units([], sp, tok.get_vocab_size())
