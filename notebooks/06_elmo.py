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
# # 06 · ELMo — contextual embeddings from a bidirectional LM (一词多义)
#
# **Learning goals.** After this notebook you can
#
# 1. turn words into ELMo's character ids and build the token layer: a character CNN,
#    highway layers and a projection;
# 2. build and train the biLM — a forward and a backward LSTM language model sharing the token
#    layer and the softmax — on WikiText-2, and check that neither direction peeks;
# 3. show polysemy (一词多义) being resolved: the same word in different senses gets different
#    contextual vectors, while a word2vec vector is one and the same everywhere;
# 4. mix all layers with ScalarMix and see two downstream tasks learn different proportions.
#
# > *The notes:* **Embeddings from Language Models (ELMo)** — an RNN-based language model;
# > training of ELMo: next word prediction.
# > - contextualized word embedding: each word token has its own embedding; 同一个单词上下文不同
# >   embedding可能不同 (一词多义) — the same word in different contexts may get different embeddings;
# > - 有从前到后和从后到前两种embedding, 都要 — there is a forward and a backward embedding: use both;
# > - 有不同层的embedding, 都要, 再给比例 (不同实验比例不同) — every layer gives an embedding: use them
# >   all, weighted by learned proportions (different tasks learn different proportions).
#
# **Time.** The `cpu` preset took 537<!-- notebook_runtimes.json:06_elmo.cpu.seconds:.0f --> s end to end on
# 2 CPU cores (`python benchmarks/run_notebook.py notebooks/06_elmo.ipynb --preset cpu`).
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
# ## 1. Words as characters
#
# ELMo does not look words up in a table: it reads their characters, so it has a vector for any
# word, seen or not. Each token becomes a fixed row of `max_chars` ids (50 in the paper and the
# gpu preset; 20 in the smaller presets, where a longer word keeps its first 18 bytes): a
# begin-of-word marker, the word's UTF-8 bytes, an end-of-word marker, then padding. The
# sentence gets `<S>` and `</S>` tokens, spelled with their own markers. The ids are those of
# allenai/bilm-tf (bytes 0–255, BOS 256, EOS 257, BOW 258, EOW 259, PAD 260) **plus one**, so that
# 0 can mean "no token here" in a padded batch. Inline:

# %%
import torch

word = "bank"
inline = [258 + 1] + [b + 1 for b in word.encode("utf-8")] + [259 + 1]
inline += [260 + 1] * (10 - len(inline))

from ptm_course.encoders import BOS_TOKEN, batch_to_char_ids, word_char_ids

assert word_char_ids(word, max_chars=10) == inline
print(f"{word!r} ->", inline)
print(f"{BOS_TOKEN!r} ->", word_char_ids(BOS_TOKEN, max_chars=10))
ids, mask = batch_to_char_ids([["the", "river", "bank"], ["a", "bank"]], max_chars=10)
print("a padded batch:", tuple(ids.shape), "(sentences, tokens incl. <S> </S>, characters); mask:\n", mask.int())

# %% [markdown]
# ## 2. The token layer: character CNN → highway → projection
#
# Characters are embedded (16 dimensions), filters of widths 1…7 slide over them (character
# n-grams: prefixes, suffixes, stems), each filter keeps its maximum over the word (relu), and
# the concatenation goes through two **highway layers**:
#
# $$y = \sigma(g) \odot x + (1 - \sigma(g)) \odot \operatorname{relu}(n), \qquad [n; g] = W x + b$$
#
# a gate σ(g) chooses, per dimension, between carrying the input through and transforming it.
# A linear projection gives the token vector. This layer is context-free: one vector per word,
# like word2vec's. One highway layer, inline, against the package's `Highway`:

# %%
from ptm_course.encoders import Highway

torch.manual_seed(ctx.seed)
hw = Highway(6, n_layers=1)
x = torch.randn(4, 6)
n, g = (x @ hw.layers[0].weight.T + hw.layers[0].bias).chunk(2, dim=-1)
inline_y = torch.sigmoid(g) * x + (1 - torch.sigmoid(g)) * torch.relu(n)
assert torch.allclose(hw(x), inline_y, atol=1e-6)
print("Highway equals y = σ(g)·x + (1 − σ(g))·relu(n)")

