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
# # Exercises 10 — causal attention, the KV cache, top-p, GPT's size, BPE (GPT: decoder of transformer)
#
# Chapter 10 built GPT from the course's Transformer blocks, tokenised text with byte-level BPE
# and generated text with a KV cache. Here you write the pieces at its heart yourself: the
# attention that cannot look ahead, one step of cached attention, nucleus (top-p) filtering, the
# parameter count of GPT-2, a measurement of how many BPE tokens a text costs, and one step of
# BPE training.
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
# Points: 4 + 4 + 4 + 4 + 4 + 4, checked automatically.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import math

import torch
import torch.nn.functional as F

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. Causal self-attention (4 points)
#
# A decoder predicts token t + 1 from tokens 0..t, so token t must not see the tokens after it.
# The mask adds −∞ to every score of a *future* key before the softmax:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}} + M\right) V,
# \qquad M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}$$
#
# Write `causal_attention(q, k, v)`: `q`, `k`, `v` are `(..., T, d)` tensors — `(T, d)` for one
# sequence, `(B, n_heads, T, d)` inside a model — and the output has the shape of `q`. Row i of
# the score matrix is query i, column j is key j: M is −∞ **above** the diagonal. (The diagonal
# is never masked, so no row is all −∞.)

# %%
def causal_attention(q, k, v):
    """softmax(q·kᵀ/√d + M)·v with M = -inf above the diagonal; q, k, v of shape (..., T, d)."""
    ### BEGIN SOLUTION hint: a (T, T) score table over the last two dimensions, scaled by √d; −∞ where the key comes after the query; softmax over the keys
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, T)
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(diagonal=1)  # key j > query i
    scores = scores.masked_fill(future, float("-inf"))
    return scores.softmax(dim=-1) @ v  # (..., T, d)
    ### END SOLUTION


# %%
check("10.causal_attention", causal_attention)
### BEGIN HIDDEN TESTS
from ptm_course.grading import evaluate
from ptm_course.models.transformer import MultiHeadAttention, merge_heads, split_heads

mha = MultiHeadAttention(16, 4).eval()
x = torch.randn(2, 6, 16)
q, k, v = (split_heads(proj(x), 4) for proj in (mha.q_proj, mha.k_proj, mha.v_proj))
assert torch.allclose(mha.o_proj(merge_heads(causal_attention(q, k, v))), mha(x, is_causal=True), atol=1e-6)
assert torch.allclose(causal_attention(q, k, v)[:, :, 0], v[:, :, 0], atol=1e-6)  # token 0 sees only itself
assert evaluate("10.causal_attention", causal_attention).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. One step of the KV cache (4 points)
#
# When generating, the keys and values of the tokens seen so far do not change, so a model keeps
# them (the KV cache) and feeds only the newest token. Its query attends over the P cached keys
# and its own: with $K = [K_\text{cache}; k_\text{new}]$ and $V = [V_\text{cache}; v_\text{new}]$
# (P + 1 rows),
#
# $$y_\text{new} = \mathrm{softmax}\!\left(\frac{q_\text{new} K^\top}{\sqrt{d}}\right) V .$$
#
# No mask is needed: the new token is the last position, every key is in its past or is itself.
# The result must be exactly the last row of full causal attention over all P + 1 tokens — that
# is what makes the cache correct, and what the tests compare with.
#
# Write `attend_new_token(q_new, k_cache, v_cache, k_new, v_new)`: `q_new`, `k_new`, `v_new` are
# `(B, n_heads, 1, d)`, `k_cache` and `v_cache` are `(B, n_heads, P, d)` (P may be 0). Return the
# `(B, n_heads, 1, d)` output.

# %%
def attend_new_token(q_new, k_cache, v_cache, k_new, v_new):
    """Attention of one new token over the P cached keys/values plus its own: (B, nh, 1, d)."""
    ### BEGIN SOLUTION hint: put the new key and value after the cached ones along the sequence dimension (dim 2), then attend the one query over all P + 1 keys without a mask
    k = torch.cat([k_cache, k_new], dim=2)  # (B, nh, P + 1, d)
    v = torch.cat([v_cache, v_new], dim=2)
    scores = q_new @ k.transpose(-2, -1) / math.sqrt(q_new.size(-1))  # (B, nh, 1, P + 1)
    return scores.softmax(dim=-1) @ v  # (B, nh, 1, d)
    ### END SOLUTION


