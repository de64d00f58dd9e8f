"""BERT (Devlin et al. 2018): a bidirectional Transformer encoder, its pre-training heads, and
the four ways to fine-tune it.

    cfg = BertConfig.tiny(vocab_size=1000)
    model = BertForPreTraining(cfg)
    mlm_logits, nsp_logits = model(input_ids, token_type_ids, attention_mask)
    loss, metrics = pretraining_loss(model, batch)          # for ptm_course.train.fit

The pieces, top to bottom:

* :class:`BertConfig` with ``tiny()`` (tests), ``small()`` (CPU), ``base()`` (GPU, BERT-base),
  ``ernie()`` (ERNIE 1.0: the same encoder with ReLU and a Chinese vocabulary);
* :class:`BertEmbeddings`: token + learned position + segment (A/B) embeddings, LayerNorm;
* :class:`BertModel`: embeddings → N post-LN blocks → (hidden states, pooled [CLS]);
* :class:`BertForPreTraining` / :class:`BertForMaskedLM`: MLM head (dense → GELU → LN → decoder
  tied to the word embeddings + own bias) and NSP head (Linear on the pooled [CLS]);
* the four fine-tuning cases of the notes, each a small module with its loss function:
  :class:`BertForSequenceClassification` (cases 1 and 3: one sentence or a pair → a class),
  :class:`BertForTokenClassification` (case 2: a class per token),
  :class:`BertForQuestionAnswering` (case 4: start/end logits of the answer span),
  with :func:`best_span` and :func:`ptm_course.metrics.squad_em_f1` to decode and score the answers.

Module and parameter names mirror Hugging Face's ``modeling_bert`` so that
:mod:`ptm_course.models.hf_loading` can map checkpoints with a short, readable table.
Batches are dicts with ``input_ids``, ``token_type_ids``, ``attention_mask`` and the labels
of the task (``mlm_labels`` with −100 on unmasked tokens, ``nsp_labels``, ``labels``,
``start_positions`` / ``end_positions``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import (ACTIVATIONS, LayerNorm, MultiHeadAttention, PostLNBlock, gather_positions, merge_heads,
                          padding_mask, split_heads)

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertMLMHead",
    "BertMeanPoolClassifier",
    "BertMeanPoolClassifierWithMLM",
    "BertModel",
    "best_span",
    "mlm_loss",
    "post_ln_block_at",
    "pretraining_loss",
    "qa_loss",
    "sequence_classification_loss",
    "token_classification_loss",
]

IGNORE_INDEX = -100  # label value that cross-entropy skips (unmasked tokens, padding, sub-word continuations)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class BertConfig:
    vocab_size: int = 30522
    d_model: int = 768  # hidden size H
    n_layers: int = 12  # L
    n_heads: int = 12  # A
    d_ff: int = 3072  # 4·H
    max_len: int = 512  # learned positions
    type_vocab_size: int = 2  # segments A and B
    dropout: float = 0.1
    attn_dropout: float = 0.1
    activation: str = "gelu"  # exact erf GELU (HF default); "gelu_tanh" is the TF/BERT-paper code's form
    norm_eps: float = 1e-12
    init_std: float = 0.02
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}")

    @classmethod
    def tiny(cls, **kw) -> "BertConfig":
        """For tests: 2 layers, H=32 (the size of HF's own BERT tests)."""
        return cls(**{**dict(vocab_size=1000, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=128), **kw})

    @classmethod
    def small(cls, **kw) -> "BertConfig":
        """For CPU pre-training: 4 layers, H=256 (BERT-mini-like)."""
        return cls(**{**dict(vocab_size=8000, d_model=256, n_layers=4, n_heads=4, d_ff=1024, max_len=256), **kw})

    @classmethod
    def base(cls, **kw) -> "BertConfig":
        """BERT-base: 12 layers, H=768, 12 heads, 110 M parameters with the 30,522-token vocabulary."""
        return cls(**kw)

    @classmethod
    def ernie(cls, **kw) -> "BertConfig":
        """ERNIE 1.0 (Baidu, Chinese): BERT-base with ReLU, an 18,000-token vocabulary, 513 positions
        and LayerNorm eps 1e-5 (PaddlePaddle's default), as in HF's ``nghuyong/ernie-1.0-base-zh``."""
        return cls(**{**dict(vocab_size=18000, max_len=513, activation="relu", norm_eps=1e-5), **kw})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "BertConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown BertConfig fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(d))


# --------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------


class BertEmbeddings(nn.Module):
    """E = LN(E_token[x] + E_position[t] + E_segment[s]), then dropout."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_len, cfg.d_model)  # learned, not sinusoidal
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.d_model)  # segment A = 0, B = 1
        self.norm = LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, C) from ``input_ids`` (B, T), or from word vectors ``inputs_embeds`` (B, T, C) given
        directly (exactly one of the two): positions 0..T−1 and segments are added to them alike."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("BertEmbeddings: give exactly one of input_ids (B, T) and inputs_embeds (B, T, d_model)")
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        B, T = words.shape[:2]
        if T > self.position_embeddings.num_embeddings:
            raise ValueError(f"sequence length {T} exceeds max_len {self.position_embeddings.num_embeddings}")
        if token_type_ids is None:
            token_type_ids = torch.zeros(B, T, dtype=torch.long, device=words.device)
        pos = torch.arange(T, device=words.device)  # (T,)
        x = words + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
        return self.drop(self.norm(x))  # (B, T, C)


class BertModel(nn.Module):
    """The bidirectional encoder. Returns (hidden states (B, T, C), pooled (B, C)).

    pooled = tanh(W_p · h_[CLS] + b_p): the [CLS] summary that NSP and classification use.
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.layers = nn.ModuleList(
            PostLNBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=cfg.dropout, attn_dropout=cfg.attn_dropout,
                        activation=cfg.activation, norm_eps=cfg.norm_eps)
            for _ in range(cfg.n_layers)
        )
        self.pooler = nn.Linear(cfg.d_model, cfg.d_model)
        self.apply(lambda m: init_bert_weights(m, cfg.init_std))

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_positions: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (B, T, C) and pooled [CLS] (B, C).

        ``output_positions`` (B, P): return the hidden states at these positions only, (B, P, C).
        The last layer then runs for them (and [CLS], for the pooler) alone: its keys and values
        still see every position, so the result equals the full output gathered at the positions,
        at about a sixth of the last layer's cost under a masked-LM loss.

        ``inputs_embeds`` (B, T, C): word vectors instead of ``input_ids`` (give exactly one), as
        Hugging Face's ``inputs_embeds``. ``model(inputs_embeds=model.embeddings.word_embeddings(ids))``
        equals ``model(ids)``; vectors that are no word's — a soft prompt (chapter 15,
        :mod:`ptm_course.tuning.soft_prompt`) — enter the encoder this way.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("BertModel: give exactly one of input_ids (B, T) and inputs_embeds (B, T, d_model), "
                             f"got {'both' if input_ids is not None else 'neither'}")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}")
        if inputs_embeds is not None and (inputs_embeds.dim() != 3 or inputs_embeds.size(-1) != self.config.d_model):
            raise ValueError(f"inputs_embeds must be (batch, seq_len, d_model={self.config.d_model}), "
                             f"got shape {tuple(inputs_embeds.shape)}")
        mask = None if attention_mask is None else padding_mask(attention_mask)  # (B, 1, 1, T)
        x = self.embeddings(input_ids, token_type_ids, inputs_embeds=inputs_embeds)  # (B, T, C)
        if output_positions is None:
            for layer in self.layers:
                x = layer(x, mask=mask)  # bidirectional: no causal mask
            return x, torch.tanh(self.pooler(x[:, 0]))  # pooled (B, C) from the [CLS] position
        B = x.shape[0]
        if output_positions.dim() != 2 or output_positions.size(0) != B:
            raise ValueError(f"output_positions must be (batch={B}, P), got shape {tuple(output_positions.shape)}")
        keep = torch.cat([output_positions.new_zeros(B, 1), output_positions], dim=1)  # [CLS] first, (B, 1 + P)
        for layer in self.layers[:-1]:
            x = layer(x, mask=mask)
        x = post_ln_block_at(self.layers[-1], x, keep, mask)  # (B, 1 + P, C)
        return x[:, 1:], torch.tanh(self.pooler(x[:, 0]))


