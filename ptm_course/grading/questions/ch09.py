"""Exercise 09: ERNIE's units — word ids per character, one draw per unit, entities, a fill-in measurement.

Notebook: ``exercises/09_ernie_exercises.ipynb`` (master: ``solutions/``). Five questions:

- ``09.word_units`` — ``word_units(words)``: one unit id per character of ``"".join(words)``, the
  characters of a word sharing an id, numbered 0, 1, ... in text order; compared with
  :func:`ptm_course.data.chinese.char_units` (level ``"word"``) on hand cases and random segmentations;
- ``09.select_units`` — ``select_whole_units(unit_ids, mlm_prob, generator)``: ERNIE's selection for one
  sequence, graded by its properties (each unit all or nothing, exactly max(1, round(mlm_prob · u)) of
  the u units, −1 never selected, the draw comes from ``generator``, every unit reachable and equally
  likely), the semantics of :func:`ptm_course.data.masking.select_units`;
- ``09.entities`` — ``find_entities(words, tags)``: names as word-index spans ``(start, end, type)`` from
  the PKU tags (nr → PER, ns → LOC, nt → ORG, surname + given name joined, consecutive ns / nt joined);
  compared with :func:`ptm_course.data.chinese.entity_spans`;
- ``09.bigram_fill_in`` — ``bigram_fill_in(tok, train_texts, valid_words, seed)``: a measurement, the
  fraction of masked characters a character-bigram count model restores for "char" blanks and for
  "word" blanks (:func:`ptm_course.models.ernie.fill_in_batches`,
  :func:`~ptm_course.models.ernie.bigram_fill_in_accuracy`); recomputed on a small slice of the
  ``peoples-daily-1998`` data set (needs ``ptm-course data prepare peoples-daily-1998``);
- ``09.reflection`` — open question, graded by the instructor with a rubric.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Callable, Mapping

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, approx, expect, short_repr

__all__ = ["EXERCISE"]

# ---- 09.word_units ----------------------------------------------------------------------------

_SENTENCE = ["国家", "主席", "江", "泽民", "在", "北京", "讲话"]
_TEXT = "迈向充满希望的新世纪一九九八年新年讲话中共中央总书记国家主席江泽民发表"


def _units_case(words: list[str]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.data.chinese import char_units

        expect(fn(list(words)), char_units(words, "word"), call=f"word_units({words!r})")

    return test


def _random_segmentation(rng: random.Random) -> list[str]:
    """_TEXT (or a piece of it) cut at random places into words of 1 to 5 characters."""
    start = rng.randrange(0, 10)
    text = _TEXT[start:start + rng.randrange(8, len(_TEXT) - start + 1)]
    words, i = [], 0
    while i < len(text):
        n = rng.choice([1, 1, 2, 2, 2, 3, 4, 5])
        words.append(text[i:i + n])
        i += n
    return words


def _random_units_case(fn: Callable) -> None:
    from ptm_course.data.chinese import char_units

    rng = random.Random(9)
    for _ in range(25):
        words = _random_segmentation(rng)
        expect(fn(list(words)), char_units(words, "word"), call=f"word_units({words!r})")


WORD_UNITS = Question(
    "09.word_units",
    "word_units",
    "Unit ids from a segmentation",
    tests=(
        Test("国家 主席 江 泽民 在 北京 讲话: one id per character", _units_case(_SENTENCE), points=1,
             hint="walk over the words with their index i and give every character of word i the id i: "
                  "'国家' has two characters, so it contributes [0, 0]; return one flat list of ints, as long "
                  "as ''.join(words)"),
        Test("one-character words, a word of five characters, no words at all",
             lambda fn: (_units_case(["一九九八年", "的", "新", "年"])(fn), _units_case(["新"])(fn), _units_case([])(fn)),
             points=1,
             hint="repeat the word's id len(word) times (a five-character word gives five equal ids); an "
                  "empty list of words has no characters, so the answer is []"),
        Test("25 random segmentations of a People's Daily headline", _random_units_case, points=2,
             hint="the ids count words, not characters: they go 0, 1, 2, ... with no gaps, whatever the word "
                  "lengths are, and the list has one entry per character of the joined text"),
    ),
)

# ---- 09.select_units ---------------------------------------------------------------------------


def _as_selection(got: Any, unit_ids, call: str):
    import torch

    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"wrong return type: expected a torch.Tensor of bools, got {type(got).__name__}", call=call,
                       expected=f"bool tensor of shape {tuple(unit_ids.shape)}", got=short_repr(got))
    if got.shape != unit_ids.shape:
        raise Mismatch(f"wrong shape: expected {tuple(unit_ids.shape)} (one entry per token), got {tuple(got.shape)}",
                       call=call)
    if got.dtype != torch.bool:
        raise Mismatch(f"wrong dtype: expected torch.bool (True = selected), got {got.dtype}", call=call,
                       got=str(got.tolist())[:200])
    return got


def _n_pick(n_units: int, mlm_prob: float) -> int:
    return 0 if n_units == 0 else max(1, round(mlm_prob * n_units))


def _expect_whole_units(got, unit_ids, mlm_prob: float, call: str) -> set[int]:
    """Check one selection's properties; return the units it selected."""
    sel = _as_selection(got, unit_ids, call)
    ids = unit_ids.tolist()
    flags = sel.tolist()
    if any(f and u < 0 for u, f in zip(ids, flags)):
        raise Mismatch("a token with unit id −1 ([CLS], [SEP], [PAD]) is selected: those are never predicted",
                       call=call, expected="False wherever unit_ids is -1", got=str(flags)[:200])
    chosen = {u for u, f in zip(ids, flags) if f}
    for u in sorted(chosen):
        part = [f for v, f in zip(ids, flags) if v == u]
        if not all(part):
            raise Mismatch(f"unit {u} is only partly selected ({sum(part)} of its {len(part)} tokens): "
                           "a unit is selected whole or not at all", call=call, got=str(flags)[:200])
    units = sorted({u for u in ids if u >= 0})
    want = _n_pick(len(units), mlm_prob)
    if len(chosen) != want:
        raise Mismatch(f"{len(chosen)} of the {len(units)} units selected; expected exactly max(1, round({mlm_prob:g} · "
                       f"{len(units)})) = {want}" if units else "there are no units here: nothing can be selected",
                       call=call, expected=f"{want} unit{'s' if want != 1 else ''}",
                       got=f"{len(chosen)} unit{'s' if len(chosen) != 1 else ''}: {sorted(chosen)}")
    return chosen


