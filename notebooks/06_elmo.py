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
# word, seen or not. Each token becomes a fixed row of `max_chars` ids (50 in the paper): a
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
vocab = Vocab.build(train_sents, min_count=3, max_size=ctx.pick(smoke=2_000, cpu=10_000, gpu=None),
                    specials=("<unk>", BOS_TOKEN, EOS_TOKEN))
config = ELMoConfig(
    len(vocab), char_dim=16,
    filters=ctx.pick(smoke=((1, 16), (2, 16), (3, 32), (4, 64)), cpu=((1, 32), (2, 32), (3, 64), (4, 128), (5, 128)),
                     gpu=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))),
    n_highway=2, d_proj=ctx.pick(smoke=64, cpu=128, gpu=256), d_hidden=ctx.pick(smoke=64, cpu=512, gpu=2048),
    n_layers=2, dropout=ctx.pick(smoke=0.0, cpu=0.1, gpu=0.1), max_chars=ctx.pick(smoke=20, cpu=50, gpu=50),
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
from ptm_course.train import fit
from ptm_course.viz import plot_history


def collate(sentences):
    return make_bilm_batch(sentences, vocab, config.max_chars)


batch_size = ctx.pick(smoke=32, cpu=32, gpu=128)
loader = DataLoader(train_sents, batch_size=batch_size, shuffle=True, collate_fn=collate)
valid_batches = [collate(valid_sents[i : i + 64]) for i in range(0, ctx.pick(smoke=256, cpu=2_048, gpu=len(valid_sents)), 64)]


def evaluate(model):
    losses_f, losses_b = [], []
    for batch in valid_batches:
        batch = type(batch)(*(t.to(ctx.device) for t in batch))
        _, m = bilm_loss(model, batch)
        losses_f.append(float(m["ppl_forward"].log()))
        losses_b.append(float(m["ppl_backward"].log()))
    return {"ppl_forward": perplexity(sum(losses_f) / len(losses_f)), "ppl_backward": perplexity(sum(losses_b) / len(losses_b))}


elmo_steps = ctx.pick(smoke=100, cpu=2_000, gpu=10_000)
history = fit(bilm, loader, bilm_loss, max_steps=elmo_steps, lr=ctx.pick(smoke=5e-3, cpu=3e-3, gpu=1e-3),
              warmup_steps=elmo_steps // 20, grad_clip=1.0, eval_fn=evaluate, eval_every=max(1, elmo_steps // 4),
              log_every=10, device=ctx.device, seed=ctx.seed, desc="biLM")
print(f"validation perplexity: forward {history.last('ppl_forward', 'eval'):.1f}, backward {history.last('ppl_backward', 'eval'):.1f}")

# %%
plot_history(history, keys=["loss", "ppl_forward", "ppl_backward"], title="ELMo biLM on WikiText-2");

# %%
_, losses = history.series("loss")
assert losses[-1] < losses[0] - 1.0, "the biLM's loss should fall by more than 1 nat"
assert history.last("ppl_forward", "eval") < len(vocab) and history.last("ppl_backward", "eval") < len(vocab)

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
#
# Both are balanced to 50 % positives. The notes say different tasks learn different
# proportions; here is the measurement.

# %%
from ptm_course.encoders import ScalarMix

probe_sents = valid_sents[: ctx.pick(smoke=300, cpu=1_500, gpu=3_000)]
feats, cap, after_det = [], [], []
for i in range(0, len(probe_sents), 64):
    chunk = probe_sents[i : i + 64]
    layers, keep = bilm.embed(chunk)  # (3, B, T, 2d), (B, T)
    for b, s in enumerate(chunk):
        feats.append(layers[:, b, : len(s)].cpu())
        cap += [w[0].isupper() for w in s]
        after_det += [False] + [prev.lower() in ("the", "a", "an") for prev in s[:-1]]
