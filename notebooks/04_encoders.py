# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Encoders — the encoder table, runnable (预训练编码器)
#
# **Learning goals.** After this notebook you can
#
# 1. put five encoders — MLP over a bag of embeddings, CNN over n-grams, RNN, LSTM and a
#    Transformer encoder layer — behind one interface and train them on the same real task;
# 2. show which of them see word order (position information, 位置信息) by shuffling words;
# 3. measure what "parallel" and "serial" computation (并行 / 串行) cost as sentences grow;
# 4. rebuild the notes' encoder table from your own measurements.
#
# > *The notes:* 2. 预训练编码器 (pre-trained encoders, contextual embeddings), which solve
# > polysemy (解决一词多义):
# >
# > | encoder (编码器) | PTMs (PTMs代表) | computation (计算方式) | characteristics (特点) |
# > |---|---|---|---|
# > | MLP | NNLM / Word2Vec | feed-forward, parallel (前馈+并行) | ignores position information (不考虑位置信息) |
# > | CNNs | — | feed-forward, parallel (前馈+并行) | uses position: n-gram local context (n-gram局部上下文编码) |
# > | RNN → LSTM | ELMo | recurrent, serial (循环+串行) | suited to position information, but BPTT causes vanishing gradients |
# > | Transformer (encoder) | BERT | feed-forward, parallel (前馈+并行) | self-attention handles long-range dependencies; no positional bias (无位置偏差) |
# > | Transformer (decoder) | GPT-1, GPT-2 | feed-forward, parallel | |
# > | Transformer-XL | XLNet | recurrent, serial (循环+串行) | relative positional encoding |
#
# This chapter runs the first four rows (the Transformer decoder is chapter 10, Transformer-XL
# chapter 11).
#
# **Time.** The `cpu` preset took 211<!-- notebook_runtimes.json:04_encoders.cpu.seconds:.0f --> s end to end on
# 2 CPU cores (`python benchmarks/run_notebook.py notebooks/04_encoders.ipynb --preset cpu`).
#
# **Glossary** (术语表): every term of the notes in Chinese and English, with the chapter that teaches it — [docs/glossary.md](../docs/glossary.md).

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1. A task where word order matters: Rotten Tomatoes sentiment (情感分类)
#
# Short critics' snippets labelled fresh (1, positive) or rotten (0, negative). Order matters
# because of negation and contrast: "not good, just bad" and "not bad, just good" contain the
# same words. The data layer reads the snippets offline; we split them into lower-case words and
# keep words seen at least twice. Id 0 is padding, id 1 the unknown word.

# %%
import torch

from ptm_course.data import Vocab, load, word_tokenize
from ptm_course.encoders import encode_texts

rt = load("rotten-tomatoes")
print(rt)
train_tok = [word_tokenize(t) for t in rt["train"]["text"]]
valid_tok = [word_tokenize(t) for t in rt["validation"]["text"]]
vocab = Vocab.build(train_tok, min_count=2, specials=("<pad>", "<unk>"))
max_len = ctx.pick(smoke=40, cpu=50, gpu=50)
x_train, y_train = encode_texts(train_tok, vocab, max_len), torch.tensor(rt["train"]["label"])
x_valid, y_valid = encode_texts(valid_tok, vocab, max_len), torch.tensor(rt["validation"]["label"])
majority = max(float(y_valid.float().mean()), 1 - float(y_valid.float().mean()))
print(f"vocabulary {len(vocab):,}; train {tuple(x_train.shape)}, validation {tuple(x_valid.shape)}")
print(f"always answering the majority class scores {majority:.1%} on validation")
print("example:", rt["train"][0]["text"], "->", x_train[0, :10].tolist())

# %% [markdown]
# ## 2. Five encoders, one interface (编码器)
#
# An encoder maps the word vectors of a sentence, x (B, T, d), and a mask of the real tokens
# to **one** sentence vector. The classifier around it is the same for all five:
# word embedding → encoder → linear layer → two logits.
#
# The simplest encoder averages the word vectors — a bag of embeddings, as in NNLM/word2vec
# features — and passes the mean through an MLP. A mean does not care about order, which we
# can check inline in two lines:

# %%
x = torch.randn(1, 5, 8)  # one sentence, 5 words, d = 8
print("mean is order-blind:", torch.allclose(x.mean(1), x[:, torch.randperm(5)].mean(1)))

from ptm_course.encoders import MLPEncoder

