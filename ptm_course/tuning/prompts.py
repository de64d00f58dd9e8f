"""Prompting with templates and verbalizers (chapter 15): "I love this movie. The movie is ___."

A classification task becomes the pre-training task. A **template** wraps the input text ``x``
in a sentence with a blank; the language model fills the blank; a **verbalizer** maps each label
to a *label word*, and the label whose word the model finds most probable at the blank wins:

    template = Template("{x} The movie is {mask}.")
    verbalizer = Verbalizer({0: "terrible", 1: "great"})
    scores = mlm_label_scores(model, tok, ["I love this movie."], template, verbalizer)  # (1, 2)
    scores.argmax(-1)                                 # tensor([1]) -> "great" -> positive

    # a causal LM (SmolLM2) can only fill a blank at the end; byte-level BPE words carry their space
    causal_label_scores(llm, llm_tok, texts, Template("{x} The movie is {mask}"),
                        Verbalizer({0: " terrible", 1: " great"}))

    # contextual calibration: divide by the label words' probabilities on a content-free input
    calibrate(scores, mlm_label_scores(model, tok, ["N/A"], template, verbalizer))

    # PET: fine-tune the masked LM *through* the template (no new head)
    data = pet_tensors(tok, texts, labels, template, verbalizer)
    fit(model, tensor_loader(data, 16, shuffle=True), pet_objective(verbalizer, tok), max_steps=100, lr=1e-5)

The score of a label is a log-probability over the whole vocabulary (log_softmax first, then
pick the label words): ``score(l) = log P([MASK] = v(l) | template(x))``.

**Label words of several tokens.** "fantastic" may be one WordPiece or three ("fan ##tas
##tic"); a byte-level BPE may split a rare word too. ``rule`` says what to do:

* ``"single"`` (default): every label word must be one token; otherwise a ValueError names the word,
  its pieces and the two rules below;
* ``"first"``: score the first token only, ``log P(w_1)`` at one blank (cheap; two words that share a
  first token can no longer be told apart, which is refused);
* ``"mean"``: the mean of the tokens' log-probabilities, ``(1/k) Σ_j log P(w_j)``. A masked LM gets
  as many consecutive [MASK]s as the word has tokens, and predicts all k at once (word j at blank
  j, one forward pass per word length); a causal LM reads the word token by token,
  ``log P(w_j | prompt, w_<j)``. The mean, not the sum, so that long words are not punished for
  their length.

**Truncation** cuts the input text ``x`` (its end), never the template or its [MASK]s: a prompt
whose blank was cut off cannot be scored. A template that alone leaves no room for ``x`` is an
error.

**Padding.** Masked-LM prompts are padded on the right (BERT's learned positions count from
[CLS]); causal prompts on the left, so that the next-token logits of every row are at the last
column (the course's decoders count positions from the first real token, so a left-padded row
gets exactly the logits it would get alone).

References: Schick & Schütze 2021, "Exploiting Cloze Questions for Few Shot Text Classification
and Natural Language Inference" (PET); Zhao et al. 2021, "Calibrate Before Use: Improving Few-Shot
Performance of Language Models"; Liu et al. 2021, "Pre-train, Prompt, and Predict" (the survey).
"""

from __future__ import annotations

import string
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "RULES",
    "Template",
    "Verbalizer",
    "calibrate",
    "causal_label_scores",
    "encode_prompts",
    "label_scores",
    "mlm_label_scores",
    "pet_loss",
    "pet_objective",
    "pet_tensors",
]

RULES = ("single", "first", "mean")  # how a label word of several tokens is scored (see the module docstring)

_X, _MASK = "x", "mask"  # the two fields of a template