# %% [markdown]
# ## 3. The biLM: two language models, one token layer, one softmax (从前到后和从后到前)
#
# On top of the token vectors x_t run two stacks of 2 LSTM layers (each LSTM projected back to
# the token size, with a residual connection from layer 1 to layer 2):
#
# * the **forward** LM reads left to right and predicts the next word: P(w_{t+1} | w_1 … w_t);
# * the **backward** LM reads right to left and predicts the previous word: P(w_{t−1} | w_t … w_T).
#
# The two are trained together: Peters et al. (2018, eq. 1) maximise the **sum** of the forward
# and the backward log-likelihoods, Σ_t [log P(w_t | w_1 … w_{t−1}) + log P(w_t | w_{t+1} … w_T)],
# and the softmax and the token layer are shared by both directions. `bilm_loss` minimises the
# same sum, per token: the forward and the backward cross-entropies are added and halved, so the
# value reads on the scale of one language model (a constant factor does not move the minimum).
# The targets are the word ids shifted by one — in opposite directions:

# %%
from ptm_course.encoders import bilm_targets

words = ["<S>", "the", "bank", "closed", "</S>"]
w = torch.arange(len(words)).unsqueeze(0)  # pretend ids 0..4
fwd_y, bwd_y = bilm_targets(w)
for t, word_t in enumerate(words):
    nxt = words[fwd_y[0, t]] if fwd_y[0, t] >= 0 else "—"
    prv = words[bwd_y[0, t]] if bwd_y[0, t] >= 0 else "—"
    print(f"t={t} {word_t:>7}: forward LM predicts {nxt:>7}, backward LM predicts {prv:>7}")

# %% [markdown]
# Now the data: WikiText-2 paragraphs cut into windows, each a "sentence" with `<S>` and `</S>`.
# The softmax vocabulary keeps the most frequent words (the rest are `<unk>` as *targets*; as
# *inputs* every word is spelled out in characters, so nothing is unknown).

# %%
from torch.utils.data import DataLoader

from ptm_course.data import Vocab, load
from ptm_course.encoders import EOS_TOKEN, BiLM, ELMoConfig, bilm_loss, make_bilm_batch
from ptm_course.utils import count_params

wiki = load("wikitext-2")
window = ctx.pick(smoke=20, cpu=30, gpu=35)


def windows(lines, limit):
    out = []
    for line in lines:
        toks = line.split()
        for s in range(0, len(toks), window):
            if len(toks[s : s + window]) >= 3:
                out.append(toks[s : s + window])
        if sum(map(len, out)) >= limit:
            break
    return out


train_sents = windows(wiki["train"]["text"], ctx.pick(smoke=200_000, cpu=1_000_000, gpu=2_100_000))
valid_sents = windows(wiki["validation"]["text"], ctx.pick(smoke=20_000, cpu=100_000, gpu=250_000))
vocab = Vocab.build(train_sents, min_count=3, max_size=ctx.pick(smoke=2_000, cpu=5_000, gpu=None),
                    specials=("<unk>", BOS_TOKEN, EOS_TOKEN))
config = ELMoConfig(
    len(vocab), char_dim=16,
    filters=ctx.pick(smoke=((1, 16), (2, 16), (3, 32), (4, 64)), cpu=((1, 32), (2, 32), (3, 64), (4, 128), (5, 128)),
                     gpu=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))),
    n_highway=2, d_proj=ctx.pick(smoke=64, cpu=128, gpu=256), d_hidden=ctx.pick(smoke=64, cpu=256, gpu=2048),
    n_layers=2, dropout=ctx.pick(smoke=0.0, cpu=0.1, gpu=0.1), max_chars=ctx.pick(smoke=20, cpu=20, gpu=50),
)
torch.manual_seed(ctx.seed)
bilm = BiLM(config)
print(f"{len(train_sents):,} training windows, {len(valid_sents):,} validation windows, softmax vocabulary {len(vocab):,}")
print(config)
print(f"BiLM: {count_params(bilm):,} parameters (token layer {count_params(bilm.token_layer):,})")