mlp_enc = MLPEncoder(8)
mask = torch.ones(1, 5, dtype=torch.bool)
assert torch.allclose(mlp_enc(x, mask), mlp_enc.mlp(x.mean(1)))  # the package's MLP encoder is MLP(mean of x)
print("MLPEncoder(x) == MLP(mean_t x_t)")

# %% [markdown]
# The other four, in one sentence each (`ptm_course/encoders/encoders.py` has them in full):
#
# * **CNN** — filters of width 1, 2, 3 slide over the sentence (n-grams), relu, max over
#   positions: local order counts, where an n-gram occurs does not.
# * **RNN**, **LSTM** — read left to right; the sentence vector is the last hidden state
#   (chapter 05 writes the cells out).
# * **Transformer encoder layer** — self-attention lets every word look at every other word
#   in one parallel step; attention itself is order-blind, so learned position vectors p_t are
#   added to the word vectors. (`nn.TransformerEncoderLayer`; chapter 07 builds BERT's own.)

# %%
from ptm_course.encoders import ENCODER_KINDS, SentenceClassifier, make_encoder
from ptm_course.utils import count_params

d_model = ctx.pick(smoke=32, cpu=64, gpu=128)


def build(kind: str) -> SentenceClassifier:
    torch.manual_seed(ctx.seed)
    return SentenceClassifier(len(vocab), make_encoder(kind, d_model, max_len=max_len), d_model, n_classes=2, dropout=0.1)


models = {kind: build(kind) for kind in ENCODER_KINDS}
for kind, model in models.items():
    print(f"{kind:>12}: {count_params(model):>9,} parameters, of which encoder {count_params(model.encoder):>7,}")

# %% [markdown]
# ## 3. Train all five the same way (文本分类)
#
# Same data, batch size, learning rate and number of steps (`fit` from chapter 00). The
# validation accuracy is measured at the end.

# %%
from torch.utils.data import DataLoader, TensorDataset

from ptm_course.encoders import classification_loss, classify_accuracy
from ptm_course.train import fit

steps = ctx.pick(smoke=150, cpu=1_500, gpu=3_000)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
histories, accuracy = {}, {}
for kind, model in models.items():
    histories[kind] = fit(model, loader, classification_loss, max_steps=steps, lr=2e-3,
                          warmup_steps=steps // 10, weight_decay=0.01, log_every=10,
                          device=ctx.device, seed=ctx.seed, desc=kind)
    accuracy[kind] = classify_accuracy(model, x_valid, y_valid)
    print(f"{kind:>12}: validation accuracy {accuracy[kind]:.1%}")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3.5))
for kind, h in histories.items():
    ax.plot(*h.series("loss"), label=kind)
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.set_title("five encoders, same task, same budget")
ax.legend()
plt.show()

# %%
for kind, h in histories.items():
    _, losses = h.series("loss")
    assert losses[-1] < losses[0], f"{kind}: the training loss should fall"
    assert accuracy[kind] > 0.5, f"{kind}: better than a coin flip"
assert max(accuracy.values()) > majority, "the best encoder should beat always answering the majority class"

# %% [markdown]
# ## 4. Position information (位置信息): shuffle the words
#
# Shuffle the words of every validation sentence and feed the same trained models. An encoder
# that ignores position returns exactly the same logits; one that uses order changes them.

# %%
from ptm_course.encoders import shuffle_tokens

x_shuffled = shuffle_tokens(x_valid, pad_id=0, generator=torch.Generator().manual_seed(ctx.seed))
change, shuffled_acc = {}, {}
with torch.no_grad():
    for kind, model in models.items():
        model.eval()
        a, b = model(x_valid[:500].to(ctx.device)), model(x_shuffled[:500].to(ctx.device))
        change[kind] = float((a - b).abs().max())
        shuffled_acc[kind] = classify_accuracy(model, x_shuffled, y_valid)
        print(f"{kind:>12}: largest logit change under shuffling {change[kind]:.2e}; accuracy {accuracy[kind]:.1%} → {shuffled_acc[kind]:.1%}")
assert change["mlp"] < 1e-4, "a bag of embeddings cannot see word order"
assert all(change[k] > 1e-3 for k in ENCODER_KINDS if k != "mlp"), "the others use order"

# %% [markdown]
# The same test on two sentences written with the same words in a different order:

# %%
pairs = [("not bad at all , it is good", "not good at all , it is bad"),
         ("a dull film , never charming", "a charming film , never dull")]