# %%
check("10.cached_step", attend_new_token)
### BEGIN HIDDEN TESTS
# the cache of the course's MultiHeadAttention gives the same output as attend_new_token
from ptm_course.models.transformer import KVCache

x = torch.randn(1, 5, 16)
cache = KVCache()
mha(x[:, :4], past_kv=cache, is_causal=True)  # the prompt: 4 tokens into the cache
k_c, v_c = cache.k, cache.v
q_n, k_n, v_n = (split_heads(proj(x[:, 4:]), 4) for proj in (mha.q_proj, mha.k_proj, mha.v_proj))
ours = mha.o_proj(merge_heads(attend_new_token(q_n, k_c, v_c, k_n, v_n)))
assert torch.allclose(ours, mha(x[:, 4:], past_kv=cache, is_causal=True), atol=1e-6)
assert torch.allclose(ours, mha(x, is_causal=True)[:, 4:], atol=1e-6)
# the classic bug: SDPA's is_causal=True with 1 query and 5 keys shows the query only key 0
buggy = F.scaled_dot_product_attention(q_n, torch.cat([k_c, k_n], 2), torch.cat([v_c, v_n], 2), is_causal=True)
assert torch.allclose(buggy, v_c[:, :, :1], atol=1e-6)
assert evaluate("10.cached_step", attend_new_token).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Nucleus (top-p) filtering (4 points)
#
# Top-p sampling (Holtzman et al. 2020) draws the next token only from the *nucleus*: the
# smallest set of most likely tokens whose probabilities sum to at least p. With the
# probabilities sorted, $p_{(1)} \ge p_{(2)} \ge \dots$, token $(r)$ is kept when
#
# $$\sum_{s < r} p_{(s)} < p ,$$
#
# i.e. while the mass ranked *above* it has not reached p yet — so the token that crosses p is
# kept, and the most likely token always is.
#
# Write `top_p_filter(logits, p)`: `logits` is `(B, V)` in vocabulary order (not sorted), `p` in
# (0, 1]. Return a tensor of the same shape and order with the kept logits unchanged and −∞
# everywhere else. Example: probabilities `[0.5, 0.3, 0.15, 0.05]` with p = 0.6 keep the first two.

# %%
def top_p_filter(logits, p):
    """Keep the smallest set of most likely tokens with probability sum >= p in each row; -inf elsewhere."""
    ### BEGIN SOLUTION hint: sort each row in descending order, compute the probability mass ranked above each token, decide there, then put the decision back in vocabulary order
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_above = probs.cumsum(dim=-1) - probs  # (B, V), sorted order
    drop_sorted = mass_above >= p
    drop_sorted[:, 0] = False  # the most likely token always stays
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %%
check("10.top_p", top_p_filter)
### BEGIN HIDDEN TESTS
from ptm_course.models import generation

lg = torch.randn(5, 50) * 3
for p in (0.3, 0.8, 0.95):
    assert torch.equal(top_p_filter(lg, p), generation.top_p_filter(lg, p))
assert torch.isfinite(top_p_filter(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])), 0.6)).sum() == 2
assert evaluate("10.top_p", top_p_filter).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Counting GPT-2's parameters (4 points)
#
# GPT-2 (the pre-LN layout) has token embeddings (V × d) and learned positions (max_len × d),
# then L blocks, then one final LayerNorm; the output layer is **tied** to the token embedding
# (the same matrix), so it adds nothing. Per block:
#
# | part | parameters |
# |---|---|
# | attention: W_Q, W_K, W_V, W_O with biases | 4d² + 4d |
# | feed-forward: d → d_ff → d with biases | 2·d·d_ff + d_ff + d |
# | two LayerNorms (weight and bias) | 4d |
#
# Write `gpt_params(vocab_size, max_len, d_model, n_layers, d_ff)`: the total number of
# parameters, as an int. GPT-2 small (V = 50,257, max_len = 1,024, d = 768, L = 12,
# d_ff = 3,072) has 124,439,808.