# %% [markdown]
# Before training, the check that makes a bidirectional LM honest: the forward LM's output at
# position t must not change when words after t change, and the backward LM's must not change
# when words before t change (otherwise predicting the next word would be copying it).

# %%
bilm.eval()
with torch.no_grad():
    a = bilm(*batch_to_char_ids([["the", "bank", "of", "the", "river"]], config.max_chars))
    b = bilm(*batch_to_char_ids([["the", "bank", "of", "a", "loan"]], config.max_chars))  # tokens 4, 5 changed
    c = bilm(*batch_to_char_ids([["a", "tall", "of", "the", "river"]], config.max_chars))  # tokens 1, 2 changed
t = 3  # the token "of" (position 0 is <S>)
assert torch.allclose(a.forward_top[:, : t + 1], b.forward_top[:, : t + 1], atol=1e-6)  # forward: blind to the future
assert torch.allclose(a.backward_top[:, t:], c.backward_top[:, t:], atol=1e-6)  # backward: blind to the past
assert not torch.allclose(a.forward_top[:, t + 1 :], b.forward_top[:, t + 1 :])
print("no information leak in either direction")

# %% [markdown]
# Training with `fit`: next-word prediction in both directions.

# %%
from ptm_course.metrics import perplexity
from ptm_course.notebook import record
from ptm_course.train import evaluate, fit
from ptm_course.viz import plot_history


def collate(sentences):
    return make_bilm_batch(sentences, vocab, config.max_chars)


batch_size = ctx.pick(smoke=32, cpu=32, gpu=128)
loader = DataLoader(train_sents, batch_size=batch_size, shuffle=True, collate_fn=collate)
valid_batches = [collate(valid_sents[i : i + 64]) for i in range(0, ctx.pick(smoke=256, cpu=1_024, gpu=len(valid_sents)), 64)]

# Evaluation: the training loss on the validation batches, averaged (ptm_course.train.evaluate);
# the metrics nll_forward / nll_backward are the two directions' cross-entropies, exp → perplexity.
elmo_steps = ctx.pick(smoke=100, cpu=1_200, gpu=10_000)
history = fit(bilm, loader, bilm_loss, max_steps=elmo_steps, lr=ctx.pick(smoke=5e-3, cpu=3e-3, gpu=1e-3),
              warmup_steps=elmo_steps // 20, grad_clip=1.0, eval_every=max(1, elmo_steps // 4),
              eval_fn=lambda m: evaluate(m, valid_batches, bilm_loss), log_every=10, device=ctx.device, seed=ctx.seed, desc="biLM")
ppl = {d: perplexity(history.last(f"nll_{d}", "eval")) for d in ("forward", "backward")}
print(f"validation perplexity: forward {ppl['forward']:.1f}, backward {ppl['backward']:.1f}")
record("valid_perplexity", {d: round(p, 1) for d, p in ppl.items()})

# %%
plot_history(history, keys=["loss", "nll_forward", "nll_backward"], title="ELMo biLM on WikiText-2 (cross-entropy, nats)");

# %%
_, losses = history.series("loss")
assert losses[-1] < losses[0] - 1.0, "the biLM's loss should fall by more than 1 nat"
assert ppl["forward"] < len(vocab) and ppl["backward"] < len(vocab)

# %% [markdown]
# ## 4. Polysemy (一词多义): one word, several senses, several vectors
#
# `bilm.embed(sentences)` returns every layer for every token: layer 0 is the token layer
# (context-free, duplicated [x; x] to match the width of the others), layers 1 and 2 are
# [forward; backward] LSTM states. We take three ambiguous words in sentences written for this
# notebook, two senses each, and compare the vectors of the ambiguous word itself.

