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
# # Exercises 08 — the `[CLS]` head, sub-word labels, answer spans (How to use BERT: fine-tuning)
#
# Chapter 08 fine-tuned BERT for the notes' four cases. Here you write three pieces of them
# yourself: the `[CLS]` classifier of cases 1 and 3, the labels of case 2 when words are cut
# into sub-words, and the span decoding of case 4. Then one open question on what the chapter's
# comparison of starting weights measures.
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
# Points: 4 + 4 + 4 checked automatically, and 4 for the open question, graded by your instructor.

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
# ## 1. The `[CLS]` classification head (4 points)
#
# For a sentence (or a pair) BERT's output at `[CLS]` — the first position — goes through the
# pooler and a linear classifier:
#
# $$\text{logits} = W \tanh(W_p\, h_\text{[CLS]} + b_p) + b$$
#
# Write `cls_logits(hidden, W_p, b_p, W, b)`: `hidden` is BERT's output `(B, T, H)`; `W_p` `(H, H)`,
# `b_p` `(H,)`, `W` `(C, H)`, `b` `(C,)` are in `nn.Linear`'s layout (out, in). Return `(B, C)` logits.

# %%
def cls_logits(hidden, W_p, b_p, W, b):
    """Logits of the [CLS] classifier: W·tanh(W_p·h_cls + b_p) + b, batched."""
    ### BEGIN SOLUTION hint: only the first position, [CLS], feeds the classifier: take its vector, pass it through the pooler (a linear map, then tanh) and then through the classifier's linear map; weights in nn.Linear's layout are (out, in), so a layer multiplies by the transposed weight and adds the bias
    h_cls = hidden[:, 0]  # (B, H)
    pooled = torch.tanh(h_cls @ W_p.T + b_p)
    return pooled @ W.T + b
    ### END SOLUTION


# %%
check("08.cls_head", cls_logits)
### BEGIN HIDDEN TESTS
from ptm_course.grading import evaluate
from ptm_course.models.bert import BertConfig, BertForSequenceClassification

m = BertForSequenceClassification(BertConfig.tiny(), n_classes=3).eval()
ids = torch.randint(5, 1000, (2, 6))
with torch.no_grad():
    h, _ = m.bert(ids)
    assert torch.allclose(cls_logits(h, m.bert.pooler.weight, m.bert.pooler.bias, m.classifier.weight, m.classifier.bias), m(ids), atol=1e-6)
assert evaluate("08.cls_head", cls_logits).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Labels for sub-words (4 points)
#
# In case 2 every word has a label (a part-of-speech tag), but BERT sees sub-words:
# "unbelievably" may become `un ##believ ##ably`. The usual rule (BERT paper, §5.3): the label goes
# on the **first** piece of each word; the other pieces, and the special tokens `[CLS]`, `[SEP]`,
# `[PAD]`, get −100 so that the loss ignores them.
#
# Write `align_labels(word_ids, word_labels)`: `word_ids` has one entry per token — the index of the
# word it belongs to, or `None` for a special token (this is what `tokenizers`' `Encoding.word_ids`
# gives); `word_labels` has one label per word. Return the list of token labels.
#
# Example: `align_labels([None, 0, 1, 1, None], [5, 7])` returns `[-100, 5, 7, -100, -100]`.

# %%
def align_labels(word_ids, word_labels):
    """A word's label on its first sub-word, -100 on continuation pieces and special tokens."""
    ### BEGIN SOLUTION hint: walk through the tokens in order and remember which word the previous token belonged to: a token carries its word's label only when it starts a new word; special tokens (no word) and the continuation pieces of a word get -100
    labels, previous = [], None
    for w in word_ids:
        labels.append(-100 if w is None or w == previous else word_labels[w])
        previous = w
    return labels
    ### END SOLUTION


# %%
check("08.align_labels", align_labels)
### BEGIN HIDDEN TESTS
from ptm_course.data.bert_inputs import encode_tagged
from ptm_course.data.wordpiece import train_wordpiece

