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
# # Exercises 15 — a verbalizer's scores, a template's input, calibration, a prompt's bias, multi-token words (prompt-tuning)
#
# Chapter 15 turned classification into the task the model was pre-trained on. A **template**
# wraps the review x in a sentence with a blank — "I love this movie. The movie is ___." — a
# masked LM fills the blank, and a **verbalizer** maps each label to a *label word* ("terrible",
# "great", or finer words such as "boring", "fantastic"): the label whose word the model finds most
# probable at the blank wins. Here you write the pieces that are easiest to get wrong: the scores
# of the label words, the input a template makes (and how it is cut when the text is long),
# contextual calibration, a measurement of how much a prompt favours one label before and after
# calibration, and the score of a label word of several tokens.
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
# Points: 4 + 4 + 4 + 4 + 4, checked automatically.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import copy
import os
import tempfile

import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary


# %% [markdown]
# ## 1. A verbalizer's scores (4 points)
#
# At the blank, the masked LM gives logits z `(V,)` over its whole vocabulary. The score of label l
# is the log-probability that the blank is its word v(l):
#
# $$s(l) = \log P\big([\text{MASK}] = v(l) \mid \text{template}(x)\big) = \log \operatorname{softmax}(z)_{v(l)}
# = z_{v(l)} - \log \sum_{w=1}^{V} e^{z_w} ,$$
#
# normalised over **all V words**, and only then are the label words picked: "great" at 0.02 and
# "terrible" at 0.01 say the model mostly wanted some other word, which a softmax over the two
# label words alone (0.67 / 0.33) would hide. The prediction is the label with the highest score.
#
# Write `verbalizer_score(logits, label_ids)`: `logits` `(B, V)` at the blank of B prompts,
# `label_ids` a list with the token id of each label's word (label j's word is `label_ids[j]`).
# Return the scores `(B, n_labels)` — what `ptm_course.tuning.label_scores` gives for one-token words.

# %%
def verbalizer_score(logits, label_ids):
    """(B, V) logits at the blank -> (B, n_labels) log-probabilities of the label words."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: make the logits a distribution over the whole vocabulary (in log space), then keep, in every row, the columns of the label words in the verbalizer's order")


# %%
check("15.verbalizer_score", verbalizer_score)


# %% [markdown]
# ## 2. A template's input (4 points)
#
# A masked LM reads the template filled with the text and one [MASK] in the blank, between BERT's
# [CLS] and [SEP]:
#
# $$\text{"i love this film ."} \;\xrightarrow{\;\text{"\{x\} the movie is \{mask\} ."}\;}\;
# \texttt{[CLS] i love this film . the movie is [MASK] . [SEP]}$$
#
# The model needs the position of the [MASK] to read its logits there. An input has at most
# `max_len` tokens; when the text is too long, **the text is cut** (its end), never the template's
# words and never the [MASK]: a prompt whose blank was cut off cannot be scored, and one without
# "the movie is" is not the prompt any more. The fixed part is [CLS], [SEP], the template's own
# tokens and the [MASK]; the text gets what is left.
#
# Write `template_input(text, template, tok, max_len)`: `template` a string with `{x}` and
# `{mask}` once each (the blank may come before the text), `tok` a WordPiece tokenizer of the
# course (`tok.encode(s, add_special_tokens=False).ids`, `tok.token_to_id("[CLS]")`, …). Return the
# pair `(ids, mask_position)`: the list of token ids and the index of the [MASK] in it — what
# `ptm_course.tuning.encode_prompts` gives for one text.

# %%
def template_input(text, template, tok, max_len):
    """(token ids of [CLS] template(text) [SEP] with one [MASK], the [MASK]'s index), the text cut to fit max_len."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: tokenise the template's pieces around the two fields and the text separately (without special tokens); everything except the text is fixed, so the text keeps only what the fixed tokens leave of max_len; then assemble the ids in the template's order and note where the [MASK] lands")


# %%
check("15.template_input", template_input)

# %% [markdown]
# The course's own tokenizer needs a vocabulary; here one of 44 words and pieces, enough for the
# reviews below ("fantastic" is three pieces in it: fan ##tas ##tic).

# %%
from ptm_course.data.wordpiece import load_wordpiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "love", "hate", "liked", "enjoyed", "this", "movie", "film",
         "the", "is", "was", "it", "a", "an", "story", "plot", "boring", "dull", "awful", "bad", "great", "terrible",
         "good", "fun", "wonderful", "n", "/", ".", ",", "!", ":", "and", "very", "review", "acting", "ending", "fan",
         "##tas", "##tic"]
with tempfile.TemporaryDirectory() as d:
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    tok = load_wordpiece(os.path.join(d, "vocab.txt"))