# %%
senses = {
    "bank": {
        "river": ["the boat drifted toward the bank of the river", "fish swam near the muddy bank of the stream",
                  "they walked along the river bank at dawn", "water flooded the bank after the storm"],
        "money": ["she deposited her money at the bank", "the bank approved the loan for the company",
                  "he opened an account with the bank", "the central bank raised interest rates"],
    },
    "play": {
        "theatre": ["the actors rehearsed the play for weeks", "the play was performed at the theatre",
                    "critics praised the new play by the author", "the audience applauded the play on stage"],
        "game": ["the children play football in the park", "they play the game every sunday",
                 "the team will play against the champions", "we play cards after dinner"],
    },
    "bat": {
        "animal": ["a bat flew out of the dark cave", "the bat hunts insects at night",
                   "the small bat slept in the cave", "a bat has wings and eats insects"],
        "sport": ["he swung the bat and hit the ball", "the player dropped his bat after the hit",
                  "a wooden bat is used in cricket", "she gripped the bat before the pitch"],
    },
}


def vectors_of(word, sentences, layer_weights):
    """The (weighted) layer mix at the first occurrence of `word` in each sentence."""
    toks = [s.split() for s in sentences]
    layers, _ = bilm.embed(toks)  # (3, B, T, 2·d_proj)
    pos = torch.tensor([t.index(word) for t in toks])
    at = layers[:, torch.arange(len(toks)), pos]  # (3, B, 2·d_proj)
    return torch.einsum("k,kbd->bd", layer_weights, at.cpu())


def sense_separation(layer_weights):
    """Per word: mean cosine similarity of its vectors within a sense, and across senses.

    The vectors are centred first (the mean over all occurrences of the word is subtracted):
    LM states share a large common direction that would make every cosine close to 1.
    """
    result = {}
    for word, by_sense in senses.items():
        vecs, labels = [], []
        for i, sents in enumerate(by_sense.values()):
            vecs.append(vectors_of(word, sents, layer_weights))
            labels += [i] * len(sents)
        v = torch.cat(vecs)
        spread = float((v - v.mean(0)).norm(dim=-1).max())  # 0 when every occurrence has the same vector
        v = torch.nn.functional.normalize(v - v.mean(0), dim=-1)
        sim = v @ v.T
        lab = torch.tensor(labels)
        same = (lab[:, None] == lab[None, :]) & ~torch.eye(len(lab), dtype=torch.bool)
        result[word] = {"within": float(sim[same].mean()), "across": float(sim[lab[:, None] != lab[None, :]].mean()), "spread": spread}
    return result


static = sense_separation(torch.tensor([1.0, 0.0, 0.0]))  # layer 0 only: the context-free token layer
contextual = sense_separation(torch.tensor([0.0, 0.5, 0.5]))  # the two LSTM layers
for word in senses:
    print(f"{word:>5}: token layer: largest distance between its vectors {static[word]['spread']:.1e} (one vector)")
    print(f"{'':>5}  LSTM layers: within-sense cosine {contextual[word]['within']:+.3f}, across senses {contextual[word]['across']:+.3f}")

# %% [markdown]
# The token layer gives the word the *same* vector in every sentence: it cannot tell the senses
# apart, and neither can word2vec. The LSTM layers give every occurrence its own vector, and
# (after centring) occurrences of the same sense are more alike than occurrences of different
# senses. The senses are told apart by their contexts — "river", "water" vs "money", "loan" —
# which is exactly the information a contextual encoder adds. For comparison, word2vec (gensim,
# trained on the same WikiText-2 text) has one vector per word type; its neighbours of a word mix
# whatever senses the corpus uses:

# %%
from gensim.models import Word2Vec

w2v = Word2Vec(train_sents, vector_size=64, window=5, min_count=3, sg=1, workers=1, seed=ctx.seed,
               epochs=ctx.pick(smoke=1, cpu=3, gpu=5))
for word in senses:
    if word in w2v.wv:
        print(f"word2vec, one vector for {word!r}; nearest: {[n for n, _ in w2v.wv.most_similar(word, topn=6)]}")
    else:
        print(f"word2vec: {word!r} is too rare in this slice of the corpus to get a vector at all")

# %%
for word in senses:
    assert static[word]["spread"] < 1e-3, f"{word}: the token layer gives one vector whatever the context"
