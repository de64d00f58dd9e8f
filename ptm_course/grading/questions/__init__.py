"""The questions of every exercise notebook, one module per chapter.

To add chapter NN's exercises: write ``chNN.py`` with an ``EXERCISE = Exercise("NN", ...)``
(see ``ch00.py``), add it to :data:`EXERCISES` below, and write the master notebook
``solutions/NN_<topic>_exercises.ipynb`` that calls ``check("NN.<question>", ...)``.

    >>> get_question("00.vocab").name
    'build_vocab'
    >>> [q.id for q in get_exercise("00").questions]
    ['00.vocab', '00.bigrams', '00.perplexity', '00.reflection']
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core import Exercise, Question
from . import ch00
from . import ch01, ch02, ch03  # chapters 01-03: NNLM, word2vec, GloVe
from . import ch04, ch05, ch06  # chapters 04-06: encoders, RNN/LSTM, ELMo
from . import ch07, ch08  # chapters 07-08: BERT pre-training and fine-tuning
from . import ch09  # chapter 09: ERNIE
from . import ch10  # chapter 10: GPT
from . import ch11  # chapter 11: Transformer-XL and XLNet
from . import ch12  # chapter 12: fine-tuning that accommodates the task
from . import ch13  # chapter 13: delta-tuning (LoRA, adapters, BitFit)
from . import ch14  # chapter 14: prefix-tuning
from . import ch15  # chapter 15: prompt-tuning (templates, verbalizers, calibration)

__all__ = ["EXERCISES", "UnknownQuestionError", "exercise_id_from_name", "get_exercise", "get_question"]

EXERCISES: dict[str, Exercise] = {
    ch00.EXERCISE.id: ch00.EXERCISE,
    ch01.EXERCISE.id: ch01.EXERCISE,
    ch02.EXERCISE.id: ch02.EXERCISE,
    ch03.EXERCISE.id: ch03.EXERCISE,
    ch04.EXERCISE.id: ch04.EXERCISE,
    ch05.EXERCISE.id: ch05.EXERCISE,
    ch06.EXERCISE.id: ch06.EXERCISE,
    ch07.EXERCISE.id: ch07.EXERCISE,
    ch08.EXERCISE.id: ch08.EXERCISE,
    ch09.EXERCISE.id: ch09.EXERCISE,
    ch10.EXERCISE.id: ch10.EXERCISE,
    ch11.EXERCISE.id: ch11.EXERCISE,
    ch12.EXERCISE.id: ch12.EXERCISE,
    ch13.EXERCISE.id: ch13.EXERCISE,
    ch14.EXERCISE.id: ch14.EXERCISE,
    ch15.EXERCISE.id: ch15.EXERCISE,
}


class UnknownQuestionError(KeyError):
    """A question or exercise id that no chapter defines."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def get_exercise(exercise_id: str) -> Exercise:
    """The exercise with this id (``"00"``)."""
    try:
        return EXERCISES[str(exercise_id)]
    except KeyError:
        raise UnknownQuestionError(
            f"unknown exercise {exercise_id!r}; the course has exercises {sorted(EXERCISES)}"
        ) from None


def get_question(question_id: str) -> Question:
    """The question with this id (``"00.vocab"``)."""
    exercise_id = str(question_id).split(".", 1)[0]
    if exercise_id in EXERCISES:
        for q in EXERCISES[exercise_id].questions:
            if q.id == question_id:
                return q
    known = [q.id for ex in EXERCISES.values() for q in ex.questions]
    raise UnknownQuestionError(f"unknown question {question_id!r}; known questions: {', '.join(known)}")


def exercise_id_from_name(name: str) -> str | None:
    """``"00"`` for ``00_overview_exercises.ipynb``; ``None`` when the name does not start with a number.

    >>> exercise_id_from_name("solutions/00_overview_exercises.ipynb"), exercise_id_from_name("alice.ipynb")
    ('00', None)
    """
    m = re.match(r"^(\d{2})_", Path(name).name)
    return m.group(1) if m else None
