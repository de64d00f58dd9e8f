"""Data: named offline data sets, vocabularies, tokenisation, language-model examples."""

from .lm import as_id_tensor, ngram_examples
from .registry import (
    DATASETS,
    ChecksumError,
    DataNotAvailableError,
    UnknownDatasetError,
    data_dir,
    dataset_info,
    file_paths,
    list_datasets,
    load,
    prepare,
    verify,
)
from .vocab import Vocab, wikitext_tokens, word_tokenize

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DataNotAvailableError",
    "UnknownDatasetError",
    "Vocab",
    "as_id_tensor",
    "data_dir",
    "dataset_info",
    "file_paths",
    "list_datasets",
    "load",
    "ngram_examples",
    "prepare",
    "verify",
    "wikitext_tokens",
    "word_tokenize",
]