mean_within = sum(c["within"] for c in contextual.values()) / len(contextual)
mean_across = sum(c["across"] for c in contextual.values()) / len(contextual)
print(f"averaged over the three words: within-sense {mean_within:+.3f}, across senses {mean_across:+.3f}")
assert mean_within > mean_across, "contextual vectors of one sense should be closer than across senses"

# %% [markdown]
# Look: the contextual vectors of each word projected to 2-D (PCA), coloured by sense; the
# context-free vector is a single point (a star) wherever the word occurs.

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, len(senses), figsize=(4 * len(senses), 3.6))
for ax, (word, by_sense) in zip(axes, senses.items()):
    vecs = [vectors_of(word, sents, torch.tensor([0.0, 0.5, 0.5])) for sents in by_sense.values()]
    static_vec = vectors_of(word, list(by_sense.values())[0][:1], torch.tensor([1.0, 0.0, 0.0]))
    allv = torch.cat(vecs + [static_vec])
    mean = allv.mean(0)
    _, _, Vt = torch.linalg.svd(allv - mean, full_matrices=False)
    for sense, v in zip(by_sense, vecs):
        p = (v - mean) @ Vt[:2].T
        ax.scatter(p[:, 0], p[:, 1], label=f"{word} ({sense})")
    p0 = (static_vec - mean) @ Vt[:2].T
    ax.scatter(p0[:, 0], p0[:, 1], marker="*", s=200, c="k", label="token layer (every sentence)")
    ax.set_title(f"'{word}'")
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Use every layer, in learned proportions: ScalarMix (不同层的embedding, 都要, 再给比例)
#
# ELMo gives a downstream task all layers and lets the task learn how to mix them:
#
# $$\mathrm{ELMo}^{task}_t = \gamma^{task} \sum_{k=0}^{L} s^{task}_k\, h_{k,t}, \qquad s^{task} = \operatorname{softmax}(w^{task})$$
#
# with w = 0 (equal proportions) and γ = 1 at the start. Inline, then the package's `ScalarMix`:

# %%
from ptm_course.encoders import ScalarMix

hs = [torch.randn(2, 5, 8) for _ in range(3)]
w_inline, gamma = torch.zeros(3), torch.tensor(1.0)
mixed = gamma * sum(torch.softmax(w_inline, 0)[k] * hs[k] for k in range(3))
assert torch.allclose(ScalarMix(3)(hs), mixed)
print("ScalarMix at initialisation = the plain mean of the layers:", torch.allclose(mixed, sum(hs) / 3))

# %% [markdown]
# Two downstream tasks on WikiText-2 validation tokens, with the biLM **frozen** — only a
# ScalarMix and a linear classifier are trained per task:
#
# * **capitalised?** — does the token start with a capital letter: a property of the word's own
#   characters;
# * **after a determiner?** — is the previous word "the", "a" or "an": a property of the context.
#   The examples are balanced **per word**: every word type contributes as many tokens after a
#   determiner as tokens not after one, so the word alone cannot predict the label — a probe on
#   the context-free token layer alone stays at chance (checked below).
#
# The notes say different tasks learn different proportions; here is the measurement.

# %%
from ptm_course.encoders import balanced_indices, train_probe

probe_sents = valid_sents[: ctx.pick(smoke=len(valid_sents), cpu=3_000, gpu=len(valid_sents))]
DETERMINERS = ("the", "a", "an")
feats, words, cap, after_det, before_det = [], [], [], [], []
for i in range(0, len(probe_sents), 64):
    chunk = probe_sents[i : i + 64]
    layers, keep = bilm.embed(chunk)  # (3, B, T, 2d), (B, T)
    for b, s in enumerate(chunk):
        feats.append(layers[:, b, : len(s)].cpu())
        words += [w.lower() for w in s]
        cap += [w[0].isupper() for w in s]
        after_det += [False] + [prev.lower() in DETERMINERS for prev in s[:-1]]
        before_det += [nxt.lower() in DETERMINERS for nxt in s[1:]] + [False]