# %%
def gpt_params(vocab_size, max_len, d_model, n_layers, d_ff):
    """Parameters of a GPT-2-layout model with a tied output layer."""
    ### BEGIN SOLUTION hint: embeddings + n_layers × (attention + feed-forward + two LayerNorms) + the final LayerNorm
    d = d_model
    per_layer = (4 * d * d + 4 * d) + (2 * d * d_ff + d_ff + d) + 4 * d
    return vocab_size * d + max_len * d + n_layers * per_layer + 2 * d
    ### END SOLUTION


# %%
check("10.param_count", gpt_params)
### BEGIN HIDDEN TESTS
from ptm_course.models.gpt import GPTConfig, gpt_param_count

for cfg in (GPTConfig.gpt2_medium(), GPTConfig.gpt2_large(), GPTConfig.gpt2_xl()):
    assert gpt_params(cfg.vocab_size, cfg.max_len, cfg.d_model, cfg.n_layers, cfg.d_ff) == gpt_param_count(cfg)
assert evaluate("10.param_count", gpt_params).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Where are GPT-2's parameters? Outside the embeddings the count is close to 12·L·d² — the
# number scaling laws are written in.

# %%
try:
    for name, (d, L) in {"small": (768, 12), "medium": (1024, 24), "large": (1280, 36), "XL": (1600, 48)}.items():
        total = gpt_params(50257, 1024, d, L, 4 * d)
        emb = 50257 * d + 1024 * d
        print(f"GPT-2 {name:6s} {total / 1e6:7.1f} M parameters, {emb / total:4.0%} in the embeddings; "
              f"12·L·d² = {12 * L * d * d / 1e6:7.1f} M vs {(total - emb) / 1e6:7.1f} M in the blocks")
except NotImplementedError:
    print("write gpt_params above first")

# %% [markdown]
# ## 5. Measure: how many tokens does a text cost? (4 points)
#
# A language model's context length, its training budget and its price are counted in
# **tokens**, not characters. How many tokens a text needs depends on the tokeniser and on the
# text: a byte-level BPE learnt mostly from English cuts English words into few pieces, but
# needs several tokens for one Chinese character (3 UTF-8 bytes).
#
# $$\text{tokens per character} = \frac{\sum_\text{texts} \#\text{tokens}}{\sum_\text{texts} \#\text{characters}}$$
#
# Write `tokens_per_character(tokenizer, texts)`: `tokenizer` is a Hugging Face `tokenizers`
# tokenizer (`tokenizer.encode(text).ids` are a text's token ids), `texts` a list of strings.
# Encode every text on its own and return the ratio of the totals, a float. Characters are
# Python's `len(text)`, not bytes. The tests use small byte-level BPE tokenizers trained on the
# spot; below you then measure GPT-2's own.

# %%
def tokens_per_character(tokenizer, texts):
    """Total number of tokens of the texts (each encoded on its own) / their total number of characters."""
    ### BEGIN SOLUTION hint: count the ids of each text's encoding and the characters of each text, sum both over the texts, divide
    n_tokens = sum(len(tokenizer.encode(t).ids) for t in texts)
    n_chars = sum(len(t) for t in texts)
    return n_tokens / n_chars
    ### END SOLUTION


# %%
check("10.tokens_per_char", tokens_per_character)
### BEGIN HIDDEN TESTS
from ptm_course.data.bpe import train_bpe

no_merges = train_bpe(["abc"], vocab_size=257)  # one token per byte
assert abs(tokens_per_character(no_merges, ["hello", "café"]) - 10 / 9) < 1e-12
assert abs(tokens_per_character(no_merges, ["東京"]) - 3.0) < 1e-12
assert evaluate("10.tokens_per_char", tokens_per_character).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Now measure GPT-2's tokeniser (50,257 tokens) on English prose, Python code and Chinese. (It
# needs the course's copy of GPT-2's BPE files: `ptm-course data prepare gpt2-bpe`.) Which kind of
# text is the most expensive, and why does a BPE learnt mostly from English web text cut Chinese so
# finely?