def post_ln_block_at(block: PostLNBlock, x: torch.Tensor, positions: torch.Tensor,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """``block(x, mask)`` gathered at ``positions`` (B, P), computed for those rows only: (B, P, C).

    A position's output depends on the other positions only through their keys and values, so
    the queries, the output projection, both LayerNorms and the feed-forward network run for the
    P rows alone, while keys and values come from all T rows. Every projection is *called* as a
    module (``attn.q_proj(rows)``, ...), so a wrapped projection (LoRA, an adapter) acts here too.
    """
    attn = block.attn
    if not isinstance(attn, MultiHeadAttention):  # a wrapped attention (a prefix): the whole block, then gather
        return gather_positions(block(x, mask=mask), positions)
    rows = gather_positions(x, positions)  # (B, P, C)
    q = split_heads(attn.q_proj(rows), attn.n_heads)  # (B, nh, P, hs): only the rows that ask
    k = split_heads(attn.k_proj(x), attn.n_heads)  # (B, nh, T, hs): every row answers
    v = split_heads(attn.v_proj(x), attn.n_heads)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=attn.dropout if attn.training else 0.0)
    h = block.norm1(rows + block.drop(attn.o_proj(merge_heads(y))))  # (B, P, C)
    return block.norm2(h + block.ffn(h))