feats = torch.cat(feats, dim=1)  # (3, N, 2d): every layer of every token
print("mean vector norm per layer:", [round(float(feats[k].norm(dim=-1).mean()), 1) for k in range(3)])
# The layers' scales differ a lot (the token layer is not normalised); standardise every feature of
# every layer so that the scale does not decide the mix (AllenNLP's ScalarMix has the same option,
# do_layer_norm). Each layer is still used whole: the task only chooses the proportions.
feats = (feats - feats.mean(1, keepdim=True)) / feats.std(1, keepdim=True).clamp_min(1e-6)
print(f"{feats.shape[1]:,} tokens; capitalised {sum(cap) / len(cap):.1%}, after a determiner {sum(after_det) / len(after_det):.1%}")


# The probe (ELMo's recipe: a ScalarMix over the layers, then a linear classifier) and the
# per-word balancing are the package's: ptm_course.encoders.probing.
probe_steps = ctx.pick(smoke=200, cpu=400, gpu=400)
print(f"balanced per word: {len(balanced_indices(after_det, groups=words, seed=ctx.seed)):,} tokens for 'after a determiner?'")
mix_cap, acc_cap = train_probe(feats, cap, probe_steps, seed=ctx.seed)
mix_det, acc_det = train_probe(feats, after_det, probe_steps, groups=words, seed=ctx.seed)
_, acc_det_token = train_probe(feats[:1], after_det, probe_steps, groups=words, seed=ctx.seed)
print(f"capitalised?       accuracy {acc_cap:.1%}, layer weights s = {mix_cap.numpy().round(3)}")
print(f"after determiner?  accuracy {acc_det:.1%}, layer weights s = {mix_det.numpy().round(3)}")
print(f"after determiner?  from the token layer alone: {acc_det_token:.1%} (the word alone does not know)")
record("scalar_mix", {"capitalised": {"accuracy": round(acc_cap, 3), "weights": mix_cap.numpy().round(3).tolist()},
                      "after_determiner": {"accuracy": round(acc_det, 3), "weights": mix_det.numpy().round(3).tolist(),
                                           "token_layer_only_accuracy": round(acc_det_token, 3)}})

# %%
from ptm_course.viz import plot_bars

layer_names = ["layer 0 (token)", "layer 1 (LSTM)", "layer 2 (LSTM)"]
plot_bars({layer: {f"capitalised? (acc {acc_cap:.0%})": float(mix_cap[k]), f"after a determiner? (acc {acc_det:.0%})": float(mix_det[k])}
           for k, layer in enumerate(layer_names)},
          "softmax(w)", title="ScalarMix weights learned by two tasks", reference=(1 / 3, "initial (1/3 each)"))
plt.show()

# %%
assert acc_cap > 0.6, "spelling is in the token layer: the probe should beat the balanced chance level of 50 %"
assert acc_det_token < 0.6, "balanced per word, the token layer alone should be near chance"
if ctx.preset.name != "smoke":  # the smoke biLM (100 steps) has learnt too little context to show it
    assert acc_det > 0.6, "the LSTM layers know the previous word: the context probe should beat chance"
    assert mix_cap[0] > mix_det[0] + 0.1, "the spelling task should lean more on the token layer than the context task"

# %% [markdown]
# The context task moves weight away from the token layer (which cannot know the previous word:
# alone it scores chance) to the LSTM layers; the spelling task keeps more on the token layer.
# Same frozen biLM, different proportions — 不同实验比例不同. In the course's run at the cpu preset
# (`benchmarks/results/notebooks/06_elmo_cpu.json`), "capitalised?" reached
# 0.997<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.capitalised.accuracy:.3f --> with s = (0.600<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.capitalised.weights.0:.3f -->, 0.250<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.capitalised.weights.1:.3f -->, 0.150<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.capitalised.weights.2:.3f -->) and "after a determiner?"
# 0.988<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.after_determiner.accuracy:.3f --> with s = (0.108<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.after_determiner.weights.0:.3f -->, 0.102<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.after_determiner.weights.1:.3f -->, 0.790<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.after_determiner.weights.2:.3f -->); the token layer alone
# scored 0.550<!-- notebooks/06_elmo_cpu.json:values.scalar_mix.after_determiner.token_layer_only_accuracy:.3f --> on the context task.
#
# ### Forward, backward, both (从前到后和从后到前两种embedding, 都要)
#
# Each LSTM layer's vector is [forward; backward]. At token t the forward half has read
# w_1 … w_t and the backward half w_t … w_T. So a label about the word **before** t should be
# in the forward half and a label about the word **after** t in the backward half — and only the
# concatenation has both. The same probe on the top layer's forward half, its backward half and
# both, for "after a determiner?" and its mirror "before a determiner?" (both balanced per word):

