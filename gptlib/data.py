"""The download cache: every file gptlib downloads lives in one folder, checked by sha256.

The folder is ``$GPTLIB_CACHE`` when set, else gptlib's folder under the user's cache
directory (``~/.cache/gptlib`` on Linux). pooch downloads each file to a temporary name,
checks its sha256 and only then renames it, so the cache never holds a partial or wrong file;
a cached file whose bytes changed is downloaded again. To work offline, copy the files there
by hand, or from a folder with ``python -m gptlib seed DIR``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import pooch
import requests

from .files import atomic_write

ASSETS = Path(__file__).parent / "assets"
# The project's own small GPT and its tokenizer (chapter 1's), shipped inside gptlib.
SHAKESPEARE_GPT = ASSETS / "shakespeare_gpt"


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str
    size: int


# Each file keeps its upstream name; the sha256 pins the exact bytes the book was built with.
KNOWN_FILES = {
    "tinyshakespeare.txt": RemoteFile(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
        "input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size=1115394,
    ),
    "gpt2.tiktoken": RemoteFile(
        url="https://raw.githubusercontent.com/openai/whisper/main/whisper/assets/gpt2.tiktoken",
        sha256="306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
        size=835554,
    ),
}

# pooch's downloader (a callable ``(url, output_file, pooch)``); tests put a fake one here.
DOWNLOADER = pooch.HTTPDownloader(timeout=30)


class MissingDataError(FileNotFoundError):
    """A file gptlib needs is not in the cache and could not be downloaded."""


class ChecksumError(ValueError):
    """A file's bytes do not match the sha256 gptlib expects."""


def cache_dir() -> Path:
    """The folder that holds every downloaded file (created on first use)."""
    folder = Path(os.environ.get("GPTLIB_CACHE") or platformdirs.user_cache_dir("gptlib"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _matches(path: Path, remote: RemoteFile) -> bool:
    return pooch.file_hash(str(path), alg="sha256") == remote.sha256


def fetch(name: str, *, download: bool = True) -> Path:
    """Path of the cached file ``name``, downloading and checking it first if needed."""
    if name not in KNOWN_FILES:
        raise KeyError(f"unknown data file {name!r}; known files: {sorted(KNOWN_FILES)}")
    remote, path = KNOWN_FILES[name], cache_dir() / name
    if not download:
        if not path.exists():
            raise MissingDataError(_how_to_provide(name, path, "downloads are turned off"))
        if not _matches(path, remote):
            raise ChecksumError(f"{path} is corrupt or not the expected file (sha256 "
                                f"{remote.sha256}); delete it, or fetch it with downloads on")
        return path
    try:
        pooch.retrieve(remote.url, f"sha256:{remote.sha256}", fname=name, path=cache_dir(),
                       downloader=DOWNLOADER)
    except requests.RequestException as err:
        raise MissingDataError(_how_to_provide(name, path, f"the download failed: {err}")) from err
    except ValueError as err:  # pooch: the downloaded bytes have another sha256
        raise ChecksumError(f"downloaded {remote.url} but its sha256 is not the expected "
                            f"{remote.sha256} ({err})") from err
    return path


def _how_to_provide(name: str, path: Path, why: str) -> str:
    remote = KNOWN_FILES[name]
    return (
        f"gptlib needs the file {name!r} and {why}.\n"
        f"Download it from {remote.url}\n"
        f"and save it as {path} (sha256 {remote.sha256}),\n"
        f"or point the GPTLIB_CACHE environment variable at a folder that holds it."
    )


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
        if not _matches(source, remote):
            raise ChecksumError(f"{source} does not have the sha256 gptlib expects "
                                f"({remote.sha256})")
        target = cache_dir() / name
        if not target.exists() or not _matches(target, remote):
            atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
        seeded.append(target)
    return seeded
