"""The package on a CUDA GPU: same results as on the CPU; training with bf16 autocast works, and
with float16 + GradScaler where the GPU has no native bf16.

Skipped where no GPU is present (CI has none). Run them on a GPU machine with
``python -m pytest tests/test_gpu.py``; ``benchmarks/gpu_run.sh`` does it with the benchmarks.
"""

from __future__ import annotations

import copy

import pytest
import torch

from ptm_course.embeddings.word2vec import Word2Vec, Word2VecConfig, ns_update
from ptm_course.encoders import LSTMLM, BPTTBatches, LSTMLMConfig, TBPTTLoss
from ptm_course.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertForQuestionAnswering,
    pretraining_loss,
)
from ptm_course.models.transformer import MultiHeadAttention, attention_reference, padding_mask
from ptm_course.train import fit
from ptm_course.utils import amp_dtype, get_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_fp32():
    # compare float32 with float32: no TF32 in matmuls or convolutions during these tests
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _padded_batch(B: int = 4, T: int = 16, V: int = 1000, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    am = torch.ones(B, T, dtype=torch.long)
    for b in range(1, B):  # a different amount of padding in each row (none in the first)
        am[b, T - 3 * b :] = 0
    ids = ids * am
    labels = torch.full((B, T), -100)
    labels[:, 1:4] = ids[:, 1:4]
    return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": am,
            "mlm_labels": labels, "nsp_labels": torch.tensor([0, 1] * (B // 2))}


def test_auto_device_is_cuda():
    assert get_device("auto").type == "cuda"
    assert amp_dtype(CUDA) in (torch.bfloat16, torch.float16)


def test_sdpa_attention_with_padding_matches_the_written_out_formula_on_gpu():
    torch.manual_seed(0)
    attn = MultiHeadAttention(64, 4).to(CUDA).eval()
    x = torch.randn(3, 10, 64, device=CUDA)
    am = torch.tensor([[1] * 10, [1] * 7 + [0] * 3, [1] * 2 + [0] * 8], device=CUDA)
    mask = padding_mask(am)
    with torch.no_grad():
        y = attn(x, mask=mask)
        q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
        heads = [t.view(3, 10, 4, 16).transpose(1, 2) for t in (q, k, v)]
        ref = attn.o_proj(attention_reference(*heads, mask=mask).transpose(1, 2).reshape(3, 10, 64))
    assert (y - ref).abs().max().item() < 1e-5


@pytest.mark.parametrize("model_cls", [BertForPreTraining, BertForQuestionAnswering])
def test_bert_gpu_equals_cpu_fp32(model_cls):
    torch.manual_seed(0)
    cfg = BertConfig.tiny(dropout=0.0, attn_dropout=0.0)
    cpu_model = model_cls(cfg).eval()
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    batch = _padded_batch()
    inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    with torch.no_grad():
        out_cpu = cpu_model(*inputs)
        out_gpu = gpu_model(*(t.to(CUDA) for t in inputs))
    for a, b in zip(out_cpu, out_gpu):
        assert (a - b.cpu()).abs().max().item() < 1e-4


@pytest.mark.parametrize("gpu", ["as it is", "without native bf16"])
def test_bert_pretraining_with_autocast_learns_on_gpu(gpu, monkeypatch):
    if gpu == "without native bf16":
        # a T4 (Colab's free GPU) only emulates bf16: the package picks float16 + GradScaler there
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
        assert amp_dtype(CUDA) == torch.float16
    torch.manual_seed(0)
    cfg = BertConfig.tiny(vocab_size=1000, dropout=0.0, attn_dropout=0.0)
    model = BertForPreTraining(cfg)
    batch = _padded_batch()
    first = pretraining_loss(model, batch)[0].item()
    history = fit(model, [batch], pretraining_loss, max_steps=120, lr=3e-3, log_every=20,
                  progress=False, device="cuda", amp=True)
    assert next(model.parameters()).device.type == "cuda"
    assert next(model.parameters()).dtype == torch.float32  # autocast: fp32 master weights
    last = history.train[-1]["loss"]
    assert torch.isfinite(torch.tensor(last)) and last < 0.2 * first, (first, last)


def test_compiled_static_positions_loss_equals_the_dense_loss_on_gpu():
    # fixed-width masked positions: one compiled graph, last layer at the positions only
    from ptm_course.data.masking import masked_positions

    torch.manual_seed(0)
    cfg = BertConfig.tiny(vocab_size=1000, dropout=0.0, attn_dropout=0.0)
    model = BertForPreTraining(cfg).to(CUDA)
    batch = {k: v.to(CUDA) for k, v in _padded_batch().items()}
    static = dict(batch, mlm_positions=masked_positions(batch["mlm_labels"], 5))
    dense_loss = pretraining_loss(model, batch)[0]
    dense_loss.backward()
    dense_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    loss = torch.compile(lambda b: pretraining_loss(model, b)[0])(static)
    loss.backward()
    assert abs(loss.item() - dense_loss.item()) < 1e-4
    assert all((a - p.grad).abs().max().item() < 1e-4 for a, p in zip(dense_grads, model.parameters()))


def test_lstm_lm_gpu_equals_cpu_and_trains():
    torch.manual_seed(0)
    cfg = LSTMLMConfig.tiny(vocab_size=50)
    cpu_model = LSTMLM(cfg).eval()
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    x = torch.randint(0, 50, (4, 12))
    with torch.no_grad():
        a, _ = cpu_model(x)
        b, _ = gpu_model(x.to(CUDA))
    assert (a - b.cpu()).abs().max().item() < 1e-4
    stream = torch.tensor([1, 2, 3, 4, 5, 6, 7] * 40)  # periodic: learnable to near-zero loss
    lm = LSTMLM(LSTMLMConfig(vocab_size=10, d_model=32, d_hidden=32, n_layers=1, dropout=0.0))
    history = fit(lm, BPTTBatches(stream, batch_size=4, bptt=10), TBPTTLoss(), max_steps=150, lr=1e-2,
                  log_every=10, progress=False, device="cuda")
    assert next(lm.parameters()).device.type == "cuda"
    assert history.train[-1]["loss"] < 0.3


def test_ns_update_gpu_equals_cpu():
    torch.manual_seed(0)
    V, d, B, K = 50, 8, 32, 5
    h = torch.randn(B, d)
    W = torch.randn(V, d) * 0.1
    targets, negatives = torch.randint(0, V, (B,)), torch.randint(0, V, (B, K))
    W_gpu = W.clone().to(CUDA)
    neu_cpu, loss_cpu = ns_update(h, W, targets, negatives, 0.025)
    neu_gpu, loss_gpu = ns_update(h.to(CUDA), W_gpu, targets.to(CUDA), negatives.to(CUDA), 0.025)
    assert (neu_cpu - neu_gpu.cpu()).abs().max().item() < 1e-5
    assert (W - W_gpu.cpu()).abs().max().item() < 1e-5  # same scatter of repeated words
    assert abs(loss_cpu.item() - loss_gpu.item()) < 1e-3


@pytest.mark.parametrize("arch,loss", [("skipgram", "negative"), ("cbow", "hierarchical")])
def test_word2vec_trains_on_gpu(arch, loss):
    sentences = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "rug"]] * 200
    cfg = Word2VecConfig(arch=arch, loss=loss, dim=16, window=2, min_count=1, epochs=3, sample=0.0, batch_size=64)
    model = Word2Vec.from_sentences(sentences, cfg, device="cuda")
    report = model.train(sentences, progress=False)
    losses = [r["loss"] for r in report.history.train]
    assert model.W_in.device.type == "cuda"
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    emb = model.embeddings()
    assert emb.similarity("cat", "dog") > emb.similarity("cat", "on")  # same slot, same neighbours


def test_gpt_on_gpu_equals_cpu_and_the_cache_equals_recompute():
    from ptm_course.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    cpu_model = GPT(GPTConfig.tiny(dropout=0.0, attn_dropout=0.0)).eval()
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    ids = torch.randint(0, 1000, (2, 20))
    mask = torch.ones_like(ids)
    mask[1, :6] = 0  # a left-padded row
    with torch.no_grad():
        assert (cpu_model(ids, attention_mask=mask) - gpu_model(ids.to(CUDA), attention_mask=mask.to(CUDA)).cpu()).abs().max() < 1e-4
    cached = gpu_model.generate(ids[:, :5].to(CUDA), 30, temperature=0)
    assert torch.equal(cached, gpu_model.generate(ids[:, :5].to(CUDA), 30, temperature=0, use_cache=False))


def test_gpt_training_with_autocast_learns_on_gpu():
    from ptm_course.models.gpt import GPT, GPTConfig, lm_loss

    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(dropout=0.0, attn_dropout=0.0))
    batch = {"input_ids": torch.randint(0, 1000, (4, 32))}
    first = lm_loss(model, batch)[0].item()
    history = fit(model, [batch], lm_loss, max_steps=150, lr=3e-3, log_every=50, progress=False, device="cuda", amp=True)
    last = history.train[-1]["loss"]
    assert torch.isfinite(torch.tensor(last)) and last < 0.2 * first, (first, last)