with torch.no_grad():
    for s1, s2 in pairs:
        ids = encode_texts([word_tokenize(s1), word_tokenize(s2)], vocab, max_len).to(ctx.device)
        p = {kind: torch.softmax(m(ids), -1)[:, 1].tolist() for kind, m in models.items()}
        print(f"P(positive): {s1!r} vs {s2!r}")
        for kind, (p1, p2) in p.items():
            print(f"   {kind:>12}: {p1:.3f} vs {p2:.3f}")
        assert abs(p["mlp"][0] - p["mlp"][1]) < 1e-5  # same bag, same answer, whatever the training

# %% [markdown]
# Whether the order-aware models get these two right depends on how much they trained; what
# cannot happen is that the MLP tells them apart. A Transformer *without* its position vectors
# would be just as blind: self-attention is permutation-equivariant, and a mean over its outputs
# is invariant (the "no positional bias" of the table; the exercises check it).
#
# ## 5. Parallel vs serial (并行 vs 串行): time against sentence length
#
# The MLP, the CNN and the Transformer layer process all T positions with a few large matrix
# products; the RNN and the LSTM must take T steps one after another. We time one forward +
# backward pass on a batch of random sentences of growing length, and count the steps that must
# run in sequence (the critical path).

# %%
from ptm_course.encoders import sequential_steps, time_forward_backward

lengths = ctx.pick(smoke=[16, 64, 128], cpu=[16, 64, 256, 512], gpu=[16, 64, 256, 1024])
timing = {kind: {} for kind in ENCODER_KINDS}
for kind in ENCODER_KINDS:
    torch.manual_seed(0)
    model = SentenceClassifier(len(vocab), make_encoder(kind, d_model, max_len=max(lengths)), d_model)
    for T in lengths:
        timing[kind][T] = time_forward_backward(model, batch_size=32, seq_len=T, vocab_size=len(vocab),
                                                repeats=ctx.pick(smoke=2, cpu=5, gpu=10), device=ctx.device)
fig, ax = plt.subplots(figsize=(7, 4))
for kind, t in timing.items():
    ax.loglog(list(t), [1e3 * v for v in t.values()], "o-", label=kind)
ax.set_xlabel("sentence length T")
ax.set_ylabel("forward + backward, ms (batch 32)")
ax.set_title(f"time against length on {ctx.device.type}")
ax.legend()
plt.show()
for kind in ENCODER_KINDS:
    print(f"{kind:>12}: " + ", ".join(f"T={T}: {1e3 * v:7.1f} ms" for T, v in timing[kind].items())
          + f"; sequential steps at T={lengths[-1]}: {sequential_steps(kind, lengths[-1])}")

# %%
T_long = lengths[-1]
if ctx.preset.name != "smoke":  # two smoke repeats of a few ms are noise on a loaded machine
    for kind in ("rnn", "lstm"):
        # serial: T steps one after the other; 8× longer sentences must cost clearly more
        assert timing[kind][T_long] > 2 * timing[kind][lengths[0]], kind

# %% [markdown]
# How to read the timings. The notes' "parallel" and "serial" are about the **critical path**:
# the RNN and the LSTM need T steps one after another, the others a fixed number of layers. That
# pays off on parallel hardware — on a GPU, where all positions of a feed-forward layer run at
# once, the recurrent encoders' T steps are what limits them. On one CPU thread everything runs
# one operation at a time, so these totals follow the amount of arithmetic as well: `nn.RNN` and
# `nn.LSTM` run their loop inside one fused kernel, and self-attention's cost grows with T²
# (every pair of positions). Compare the rows of the plot on your own machine.
#
# ### The critical path, measured: one step after another, or all positions at once
#
# To see the structure without the fused kernels, take chapter 05's `RNNCell`, run by `unroll`
# as a Python loop over the time steps, and one self-attention layer (`nn.MultiheadAttention`),
# both with d = 32, on one sentence. We count how many times each module is called for one
# sentence (a forward hook counts the calls) and time one forward pass per length T: a warm-up
# first, then the median of 21 repeats, with PyTorch limited to one thread inside the timed
# block, so that both sides get the same hardware.

# %%
from torch import nn

from ptm_course.encoders import RNNCell, unroll
from ptm_course.utils import median_seconds  # median of 21 calls after 2 warm-ups, on one thread