# %%
from ptm_course.data.registry import DataNotAvailableError
from ptm_course.data.bpe import load_gpt2_tokenizer

samples = {
    "English": ["The decoder predicts the next token from the tokens before it.",
                "Generating text repeats one step: run the model, pick a token, append it."],
    "Python": ["def add(a, b):\n    return a + b\n", "for i in range(10):\n    print(i ** 2)\n"],
    "Chinese": ["非常非常的巨大, 很神奇", "基于语言模型训练, 词嵌入只是一个产物"],
}
try:
    gpt2_tok = load_gpt2_tokenizer()
    for name, texts in samples.items():
        print(f"{name:8s} {tokens_per_character(gpt2_tok, texts):.2f} GPT-2 tokens per character")
except NotImplementedError:
    print("write tokens_per_character above first")
except DataNotAvailableError as err:
    print("GPT-2's tokeniser is not available here, so this measurement is skipped "
          f"(the graded tests above do not need it):\n  {err}")

# %% [markdown]
# ## 6. One step of BPE training (4 points)
#
# BPE learns its vocabulary by merging: count every adjacent pair of symbols, make the most
# frequent pair one new symbol, replace it everywhere, repeat. GPT-2 did this 50,000 times,
# starting from the 256 bytes.
#
# Write `bpe_merge_step(ids, new_id)`: `ids` is a list of ints (at least two). Return
# `(pair, new_ids)`: `pair` the most frequent adjacent pair as a tuple `(left, right)`, and
# `new_ids` the list with every occurrence of `pair` replaced by `new_id`, scanning left to right
# (so `7 7 7` with the pair `(7, 7)` becomes `8 7`). Overlapping occurrences all count when
# counting (`7 7 7` holds `(7, 7)` twice). **Ties**: among the pairs with the highest count, take
# the smallest pair, comparing the left ids first, then the right ids — the rule of Hugging
# Face's `tokenizers` trainer (and of `ptm_course.data.bpe.learn_merges`).
#
# Example: `bpe_merge_step([1, 2, 3, 1, 2], 4)` returns `((1, 2), [4, 3, 4])`.

# %%
def bpe_merge_step(ids, new_id):
    """The most frequent adjacent pair (ties: the smallest) and ids with that pair merged into new_id."""
    ### BEGIN SOLUTION hint: count the pairs of neighbours, find the highest count and the smallest pair that has it, then build a new list scanning left to right
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    best = max(counts.values())
    pair = min(p for p, c in counts.items() if c == best)
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return pair, out
    ### END SOLUTION


# %%
check("10.bpe_merge", bpe_merge_step)
### BEGIN HIDDEN TESTS
assert bpe_merge_step([1, 2, 3, 1, 2], 4) == ((1, 2), [4, 3, 4])
assert bpe_merge_step([7, 7, 7], 8) == ((7, 7), [8, 7])
assert evaluate("10.bpe_merge", bpe_merge_step).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Run a few merges on the bytes of a short text and watch the sequence shrink:

# %%
text = "low lower lowest, low low newer newest"
ids = list(text.encode("utf-8"))
vocab = {i: bytes([i]) for i in range(256)}
try:
    print(f"{len(ids)} bytes")
    for step in range(8):
        pair, ids = bpe_merge_step(ids, 256 + step)
        vocab[256 + step] = vocab[pair[0]] + vocab[pair[1]]
        print(f"merge {step + 1}: {vocab[pair[0]]!r} + {vocab[pair[1]]!r} -> {vocab[256 + step]!r}; {len(ids)} tokens")
except NotImplementedError:
    print("write bpe_merge_step above first")

# %% [markdown]
# ## Your score
#
# The last cell checks every answer again, as your functions are now, and prints your score.

# %%
summary("10")
