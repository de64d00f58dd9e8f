"""Exercise 15: a verbalizer's scores, a template's input, contextual calibration, measuring a
prompt's bias, label words of several tokens (prompt-tuning).

Notebook: ``exercises/15_prompt_tuning_exercises.ipynb`` (master: ``solutions/``). Five questions:

- ``15.verbalizer_score`` — ``verbalizer_score(logits, label_ids)``: the (B, n_labels)
  log-probabilities of the label words at the blank, a log-softmax over the whole vocabulary and
  then the label words' columns; compared with :func:`ptm_course.tuning.label_scores`;
- ``15.template_input`` — ``template_input(text, template, tok, max_len)``: the masked LM's input
  ids ``[CLS] template(x) [SEP]`` with one [MASK] in the blank, the text cut (never the template
  or the [MASK]) to fit ``max_len``, and the [MASK]'s index; compared with
  :func:`ptm_course.tuning.encode_prompts` on a hand-written WordPiece vocabulary;
- ``15.calibrate`` — ``calibrate_scores(scores, content_free)``: contextual calibration (Zhao et al.
  2021), ``log q̂ = log softmax_l(log p(l|x) − log p_cf(l))``; compared with
  :func:`ptm_course.tuning.calibrate`, including log-probabilities whose ``exp`` underflows;
- ``15.label_bias`` — ``label_bias(model, tok, texts, labels, template, verbalizer, content_free)``:
  the measurement — the share of the texts predicted as each label and the accuracy, before and
  after calibration; compared with :func:`~ptm_course.tuning.mlm_label_scores` and
  :func:`~ptm_course.tuning.calibrate` on a tiny random course BERT whose output bias favours one
  label word (by a little, and so much that the other is never predicted);
- ``15.mean_rule`` — ``mean_word_score(logits, word_ids)``: the score of a label word of k tokens
  at consecutive blanks, the mean of ``log softmax(z_j)[w_j]``; compared with the package's rule
  "mean".

Every model and vocabulary here is tiny (d 32, 2 layers, 50 tokens): each question grades in well
under a second.
"""

from __future__ import annotations

import copy
import os
import tempfile
from functools import lru_cache
from typing import Callable, Sequence

from ..core import Exercise, Mismatch, Question, Test, _as_number, expect_tensor, short_repr

__all__ = ["EXERCISE"]

WORDS = ["i", "love", "hate", "liked", "enjoyed", "this", "movie", "film", "the", "is", "was", "it", "a", "an",
         "story", "plot", "boring", "dull", "awful", "bad", "great", "terrible", "good", "fun", "wonderful", "n", "/",
         ".", ",", "!", ":", "and", "very", "review", "acting", "ending", "fan", "##tas", "##tic"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEMPLATE = "{x} the movie is {mask} ."
LABEL_WORDS = {0: "terrible", 1: "great"}
REVIEWS = ["the plot was wonderful", "an awful ending", "very fun acting", "i enjoyed it", "the acting was dull",
           "boring and bad", "a wonderful story", "it was awful", "i love this film", "i hate this movie"]
GOLD = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
CONTENT_FREE = "n/a"


def _randn(shape: tuple[int, ...], seed: int, scale: float = 1.0):
    import torch

    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@lru_cache(maxsize=1)
def _tok():
    """A WordPiece tokenizer on :data:`VOCAB` ("fantastic" is fan ##tas ##tic)."""
    from ptm_course.data.wordpiece import load_wordpiece

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vocab.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(VOCAB) + "\n")
        return load_wordpiece(path)


def _check_pieces_tok():
    return copy.deepcopy(_tok())  # a learner's function may switch on truncation or padding


