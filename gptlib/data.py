"""The download cache: every file gptlib downloads lives in one folder, checked by sha256.

The folder is ``$GPTLIB_CACHE`` when set, else gptlib's folder under the user's cache
directory (``~/.cache/gptlib`` on Linux). To work offline, copy the files there by hand:
``fetch`` accepts any file whose sha256 matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .files import atomic_write


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str
    size: int


# Each file keeps its upstream name; the sha256 pins the exact bytes the book was built with.
KNOWN_FILES = {
    "tinyshakespeare.txt": RemoteFile(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size=1115394,
    ),
    "gpt2.tiktoken": RemoteFile(
        url="https://raw.githubusercontent.com/openai/whisper/main/whisper/assets/gpt2.tiktoken",
        sha256="306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        size=835554,
    ),
}


class MissingDataError(FileNotFoundError):
    """A file gptlib needs is not in the cache and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's bytes do not match the sha256 gptlib expects."""


def cache_dir() -> Path:
    """The folder that holds every downloaded file (created on first use)."""
    folder = Path(os.environ.get("GPTLIB_CACHE") or platformdirs.user_cache_dir("gptlib"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, *, download: bool = True) -> Path:
    """Path of the cached file ``name``, downloading and checking it first if needed."""
    if name not in KNOWN_FILES:
        raise KeyError(f"unknown data file {name!r}; known files: {sorted(KNOWN_FILES)}")
    remote = KNOWN_FILES[name]
    path = cache_dir() / name
    if path.exists():
        actual = sha256_of(path)
        if actual != remote.sha256:
            raise ChecksumError(
                f"{path} is corrupt or not the expected file: sha256 {actual}, expected "
                f"{remote.sha256}. Delete it and run again to download it afresh."
            )
        return path
    if not download:
        raise MissingDataError(_how_to_provide(name, path, "downloads are turned off"))
    try:
        _download(remote, path)
    except (urllib.error.URLError, OSError) as err:
        raise MissingDataError(_how_to_provide(name, path, f"the download failed: {err}")) from err
    return path


def _how_to_provide(name: str, path: Path, why: str) -> str:
    remote = KNOWN_FILES[name]
    return (
        f"gptlib needs the file {name!r} and {why}.\n"
        f"Download it from {remote.url}\n"
        f"and save it as {path} (sha256 {remote.sha256}),\n"
        f"or point the GPTLIB_CACHE environment variable at a folder that holds it."
    )


def _download(remote: RemoteFile, path: Path) -> None:
    """Download to a temporary file beside ``path``, check it, then rename: never a half file."""

    def download_and_check(tmp):
        with open(tmp, "wb") as out, urllib.request.urlopen(remote.url, timeout=30) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        actual = sha256_of(Path(tmp))
        if actual != remote.sha256:
            raise ChecksumError(
                f"downloaded {remote.url} but its sha256 is {actual}, expected {remote.sha256}"
            )

    atomic_write(path, download_and_check)


def load_text(name: str = "tinyshakespeare.txt") -> str:
    """A cached text file (the corpus, by default) as a string."""
    return fetch(name).read_text(encoding="utf-8")


def seed_cache(folder) -> list[Path]:
    """Copy the known files found in ``folder`` into the cache, checking each one's sha256.

    For machines with no network: ``python -m gptlib seed DIR``.
    """
    seeded = []
    for name, remote in KNOWN_FILES.items():
        source = Path(folder) / name
        if not source.is_file():
            continue
        if sha256_of(source) != remote.sha256:
            raise ChecksumError(f"{source} does not have the sha256 gptlib expects ({remote.sha256})")
        target = cache_dir() / name
        if not target.exists() or sha256_of(target) != remote.sha256:
            atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
        seeded.append(target)
    return seeded
