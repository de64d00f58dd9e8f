# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 09 — word units, one draw per unit, entities, the bigram fill-in (ERNIE)
#
# Chapter 09 turned BERT into ERNIE 1.0 by changing only *what is masked*: whole words, phrases
# and named entities instead of single characters (因为中文中盖掉一些字很容易猜出来,因此我们盖掉一些词汇
# — a single masked Chinese character is easy to guess, so ERNIE masks words). Here you write the
# pieces that make that work: the unit ids of a segmented sentence, the whole-unit selection, the
# entity spans read from People's Daily's tags, and the measurement that shows why a single
# character is easy.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it shows which tests pass, what was expected, a hint,
#    and your points. Run it as often as you like.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 4 + 4 + 4 + 4 checked automatically, and 4 for the open question, graded by your
# instructor. Exercise 4 reads People's Daily (`ptm-course data prepare peoples-daily-1998`).

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import torch

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. Unit ids from a segmentation (4 points)
#
# The model reads one token per character; the masking needs to know which characters belong
# together. A segmented sentence is a list of words, and the *unit id* of a character is the index
# of its word:
#
# | word | 国家 | 主席 | 江 | 泽民 | 在 | 北京 | 讲话 |
# |---|---|---|---|---|---|---|---|
# | unit ids | 0 0 | 1 1 | 2 | 3 3 | 4 | 5 5 | 6 6 |
#
# Write `word_units(words)`: `words` is a list of strings; return a list of ints with one entry
# per character of `"".join(words)`, the characters of word i all getting the id i.

# %%
def word_units(words):
    """One unit id per character of ''.join(words): the index of the word it belongs to."""
    ### BEGIN SOLUTION hint: loop over enumerate(words) and repeat each word's index once per character
    return [i for i, word in enumerate(words) for _ in word]
    ### END SOLUTION


# %%
check("09.word_units", word_units)
### BEGIN HIDDEN TESTS
from ptm_course.data.chinese import char_units
from ptm_course.grading import evaluate

assert word_units(["国家", "主席", "江", "泽民"]) == [0, 0, 1, 1, 2, 3, 3] == char_units(["国家", "主席", "江", "泽民"], "word")
assert word_units([]) == []
assert evaluate("09.word_units", word_units).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Whole-word selection: one draw per unit (4 points)
#
# BERT chooses 15 % of the *tokens*. ERNIE 1.0 chooses 15 % of the *units* and masks each chosen
# unit whole. In one sequence with u units (tokens with unit id −1 — [CLS], [SEP], [PAD] — are
# never chosen):
#
# $$n = \max\bigl(1, \operatorname{round}(p \cdot u)\bigr) \text{ units are chosen, uniformly at random,}$$
#
# and a token is selected when its unit is chosen. Each unit gets **one** draw, whatever its
# length: a four-character word is not more likely to be chosen than a one-character word.
#
# Write `select_whole_units(unit_ids, mlm_prob, generator)`: `unit_ids` is a 1-D integer tensor
# (one sequence; the ids are only labels, not necessarily 0, 1, …), `generator` a
# `torch.Generator` to draw from. Return a bool tensor of the same shape, True where a token is
# selected; all False when there is no unit.

# %%
def select_whole_units(unit_ids, mlm_prob, generator):
    """Choose max(1, round(mlm_prob · u)) of the u units uniformly; select every token of a chosen unit."""
    ### BEGIN SOLUTION hint: units = unit_ids[unit_ids >= 0].unique(); shuffle them with torch.randperm(..., generator=generator), keep the first n, then torch.isin
    units = unit_ids[unit_ids >= 0].unique()
    if len(units) == 0:
        return torch.zeros_like(unit_ids, dtype=torch.bool)
    n = max(1, round(mlm_prob * len(units)))
    chosen = units[torch.randperm(len(units), generator=generator)[:n]]
    return torch.isin(unit_ids, chosen) & (unit_ids >= 0)
    ### END SOLUTION


# %%
check("09.select_units", select_whole_units)
### BEGIN HIDDEN TESTS
from ptm_course.data.masking import select_units