def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm = identity."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------------------------
# Pre-training heads: MLM + NSP
# --------------------------------------------------------------------------------------------


class BertMLMHead(nn.Module):
    """logits = LN(GELU(h·W_t + b_t))·Eᵀ + b  — the decoder E is the word-embedding matrix (tied)."""

    def __init__(self, cfg: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.act = ACTIVATIONS[cfg.activation]
        self.norm = LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.decoder = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # weight tying: one matrix, two uses
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        init_bert_weights(self.dense, cfg.init_std)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.act(self.dense(h)))) + self.bias  # (..., vocab)


class BertForMaskedLM(nn.Module):
    """BERT + MLM head only (RoBERTa-style pre-training, or filling blanks)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg)
        self.mlm = BertMLMHead(cfg, self.bert.embeddings.word_embeddings)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        h, _ = self.bert(input_ids, token_type_ids, attention_mask)
        return self.mlm(h)  # (B, T, vocab)


class BertForPreTraining(nn.Module):
    """BERT + MLM head + NSP head. Returns (mlm_logits (B, T, V), nsp_logits (B, 2)).

    NSP label 0 = "B follows A" (IsNext), 1 = "B is a random sentence" (NotNext), as in HF.
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg)
        self.mlm = BertMLMHead(cfg, self.bert.embeddings.word_embeddings)
        self.nsp = nn.Linear(cfg.d_model, 2)
        init_bert_weights(self.nsp, cfg.init_std)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        h, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        return self.mlm(h), self.nsp(pooled)