try:
    long_review = "i enjoyed this film and the acting was very good and the ending was wonderful"
    ids, at = template_input(long_review, "{x} the movie is {mask} .", tok, max_len=12)
    print(" ".join(tok.id_to_token(i) for i in ids), f"   ([MASK] at {at})")
except NotImplementedError:
    print("write template_input above first")


# %% [markdown]
# ## 3. Contextual calibration (4 points)
#
# A prompt has a bias of its own: some label word is likelier at the blank whatever the text — the
# template's wording, or how often the word was seen in pre-training. Zhao et al. (2021, "Calibrate
# before use") estimate it on a **content-free** input such as "N/A" put through the same template,
# and divide it out:
#
# $$\hat q(l \mid x) = \frac{p(l \mid x)\,/\,p_\text{cf}(l)}{\sum_{l'} p(l' \mid x)\,/\,p_\text{cf}(l')},
# \qquad \log \hat q(l \mid x) = \operatorname{log\,softmax}_l\big(s_x(l) - s_\text{cf}(l)\big),$$
#
# where $s$ are the label scores of question 1. The division is a subtraction of log-probabilities,
# and the result is normalised over the labels. (Should p and p_cf be renormalised over the labels
# first? It changes each row by a constant factor, which the final normalisation removes: not in
# exact arithmetic — but scores of a large vocabulary can be so far below zero that their `exp`
# is 0.)
#
# Write `calibrate_scores(scores, content_free)`: `scores` `(B, n_labels)` label log-probabilities
# of B texts, `content_free` `(n_labels,)` those of the content-free input. Return the calibrated
# log-probabilities `(B, n_labels)` — what `ptm_course.tuning.calibrate` gives.

# %%
def calibrate_scores(scores, content_free):
    """log q̂(l|x) = log_softmax_l(log p(l|x) − log p_cf(l)): (B, n_labels) calibrated log-probabilities."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: dividing probabilities is subtracting log-probabilities (the same content-free row for every text); then make every row a distribution over the labels again, staying in log space")


# %%
check("15.calibrate", calibrate_scores)

# %% [markdown]
# ## 4. Measuring a prompt's bias (4 points)
#
# How much does a prompt favour one label, and does calibration undo it? Measure it on a set of
# N labelled texts: the share of the texts predicted as each label, and the accuracy, before and
# after calibration,
#
# $$\text{share}(l) = \frac{1}{N}\,\big|\{i : \hat y_i = l\}\big|, \qquad
# \text{accuracy} = \frac{1}{N}\,\big|\{i : \hat y_i = y_i\}\big|, \qquad \hat y_i = \arg\max_l s_{x_i}(l)
# \;\text{ or }\; \arg\max_l \log \hat q(l \mid x_i) .$$
#
# A prompt that calls 9 reviews in 10 "terrible" on a balanced set is biased, whatever its
# accuracy. Score with the package — `mlm_label_scores(model, tok, texts, template, verbalizer)`
# gives the `(N, n_labels)` label scores of a masked LM (in evaluation mode; the model may come
# straight out of training) — and calibrate with the content-free text put through the **same**
# template and verbalizer.
#
# Write `label_bias(model, tok, texts, labels, template, verbalizer, content_free)`: `model` a
# course masked LM, `texts` a list of strings, `labels` a list of ints, `template` a
# `ptm_course.tuning.Template`, `verbalizer` a `Verbalizer`, `content_free` a string such as "n/a".
# Return a dict with the keys `"shares"` (a list of n_labels floats, one per label, in label
# order), `"accuracy"` (a float), `"calibrated_shares"` and `"calibrated_accuracy"`.

# %%
from ptm_course.tuning import Template, Verbalizer, mlm_label_scores


def label_bias(model, tok, texts, labels, template, verbalizer, content_free):
    """{"shares", "accuracy", "calibrated_shares", "calibrated_accuracy"}: what the prompt predicts, before and after calibration."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: score the texts and, through the same template, the content-free text with the package; predict with the argmax before and after calibrating; count the predictions of every label (a label never predicted counts 0) and the correct ones, as fractions of the texts")


# %%
check("15.label_bias", label_bias)

# %% [markdown]
# Now measure a model that knows something. A tiny course BERT (2 layers, d = 32), never
# pre-trained, is fine-tuned **through the template** on 18 short reviews with PET's loss — a
# cross-entropy over the two label words' scores at the blank, no new head
# (`ptm_course.tuning.pet_loss`). Then the prompt is given a bias: the output bias of "terrible"
# is raised, as a template that happens to favour the word would. On held-out reviews (the same
# words in new sentences) the measurement shows what the bias does to the predictions, and what
# calibration gives back. The content-free input is the empty text, one of Zhao et al.'s three
# ("N/A", "", "[MASK]"): after fine-tuning, "n/a" is no longer neutral for this model — try it.

