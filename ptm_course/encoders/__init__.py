"""Contextual encoders (chapters 04–06): the encoder table, RNN/LSTM, ELMo.

- :mod:`.encoders` — MLP, CNN, RNN, LSTM and Transformer sentence encoders behind one interface;
- :mod:`.rnn` — the RNN and LSTM cells written out, gradient/state measurements, the LSTM LM
  with truncated BPTT;
- :mod:`.elmo` — character ids, CharCNN + Highway, the biLM, ScalarMix;
- :mod:`.probing` — which layers a task reads: a ScalarMix probe on frozen features, with
  examples balanced per word so that the word alone predicts nothing;
- :mod:`.long_range` — how far back a recurrence and self-attention reach: gradient against
  distance, the recall task.
"""

from .elmo import (
    BOS_CHAR,
    BOS_TOKEN,
    BOW_CHAR,
    EOS_CHAR,
    EOS_TOKEN,
    EOW_CHAR,
    N_CHARS,
    PAD_CHAR,
    BiLM,
    BiLMBatch,
    BiLMOutput,
    CharCNN,
    ELMoConfig,
    Highway,
    ScalarMix,
    batch_to_char_ids,
    bilm_loss,
    bilm_targets,
    make_bilm_batch,
    reverse_padded,
    word_char_ids,
)
from .long_range import (
    READER_KINDS,
    LastTokenReader,
    input_gradient_vs_distance,
    recall_accuracy,
    recall_batches,
    recall_loss,
)
from .encoders import (
    ENCODER_KINDS,
    CNNEncoder,
    MLPEncoder,
    RecurrentEncoder,
    SentenceClassifier,
    TransformerEncoder,
    classification_loss,
    classify_accuracy,
    encode_texts,
    make_encoder,
    sequential_steps,
    shuffle_tokens,
    time_forward_backward,
)
from .probing import balanced_indices, train_probe
from .rnn import (
    BPTTBatches,
    LMBatch,
    LSTMCell,
    LSTMLM,
    LSTMLMConfig,
    RNNCell,
    TBPTTLoss,
    evaluate_lm,
    gradient_vs_distance,
    state_changes,
    unroll,
)

__all__ = [
    "BOS_CHAR", "BOS_TOKEN", "BOW_CHAR", "EOS_CHAR", "EOS_TOKEN", "EOW_CHAR", "N_CHARS", "PAD_CHAR",
    "BiLM", "BiLMBatch", "BiLMOutput", "CharCNN", "ELMoConfig", "Highway", "ScalarMix",
    "batch_to_char_ids", "bilm_loss", "bilm_targets", "make_bilm_batch", "reverse_padded", "word_char_ids",
    "ENCODER_KINDS", "CNNEncoder", "MLPEncoder", "RecurrentEncoder", "SentenceClassifier", "TransformerEncoder",
    "classification_loss", "classify_accuracy", "encode_texts", "make_encoder", "sequential_steps",
    "shuffle_tokens", "time_forward_backward",
    "BPTTBatches", "LMBatch", "LSTMCell", "LSTMLM", "LSTMLMConfig", "RNNCell", "TBPTTLoss", "evaluate_lm",
    "gradient_vs_distance", "state_changes", "unroll",
    "balanced_indices", "train_probe",
    "READER_KINDS", "LastTokenReader", "input_gradient_vs_distance", "recall_accuracy", "recall_batches", "recall_loss",
]