# --------------------------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A pattern with the input text ``{x}`` and the blank ``{mask}``, each exactly once.

    >>> t = Template("{x} The movie is {mask}.")
    >>> t.fill("I love this movie.")
    'I love this movie. The movie is [MASK].'
    >>> Template("{x} It was {mask}").causal_text("I love this movie.")   # what a causal LM reads
    'I love this movie. It was'

    The blank may stand anywhere for a masked LM ("{mask} news: {x}"); a causal LM reads left to
    right, so for it the blank must come last (:meth:`check_causal`). Literal braces are written
    doubled: ``"{{x}}"``.
    """

    pattern: str

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str):
            raise TypeError(f"a template is a string such as '{{x}} The movie is {{mask}}.', got {self.pattern!r}")
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(self.pattern) if name is not None]
        except ValueError as e:  # a lone '{' or '}'
            raise ValueError(f"template {self.pattern!r}: {e}; write a literal brace twice "
                             "('{{' or '}}')") from None
        unknown = sorted({f for f in fields if f not in (_X, _MASK)})
        if unknown:
            raise ValueError(f"template {self.pattern!r} has unknown field(s) {unknown}: use {{x}} for the input "
                             "text and {mask} for the blank, e.g. '{x} The movie is {mask}.'")
        for name, what in ((_X, "the input text"), (_MASK, "the blank the model fills")):
            n = fields.count(name)
            if n != 1:
                raise ValueError(f"template {self.pattern!r} has {n} {{{name}}} field(s); it needs exactly one "
                                 f"{{{name}}} for {what}, e.g. '{{x}} The movie is {{mask}}.'")
        for _, name, spec, conv in string.Formatter().parse(self.pattern):
            if name is not None and (spec or conv):
                raise ValueError(f"template {self.pattern!r}: write plain {{{name}}}, without a format spec or "
                                 "conversion")

    def parts(self) -> list[tuple[str, str]]:
        """The pattern as ``(kind, text)`` pieces in order; kind is "text", "x" or "mask".

        >>> Template("{x} The movie is {mask}.").parts()
        [('x', ''), ('text', ' The movie is '), ('mask', ''), ('text', '.')]
        """
        out: list[tuple[str, str]] = []
        for literal, name, _, _ in string.Formatter().parse(self.pattern):
            if literal:
                out.append(("text", literal))
            if name is not None:
                out.append((name, ""))
        return out

    def fill(self, x: str, mask: str = "[MASK]", n_masks: int = 1) -> str:
        """The prompt as text, with ``n_masks`` copies of ``mask`` in the blank (for reading)."""
        return self.pattern.format(x=x, mask=" ".join([mask] * n_masks))

    def check_causal(self) -> "Template":
        """Raise unless the blank is last (only white space after ``{mask}``); return the template.

        A causal LM predicts the *next* token from the tokens before it: it can fill a blank at the
        end of the prompt, never one with text after it.
        """
        parts = self.parts()
        at = [kind for kind, _ in parts].index(_MASK)
        after = "".join(text for _, text in parts[at + 1:])
        if after.strip():
            fixed = self.pattern[: len(self.pattern) - len(after)]
            raise ValueError(f"template {self.pattern!r} has {after!r} after {{mask}}: a causal LM reads left to right "
                             f"and can only fill a blank at the end; end the template with the blank, e.g. {fixed!r}")
        return self

    def causal_text(self, x: str) -> str:
        """The text a causal LM reads before the blank: the pattern up to ``{mask}``, trailing space
        removed (with byte-level BPE the space belongs to the label word's token, " great")."""
        self.check_causal()
        return self.fill(x, mask="").rstrip()


# --------------------------------------------------------------------------------------------
# Verbalizer
# --------------------------------------------------------------------------------------------


class Verbalizer:
    """Label index -> label word: ``Verbalizer({0: "terrible", 1: "great"})`` or ``Verbalizer(["terrible", "great"])``.

    Labels are 0 … n − 1. The words are tokenised as written, without special tokens. WordPiece
    ignores white space, so " great" and "great" are the same token there; byte-level BPE (GPT-2,
    SmolLM2) writes the space into the token, and after "The movie is" the word is " great"
    (:func:`causal_label_scores` says so if a word lacks it).

    >>> v = Verbalizer({0: "terrible", 1: "great"})
    >>> v.words, len(v)
    (('terrible', 'great'), 2)
    """

    def __init__(self, words: Mapping[int, str] | Sequence[str]):
        if isinstance(words, str):
            raise TypeError(f"give one word per label, e.g. {{0: 'terrible', 1: 'great'}}, not the string {words!r}")
        if isinstance(words, Mapping):
            labels = sorted(words)
            if labels != list(range(len(labels))):
                raise ValueError(f"verbalizer labels must be 0 … n − 1, got {labels}")
            words = [words[i] for i in labels]
        words = tuple(words)
        if len(words) < 2:
            raise ValueError(f"a verbalizer needs a word for each of at least 2 labels, got {list(words)}")
        bad = [w for w in words if not isinstance(w, str) or not w.strip()]
        if bad:
            raise ValueError(f"label words must be non-empty strings, got {bad!r}")
        self.words: tuple[str, ...] = words

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"Verbalizer({dict(enumerate(self.words))!r})"

    def token_ids(self, tok, rule: str = "single") -> list[list[int]]:
        """The token ids of every label word, checked against ``rule`` (see :data:`RULES`).

        Raises ValueError for a word that becomes an unknown token, a multi-token word under
        ``rule="single"``, two words that ``rule`` cannot tell apart.
        """
        _check_rule(rule)
        unk = _unk_id(tok)
        with _plain(tok):
            ids = [tok.encode(w, add_special_tokens=False).ids for w in self.words]
        for w, t in zip(self.words, ids):
            if not t or (unk is not None and unk in t):
                raise ValueError(f"label word {w!r} is not in the vocabulary (it encodes to "
                                 f"{[tok.id_to_token(i) for i in t]}); choose another word")
        if rule == "single":
            multi = [(w, [tok.id_to_token(i) for i in t]) for w, t in zip(self.words, ids) if len(t) > 1]
            if multi:
                shown = ", ".join(f"{w!r} -> {pieces}" for w, pieces in multi)
                raise ValueError(f"label word(s) not one token of the vocabulary: {shown}. Choose single-token "
                                 "words, or pass rule='first' (score the first token) or rule='mean' (mean "
                                 "log-probability of its tokens, one [MASK] per token)")
        keys = [tuple(t[:1]) if rule == "first" else tuple(t) for t in ids]
        for i in range(len(keys)):
            for j in range(i):
                if keys[i] == keys[j]:
                    why = "share their first token" if rule == "first" else "are the same tokens"
                    raise ValueError(f"label words {self.words[j]!r} and {self.words[i]!r} {why} "
                                     f"({[tok.id_to_token(k) for k in keys[i]]}): rule={rule!r} cannot tell the "
                                     "labels apart" + ("; use rule='mean'" if rule == "first" else ""))
        return ids

    def n_masks(self, tok, rule: str = "single") -> int:
        """How many [MASK]s a masked-LM prompt needs: 1, or (``rule="mean"``) the words' token count,
        which must then be the same for every word (one encoding serves all labels)."""
        ids = self.token_ids(tok, rule)
        if rule != "mean":
            return 1
        lengths = {len(t) for t in ids}
        if len(lengths) > 1:
            shown = {w: len(t) for w, t in zip(self.words, ids)}
            raise ValueError(f"under rule='mean' the label words have different token counts {shown}: one prompt "
                             "cannot hold them all. mlm_label_scores encodes one prompt per length; for PET "
                             "training pick words of the same length, or use rule='first'")
        return lengths.pop()


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r} for multi-token label words; choose 'single' (every word one "
                         "token, else an error), 'first' (first token's log-prob) or 'mean' (mean of the tokens' "
                         "log-probs)")