def _expect_scores(got, want, call: str, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """``expect_tensor`` with a word on -inf and NaN, which the comparison alone reports as a huge difference."""
    import torch

    if isinstance(got, torch.Tensor) and got.shape == want.shape and not torch.isfinite(got).all():
        bad = "NaN" if got.isnan().any() else "-inf"
        raise Mismatch(f"the result has {bad} where the expected scores are finite", call=call,
                       expected=short_repr(want.flatten()[:8].tolist()),
                       got=short_repr(got.detach().flatten()[:8].tolist()))
    expect_tensor(got, want, call, atol=atol, rtol=rtol)


# ---- 15.verbalizer_score -----------------------------------------------------------------------


def _package_scores(logits, label_ids: Sequence[int]):
    import torch

    from ptm_course.tuning.prompts import _word_scores

    logp = torch.log_softmax(logits.float(), dim=-1)[:, None]  # (B, 1, V): one blank
    return _word_scores(logp, [[i] for i in label_ids], "single")  # what label_scores does after tokenising


def _verbalizer_case(B: int, V: int, label_ids: Sequence[int], seed: int, scale: float = 1.0,
                     argmax_only: bool = False) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        logits = _randn((B, V), seed, scale)
        want = _package_scores(logits, label_ids)
        size = " in the hundreds" if scale > 10 else ""
        call = f"verbalizer_score(logits {tuple(logits.shape)}{size}, label_ids={list(label_ids)})"
        got = fn(logits.clone(), list(label_ids))
        if not argmax_only:
            _expect_scores(got, want, call)
            return
        if not isinstance(got, torch.Tensor):
            raise Mismatch(f"wrong return type: expected a torch.Tensor, got {type(got).__name__}", call=call)
        if got.shape != want.shape:
            raise Mismatch(f"wrong shape: expected (B, n_labels) = {tuple(want.shape)}, got {tuple(got.shape)}",
                           call=call)
        if not torch.equal(got.argmax(-1), want.argmax(-1)):
            raise Mismatch("the label with the highest score differs", call=call + "  [argmax over the labels]",
                           expected=str(want.argmax(-1).tolist()), got=str(got.argmax(-1).tolist()))

    return test


VERBALIZER = Question(
    "15.verbalizer_score",
    "verbalizer_score",
    "A verbalizer's scores",
    tests=(
        Test("the prediction: one score per row and label, the likeliest label word wins",
             _verbalizer_case(3, 10, (7, 2), 0, argmax_only=True), points=1,
             hint="the result is (B, n_labels): column j is the score of label j's word, the token label_ids[j], "
                  "read in every row: logits[:, label_ids] picks those columns (logits[label_ids] picks rows)"),
        Test("the scores are log-probabilities over the whole vocabulary (3 labels, V = 12)",
             _verbalizer_case(4, 12, (5, 9, 1), 10), points=2,
             hint="normalise over all V words first, then pick: F.log_softmax(logits, dim=-1)[:, label_ids]. A "
                  "softmax over the label words' logits alone keeps the argmax but not the numbers (the other words' "
                  "probability disappears); raw logits and probabilities are not log-probabilities either"),
        Test("a confident model (logits in the hundreds): no -inf",
             _verbalizer_case(2, 8, (3, 6, 0), 20, scale=100.0), points=1,
             hint="softmax(...).log() underflows: a probability below ~1e-45 is 0 in float32 and its log -inf. "
                  "F.log_softmax (logits minus their logsumexp) stays finite"),
    ),
)

# ---- 15.template_input -------------------------------------------------------------------------


def _as_ids(got) -> list[int] | None:
    import torch

    if isinstance(got, torch.Tensor):
        return [int(i) for i in got.flatten().tolist()] if got.dim() == 1 or got.shape[0] == 1 else None
    if isinstance(got, (list, tuple)) and all(isinstance(i, int) and not isinstance(i, bool) for i in got):
        return list(got)
    return None


def _template_case(cases: Sequence[tuple[str, str, int]]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.tuning import Template, encode_prompts

        tok = _tok()
        for text, template, max_len in cases:
            enc = encode_prompts(tok, [text], Template(template), max_len=max_len)
            want_ids, want_pos = enc["input_ids"][0].tolist(), int(enc["mask_positions"][0, 0])
            call = f"template_input({text!r}, {template!r}, tok, max_len={max_len})"
            got = fn(text, template, _check_pieces_tok(), max_len)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise Mismatch(f"return a pair (ids, mask_position), got {short_repr(got, 80)}", call=call)
            ids, pos = _as_ids(got[0]), _as_number(got[1])
            if ids is None:
                raise Mismatch(f"ids: expected a list of ints, got {short_repr(got[0], 80)}", call=call)
            if ids != want_ids:
                pieces = [tok.id_to_token(i) for i in ids] if all(0 <= i < len(VOCAB) for i in ids) else ids
                size = (f"{len(ids)} tokens where {len(want_ids)} were expected" if len(ids) != len(want_ids)
                        else "the right length, other tokens")
                raise Mismatch(f"wrong ids ({size})", call=call,
                               expected=" ".join(tok.id_to_token(i) for i in want_ids), got=" ".join(map(str, pieces)))
            if pos is None or pos != want_pos:
                raise Mismatch("wrong mask_position: the index of [MASK] in the ids you return", call=call,
                               expected=str(want_pos), got=short_repr(got[1], 40))

    return test


TEMPLATE_INPUT = Question(
    "15.template_input",
    "template_input",
    "A template's input",
    tests=(
        Test("[CLS] text + template [SEP], the [MASK] where {mask} is",
             _template_case((("i love this film .", TEMPLATE, 32), ("boring", TEMPLATE, 32))), points=1,
             hint="tokenise the pieces of the template around {x} and {mask} with tok.encode(piece, "
                  "add_special_tokens=False).ids, the text the same way, put tok.token_to_id('[MASK]') in the blank "
                  "and [CLS] … [SEP] around it all; the position counts [CLS] (index 0)"),
        Test("the blank before the text",
             _template_case((("the plot was fun", "it was {mask} . {x}", 32),
                             ("a dull story", "review : {mask} ! {x}", 32))), points=1,
             hint="the [MASK]'s index is the number of tokens before it in the final ids: [CLS] and the template's "
                  "tokens in front of the blank, whatever comes after it"),
        Test("a long text: the text is cut to fit max_len, never the template or its [MASK]",
             _template_case((("i love this film and the acting was very good and the ending was fun", TEMPLATE, 12),
                             ("i hate this movie", TEMPLATE, 10), ("i hate this movie", TEMPLATE, 9),
                             ("the plot was dull and the acting was bad", "review : {x} it was {mask} .", 11))),
             points=2,
             hint="the fixed tokens are [CLS], [SEP], the template's own tokens and the [MASK]: the text keeps its "
                  "first max_len − fixed tokens (ids_x[:budget]). Cutting the whole sequence at max_len loses the "
                  "end of the template, maybe the [MASK]; and the [MASK]'s index is counted in the cut sequence"),
    ),
)

# ---- 15.calibrate ------------------------------------------------------------------------------


def _calibrate_case(scores: Sequence[Sequence[float]] | None, cf: Sequence[float] | None, seed: int = 0,
                    shape: tuple[int, int] = (0, 0), offset: float = 0.0,
                    argmax_only: bool = False) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.tuning import calibrate

        if scores is None:  # random log-probabilities over a vocabulary, `offset` below zero
            B, L = shape
            s = _randn((B, L), seed) - offset
            c = _randn((L,), seed + 1) - offset
        else:
            s, c = torch.tensor(scores).log(), torch.tensor(cf).log()
        want = calibrate(s, c)
        call = f"calibrate_scores(scores {tuple(s.shape)}, content_free {tuple(c.shape)})"
        if scores is not None:
            call = f"calibrate_scores(torch.tensor({list(map(list, scores))}).log(), torch.tensor({list(cf)}).log())"
        got = fn(s.clone(), c.clone())
        if not argmax_only:
            _expect_scores(got, want, call)
            return
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            raise Mismatch(f"expected a tensor of shape {tuple(want.shape)}, got {short_repr(got, 80)}", call=call)
        if not torch.equal(got.argmax(-1), want.argmax(-1)):
            raise Mismatch("the calibrated prediction (argmax over the labels) differs", call=call,
                           expected=str(want.argmax(-1).tolist()), got=str(got.argmax(-1).tolist()))

    return test


# The prompt favours "great": the content-free input gives it 0.16 of the vocabulary's probability,
# "terrible" 0.04 (4 : 1). Rows 0 and 2 look positive only through that bias.
_BIASED = ([[0.02, 0.05], [0.01, 0.08], [0.03, 0.09], [0.05, 0.01]], [0.04, 0.16])

CALIBRATE = Question(
    "15.calibrate",
    "calibrate_scores",
    "Contextual calibration",
    tests=(
        Test("the prediction after calibration: the prompt's bias divided out",
             _calibrate_case(*_BIASED, argmax_only=True), points=1,
             hint="divide each label's probability by its probability on the content-free input: in log space "
                  "that is scores − content_free (a subtraction, broadcast over the rows). Dividing the "
                  "log-probabilities themselves, or subtracting probabilities, is something else"),
        Test("calibrated log-probabilities, normalised over the labels (3 labels)",
             _calibrate_case(None, None, seed=10, shape=(5, 3), offset=3.0), points=2,
             hint="q̂(l|x) ∝ p(l|x) / p_cf(l) is a distribution over the labels: return "
                  "(scores − content_free).log_softmax(-1), whose exp sums to 1 in every row. Renormalising "
                  "p(l|x) or p_cf(l) over the labels first only adds a constant per row, which this removes"),
        Test("log-probabilities far below zero (a large vocabulary): exp underflows",
             _calibrate_case(None, None, seed=20, shape=(4, 2), offset=110.0), points=1,
             hint="exp(-110) is 0 in float32, and 0 / 0 is NaN: stay in log space (subtract, then log_softmax), "
                  "or renormalise over the labels first with softmax, which subtracts the largest score before exp"),
    ),
)

# ---- 15.label_bias -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _random_mlm():
    import torch

    from ptm_course.models.bert import BertConfig, BertForMaskedLM

    torch.manual_seed(0)  # init_std 0.3: a random model whose scores vary from text to text
    return BertForMaskedLM(BertConfig.tiny(vocab_size=len(VOCAB), max_len=32, init_std=0.3))


def _biased_mlm(shift: float):
    """The random tiny BERT, in train mode (dropout 0.1), with ``shift`` added to the output bias of
    label 0's word: a prompt that favours "terrible" whatever the text."""
    import torch

    model = copy.deepcopy(_random_mlm()).train()
    with torch.no_grad():
        model.mlm.bias[_tok().token_to_id(LABEL_WORDS[0])] += shift
    return model


def _reference_bias(model, texts: Sequence[str], labels: Sequence[int]) -> dict:
    import torch

    from ptm_course.tuning import Template, Verbalizer, calibrate, mlm_label_scores

    tok, template, verbalizer = _tok(), Template(TEMPLATE), Verbalizer(LABEL_WORDS)
    scores = mlm_label_scores(model, tok, list(texts), template, verbalizer)  # (B, n_labels)
    cf = mlm_label_scores(model, tok, [CONTENT_FREE], template, verbalizer)[0]  # (n_labels,)
    gold = torch.tensor(list(labels))
    out = {}
    for prefix, s in (("", scores), ("calibrated_", calibrate(scores, cf))):
        pred = s.argmax(-1)
        out[prefix + "shares"] = (torch.bincount(pred, minlength=len(verbalizer)).float() / len(texts)).tolist()
        out[prefix + "accuracy"] = (pred == gold).float().mean().item()
    return out


def _as_floats(x) -> list[float] | None:
    import torch

    if isinstance(x, torch.Tensor):
        x = x.flatten().tolist() if x.dim() <= 1 else None
    if not isinstance(x, (list, tuple)):
        return None
    values = [_as_number(v) for v in x]
    return None if any(v is None for v in values) else values


def _bias_case(shift: float, keys: Sequence[str]) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        from ptm_course.tuning import Template, Verbalizer

        model = _biased_mlm(shift)
        want = _reference_bias(model, REVIEWS, GOLD)
        call = (f"label_bias(model [tiny BERT{', the output bias favouring terrible by %g' % shift if shift else ''}], "
                f"tok, {len(REVIEWS)} reviews, labels, Template({TEMPLATE!r}), Verbalizer({LABEL_WORDS}), "
                f"{CONTENT_FREE!r})")
        got = fn(model, _check_pieces_tok(), list(REVIEWS), list(GOLD), Template(TEMPLATE), Verbalizer(LABEL_WORDS),
                 CONTENT_FREE)
        if not isinstance(got, dict):
            raise Mismatch(f"return a dict with the keys {sorted(want)}, got {type(got).__name__}", call=call)
        missing = [k for k in keys if k not in got]
        if missing:
            raise Mismatch(f"the dict lacks the key(s) {missing}", call=call)
        for k in keys:
            e = want[k]
            if k.endswith("shares"):
                g = _as_floats(got[k])
                if g is None or len(g) != len(e):
                    raise Mismatch(f"{k!r}: expected a list of {len(e)} fractions, one per label (a label never "
                                   f"predicted has 0.0)", call=call, expected=short_repr(e), got=short_repr(got[k], 80))
                if any(abs(a - b) > 1e-6 for a, b in zip(g, e)):
                    raise Mismatch(f"{k!r}: wrong fractions", call=call, expected=short_repr(e), got=short_repr(g))
            else:
                g = _as_number(got[k])
                if g is None or abs(g - e) > 1e-6:
                    raise Mismatch(f"{k!r}: expected the fraction {e:.4g}", call=call, expected=f"{e:.6g}",
                                   got=short_repr(got[k], 40))

    return test


LABEL_BIAS = Question(
    "15.label_bias",
    "label_bias",
    "Measuring a prompt's bias",
    tests=(
        Test("before calibration: the share of the texts predicted as each label, and the accuracy",
             _bias_case(2.0, ("shares", "accuracy")), points=2,
             hint="scores = mlm_label_scores(model, tok, texts, template, verbalizer) (it switches to eval mode), "
                  "the prediction is scores.argmax(-1); shares[l] = the fraction of the texts predicted l "
                  "(torch.bincount(pred, minlength=n_labels) / len(texts)), accuracy = (pred == labels).float().mean(): "
                  "fractions of the predictions, not of the gold labels"),
        Test("after calibration with the content-free input in the same template",
             _bias_case(0.0, ("calibrated_shares", "calibrated_accuracy")), points=1,
             hint="score the content-free text through the same template and verbalizer, "
                  "mlm_label_scores(model, tok, [content_free], template, verbalizer)[0], and calibrate every text's "
                  "scores with it (your calibrate_scores, or the package's calibrate); then the same shares and "
                  "accuracy. Calibrating with the texts' own mean is another method"),
        Test("a prompt so biased that one label is never predicted (before calibration)",
             _bias_case(8.0, ("shares", "accuracy", "calibrated_shares", "calibrated_accuracy")), points=1,
             hint="shares has one number per label, 0.0 for a label no text gets: torch.bincount(pred) alone stops "
                  "at the largest label predicted, minlength=len(verbalizer) keeps them all"),
    ),
)

# ---- 15.mean_rule ------------------------------------------------------------------------------


def _mean_case(B: int, M: int, V: int, word: Sequence[int], seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.tuning.prompts import _word_scores

        logits = _randn((B, M, V), seed, 2.0)
        want = _word_scores(torch.log_softmax(logits, -1), [list(word)], "mean")[:, 0]  # (B,)
        call = f"mean_word_score(logits {tuple(logits.shape)} at {M} blank(s), word_ids={list(word)})"
        _expect_scores(fn(logits.clone(), list(word)), want, call)

    return test


MEAN_RULE = Question(
    "15.mean_rule",
    "mean_word_score",
    "Label words of several tokens",
    tests=(
        Test("a word of one token at one blank: the verbalizer's score", _mean_case(3, 1, 10, (4,), 0), points=1,
             hint="log_softmax over the vocabulary (the last axis) at the blank, then the word's token: "
                  "a (B,) tensor, one score per row"),
        Test("a word of three tokens at three blanks: token j at blank j, the mean",
             _mean_case(4, 3, 12, (7, 2, 9), 10), points=2,
             hint="logp = logits.log_softmax(-1) (B, M, V); token j of the word is read at blank j: "
                  "logp[:, j, word_ids[j]]; average the k values (the mean, not the sum, so that long words are not "
                  "punished for their length). Reading every token at the first blank, or a log of the mean "
                  "probability, gives other numbers"),
        Test("a word of two tokens in a prompt of three blanks: the first two blanks",
             _mean_case(2, 3, 10, (5, 1), 20), points=1,
             hint="a word of k tokens uses blanks 0 … k − 1 only: torch.arange(k) for the blanks with the word's ids "
                  "for the vocabulary, logp[:, torch.arange(k), word_ids].mean(-1)"),
    ),
)

EXERCISE = Exercise("15", "a verbalizer's scores, a template's input, calibration, a prompt's bias, multi-token words",
                    (VERBALIZER, TEMPLATE_INPUT, CALIBRATE, LABEL_BIAS, MEAN_RULE))