def _generator(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def _call_select(fn: Callable, unit_ids, mlm_prob: float, seed: int, what: str = ""):
    call = f"select_whole_units({what or 'torch.tensor(' + str(unit_ids.tolist()) + ')'}, {mlm_prob:g}, " \
           f"torch.Generator().manual_seed({seed}))"
    return fn(unit_ids.clone(), mlm_prob, _generator(seed)), call


def _hand_case(fn: Callable) -> None:
    import torch

    unit_ids = torch.tensor([-1, 0, 0, 1, 2, 2, 2, 3, 4, 4, -1, -1])  # [CLS] 国家 在 北京市 的 讲话 [SEP] [PAD]
    for prob in (0.15, 0.4, 0.6):
        for seed in range(4):
            got, call = _call_select(fn, unit_ids, prob, seed)
            _expect_whole_units(got, unit_ids, prob, call)


def _random_unit_ids(rng: random.Random):
    """[CLS] + units of 1-4 tokens with ids 0.. + [SEP] + padding, as a 1-D tensor."""
    import torch

    n_units = rng.randrange(1, 30)
    ids = [-1]
    for u in range(n_units):
        ids += [u] * rng.choice([1, 1, 2, 2, 2, 3, 4])
    ids += [-1] * rng.randrange(1, 6)
    return torch.tensor(ids), n_units


def _random_select_case(fn: Callable) -> None:
    rng = random.Random(3)
    done = 0
    while done < 40:
        unit_ids, n_units = _random_unit_ids(rng)
        prob = rng.choice([0.15, 0.2, 0.3, 0.5])
        if abs(prob * n_units - math.floor(prob * n_units) - 0.5) < 0.02:
            continue  # x.5 rounds differently in float32 and float64: not a question of this exercise
        got, call = _call_select(fn, unit_ids, prob, done, f"<{len(unit_ids)} tokens, {n_units} units>")
        _expect_whole_units(got, unit_ids, prob, call)
        done += 1


def _specials_case(fn: Callable) -> None:
    import torch

    for unit_ids in (torch.tensor([-1, 7, 7, 3, 12, 12, 12, -1, -1]),  # ids need not be 0.. nor sorted
                     torch.tensor([5]), torch.tensor([-1, -1]), torch.tensor([-1, -1, -1, -1])):
        for seed in range(3):
            got, call = _call_select(fn, unit_ids, 0.5, seed)
            _expect_whole_units(got, unit_ids, 0.5, call)


def _reachable_case(fn: Callable) -> None:
    """Uses the generator (same seed, same answer), every unit is chosen some time, all equally often."""
    import torch

    long_row = torch.tensor([-1] + [u for u in range(20) for _ in range(1 + u % 3)] + [-1])  # 20 units: 3 per draw
    for seed in range(5):
        first, call = _call_select(fn, long_row, 0.15, seed, "<20 units of 1-3 tokens>")
        again, _ = _call_select(fn, long_row, 0.15, seed, "<20 units of 1-3 tokens>")
        _expect_whole_units(first, long_row, 0.15, call)
        _as_selection(again, long_row, call)
        if not torch.equal(first, again):
            raise Mismatch("two calls with generators of the same seed gave different selections: draw the random "
                           "numbers from `generator` (torch.rand / torch.randperm(..., generator=generator)), not "
                           "from the global random state", call=call + ", twice",
                           expected=f"the same tokens both times: {first.nonzero().flatten().tolist()}",
                           got=f"tokens {again.nonzero().flatten().tolist()} the second time")
    unit_ids = torch.tensor([-1, 0, 1, 1, 1, 1, 1, 1, 2, 3, -1])  # 4 units, one of six tokens; 1 unit per draw
    call = "select_whole_units(torch.tensor([-1, 0, 1, 1, 1, 1, 1, 1, 2, 3, -1]), 0.15, torch.Generator().manual_seed(s))"
    n_draws = 1200
    counts = [0, 0, 0, 0]
    for s in range(n_draws):
        got, _ = _call_select(fn, unit_ids, 0.15, s)
        for u in _expect_whole_units(got, unit_ids, 0.15, call.replace("(s)", f"({s})")):
            counts[u] += 1
    never = [u for u in range(4) if counts[u] == 0]
    if never:
        raise Mismatch(f"over {n_draws} seeds unit(s) {never} were never selected: every unit must be reachable",
                       call=call + f" for s in range({n_draws})", expected="each unit about 25 % of the time",
                       got=f"times selected per unit {counts}")
    share = [c / n_draws for c in counts]
    if max(abs(x - 0.25) for x in share) > 0.07:
        raise Mismatch("the units are not chosen uniformly: each unit gets ONE draw, whatever its length, so "
                       "a six-token unit is not more likely than a one-token unit", call=call + f" for s in range({n_draws})",
                       expected="each unit about 25 % of the time",
                       got="shares " + ", ".join(f"unit {u}: {x:.0%}" for u, x in enumerate(share)))


SELECT_UNITS = Question(
    "09.select_units",
    "select_whole_units",
    "Whole-word selection with one draw per unit",
    tests=(
        Test("[CLS] 国家 在 北京市 的 讲话 [SEP] [PAD]: whole units, max(1, round(p · u)) of them",
             _hand_case, points=1,
             hint="find the units first, unit_ids[unit_ids >= 0].unique(); choose n = max(1, round(mlm_prob * "
                  "len(units))) of them at random; then a token is selected when its unit is one of the chosen "
                  "(torch.isin)"),
        Test("40 random sequences: every property at once", _random_select_case, points=1,
             hint="count UNITS, not tokens: a word of three characters is one unit, and the number chosen is "
                  "exactly max(1, round(mlm_prob · number of units)), not a random number of Bernoulli draws"),
        Test("ids that are not 0.., one token, only [CLS] [SEP]: nothing selected without units", _specials_case,
             points=1,
             hint="never select a token whose unit id is -1; unit ids are only labels (7, 3, 12 are three units); "
                  "when there is no unit at all, return all False"),
        Test("the draw comes from the generator; every unit reachable and equally likely", _reachable_case,
             points=1,
             hint="one random draw per unit, e.g. torch.randperm(len(units), generator=generator)[:n]: choosing "
                  "random TOKENS and taking their units makes long words more likely, and the first n units "
                  "are not random at all"),
    ),
)

# ---- 09.entities ------------------------------------------------------------------------------


def _entities_case(words: list[str], tags: list[str]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.data.chinese import entity_spans

        call = "find_entities(" + " ".join(f"{w}/{t}" for w, t in zip(words, tags)) + ")"
        expect(fn(list(words), list(tags)), entity_spans(words, tags), call=call)

    return test


def _cases(*pairs: tuple[list[str], list[str]]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        for words, tags in pairs:
            _entities_case(words, tags)(fn)

    return test


def _tagged(text: str) -> tuple[list[str], list[str]]:
    """'江/nr 泽民/nr 在/p' -> (['江', '泽民', '在'], ['nr', 'nr', 'p'])."""
    pairs = [item.rsplit("/", 1) for item in text.split()]
    return [w for w, _ in pairs], [t for _, t in pairs]


_SIMPLE = _tagged("国家/n 主席/n 江/nr 泽民/nr 在/p 北京/ns 讲话/v")
_NO_ENTITY = _tagged("迈向/v 充满/v 希望/n 的/u 新/a 世纪/n")
_PLACES = _tagged("新华社/nt 湖南/ns 常德市/ns 电/n 中共中央/nt 国务院/nt 联合/vd 发出/v 通知/n")
_CAPTION = _tagged("江/nr 泽民/nr 李/nr 鹏/nr 乔/nr 石/nr 在/p 北京/ns")
_NAMES = _tagged("叶利钦/nr 会见/v 桥本/nr 龙太郎/nr 和/c 欧阳/nr 修/nr 及/c 司马/nr 光/nr 砸/v 缸/n")
_LONE = _tagged("李/nr 说/v ，/w 张/nr")


def _random_entities_case(fn: Callable) -> None:
    rng = random.Random(5)
    chars = "的国中人民大北京江泽民李鹏上海市新华社长会议主席总理发展经济"
    for _ in range(40):
        n = rng.randrange(1, 12)
        words = ["".join(rng.choice(chars) for _ in range(rng.choice([1, 1, 2, 2, 3, 4]))) for _ in range(n)]
        tags = [rng.choice(["nr", "nr", "nr", "ns", "ns", "nt", "nt", "n", "v", "w"]) for _ in range(n)]
        _entities_case(words, tags)(fn)


ENTITIES = Question(
    "09.entities",
    "find_entities",
    "Entity spans from the tags",
    tests=(
        Test("国家/n 主席/n 江/nr 泽民/nr 在/p 北京/ns 讲话/v, and a sentence without names",
             _cases(_SIMPLE, _NO_ENTITY), points=1,
             hint="spans are WORD indices (start, end) with end exclusive, plus the type: 江 泽民 are words 2 and "
                  "3, so (2, 4, 'PER'); 北京 is (5, 6, 'LOC'); return a list of tuples, [] when there is no name"),
        Test("consecutive ns and nt words are one place or one organisation", _cases(_PLACES), points=1,
             hint="keep extending a LOC while the next word is also ns, and an ORG while it is also nt: 湖南 常德市 "
                  "is one place (1, 3, 'LOC'); a different tag ends the name"),
        Test("a caption of people: 江/nr 泽民/nr 李/nr 鹏/nr 乔/nr 石/nr, and names of other lengths",
             _cases(_CAPTION, _NAMES, _LONE), points=1,
             hint="a surname (an nr word of one or two characters) takes exactly ONE following nr word, then the "
                  "person ends: 江 泽民 李 鹏 are two people, (0, 2) and (2, 4), not one; an nr word of three or "
                  "more characters (叶利钦) is a person by itself, and so is a surname with no nr word after it"),
        Test("40 random tag sequences", _random_entities_case, points=1,
             hint="scan left to right and jump past every name you found (continue after its end); every nr word "
                  "is part of exactly one person, even one that follows another person directly"),
    ),
)

# ---- 09.bigram_fill_in ------------------------------------------------------------------------

N_TRAIN = 1000  # training sentences: the tokenizer and the bigram counts
VALID_SLICES = {0: (0, 300), 1: (300, 600)}  # seed -> the validation sentences the check uses
TOLERANCE = 0.005  # absolute, on each accuracy


@lru_cache(maxsize=1)
def _fill_in_data() -> tuple[Any, list[str], list[list[str]]]:
    """(tokenizer, training texts, validation word lists): People's Daily, the first sentences of each split."""
    from ptm_course.data import load
    from ptm_course.data.ernie_inputs import train_chinese_wordpiece

    pd = load("peoples-daily-1998")
    train_texts = list(pd["train"].select(range(N_TRAIN))["text"])
    stop = max(b for _, b in VALID_SLICES.values())
    valid_words = [list(w) for w in pd["validation"].select(range(stop))["words"]]
    return train_chinese_wordpiece(train_texts, vocab_size=8000), train_texts, valid_words


def reference_fill_in(tok, train_texts, valid_words, seed: int = 0) -> dict[str, float]:
    """What ``bigram_fill_in`` should return (the notebook's section 4 recipe)."""
    import torch

    from ptm_course.data.chinese import char_units
    from ptm_course.data.ernie_inputs import encode_units
    from ptm_course.data.wordpiece import special_tokens
    from ptm_course.models.bigram import CountBigramLM
    from ptm_course.models.ernie import bigram_fill_in_accuracy, fill_in_batches

    special = special_tokens(tok)
    examples = [encode_units(tok, words, char_units(words, "word")) for words in valid_words]
    stream = torch.tensor([i for text in train_texts for i in tok.encode(text).ids])
    lm = CountBigramLM.fit(stream, tok.get_vocab_size())
    return {kind: bigram_fill_in_accuracy(lm, fill_in_batches(examples, kind, special, seed=seed), special)
            for kind in ("char", "word")}


@lru_cache(maxsize=None)
def _expected_fill_in(seed: int) -> dict[str, float]:
    tok, train_texts, valid_words = _fill_in_data()
    a, b = VALID_SLICES[seed]
    return reference_fill_in(tok, train_texts, valid_words[a:b], seed)


def _call_fill_in(fn: Callable, seed: int) -> tuple[Any, str]:
    tok, train_texts, valid_words = _fill_in_data()
    a, b = VALID_SLICES[seed]
    call = (f"bigram_fill_in(<WordPiece of the first {N_TRAIN} training sentences>, <those {N_TRAIN} texts>, "
            f"<words of validation sentences {a}..{b - 1}>, seed={seed})")
    return fn(tok, list(train_texts), [list(w) for w in valid_words[a:b]], seed), call


def _expect_accuracies(got: Any, call: str) -> dict[str, float]:
    if not isinstance(got, Mapping):
        raise Mismatch(f"wrong return type: expected a dict {{'char': float, 'word': float}}, got {type(got).__name__}",
                       call=call, expected="{'char': <float>, 'word': <float>}", got=short_repr(got))
    missing = [k for k in ("char", "word") if k not in got]
    if missing:
        raise Mismatch(f"the dict has no key {missing[0]!r}: return {{'char': ..., 'word': ...}}", call=call,
                       got=short_repr(dict(got)))
    out = {}
    for k in ("char", "word"):
        problem = approx(rel=0.0, abs=0.5)(0.5, got[k])  # a number in [0, 1]
        if problem is not None:
            raise Mismatch(f"{k!r}: {problem} — an accuracy is a fraction in [0, 1]", call=call, got=short_repr(got[k]))
        out[k] = float(got[k])
    return out


def _fill_in_case(seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        got, call = _call_fill_in(fn, seed)
        acc = _expect_accuracies(got, call)
        expected = _expected_fill_in(seed)
        for kind in ("char", "word"):
            expect(acc[kind], expected[kind], call=f"{call}[{kind!r}]  (tolerance ±{TOLERANCE:g})",
                   compare=approx(rel=0.0, abs=TOLERANCE))

    return test


def _ordering_case(fn: Callable) -> None:
    got, call = _call_fill_in(fn, 0)
    acc = _expect_accuracies(got, call)
    if not acc["char"] > acc["word"]:
        raise Mismatch("a single masked character should be easier to guess than the characters of a whole "
                       "masked word (its word-mates are visible)", call=call,
                       expected="result['char'] > result['word']", got=short_repr(got))


BIGRAM_FILL_IN = Question(
    "09.bigram_fill_in",
    "bigram_fill_in",
    "A measurement: how much does a bigram guess?",
    tests=(
        Test("returns {'char': ..., 'word': ...}, fractions with char > word", _ordering_case, points=1,
             time_limit=60.0,
             hint="return a dict with the two accuracies, each the float that bigram_fill_in_accuracy returns for "
                  "the batches of that kind; if 'word' comes out higher, the two kinds are swapped"),
        Test(f"People's Daily, {N_TRAIN} training and 300 validation sentences, seed 0: both accuracies",
             _fill_in_case(0), points=2, time_limit=60.0,
             hint="units at the WORD level (char_units(words, 'word')), no max_len; the training stream is every "
                  "training text's tok.encode(text).ids one after the other; CountBigramLM.fit(stream, "
                  "tok.get_vocab_size()) with its default smoothing; fill_in_batches(examples, kind, special, "
                  "seed=seed) with the default batch size and mlm_prob"),
        Test("other sentences and seed 1: the blanks follow the seed", _fill_in_case(1), points=1, time_limit=60.0,
             hint="pass seed=seed to fill_in_batches for both kinds (the same seed blanks the same words), and "
                  "encode the valid_words you are given, not a fixed list"),
    ),
)

# ---- 09.reflection ----------------------------------------------------------------------------

REFLECTION = Question(
    "09.reflection",
    "reflection",
    "Why mask whole words and entities? (open question)",
    rubric=Rubric((
        Criterion("Explains why a single masked character is easy (因为中文中盖掉一些字很容易猜出来): the other "
                  "characters of its word stay visible and all but determine it (人_ after 中国 is 民), so "
                  "character masking can be solved by local co-occurrence inside the word.", 1),
        Criterion("Uses the measurement of question 4 (or the chapter's): the bigram counts restore far more "
                  "single characters than characters of whole masked words, with the numbers.", 1),
        Criterion("Says what the model must learn instead once the whole word is hidden: to predict a word "
                  "(a unit of meaning) from the rest of the sentence — longer-range syntax and semantics, and "
                  "facts about the world (which city, which person fits this context).", 1),
        Criterion("Says when entity masking helps a downstream task like NER: NER labels whole multi-character "
                  "spans whose boundaries and types must be read from context, which is what predicting a "
                  "hidden name trains; most useful for rare or unseen names and little labelled data — and "
                  "names a limit (entity boundaries come from a tagger or segmenter and are noisy, or a task "
                  "that does not depend on names, like sentiment, gains little).", 1),
    )),
)

EXERCISE = Exercise("09", "ERNIE: word units, one draw per unit, entities, the bigram fill-in",
                    (WORD_UNITS, SELECT_UNITS, ENTITIES, BIGRAM_FILL_IN, REFLECTION))