tok = train_wordpiece(["the playing players played playfully"] * 20, vocab_size=60, min_frequency=1)
enc = encode_tagged(tok, [["playfully", "the", "players"]], [["RB", "DT", "NNS"]], {"RB": 0, "DT": 1, "NNS": 2})
words = tok.encode(["playfully", "the", "players"], is_pretokenized=True).word_ids
assert align_labels(words, [0, 1, 2]) == enc["labels"][0].tolist()
assert evaluate("08.align_labels", align_labels).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Decoding the answer span (4 points)
#
# In case 4 the model scores each token as the answer's start ($s_i$) and end ($e_j$). The answer
# is the best **valid** span: the one with the largest $s_i + e_j$ such that
#
# - it does not end before it starts: $j \ge i$;
# - it is not too long: $j - i + 1 \le$ `max_answer_len`;
# - both ends lie in the passage: `allowed[i]` and `allowed[j]` are True (not the question, not
#   `[CLS]`/`[SEP]`, not padding).
#
# Write `decode_span(start_logits, end_logits, allowed, max_answer_len)` for one example (1-D
# tensors of length T, `allowed` a bool tensor) and return `(i, j)` as two ints. Ties: any of the best.

# %%
def decode_span(start_logits, end_logits, allowed, max_answer_len):
    """(i, j) maximising start_logits[i] + end_logits[j] with i <= j < i + max_answer_len, both allowed."""
    ### BEGIN SOLUTION hint: score every (start, end) pair at once, as a table of start score plus end score; rule out the invalid cells (end before start, longer than max_answer_len, either end outside the passage) and return the row and column of the best remaining cell
    T = start_logits.shape[0]
    scores = start_logits[:, None] + end_logits[None, :]  # (T_start, T_end)
    i = torch.arange(T)
    length = i[None, :] - i[:, None]  # j - i
    valid = (length >= 0) & (length < max_answer_len) & allowed[:, None] & allowed[None, :]
    best = int(scores.masked_fill(~valid, float("-inf")).argmax())
    return best // T, best % T
    ### END SOLUTION


# %%
check("08.best_span", decode_span)
### BEGIN HIDDEN TESTS
s, e = torch.tensor([0.0, 5.0, 1.0, 0.0]), torch.tensor([9.0, 0.0, 1.0, 2.0])
assert decode_span(s, e, torch.ones(4, dtype=torch.bool), 30) == (0, 0)
assert decode_span(s, e, torch.tensor([False, True, True, True]), 30) == (1, 3)
assert decode_span(s, e, torch.tensor([False, True, True, True]), 2) == (1, 2)
assert evaluate("08.best_span", decode_span).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Open question: what the gap measures (4 points, graded by your instructor)
#
# Chapter 08 fine-tunes the same architecture from random weights and from all-MiniLM-L6-v2 and
# calls the difference "what pre-training buys". In 4 to 8 sentences, written into `reflection`:
#
# - what did MiniLM's weights learn before you got them, besides Masked LM pre-training?
# - what does that mean for the gap on each of the four cases — which cases could it favour?
# - how would you measure the gain of pre-training alone?

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
all-MiniLM-L6-v2 is not a plain pre-trained BERT: MiniLM was distilled from a larger Transformer
pre-trained with MLM, and sentence-transformers then trained it contrastively on about a billion
sentence pairs (Reddit, NLI pairs from SNLI/MultiNLI, question-answer pairs and more) to put
sentences that belong together near each other. So the gap between the random start and MiniLM
mixes pre-training with supervised pair training. Case 3 is close to NLI (does a premise support
a hypothesis), and case 4 pairs a question with a passage, so those two may gain from the pair
training most; cases 1 and 2 less directly. To measure pre-training alone I would fine-tune a
checkpoint trained only with MLM (chapter 07's, or bert-base-uncased / an MLM-only MiniLM of the
same size), with the same data, steps and learning rate, over several seeds, and compare the gaps.
"""
### END SOLUTION

# %%
check("08.reflection", reflection)

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("08")