# %%
d = feats.size(-1) // 2
halves = {"forward": feats[2:, :, :d], "backward": feats[2:, :, d:], "both": feats[2:]}
directions = {task: {name: train_probe(x, labels, probe_steps, groups=words, seed=ctx.seed)[1] for name, x in halves.items()}
              for task, labels in {"after a determiner?": after_det, "before a determiner?": before_det}.items()}
for task, accs in directions.items():
    print(f"{task:21s}", "  ".join(f"{name} {acc:.1%}" for name, acc in accs.items()))
record("directions", {task: {name: round(acc, 3) for name, acc in accs.items()} for task, accs in directions.items()})

plot_bars(directions, "probe accuracy", title="top biLM layer: forward half, backward half, both",
          reference=(0.5, "chance"), ylim=(0.4, 1))
plt.show()

# %%
after, before = directions["after a determiner?"], directions["before a determiner?"]
if ctx.preset.name != "smoke":  # the tiny smoke biLM (100 steps) has not learnt enough context to show it
    assert after["forward"] > after["backward"] + 0.05, "the word before t is in the forward half"
    assert before["backward"] > before["forward"] + 0.05, "the word after t is in the backward half"
    for task, accs in directions.items():
        assert accs["both"] >= max(accs["forward"], accs["backward"]) - 0.02, f"{task}: both halves should do as well as the better one"

# %% [markdown]
# Each direction knows its own side of the word and is close to blind to the other; the
# concatenation does as well as the better half on both tasks. No single direction serves
# both — hence "都要": keep both. In the course's run at the cpu preset:
#
# | probe accuracy | forward half | backward half | both |
# |---|---|---|---|
# | after a determiner? | 0.991<!-- notebooks/06_elmo_cpu.json:values.directions.after a determiner?.forward:.3f --> | 0.628<!-- notebooks/06_elmo_cpu.json:values.directions.after a determiner?.backward:.3f --> | 0.986<!-- notebooks/06_elmo_cpu.json:values.directions.after a determiner?.both:.3f --> |
# | before a determiner? | 0.549<!-- notebooks/06_elmo_cpu.json:values.directions.before a determiner?.forward:.3f --> | 0.967<!-- notebooks/06_elmo_cpu.json:values.directions.before a determiner?.backward:.3f --> | 0.967<!-- notebooks/06_elmo_cpu.json:values.directions.before a determiner?.both:.3f --> |
#
# (The backward half is above chance on "after a determiner?" because the words after t say
# something about what came before; the word at t cannot, since the tokens are balanced per word.)
#
# Your run's numbers are printed above; the `smoke` preset trains a small biLM for 100 steps
# (its directions are not yet distinct enough to assert on), the `cpu` and `gpu` presets a larger
# one (LSTMs with projections, as in the paper) for 1,200 / 10,000 steps.
#
# ## 6. Summary
#
# | the notes | measured here |
# |---|---|
# | RNN-based LM, trained by next-word prediction | biLM of 2 + 2 LSTM layers on a char-CNN, trained on WikiText-2; perplexities above |
# | each token has its own embedding; polysemy (一词多义) | "bank", "play", "bat": one token-layer / word2vec vector, but contextual vectors that group by sense |
# | forward and backward, use both | no leak in either direction; the forward half knows the word before, the backward half the word after, only both know both |
# | every layer, learned proportions, different per task | ScalarMix: the spelling and the context task learn different s; the token layer alone cannot do the context task |
#
# **Exercises:** `exercises/06_elmo_exercises.ipynb` asks you to write a highway layer,
# ScalarMix, ELMo's character ids and the backward LM's shifted targets, with instant feedback
# from `check(...)`.