def _unk_id(tok) -> int | None:
    for name in ("[UNK]", "<unk>", "<|unk|>"):
        i = tok.token_to_id(name)
        if i is not None:
            return i
    return None


# --------------------------------------------------------------------------------------------
# Encoding: the template's tokens are fixed, the input text is cut to fit
# --------------------------------------------------------------------------------------------


@contextmanager
def _plain(tok):
    """``tok`` with any truncation and padding it was set up with switched off (restored after)."""
    trunc, pad = tok.truncation, tok.padding
    tok.no_truncation()
    tok.no_padding()
    try:
        yield tok
    finally:
        if trunc is not None:
            tok.enable_truncation(**trunc)
        if pad is not None:
            pad = dict(pad)
            if "length" in pad and pad["length"] is None:
                pad.pop("length")
            tok.enable_padding(**pad)


def _segments(tok, template: Template, causal: bool) -> list:
    """The template as a list of token-id lists and the markers "x" / "mask", white space placed as
    byte-level BPE expects it: a space before {x} goes to the text (" I love…"), a space before
    {mask} is dropped (it belongs to the label word, " great"); a causal prompt stops at the blank."""
    parts = template.parts()
    segs: list = []
    for i, (kind, text) in enumerate(parts):
        if kind != "text":
            segs.append(kind)
            if causal and kind == _MASK:
                break
            continue
        nxt = parts[i + 1][0] if i + 1 < len(parts) else None
        if nxt in (_X, _MASK):
            stripped = text.rstrip()
            if nxt == _X and len(stripped) < len(text):
                segs.append(("lead", text[len(stripped):]))  # white space handed to the input text
            text = stripped
        if text:
            segs.append(tok.encode(text, add_special_tokens=False).ids)
    return segs