# %%
from ptm_course.models.bert import BertConfig, BertForMaskedLM
from ptm_course.tuning import pet_loss, pet_tensors

template, verbalizer = Template("{x} the movie is {mask} ."), Verbalizer({0: "terrible", 1: "great"})
train_texts = [f"a {adj} {noun} ." for adj in ("good", "fun", "great", "boring", "dull", "bad")
               for noun in ("movie", "film", "story")]
train_labels = [1] * 9 + [0] * 9
test_texts = ["the film was good", "the story was dull", "a fun movie", "the movie was bad", "a great story",
              "a boring film", "the story was fun", "the film was bad"]
test_labels = [1, 0, 1, 0, 1, 0, 1, 0]

torch.manual_seed(0)
mlm = BertForMaskedLM(BertConfig.tiny(vocab_size=len(VOCAB), max_len=32))
batch = pet_tensors(tok, train_texts, train_labels, template, verbalizer)
opt = torch.optim.Adam(mlm.parameters(), lr=3e-3)
for step in range(30):  # a few seconds on a CPU, every preset
    loss, metrics = pet_loss(mlm, batch, verbalizer, tok)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"PET on 18 reviews: loss {loss.item():.3f}, training accuracy {metrics['acc'].item():.2f}")

try:
    for shift in (0.0, 3.0):
        biased = copy.deepcopy(mlm)
        with torch.no_grad():
            biased.mlm.bias[tok.token_to_id("terrible")] += shift
        r = label_bias(biased, tok, test_texts, test_labels, template, verbalizer, "")  # content-free: no text
        print(f"'terrible' favoured by {shift:.0f}: predicted terrible/great {r['shares'][0]:.0%}/{r['shares'][1]:.0%}, "
              f"accuracy {r['accuracy']:.0%}; calibrated {r['calibrated_shares'][0]:.0%}/{r['calibrated_shares'][1]:.0%}, "
              f"accuracy {r['calibrated_accuracy']:.0%}")
except NotImplementedError:
    print("write label_bias (and calibrate_scores) above first")


# %% [markdown]
# A bias added to a label word's logit is the same for every input, the content-free one included,
# so calibration removes it exactly: the calibrated numbers do not depend on the shift. A real
# prompt's bias also depends on the text, and calibration removes only its average part.
#
# ## 5. Label words of several tokens (4 points)
#
# "fantastic" is one word of the notes' finer verbalizer, but three pieces of this vocabulary:
# fan ##tas ##tic. A masked LM then gets as many consecutive [MASK]s as the word has pieces, and
# predicts them all at once; under the rule "mean", the word's score is the mean of its pieces'
# log-probabilities, piece j read at blank j:
#
# $$s(w) = \frac{1}{k}\sum_{j=1}^{k} \log \operatorname{softmax}(z_j)_{w_j}, \qquad w = (w_1, \dots, w_k) .$$
#
# The mean, not the sum, so that a long word is not punished for its length ("boring", one piece,
# against "fantastic", three).
#
# Write `mean_word_score(logits, word_ids)`: `logits` `(B, M, V)` at M consecutive blanks,
# `word_ids` the list of the word's k ≤ M token ids. Return the scores `(B,)` — the package's rule
# "mean" (`label_scores(..., rule="mean")`).

# %%
def mean_word_score(logits, word_ids):
    """(B, M, V) logits at M consecutive blanks, a word of k ≤ M tokens -> (B,) mean log-probability of its tokens."""
    # YOUR CODE HERE
    raise NotImplementedError("Hint: log-probabilities over the vocabulary at every blank; piece j of the word is read at blank j, so only the first k blanks are used; average the k values")


# %%
check("15.mean_rule", mean_word_score)

# %% [markdown]
# The PET-trained model above, read with the finer words "boring" (one piece) and "fantastic"
# (three): `mlm_label_scores(..., rule="mean")` encodes one prompt per word length and scores each
# word with the rule you wrote.

# %%
fine = Verbalizer({0: "boring", 1: "fantastic"})
print([tok.id_to_token(i) for i in fine.token_ids(tok, "mean")[1]])
scores = mlm_label_scores(mlm, tok, test_texts[:4], template, fine, rule="mean")
for text, (s_boring, s_fantastic) in zip(test_texts[:4], scores.tolist()):
    print(f"{text!r:>22}: boring {s_boring:7.2f}, fantastic {s_fantastic:7.2f}")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("15")
