"""The download cache: sha256 checks, clear errors offline, atomic downloads."""

import hashlib
from pathlib import Path

import pytest
import requests

from gptlib import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GPTLIB_CACHE", str(folder))
    return folder


@pytest.fixture
def fake_remote(monkeypatch):
    """A known file 'hello.txt' whose download serves ``served[0]`` (and counts downloads)."""
    content = b"hello, world\n"
    monkeypatch.setitem(
        data.KNOWN_FILES, "hello.txt",
        data.RemoteFile("https://example.invalid/hello.txt", hashlib.sha256(content).hexdigest(), len(content)),
    )
    served = Served([content])

    def downloader(url, output_file, pooch):  # pooch's downloader interface
        served.downloads.append(url)
        Path(output_file).write_bytes(served[0])

    monkeypatch.setattr(data, "DOWNLOADER", downloader)
    return served


class Served(list):
    """What the fake server sends (item 0), and the URLs it was asked for."""

    def __init__(self, items):
        super().__init__(items)
        self.downloads = []


def test_cache_folder_follows_the_environment(cache):
    assert data.cache_dir() == cache and cache.is_dir()


def test_download_is_checked_and_cached(cache, fake_remote):
    path = data.fetch("hello.txt")
    assert path == cache / "hello.txt" and path.read_bytes() == fake_remote[0]
    fake_remote[0] = b"something else"  # a second fetch must not download again
    assert data.fetch("hello.txt").read_bytes() == b"hello, world\n"
    assert len(fake_remote.downloads) == 1


def test_download_with_wrong_bytes_leaves_nothing(cache, fake_remote):
    fake_remote[0] = b"tampered"
    with pytest.raises(data.ChecksumError, match="sha256"):
        data.fetch("hello.txt")
    assert list(cache.iterdir()) == []


def test_corrupt_cached_file_is_downloaded_again_or_refused_offline(cache, fake_remote):
    (data.cache_dir() / "hello.txt").write_bytes(b"truncat")
    with pytest.raises(data.ChecksumError, match=r"hello\.txt is corrupt"):
        data.fetch("hello.txt", download=False)
    assert data.fetch("hello.txt").read_bytes() == fake_remote[0]  # replaced by a checked copy


def test_offline_error_says_which_file_and_how_to_provide_it(cache, monkeypatch):
    def no_network(url, output_file, pooch):
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(data, "DOWNLOADER", no_network)
    with pytest.raises(data.MissingDataError) as err:
        data.fetch("tinyshakespeare.txt")
    message = str(err.value)
    assert "'tinyshakespeare.txt'" in message and str(cache / "tinyshakespeare.txt") in message
    assert data.KNOWN_FILES["tinyshakespeare.txt"].url in message and "GPTLIB_CACHE" in message
    assert not (cache / "tinyshakespeare.txt").exists()
    with pytest.raises(data.MissingDataError, match="downloads are turned off"):
        data.fetch("gpt2.tiktoken", download=False)


def test_unknown_file_is_refused(cache):
    with pytest.raises(KeyError, match="unknown data file"):
        data.fetch("weights.bin")


def test_seeding_copies_checked_files(cache, tmp_path, fake_remote):
    source = tmp_path / "seed"
    source.mkdir()
    (source / "hello.txt").write_bytes(fake_remote[0])
    assert data.seed_cache(source) == [cache / "hello.txt"]
    (source / "hello.txt").write_bytes(b"wrong")
    with pytest.raises(data.ChecksumError):
        data.seed_cache(source)


def test_the_real_data_files_are_in_the_cache():
    """CI seeds the cache from ../shared/data; the files must be exactly the pinned ones."""
    text = data.load_text("tinyshakespeare.txt")
    assert text.startswith("First Citizen:") and len(text.encode()) == data.KNOWN_FILES["tinyshakespeare.txt"].size
    assert data.fetch("gpt2.tiktoken").stat().st_size == data.KNOWN_FILES["gpt2.tiktoken"].size