def _encode_for_mlm(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    # With fixed-width masked positions the encoder returns those positions only, (B, P, C).
    return model.bert(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"),
                      output_positions=batch.get("mlm_positions"))


def _masked_lm_terms(model: nn.Module, h: torch.Tensor, labels: torch.Tensor,
                     positions: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    # Only the selected ~15 % of positions go through the vocabulary projection: the same loss as
    # projecting every position, at a fraction of the cost (the V-wide matmul dominates small models).
    # h: (B, T, C) without positions; (B, P, C), already at the positions, with them.
    if positions is None:
        sel = labels != IGNORE_INDEX  # (B, T)
        logits = model.mlm(h[sel])  # (n_masked, V): n_masked is data-dependent, a host sync
        target = labels[sel]
        loss = F.cross_entropy(logits.float(), target)
        acc = (logits.argmax(-1) == target).float().mean()
    else:
        # fixed-width positions (B, P) from the data pipeline: static shapes, no sync; padding
        # entries point at unmasked positions, whose target −100 the loss ignores
        target = labels.gather(1, positions).flatten()  # (B·P,)
        logits = model.mlm(h).flatten(0, 1)  # (B·P, V)
        loss = F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX)
        valid = target != IGNORE_INDEX
        acc = ((logits.argmax(-1) == target) & valid).sum() / valid.sum().clamp(min=1)
    return loss, {"mlm_loss": loss.detach(), "mlm_acc": acc}


def mlm_loss(model: BertForMaskedLM | BertForPreTraining, batch: Mapping[str, torch.Tensor]):
    """Masked-LM cross-entropy over the masked positions; metrics mlm_acc.

    With ``batch["mlm_positions"]`` (see :func:`ptm_course.data.masking.masked_positions`) the
    masked positions are gathered at fixed width, which keeps every shape static, and the last
    encoder layer runs at those positions only (``BertModel(output_positions=...)``).
    """
    h, _ = _encode_for_mlm(model, batch)
    loss, metrics = _masked_lm_terms(model, h, batch["mlm_labels"], batch.get("mlm_positions"))
    return loss, {"mlm_acc": metrics["mlm_acc"]}


def pretraining_loss(model: BertForPreTraining, batch: Mapping[str, torch.Tensor]):
    """L = L_MLM + L_NSP (the paper sums the two); metrics mlm_loss, nsp_loss, mlm_acc, nsp_acc."""
    h, pooled = _encode_for_mlm(model, batch)
    loss_mlm, metrics = _masked_lm_terms(model, h, batch["mlm_labels"], batch.get("mlm_positions"))
    nsp_logits = model.nsp(pooled)  # (B, 2)
    loss_nsp = F.cross_entropy(nsp_logits.float(), batch["nsp_labels"])
    metrics["nsp_loss"] = loss_nsp.detach()
    metrics["nsp_acc"] = (nsp_logits.argmax(-1) == batch["nsp_labels"]).float().mean()
    return loss_mlm + loss_nsp, metrics


# --------------------------------------------------------------------------------------------
# The four fine-tuning cases
# --------------------------------------------------------------------------------------------


class BertForSequenceClassification(nn.Module):
    """Cases 1 and 3: [CLS] A [SEP] (B [SEP]) → class.  logits = W·Dropout(pooled) + b."""

    def __init__(self, cfg: BertConfig, n_classes: int, classifier_dropout: float | None = None):
        super().__init__()
        self.config = cfg
        self.n_classes = n_classes
        self.bert = BertModel(cfg)
        self.drop = nn.Dropout(cfg.dropout if classifier_dropout is None else classifier_dropout)
        self.classifier = nn.Linear(cfg.d_model, n_classes)
        init_bert_weights(self.classifier, cfg.init_std)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        _, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        return self.classifier(self.drop(pooled))  # (B, n_classes)


class BertMeanPoolClassifier(BertForSequenceClassification):
    """Case 1 for an encoder trained as a sentence embedder: logits = W·Dropout(mean of h_t) + b.

    Sentence-embedding checkpoints such as all-MiniLM-L6-v2 were trained on the **mean** of their
    token states, not on [CLS]: their [CLS] vector (and pooler) barely changes from sentence to
    sentence, so a classifier on it must first teach the encoder to fill it. The mean over the
    real tokens (padding excluded) is the representation such a model was built to give. The
    modules (and so the checkpoints) are those of :class:`BertForSequenceClassification`; the
    pooler is kept but unused.
    """

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        h, _ = self.bert(input_ids, token_type_ids, attention_mask)  # (B, T, C)
        if attention_mask is None:
            pooled = h.mean(1)
        else:
            w = attention_mask.to(h.dtype)[..., None]  # (B, T, 1): 1 on real tokens
            pooled = (h * w).sum(1) / w.sum(1).clamp(min=1)
        return self.classifier(self.drop(pooled))  # (B, n_classes)


class BertMeanPoolClassifierWithMLM(BertMeanPoolClassifier):
    """One encoder, two heads: the mean-pooled classifier (``forward``) and the MLM head (``.mlm``).

    What chapter 12 needs to keep the pre-training objective alive while it fine-tunes
    (L = L_task + λ·L_MLM) and to measure what fine-tuning costs the language model. ``forward``
    is the classifier's, so every classification loop uses it unchanged; :func:`mlm_loss` reaches
    the MLM head through ``.bert`` and ``.mlm`` as it does for :class:`BertForMaskedLM`, whose
    checkpoints load into it head and all.
    """

    def __init__(self, cfg: BertConfig, n_classes: int, classifier_dropout: float | None = None):
        super().__init__(cfg, n_classes, classifier_dropout)
        self.mlm = BertMLMHead(cfg, self.bert.embeddings.word_embeddings)


def sequence_classification_loss(model: BertForSequenceClassification, batch: Mapping[str, torch.Tensor]):
    logits = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))
    loss = F.cross_entropy(logits.float(), batch["labels"])
    return loss, {"acc": (logits.argmax(-1) == batch["labels"]).float().mean()}


class BertForTokenClassification(nn.Module):
    """Case 2: a class for every token.  logits_t = W·Dropout(h_t) + b."""

    def __init__(self, cfg: BertConfig, n_classes: int, classifier_dropout: float | None = None):
        super().__init__()
        self.config = cfg
        self.n_classes = n_classes
        self.bert = BertModel(cfg)
        self.drop = nn.Dropout(cfg.dropout if classifier_dropout is None else classifier_dropout)
        self.classifier = nn.Linear(cfg.d_model, n_classes)
        init_bert_weights(self.classifier, cfg.init_std)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> torch.Tensor:
        h, _ = self.bert(input_ids, token_type_ids, attention_mask)
        return self.classifier(self.drop(h))  # (B, T, n_classes)