def _prompt_rows(tok, texts: Sequence[str], template: Template, n_masks: int, max_len: int, reserved: int,
                 causal: bool, what: str) -> tuple[list[list[int]], list[int]]:
    """Token ids of every prompt (no special tokens) and the index of its first [MASK] (or, for a
    causal prompt, its length); ``x`` is cut at the end so that prompt + ``reserved`` tokens
    (special tokens, the label word) fit ``max_len``."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string: wrap it as [text]")
    if len(texts) == 0:
        raise ValueError("no texts to prompt with")
    with _plain(tok):
        segs = _segments(tok, template, causal)
        lead = next((s[1] for s in segs if isinstance(s, tuple)), "")
        xs = [lead + t.strip() if t.strip() else "" for t in texts]
        x_ids = [e.ids for e in tok.encode_batch(xs, add_special_tokens=False)]
    fixed = sum(len(s) for s in segs if isinstance(s, list)) + (0 if causal else n_masks) + reserved
    budget = max_len - fixed
    if budget < 1:
        raise ValueError(f"the template {template.pattern!r} takes {fixed} tokens ({what}), which leaves "
                         f"{max(budget, 0)} of max_len={max_len} for the input text: raise max_len or shorten the "
                         "template")
    mask_id = None if causal else _mask_id(tok)
    rows, where = [], []
    for ids_x in x_ids:
        row: list[int] = []
        at = -1
        for s in segs:
            if s == _X:
                row += ids_x[:budget]  # truncation cuts the input text only
            elif s == _MASK:
                at = len(row)
                if not causal:
                    row += [mask_id] * n_masks
            elif isinstance(s, list):
                row += s
        rows.append(row)
        where.append(len(row) if causal else at)
    return rows, where


def _mask_id(tok) -> int:
    i = tok.token_to_id("[MASK]")
    if i is None:
        raise ValueError("the tokenizer has no [MASK] token: masked-LM prompts need a BERT-style vocabulary "
                         "(for a causal LM use causal_label_scores)")
    return i


def encode_prompts(tok, texts: Sequence[str], template: Template, n_masks: int = 1, max_len: int = 128,
                   labels: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """Masked-LM inputs ``[CLS] template(x) [SEP]`` with ``n_masks`` [MASK]s in the blank.

    Returns ``input_ids``, ``token_type_ids``, ``attention_mask`` (B, T), right-padded to the
    longest row (at most ``max_len``), ``mask_positions`` (B, n_masks): where each row's [MASK]s
    are, and ``labels`` (B,) when given. Truncation cuts the end of ``x`` only; the template and
    its [MASK]s are always whole. For a verbalizer, ``n_masks = verbalizer.n_masks(tok, rule)``.

    >>> enc = encode_prompts(tok, ["I love this movie."], Template("{x} The movie is {mask}."))  # doctest: +SKIP
    >>> tok.decode(enc["input_ids"][0].tolist(), skip_special_tokens=False)                      # doctest: +SKIP
    '[CLS] i love this movie. the movie is [MASK]. [SEP]'
    """
    from ..data.wordpiece import special_tokens

    if not isinstance(n_masks, int) or n_masks < 1:
        raise ValueError(f"n_masks must be a positive int, got {n_masks!r}")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    sp = special_tokens(tok)
    rows, where = _prompt_rows(tok, texts, template, n_masks, max_len, 2, causal=False,
                               what=f"{n_masks} [MASK] and [CLS] … [SEP] included")
    rows = [[sp.cls] + r + [sp.sep] for r in rows]
    T = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), T), sp.pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = torch.tensor(r)
        attention_mask[i, : len(r)] = 1
    first = torch.tensor(where)[:, None] + 1  # +1 for [CLS]
    out = {"input_ids": input_ids, "token_type_ids": torch.zeros_like(input_ids), "attention_mask": attention_mask,
           "mask_positions": first + torch.arange(n_masks)}  # (B, n_masks): consecutive blanks
    if labels is not None:
        out["labels"] = torch.tensor(list(labels), dtype=torch.long)
    return out


# --------------------------------------------------------------------------------------------
# Scores: log-probabilities of the label words at the blank
# --------------------------------------------------------------------------------------------


def _word_scores(logp: torch.Tensor, word_ids: Sequence[Sequence[int]], rule: str) -> torch.Tensor:
    """logp (B, M, V) log-probabilities at M blanks -> (B, n_words): word j's token i is read at blank i."""
    cols = []
    for ids in word_ids:
        if rule == "mean":
            k = len(ids)
            if k > logp.size(1):
                raise ValueError(f"a label word of {k} tokens needs {k} blanks, the logits have {logp.size(1)}: "
                                 f"encode the prompt with n_masks={k}")
            at = torch.arange(k, device=logp.device)
            cols.append(logp[:, at, torch.tensor(ids, device=logp.device)].mean(-1))  # (1/k) Σ_j log P(w_j)
        else:  # "single" / "first": the first token at the first blank
            cols.append(logp[:, 0, ids[0]])
    return torch.stack(cols, dim=-1)