feats = torch.cat(feats, dim=1)  # (3, N, 2d): every layer of every token
print("mean vector norm per layer:", [round(float(feats[k].norm(dim=-1).mean()), 1) for k in range(3)])
# The layers' scales differ a lot (the token layer is not normalised); standardise every feature of
# every layer so that the scale does not decide the mix (AllenNLP's ScalarMix has the same option,
# do_layer_norm). Each layer is still used whole: the task only chooses the proportions.
feats = (feats - feats.mean(1, keepdim=True)) / feats.std(1, keepdim=True).clamp_min(1e-6)
print(f"{feats.shape[1]:,} tokens; capitalised {sum(cap) / len(cap):.1%}, after a determiner {sum(after_det) / len(after_det):.1%}")


def balanced(labels, seed):
    y = torch.tensor(labels)
    pos, neg = torch.nonzero(y).squeeze(1), torch.nonzero(~y).squeeze(1)
    n = min(len(pos), len(neg))
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([pos[torch.randperm(len(pos), generator=g)[:n]], neg[torch.randperm(len(neg), generator=g)[:n]]])
    return idx[torch.randperm(len(idx), generator=g)], y.long()


def train_probe(labels, steps):
    idx, y = balanced(labels, ctx.seed)
    split = int(0.8 * len(idx))
    tr, te = idx[:split], idx[split:]
    torch.manual_seed(ctx.seed)
    mix, clf = ScalarMix(3), torch.nn.Linear(feats.size(-1), 2)
    opt = torch.optim.Adam([*mix.parameters(), *clf.parameters()], lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(clf(mix(feats[:, tr])), y[tr])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((clf(mix(feats[:, te])).argmax(-1) == y[te]).float().mean())
    return mix.weights().detach(), acc


probe_steps = ctx.pick(smoke=200, cpu=400, gpu=400)
mix_cap, acc_cap = train_probe(cap, probe_steps)
mix_det, acc_det = train_probe(after_det, probe_steps)
print(f"capitalised?       accuracy {acc_cap:.1%}, layer weights s = {mix_cap.numpy().round(3)}")
print(f"after determiner?  accuracy {acc_det:.1%}, layer weights s = {mix_det.numpy().round(3)}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
xs = torch.arange(3)
ax.bar(xs - 0.2, mix_cap, width=0.4, label=f"capitalised? (acc {acc_cap:.0%})")
ax.bar(xs + 0.2, mix_det, width=0.4, label=f"after a determiner? (acc {acc_det:.0%})")
ax.axhline(1 / 3, color="gray", ls=":", label="initial (1/3 each)")
ax.set_xticks(xs, ["layer 0 (token)", "layer 1 (LSTM)", "layer 2 (LSTM)"])
ax.set_ylabel("softmax(w)")
ax.set_title("ScalarMix weights learned by two tasks")
ax.legend(fontsize=8)
plt.show()

# %%
assert acc_cap > 0.6 and acc_det > 0.6, "both probes should beat the balanced chance level of 50 %"
assert mix_cap[0] > mix_det[0] + 0.1, "the spelling task should lean more on the token layer than the context task"

# %% [markdown]
# The context task moves weight away from the token layer (which cannot know the previous word)
# to the LSTM layers; the spelling task keeps more on the token layer. Same frozen biLM,
# different proportions — 不同实验比例不同.
#
# Your run's numbers are printed above; the `smoke` preset trains a small biLM for 100 steps,
# the `cpu` and `gpu` presets a larger one (LSTMs with projections, as in the paper) for 2,000 /
# 10,000 steps.
#
# ## 6. Summary
#
# | the notes | measured here |
# |---|---|
# | RNN-based LM, trained by next-word prediction | biLM of 2 + 2 LSTM layers on a char-CNN, trained on WikiText-2; perplexities above |
# | each token has its own embedding; polysemy (一词多义) | "bank", "play", "bat": one token-layer / word2vec vector, but contextual vectors that group by sense |
# | forward and backward, use both | every layer is [forward; backward]; no leak in either direction |
# | every layer, learned proportions, different per task | ScalarMix: the spelling and the context task learn different s |
#
# **Exercises:** `exercises/06_elmo_exercises.ipynb` asks you to write a highway layer,
# ScalarMix, ELMo's character ids and the backward LM's shifted targets, with instant feedback
# from `check(...)`.
