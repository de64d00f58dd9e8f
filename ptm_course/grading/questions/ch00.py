"""Exercise 00: the counting behind every language model in the course.

Notebook: ``exercises/00_overview_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``00.vocab`` — ``build_vocab(sentences, min_count)``: the vocabulary list, ``<unk>`` first,
  then every token seen at least ``min_count`` times, most frequent first, ties in order of
  first appearance (what :meth:`ptm_course.data.Vocab.build` does to its ``itos``);
- ``00.bigrams`` — ``bigram_counts(tokens)``: how often each adjacent pair occurs;
- ``00.perplexity`` — ``perplexity(log_probs)``: ``exp(-mean(log p))``, computed in log space;
- ``00.reflection`` — an open question on the two paradigms of pre-trained models, graded by
  the instructor with a rubric.

The public tests below are what ``check(...)`` runs in the notebook. They are small on purpose:
the whole exercise notebook runs in a few seconds, so a class is graded quickly.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, Callable

from ..core import Criterion, Exercise, Question, Rubric, Test, approx, case, expect

__all__ = ["EXERCISE"]

# ---- 00.vocab -------------------------------------------------------------------------------

_SENTS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["the", "end"]]

VOCAB = Question(
    "00.vocab",
    "build_vocab",
    "Build a vocabulary with a minimum count",
    tests=(
        case("min_count=1 keeps every token, most frequent first", _SENTS, 1,
             expected=["<unk>", "the", "sat", "cat", "dog", "end"],
             hint="count with collections.Counter, then sort the tokens by descending count"),
        case("min_count=2 drops tokens seen fewer than 2 times", _SENTS, 2,
             expected=["<unk>", "the", "sat"],
             hint="keep a token when its count is >= min_count"),
        case("tokens with equal counts keep the order of their first appearance",
             [["b", "a"], ["a", "b", "c"], ["c"]], 1,
             expected=["<unk>", "b", "a", "c"],
             hint="Python's sort is stable: sort by count only (key=lambda t: -count[t]), not alphabetically"),
        case("a literal '<unk>' in the text is not added a second time",
             [["<unk>", "x", "<unk>"], ["x"]], 1,
             expected=["<unk>", "x"],
             hint="'<unk>' is always the first entry; skip it when adding the counted tokens"),
    ),
)

# ---- 00.bigrams -----------------------------------------------------------------------------


def _empty_and_single(fn: Callable[[list[str]], Any]) -> None:
    expect(fn([]), {}, call=f"{fn.__name__}([])")
    expect(fn(["a"]), {}, call=f"{fn.__name__}(['a'])")


def _random_sequence(fn: Callable[[list[str]], Any]) -> None:
    # check() seeds Python's random before every test, so this sequence is the same every time
    tokens = random.choices(["a", "b", "c", "d", "e"], k=300)
    expected = dict(Counter(zip(tokens, tokens[1:])))
    expect(fn(list(tokens)), expected, call=f"{fn.__name__}(<300 random tokens from 'abcde'>)")


BIGRAMS = Question(
    "00.bigrams",
    "bigram_counts",
    "Count bigrams",
    tests=(
        case("counts every adjacent pair", "the cat sat on the cat".split(),
             expected={("the", "cat"): 2, ("cat", "sat"): 1, ("sat", "on"): 1, ("on", "the"): 1},
             hint="the pairs are zip(tokens, tokens[1:]); keys are (previous, next) tuples"),
        Test("fewer than two tokens have no bigrams", _empty_and_single,
             hint="return an empty dict when there is no pair"),
        Test("300 random tokens", _random_sequence,
             hint="every position i from 0 to len(tokens) - 2 starts one pair"),
    ),
)

# ---- 00.perplexity --------------------------------------------------------------------------


def _tensor_input(fn: Callable[[Any], Any]) -> None:
    import torch  # only this test needs it; the setup cell has imported it already

    log_probs = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64))
    expect(fn(log_probs), 2 ** 2.25, compare=approx(rel=1e-5),
           call=f"{fn.__name__}(torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125])))")


PERPLEXITY = Question(
    "00.perplexity",
    "perplexity",
    "Perplexity from log-probabilities",
    tests=(
        case("a uniform model over 4 words has perplexity 4", [math.log(0.25)] * 5,
             expected=4.0, compare=approx(),
             hint="perplexity = exp(-mean(log_probs)); the log-probabilities are natural logs"),
        case("two tokens with p = 0.5 and 0.25", [math.log(0.5), math.log(0.25)],
             expected=math.sqrt(8), compare=approx(),
             hint="average the log-probabilities, negate, then exponentiate"),
        Test("accepts a torch tensor of log-probabilities", _tensor_input,
             hint="sum(...)/len(...) and float(...) work on tensors too; return a Python float"),
        case("2000 tokens with p = 0.01: no underflow", [math.log(0.01)] * 2000,
             expected=100.0, compare=approx(),
             hint="do not multiply probabilities (0.01**2000 is 0.0 in floating point): stay in log space"),
    ),
)

# ---- 00.reflection (open) -------------------------------------------------------------------

REFLECTION = Question(
    "00.reflection",
    "reflection",
    "The two paradigms of pre-trained models (open question)",
    rubric=Rubric((
        Criterion("Names the two paradigms: shallow, non-contextual embeddings (NNLM, word2vec, GloVe: "
                  "one vector per word type) and pre-trained encoders giving contextual embeddings "
                  "(ELMo, BERT, GPT: one vector per token in its sentence).", 2),
        Criterion("Uses an ambiguous word such as 'bank' to explain polysemy (一词多义): why one vector per "
                  "word cannot tell the senses apart and a contextual encoder can.", 1),
        Criterion("Gives one practical advantage of each paradigm (e.g. static vectors are small and cheap "
                  "to train and look up; encoders are large but can be fine-tuned for a task).", 1),
    )),
)

EXERCISE = Exercise("00", "Vocabulary, bigrams, perplexity", (VOCAB, BIGRAMS, PERPLEXITY, REFLECTION))