def label_scores(logits_at_mask: torch.Tensor, verbalizer: Verbalizer, tok, rule: str = "single") -> torch.Tensor:
    """(B, n_labels) log-probabilities of the label words at the blank.

    ``logits_at_mask``: (B, V) at one blank, or (B, M, V) at M consecutive blanks. Softmax over
    the whole vocabulary first, then the label words are picked:
    ``score(l) = log softmax(z)[v(l)]``; rule "mean": ``(1/k) Σ_j log softmax(z_j)[w_j]`` for a word
    of k tokens, token j at blank j.
    """
    if logits_at_mask.dim() == 2:
        logits_at_mask = logits_at_mask[:, None]  # (B, 1, V)
    if logits_at_mask.dim() != 3:
        raise ValueError(f"logits_at_mask must be (B, V) or (B, n_masks, V), got {tuple(logits_at_mask.shape)}")
    word_ids = verbalizer.token_ids(tok, rule)
    V = logits_at_mask.size(-1)
    too_big = [w for w, t in zip(verbalizer.words, word_ids) if max(t) >= V]
    if too_big:
        raise ValueError(f"label words {too_big} have token ids beyond the logits' {V} columns: is this the "
                         "model's tokenizer?")
    logp = F.log_softmax(logits_at_mask.float(), dim=-1)  # over the vocabulary, then gather
    return _word_scores(logp, word_ids, rule)


