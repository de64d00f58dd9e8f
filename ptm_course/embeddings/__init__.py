"""Shallow, non-contextual embeddings (浅层次嵌入): NNLM, Word2Vec, GloVe, and how to evaluate them.

| model    | objective                           | corpus scope | file          |
|----------|-------------------------------------|--------------|---------------|
| NNLM     | language model                      | local        | ``nnlm.py``     |
| Word2Vec | context window (CBOW / skip-gram)   | local        | ``word2vec.py`` |
| GloVe    | global co-occurrence matrix         | global       | ``glove.py``    |

Each gives a matrix of word vectors, wrapped in :class:`Embeddings` and measured by
``evaluate.py`` (analogies, WordSim-353, SimLex-999, neighbours, 2-D projections);
``explorer.py`` is the interactive look-up.
"""

from .corpus import wikitext_sentences
from .evaluate import (
    AnalogyResult,
    Embeddings,
    PairResult,
    evaluate_all,
    evaluate_analogies,
    evaluate_word_pairs,
    plot_words,
    project_2d,
)
from .explorer import explorer
from .glove import GloVe, GloVeConfig, cooccurrence_matrix, glove_adagrad_step, glove_loss, glove_weight
from .nnlm import NNLM, NNLMConfig, nnlm_forward, nnlm_loss
from ..data.corpus import build_vocab
from .word2vec import (
    HuffmanTree,
    Word2Vec,
    Word2VecConfig,
    hierarchical_softmax_loss,
    hs_log_probs,
    huffman_tree,
    keep_probability,
    negative_sampling_loss,
    negative_sampling_table,
    sample_int,
)

__all__ = [
    "NNLM",
    "AnalogyResult",
    "Embeddings",
    "GloVe",
    "GloVeConfig",
    "HuffmanTree",
    "NNLMConfig",
    "PairResult",
    "Word2Vec",
    "Word2VecConfig",
    "build_vocab",
    "cooccurrence_matrix",
    "evaluate_all",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "explorer",
    "glove_adagrad_step",
    "glove_loss",
    "glove_weight",
    "hierarchical_softmax_loss",
    "hs_log_probs",
    "huffman_tree",
    "keep_probability",
    "negative_sampling_loss",
    "negative_sampling_table",
    "nnlm_forward",
    "nnlm_loss",
    "plot_words",
    "project_2d",
    "sample_int",
    "wikitext_sentences",
]
