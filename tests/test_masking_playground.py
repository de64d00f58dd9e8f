"""Chapter 09's masking playground: what each level hides, on a sentence jieba tags."""

from ptm_course.data.chinese import char_units, jieba_tagged
from ptm_course.viz import MASK_LEVELS, masking_playground, show_masking

SENTENCE = "中国人民银行在北京召开会议,讨论经济发展。"


def test_jieba_tags_names_as_people_daily_does():
    words, tags = jieba_tagged(SENTENCE)
    assert "".join(words) == SENTENCE and len(words) == len(tags)
    assert dict(zip(words, tags))["北京"] == "ns"


def test_each_level_hides_whole_units_of_that_level():
    words, tags = jieba_tagged(SENTENCE)
    for level in MASK_LEVELS:
        units = char_units(words, level, tags)
        for seed in range(5):
            shown = show_masking(words, tags, level, seed=seed)
            assert len(shown) == len(SENTENCE) and "＿" in shown
            hidden = {u for u, ch in zip(units, shown) if ch == "＿"}
            for u in hidden:  # every character of a hidden unit is hidden
                assert all(ch == "＿" for v, ch in zip(units, shown) if v == u)
    # at entity level, the organisation name goes whole or not at all
    entity = show_masking(words, tags, "entity", seed=0)
    assert entity[:6] in ("中国人民银行", "＿" * 6)


def test_the_playground_prints_every_level_without_widgets(capsys):
    assert masking_playground(SENTENCE, use_widgets=False) is None
    out = capsys.readouterr().out
    assert all(level in out for level in MASK_LEVELS) and "北京:ns" in out