row = torch.tensor([-1, 0, 0, 1, 2, 2, 2, 3, 4, 4, -1, -1])
mine = select_whole_units(row, 0.4, torch.Generator().manual_seed(0))
theirs = select_units(row[None], 0.4, torch.Generator().manual_seed(0))[0]
assert mine.sum() > 0 and theirs.sum() > 0
assert len(row[mine].unique()) == len(row[theirs].unique()) == 2  # the same number of whole units
assert evaluate("09.select_units", select_whole_units).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Masking a sentence by words with your selection: the chosen words disappear whole.

# %%
words = ["国家", "主席", "江", "泽民", "在", "北京", "发表", "新年", "讲话"]
try:
    ids = torch.tensor([-1] + word_units(words) + [-1])  # [CLS] ... [SEP]
    chars = ["[CLS]"] + list("".join(words)) + ["[SEP]"]
    for seed in range(3):
        sel = select_whole_units(ids, 0.3, torch.Generator().manual_seed(seed))
        print(" ".join("[MASK]" if s else c for c, s in zip(chars, sel.tolist())))
except NotImplementedError:
    print("write word_units and select_whole_units above first")

# %% [markdown]
# ## 3. Entity spans from the tags (4 points)
#
# People's Daily tags every word: `nr` a person's name, `ns` a place, `nt` an organisation. A
# name may span several words, and ERNIE's entity-level masking hides the whole name. The rules
# the course uses (`ptm_course.data.chinese.entity_spans`):
#
# - **PER**: a *surname* — an `nr` word of one or two characters — directly followed by another
#   `nr` word forms one person with it (`江/nr 泽民/nr` is 江泽民). Only one word joins a surname,
#   so a caption `江/nr 泽民/nr 李/nr 鹏/nr` is two people, 江泽民 and 李鹏. Any other `nr` word
#   (`叶利钦/nr`, or a surname with no `nr` after it) is a person by itself.
# - **LOC**: consecutive `ns` words are one place (`湖南/ns 常德市/ns`).
# - **ORG**: consecutive `nt` words are one organisation.
#
# Write `find_entities(words, tags)`: return a list of `(start, end, label)` tuples, word indices
# with `end` exclusive, in order. For `国家/n 主席/n 江/nr 泽民/nr 在/p 北京/ns 讲话/v` that is
# `[(2, 4, 'PER'), (5, 6, 'LOC')]`.

# %%
def find_entities(words, tags):
    """Named entities (start, end, label) over word indices, end exclusive: PER, LOC, ORG."""
    ### BEGIN SOLUTION hint: scan with an index i; on an nr/ns/nt word find where the name ends (the rules above), append the span and continue from its end
    labels = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
    spans, i = [], 0
    while i < len(words):
        if tags[i] not in labels:
            i += 1
            continue
        end = i + 1
        if tags[i] == "nr":
            if len(words[i]) <= 2 and end < len(words) and tags[end] == "nr":
                end += 1
        else:
            while end < len(words) and tags[end] == tags[i]:
                end += 1
        spans.append((i, end, labels[tags[i]]))
        i = end
    return spans
    ### END SOLUTION


# %%
check("09.entities", find_entities)
### BEGIN HIDDEN TESTS
assert find_entities(["国家", "主席", "江", "泽民", "在", "北京", "讲话"], ["n", "n", "nr", "nr", "p", "ns", "v"]) == \
    [(2, 4, "PER"), (5, 6, "LOC")]
assert find_entities(["江", "泽民", "李", "鹏"], ["nr"] * 4) == [(0, 2, "PER"), (2, 4, "PER")]
assert evaluate("09.entities", find_entities).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Your spans on the first sentences of the People's Daily validation split that have a name:

# %%
from ptm_course.data import load
from ptm_course.data.registry import DataNotAvailableError

try:
    pd = load("peoples-daily-1998")
    shown = 0
    for row in pd["validation"]:
        spans = find_entities(row["words"], row["tags"])
        if spans:
            print(" ".join(row["words"])[:60])
            print("   ", [("".join(row["words"][s:e]), label) for s, e, label in spans])
            shown += 1
        if shown == 3:
            break
except NotImplementedError:
    print("write find_entities above first")
except DataNotAvailableError as err:
    print(f"People's Daily is not prepared here, so this example is skipped:\n  {err}")