def token_classification_loss(model: BertForTokenClassification, batch: Mapping[str, torch.Tensor]):
    """Cross-entropy over positions whose label is not −100 (special tokens, padding, sub-word tails)."""
    logits = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))
    labels = batch["labels"]
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
    sel = labels != IGNORE_INDEX
    acc = (logits.argmax(-1)[sel] == labels[sel]).float().mean()
    return loss, {"acc": acc}


class BertForQuestionAnswering(nn.Module):
    """Case 4: [CLS] question [SEP] passage [SEP] → (start_logits, end_logits), each (B, T).

    One Linear(H, 2) on every token: column 0 scores "the answer starts here", column 1 "ends here".
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg)
        self.qa_outputs = nn.Linear(cfg.d_model, 2)
        init_bert_weights(self.qa_outputs, cfg.init_std)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.bert(input_ids, token_type_ids, attention_mask)
        start, end = self.qa_outputs(h).unbind(-1)  # 2 × (B, T)
        return start, end


def qa_loss(model: BertForQuestionAnswering, batch: Mapping[str, torch.Tensor]):
    """(CE(start) + CE(end)) / 2, as in the paper; metrics: exact start/end position accuracy."""
    start, end = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))
    if "attention_mask" in batch:  # padding can never be an answer
        pad = batch["attention_mask"] == 0
        start = start.masked_fill(pad, -1e4)
        end = end.masked_fill(pad, -1e4)
    sp, ep = batch["start_positions"], batch["end_positions"]
    loss = (F.cross_entropy(start.float(), sp) + F.cross_entropy(end.float(), ep)) / 2
    acc = ((start.argmax(-1) == sp) & (end.argmax(-1) == ep)).float().mean()
    return loss, {"span_acc": acc}


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, allowed: torch.Tensor | None = None,
              max_answer_len: int = 30) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The best valid answer span per example: argmax over (i, j) of s_i + e_j with i ≤ j < i + max_answer_len.

    start_logits, end_logits: (B, T) or (T,); allowed: bool of the same shape, True on passage
    tokens (question, special tokens and padding are never part of an answer). Returns
    (start, end, score), each (B,) (or 0-d for 1-D inputs); end ≥ start always.

    >>> s = torch.tensor([0., 5., 1., 0.]); e = torch.tensor([9., 0., 1., 2.])
    >>> [int(t) for t in best_span(s, e)[:2]]   # (1, 0) would score 14 but ends before it starts
    [0, 0]
    >>> [int(t) for t in best_span(s, e, allowed=torch.tensor([False, True, True, True]))[:2]]
    [1, 3]
    """
    if start_logits.shape != end_logits.shape:
        raise ValueError(f"start and end logits differ in shape: {tuple(start_logits.shape)} vs {tuple(end_logits.shape)}")
    if max_answer_len < 1:
        raise ValueError(f"max_answer_len must be ≥ 1, got {max_answer_len}")
    squeeze = start_logits.dim() == 1
    s, e = (start_logits[None], end_logits[None]) if squeeze else (start_logits, end_logits)
    B, T = s.shape
    scores = s.float()[:, :, None] + e.float()[:, None, :]  # (B, T_start, T_end)
    i = torch.arange(T, device=s.device)
    length = i[None, :] - i[:, None]  # j − i
    valid = (length >= 0) & (length < max_answer_len)  # (T, T): end ≥ start, not too long
    valid = valid[None].expand(B, T, T)
    if allowed is not None:
        a = allowed[None] if squeeze else allowed
        valid = valid & a[:, :, None].bool() & a[:, None, :].bool()
    if not valid.flatten(1).any(1).all():
        raise ValueError("an example has no valid span (no allowed token)")
    scores = scores.masked_fill(~valid, float("-inf"))
    best = scores.flatten(1).argmax(-1)  # (B,)
    start, end = best // T, best % T
    score = scores.flatten(1).gather(1, best[:, None])[:, 0]
    if squeeze:
        return start[0], end[0], score[0]
    return start, end, score


# --------------------------------------------------------------------------------------------
# SQuAD metrics (the official v1.1 evaluation script's normalisation)
# --------------------------------------------------------------------------------------------