torch.manual_seed(ctx.seed)
rnn_cell, self_attn = RNNCell(32, 32), nn.MultiheadAttention(32, num_heads=4, batch_first=True).eval()
calls = {"RNN cell": 0, "self-attention": 0}
hooks = [rnn_cell.register_forward_hook(lambda *_: calls.__setitem__("RNN cell", calls["RNN cell"] + 1)),
         self_attn.register_forward_hook(lambda *_: calls.__setitem__("self-attention", calls["self-attention"] + 1))]
x64 = torch.randn(1, 64, 32)  # one sentence of 64 word vectors
with torch.no_grad():
    unroll(rnn_cell, x64)
    self_attn(x64, x64, x64, need_weights=False)  # self-attention: queries, keys and values all come from x
for h in hooks:
    h.remove()
print("module calls for one sentence of 64 words:", calls)

short_long = [4, 16, 64]
per_token = {"RNN (loop over t)": {}, "self-attention": {}}
with torch.no_grad():
    for T in short_long:
        xs = torch.randn(1, T, 32)
        per_token["RNN (loop over t)"][T] = median_seconds(lambda: unroll(rnn_cell, xs)) / T
        per_token["self-attention"][T] = median_seconds(lambda: self_attn(xs, xs, xs, need_weights=False)) / T
for name, t in per_token.items():
    print(f"{name:>18}: " + ", ".join(f"T={T}: {1e6 * v:6.1f} µs per token" for T, v in t.items()))

# %% [markdown]
# The RNN cell is called once per word, one call after the other, so its time per token stays
# roughly flat and its total grows in proportion to T. The attention layer is called once for
# the whole sentence: its fixed cost is shared by more tokens as T grows, so its time per token
# falls (until the T² arithmetic takes over, at lengths far beyond these). The assertions leave
# a wide margin for a busy machine: a 16× longer sentence costs the RNN at least 5× as much, and
# the attention layer less than half that factor.

# %%
growth = {name: t[short_long[-1]] * short_long[-1] / (t[short_long[0]] * short_long[0]) for name, t in per_token.items()}
print("total time at T=64 / total time at T=4:", {k: round(v, 1) for k, v in growth.items()})
assert calls == {"RNN cell": 64, "self-attention": 1}, "the RNN takes one step per word, attention one for all words"
assert growth["RNN (loop over t)"] > 5, "the serial loop's time grows about linearly with T"
assert growth["self-attention"] < growth["RNN (loop over t)"] / 2, "attention's time grows far less than the loop's"

# %% [markdown]
# ## 6. The table, rebuilt from the measurements (预训练编码器)

# %%
import pandas as pd

computation = {"mlp": "feed-forward, parallel", "cnn": "feed-forward, parallel", "rnn": "recurrent, serial",
               "lstm": "recurrent, serial", "transformer": "feed-forward, parallel"}
table = pd.DataFrame({
    "computation (计算方式)": computation,
    f"sequential steps at T={T_long}": {k: sequential_steps(k, T_long) for k in ENCODER_KINDS},
    f"fwd+bwd ms, T={lengths[0]}": {k: round(1e3 * timing[k][lengths[0]], 1) for k in ENCODER_KINDS},
    f"fwd+bwd ms, T={T_long}": {k: round(1e3 * timing[k][T_long], 1) for k in ENCODER_KINDS},
    "uses word order (shuffle changes output)": {k: change[k] > 1e-3 for k in ENCODER_KINDS},
    "parameters": {k: count_params(m) for k, m in models.items()},
    "validation accuracy": {k: round(accuracy[k], 3) for k in ENCODER_KINDS},
    "accuracy, words shuffled": {k: round(shuffled_acc[k], 3) for k in ENCODER_KINDS},
})
table

# %% [markdown]
# How to read the table. The MLP is the only encoder whose output does not change at all when
# the words are shuffled; the others change, and their accuracy usually drops when the order is lost. On
# this small task the order-aware encoders are not far ahead of the bag of embeddings: most
# snippets are decided by their words, and order decides the minority with negation and contrast
# (the two pairs above). The `smoke` preset trains for only 150 steps, so its accuracies are
# lower and noisier than those of the `cpu` and `gpu` presets; your run's table has its numbers.
#
# **Next:** chapter 05 opens the RNN and the LSTM: the cells written out, the vanishing gradient
# measured, the slow cell state. **Exercises:** `exercises/04_encoders_exercises.ipynb` asks you
# to write a masked mean-pool, an n-gram convolution encoder and a position check, with instant
# feedback from `check(...)`.