def _logits_at(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The masked LM's logits at ``batch["mask_positions"]``: (B, M, V).

    Models with ``.bert`` and ``.mlm`` (BertForMaskedLM, BertForPreTraining,
    BertMeanPoolClassifierWithMLM, and any of them with a tuning method applied) run the last
    encoder layer and the vocabulary projection at the blanks only; other models must return
    (B, T, V) logits from ``model(input_ids, token_type_ids, attention_mask)``.
    """
    ids, types, mask, pos = (batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"),
                             batch["mask_positions"])
    if hasattr(model, "bert") and hasattr(model, "mlm"):
        h, _ = model.bert(ids, types, mask, output_positions=pos)  # (B, M, C): the blanks only
        return model.mlm(h)  # (B, M, V)
    out = model(ids, types, mask)
    out = out[0] if isinstance(out, tuple) else out
    if out.dim() != 3 or out.shape[:2] != ids.shape:
        raise ValueError(f"{type(model).__name__} returned shape {tuple(out.shape)}, not (B, T, vocab) logits: prompts "
                         "need a masked LM (BertForMaskedLM, or a model with .bert and an MLM head .mlm, "
                         "e.g. load_minilm_mlm(BertMeanPoolClassifierWithMLM, n_classes=2))")
    return out.gather(1, pos[:, :, None].expand(-1, -1, out.size(-1)))  # (B, M, V)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def mlm_label_scores(model: nn.Module, tok, texts: Sequence[str], template: Template, verbalizer: Verbalizer,
                     rule: str = "single", max_len: int = 128, batch_size: int = 32) -> torch.Tensor:
    """(B, n_labels) log P(label word | template(x)) at the [MASK] of a masked LM, on the CPU.

    Batched, in eval mode (the model's mode is restored after), on the model's device. Under
    ``rule="mean"`` every distinct word length k gets its own encoding with k [MASK]s.
    ``scores.argmax(-1)`` is the zero-shot prediction.
    """
    word_ids = verbalizer.token_ids(tok, rule)
    lengths = sorted({len(t) for t in word_ids}) if rule == "mean" else [1]
    out = torch.empty(len(texts), len(word_ids))
    device = _device(model)
    was_training = model.training
    model.eval()
    try:
        for k in lengths:
            cols = [j for j, t in enumerate(word_ids) if rule != "mean" or len(t) == k]
            enc = encode_prompts(tok, texts, template, n_masks=k, max_len=max_len)
            for i in range(0, len(texts), batch_size):
                T = int(enc["attention_mask"][i:i + batch_size].sum(1).max())  # trim this batch's padding
                batch = {n: (v[i:i + batch_size, :T] if n != "mask_positions" else v[i:i + batch_size]).to(device)
                         for n, v in enc.items()}
                logp = F.log_softmax(_logits_at(model, batch).float(), dim=-1)  # (b, k, V)
                out[i:i + batch_size, cols] = _word_scores(logp, [word_ids[j] for j in cols], rule).cpu()
    finally:
        model.train(was_training)
    return out


def _check_spaces(tok, template: Template, verbalizer: Verbalizer) -> None:
    # byte-level BPE: "is great" is ['Ġis', 'Ġgreat']; the space before the blank must be in the word
    parts = template.parts()
    at = [kind for kind, _ in parts].index(_MASK)
    before = parts[at - 1][1] if at > 0 else ""  # the text right before the blank ("" after {x})
    if not before or not before[-1].isspace():
        return
    with _plain(tok):
        differ = [tok.encode(" " + w, add_special_tokens=False).ids != tok.encode(w, add_special_tokens=False).ids
                  for w in verbalizer.words]
    for w, space_matters in zip(verbalizer.words, differ):
        if not w[0].isspace() and space_matters:
            raise ValueError(f"label word {w!r} has no leading space, but the template puts one before {{mask}}: this "
                             f"tokenizer writes the space into the word's token, and after {before.rstrip()[-20:]!r} "
                             f"the model would write {' ' + w!r}. Use {' ' + w!r} in the verbalizer")


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, T - len(r):] = torch.tensor(list(r), dtype=torch.long)
        mask[i, T - len(r):] = 1
    return ids, mask


@torch.no_grad()
def causal_label_scores(model: nn.Module, tok, texts: Sequence[str], template: Template, verbalizer: Verbalizer,
                        rule: str = "single", max_len: int = 128, batch_size: int = 16,
                        pad_id: int = 0) -> torch.Tensor:
    """(B, n_labels) log P(label word | prompt) as the next token(s) of a causal LM, on the CPU.

    The prompt is the template up to the blank (which must be last, :meth:`Template.check_causal`).
    Rules "single"/"first": ``log P(w_1 | prompt)`` from one forward pass over the prompts. Rule
    "mean": ``(1/k) Σ_j log P(w_j | prompt, w_<j)``, one pass per label over prompt + word.

    Rows are left-padded (``pad_id``; the attention mask hides it), so the next-token logits are
    in the last column of every row. ``model(input_ids, attention_mask=...) -> (B, T, V)`` as
    :class:`~ptm_course.models.llama.Llama` and :class:`~ptm_course.models.gpt.GPT` give; no BOS
    token is added (SmolLM2 and GPT-2 prompts have none). ``max_len`` counts the prompt and the
    label word; the input text is cut to fit.
    """
    template.check_causal()
    _check_spaces(tok, template, verbalizer)  # first: a missing space is the likelier mistake than a long word
    word_ids = verbalizer.token_ids(tok, rule)
    k_max = max(len(t) for t in word_ids) if rule == "mean" else 1
    prompts, _ = _prompt_rows(tok, texts, template, 0, max_len, k_max, causal=True,
                              what=f"{k_max} for the label word included")
    out = torch.empty(len(texts), len(word_ids))
    device = _device(model)
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(prompts), batch_size):
            rows = prompts[i:i + batch_size]
            if rule != "mean":
                ids, mask = _left_pad(rows, pad_id)
                logits = model(ids.to(device), attention_mask=mask.to(device))[:, -1:]  # (b, 1, V): the next token
                out[i:i + batch_size] = _word_scores(F.log_softmax(logits.float(), -1), word_ids, rule).cpu()
                continue
            for j, w in enumerate(word_ids):
                ids, mask = _left_pad([r + w for r in rows], pad_id)
                k = len(w)
                # the logits at the k positions before the word's last token predict w_1 … w_k: (b, k, V)
                logits = model(ids.to(device), attention_mask=mask.to(device))[:, -k - 1:-1]
                out[i:i + batch_size, j] = _word_scores(F.log_softmax(logits.float(), -1), [w], "mean")[:, 0].cpu()
    finally:
        model.train(was_training)
    return out


def calibrate(scores: torch.Tensor, content_free_scores: torch.Tensor) -> torch.Tensor:
    """Contextual calibration (Zhao et al. 2021): (B, n_labels) calibrated log-probabilities.

    A prompt has a bias of its own: some label word is likelier whatever the input. Estimate it on
    a content-free input ("N/A", "", "[MASK]") and divide it out:

        p̂(l | x)   = softmax over the label words of scores(x)          (renormalised)
        p̂_cf(l)    = the same on the content-free input(s), averaged over them
        q̂(l | x)  ∝ p̂(l | x) / p̂_cf(l)                                   (W = diag(p̂_cf)⁻¹, b = 0)

    returned as ``log q̂`` (normalised over the labels). The paper then applies a softmax to
    W·p̂ instead of normalising; the argmax — the prediction — is the same.

    ``scores``: (B, n_labels) log-probabilities (:func:`mlm_label_scores`, :func:`causal_label_scores`);
    ``content_free_scores``: (n_labels,) or (K, n_labels), K content-free inputs.

    >>> p, p_cf = torch.tensor([[0.4, 0.6]]), torch.tensor([0.2, 0.8])  # the prompt favours label 1
    >>> calibrate(p.log(), p_cf.log()).exp()                               # 0.4/0.2 : 0.6/0.8 = 2 : 0.75
    tensor([[0.7273, 0.2727]])
    """
    if content_free_scores.dim() == 1:
        content_free_scores = content_free_scores[None]
    if scores.dim() != 2 or content_free_scores.dim() != 2 or scores.size(-1) != content_free_scores.size(-1):
        raise ValueError(f"scores (B, n_labels) and content_free_scores (n_labels,) or (K, n_labels) must have the "
                         f"same number of labels, got {tuple(scores.shape)} and {tuple(content_free_scores.shape)}")
    log_p = scores.float().log_softmax(-1)  # log p̂(l | x)
    p_cf = content_free_scores.float().softmax(-1).mean(0)  # p̂_cf(l), averaged over the content-free inputs
    return (log_p - p_cf.log().to(log_p.device)).log_softmax(-1)  # log q̂ ∝ log p̂ − log p̂_cf


# --------------------------------------------------------------------------------------------
# PET: fine-tune the masked LM through the template
# --------------------------------------------------------------------------------------------


def pet_tensors(tok, texts: Sequence[str], labels: Sequence[int], template: Template, verbalizer: Verbalizer,
                rule: str = "single", max_len: int = 128) -> dict[str, torch.Tensor]:
    """Texts and labels -> the tensors :func:`pet_loss` trains on (:func:`encode_prompts` with as
    many [MASK]s as ``rule`` needs); ready for :func:`ptm_course.data.bert_inputs.tensor_loader`."""
    bad = sorted({int(y) for y in labels if not 0 <= int(y) < len(verbalizer)})
    if bad:
        raise ValueError(f"labels {bad} have no label word: the verbalizer covers 0 … {len(verbalizer) - 1}")
    return encode_prompts(tok, texts, template, n_masks=verbalizer.n_masks(tok, rule), max_len=max_len, labels=labels)


def pet_loss(model: nn.Module, batch: Mapping[str, torch.Tensor], verbalizer: Verbalizer, tok,
             rule: str = "single"):
    """PET's loss (Schick & Schütze 2021): cross-entropy over the label words' scores at the blank.

    L = −log softmax_l(s(l))[y],  s(l) = z[v(l)] the MLM logit of label l's word at the [MASK].

    The scores used are log-probabilities over the vocabulary, log softmax(z)[v(l)] = z[v(l)] − log Z:
    they differ from the raw logits by log Z, the same for every label, so the cross-entropy is
    the same. Gradients reach the whole encoder; no new parameter is added. Metrics: ``acc``.
    """
    word_ids = verbalizer.token_ids(tok, rule)
    logits = _logits_at(model, batch)  # (B, M, V)
    if rule == "mean" and {len(t) for t in word_ids} != {logits.size(1)}:
        raise ValueError(f"the batch has {logits.size(1)} [MASK]s per row, the label words have "
                         f"{sorted({len(t) for t in word_ids})} tokens: build it with pet_tensors(..., rule='mean')")
    scores = _word_scores(F.log_softmax(logits.float(), dim=-1), word_ids, rule)  # (B, n_labels)
    loss = F.cross_entropy(scores, batch["labels"])
    return loss, {"acc": (scores.argmax(-1) == batch["labels"]).float().mean()}


def pet_objective(verbalizer: Verbalizer, tok, rule: str = "single"):
    """A ``fit`` loss: ``loss_fn(model, batch) -> (loss, {"acc": ...})``, :func:`pet_loss` with these
    label words. The words are checked now, so a bad verbalizer fails before training starts."""
    verbalizer.token_ids(tok, rule)

    def loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]):
        return pet_loss(model, batch, verbalizer, tok, rule)

    return loss_fn
