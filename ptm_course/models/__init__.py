"""Models: one model, one readable file."""

from .bigram import BigramLM, CountBigramLM, bigram_loss
from .kneser_ney import KneserNeyLM
from .bert import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from .hf_loading import load_bert_checkpoint, load_pretrained_bert, save_bert_checkpoint

__all__ = ["BigramLM", "CountBigramLM", "KneserNeyLM", "bigram_loss"]
__all__ += [
    "BertConfig",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "load_bert_checkpoint",
    "load_pretrained_bert",
    "save_bert_checkpoint",
]