# %% [markdown]
# ## 4. A measurement: how much does a bigram guess? (4 points)
#
# Why is a single masked character easy? Its word-mates stay visible, and the characters next to
# it nearly determine it. A model that knows nothing but **character bigram counts** shows how
# much: it fills a blank with the character that best fits its two neighbours.
# `ptm_course.models.ernie.fill_in_batches` builds the two kinds of fixed questions on the same
# held-out words — `"char"`: one character of a word is blanked, the others stay; `"word"`: the
# whole word is blanked — and `bigram_fill_in_accuracy` scores the count model on them.
#
# Write `bigram_fill_in(tok, train_texts, valid_words, seed)`:
#
# 1. `special = special_tokens(tok)`; encode each validation sentence (a list of words) with
#    `encode_units(tok, words, char_units(words, "word"))`;
# 2. the training stream is the ids of every text of `train_texts`, `tok.encode(text).ids`, one
#    after the other, as one 1-D tensor; fit `CountBigramLM.fit(stream, tok.get_vocab_size())`;
# 3. for `kind` in `"char"` and `"word"`: `fill_in_batches(examples, kind, special, seed=seed)`
#    and `bigram_fill_in_accuracy(lm, batches, special)`.
#
# Return `{"char": accuracy, "word": accuracy}`. The check recomputes it on a slice of People's
# Daily (a few seconds).

# %%
from ptm_course.data.chinese import char_units
from ptm_course.data.ernie_inputs import encode_units, train_chinese_wordpiece
from ptm_course.data.wordpiece import special_tokens
from ptm_course.models.bigram import CountBigramLM
from ptm_course.models.ernie import bigram_fill_in_accuracy, fill_in_batches


def bigram_fill_in(tok, train_texts, valid_words, seed):
    """Fraction of blanked characters a character-bigram count model restores, per kind of blank."""
    ### BEGIN SOLUTION hint: examples from encode_units at the word level; one training stream; one CountBigramLM; the same seed for both kinds
    special = special_tokens(tok)
    examples = [encode_units(tok, words, char_units(words, "word")) for words in valid_words]
    stream = torch.tensor([i for text in train_texts for i in tok.encode(text).ids])
    lm = CountBigramLM.fit(stream, tok.get_vocab_size())
    return {kind: bigram_fill_in_accuracy(lm, fill_in_batches(examples, kind, special, seed=seed), special)
            for kind in ("char", "word")}
    ### END SOLUTION


# %%
check("09.bigram_fill_in", bigram_fill_in)
### BEGIN HIDDEN TESTS
from ptm_course.grading.questions.ch09 import reference_fill_in

_pd = load("peoples-daily-1998")
_texts = list(_pd["train"].select(range(300))["text"])
_tok = train_chinese_wordpiece(_texts, vocab_size=3000)
_words = [list(w) for w in _pd["validation"].select(range(100))["words"]]
assert bigram_fill_in(_tok, _texts, _words, 2) == reference_fill_in(_tok, _texts, _words, 2)
assert evaluate("09.bigram_fill_in", bigram_fill_in).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Open question: why mask whole words and entities? (4 points, graded by your instructor)
#
# In 4 to 8 sentences, written into `reflection`:
#
# - say why a single masked Chinese character is easy to guess, with an example;
# - use your measurement of exercise 4 (or the chapter's table), with the numbers;
# - say what a model must learn once the whole word is hidden;
# - say when entity masking should help a task like NER, and name one limit.

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
A character of a multi-character word is nearly determined by the other characters of the same
word, which stay visible: after 中国人 the blank in 中国人_ is almost surely 民, so character masking
can be solved by co-occurrence inside the word. My measurement shows it: character bigram counts
alone restore a large share of single blanked characters but only a few percent of the
characters when the whole word is blanked. Once the whole word is hidden, the model has to
predict a unit of meaning from the rest of the sentence: its syntax, its topic, and facts such as
which person or city fits the context. That is what NER needs: it labels whole multi-character
names whose boundaries and types must be read from context, so entity masking should help most
with rare names and little labelled data. The limit: the entity and word boundaries come from a
tagger or segmenter and are noisy, and a task that hardly depends on names, like sentiment,
gains little.
"""
### END SOLUTION

# %%
check("09.reflection", reflection)

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("09")
