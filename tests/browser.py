"""Helpers for tests that open the built book in a real browser (Debian's headless Chromium).

    with built_book(toc_entries) as html_dir, serve(html_dir) as base_url, chromium() as driver:
        driver.get(base_url + "/chapters/03_attention.html")
        ...
        assert severe_console_errors(driver) == []

* ``build_book`` runs ``jupyter-book build`` into a temporary folder with notebook execution
  turned off (the stored outputs are rendered as they are), using a temporary copy of the
  repository's ``_config.yml`` and a table of contents given as a parameter.
* ``serve`` serves a folder over HTTP on 127.0.0.1 from a thread.
* ``chromium`` starts /usr/bin/chromium through /usr/bin/chromedriver with selenium, headless,
  with a fresh profile, and with every host name other than 127.0.0.1/localhost unresolvable, so
  a page that needs the network fails here the way it would offline.
* ``require_chromium`` skips the calling test, saying what is missing, when the browser, its driver
  or selenium is not installed (``apt-get install chromium chromium-driver``; selenium from PyPI).
* ``html_pages``, ``wait_until_loaded``, ``set_viewport`` and ``page_weight``: the pages of a built
  book, waiting for a page's scripts and MathJax, emulating a phone or a desktop window, and the
  bytes a page transfers with an empty cache.

Run as a script, it weighs every page of a built book, offline, with an empty cache:

    .venv/bin/python tests/browser.py weigh _build/html

This module is a helper, not a test file (pytest collects only ``test_*.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("GPTLIB_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GPTLIB_CHROMEDRIVER", "/usr/bin/chromedriver"))


# --- is there a browser? ----------------------------------------------------------------------


def missing_browser() -> str | None:
    """None when the headless browser tests can run; otherwise what is missing, and how to get it."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} not found: install Debian's {package} (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


def require_chromium() -> None:
    """Skip the calling test with a clear message when Chromium, chromedriver or selenium is missing."""
    import pytest

    reason = missing_browser()
    if reason:
        pytest.skip(reason)


# --- building the book ------------------------------------------------------------------------


def toc_files(toc_path: Path) -> list[str]:
    """The pages a table of contents lists, root first, as paths without suffix ("chapters/03_attention")."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files = [toc["root"]] if toc.get("root") else []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [f.removesuffix(".ipynb").removesuffix(".md") for f in files]


def toc_lists(toc_path: Path, file: str) -> bool:
    """Whether the table of contents at ``toc_path`` has an entry ``file`` (e.g. "chapters/03_attention")."""
    return toc_path.exists() and file in toc_files(toc_path)


def write_toc(path: Path, chapters: list[str], root: str = "book/intro") -> Path:
    """A small _toc.yml: the root page and ``chapters`` (paths without suffix) in one part."""
    toc = {"format": "jb-book", "root": root, "parts": [{"caption": "Chapters", "chapters": [{"file": c} for c in chapters]}]}
    path.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return path


def write_config(path: Path, repo: Path = REPO) -> Path:
    """A copy of the repository's _config.yml with notebook execution turned off."""
    config = yaml.safe_load((repo / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    # The copy lives outside the repository: the paths that Jupyter Book and Sphinx resolve
    # relative to the config file's folder must point back into the repository.
    sphinx = config.setdefault("sphinx", {})
    for name, folder in (sphinx.get("local_extensions") or {}).items():
        sphinx["local_extensions"][name] = str((repo / folder).resolve())
    if "bibtex_bibfiles" in config:
        config["bibtex_bibfiles"] = [str((repo / p).resolve()) for p in config["bibtex_bibfiles"]]
    sphinx_config = sphinx.get("config") or {}
    for key in ("html_static_path", "templates_path", "html_extra_path"):
        if key in sphinx_config:
            sphinx_config[key] = [str((repo / p).resolve()) for p in sphinx_config[key]]
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def build_book(out_dir: Path, toc: Path, repo: Path = REPO, timeout: float = 600) -> Path:
    """Build the book from ``repo`` with the table of contents ``toc`` into ``out_dir``; returns the html folder.

    Raises RuntimeError with jupyter-book's output when the build fails.
    """
    out_dir = Path(out_dir)
    config = write_config(out_dir / "_config_noexec.yml", repo)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book if jupyter_book.exists() else "jupyter-book"), "build", str(repo),
               "--config", str(config), "--toc", str(toc), "--path-output", str(out_dir)]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    html = out_dir / "_build" / "html"
    if result.returncode != 0 or not html.is_dir():
        raise RuntimeError(f"jupyter-book build failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return html


FRONT_MATTER = ["book/setup"]  # pages of the temporary toc besides the root and the chapters
BACK_MATTER = ["book/references"]  # the bibliography, so that {cite} resolves


@contextlib.contextmanager
def built_book(chapters: list[str], repo: Path = REPO):
    """Build the book into a temporary folder; yields the html folder.

    Uses the repository's _toc.yml when it lists every one of ``chapters``, else a temporary toc
    with the intro page, ``chapters`` and the pages the intro links to (set-up, references).
    """
    with tempfile.TemporaryDirectory(prefix="gptlib-book-") as tmp:
        tmp = Path(tmp)
        real_toc = repo / "_toc.yml"
        if all(toc_lists(real_toc, c) for c in chapters):
            toc = real_toc
        else:
            pages = [p for p in FRONT_MATTER if (repo / f"{p}.md").exists()] + list(chapters)
            pages += [p for p in BACK_MATTER if (repo / f"{p}.md").exists()]
            toc = write_toc(tmp / "_toc.yml", pages)
        yield build_book(tmp, toc, repo)


# --- serving it -------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on http://127.0.0.1:<free port> from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the browser ------------------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
    # no network: every host but the local server is unresolvable
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


@contextlib.contextmanager
def chromium(extra_flags: list[str] = ()):
    """A selenium driver for headless Debian Chromium with a fresh profile; quits it afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="gptlib-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra_flags]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_messages(driver) -> list[dict]:
    """The browser console's messages since the last call (selenium drains the log)."""
    return driver.get_log("browser")


def severe_console_errors(messages: list[dict]) -> list[str]:
    """The messages at level SEVERE (JavaScript errors, failed loads), as text."""
    return [m["message"] for m in messages if m.get("level") == "SEVERE"]


# --- reading pages ----------------------------------------------------------------------------


def html_pages(html_dir: Path) -> list[str]:
    """Every HTML page of a built book, as paths relative to the html folder."""
    skip = ("_static", "_sources", "_images")
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in Path(html_dir).rglob("*.html")
        if p.relative_to(html_dir).parts[0] not in skip
    )


PAGE_LOAD_WAIT = 20  # seconds for a page's scripts (MathJax, widgets) to settle


def wait_until_loaded(driver, seconds: float = PAGE_LOAD_WAIT) -> None:
    """Wait for the page, its widgets (when it has any) and MathJax's typesetting (when the
    page loads MathJax)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = driver.execute_script("""
            if (document.readyState !== 'complete') return false;
            // gptlib's book.js marks <html> once every widget of the page is drawn (or handed
            // to the html-manager for widgets that are not gptlib's).
            const widgetState = 'script[type="application/vnd.jupyter.widget-state+json"]';
            if (document.querySelector(widgetState)
                && !document.documentElement.hasAttribute('data-gptlib-widgets')) return false;
            if (!document.querySelector('script[src*="mathjax" i]')) return true;
            // A deferred script has run by now: no MathJax.startup means it failed to load,
            // and the console says why.
            if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return true;
            if (!window.__typesetWatched) {
                window.__typesetWatched = true;
                MathJax.startup.promise.then(() => { window.__typeset = true; });
            }
            return !!window.__typeset;
        """)
        if done:
            return
        time.sleep(0.2)


PHONE = (390, 844)  # CSS pixels of a common phone
DESKTOP = (1280, 900)


def set_viewport(driver, size: tuple[int, int]) -> None:
    """Lay pages out as on a screen ``size`` (CSS pixels) wide and high; a phone below 500 px."""
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def page_weight(driver, url: str) -> dict:
    """Load ``url`` with the browser cache off; the bytes it transferred (document and every
    resource it fetched, headers included) and the largest resources.

    The local server does not compress, so these are uncompressed sizes.
    """
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    driver.get(url)
    wait_until_loaded(driver)
    time.sleep(0.5)  # fonts and images that start loading once the layout is known
    entries = driver.execute_script("""
        return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
            .map(e => [e.name, e.transferSize]);
    """)
    return {"bytes": sum(size for _, size in entries),
            "largest": sorted(entries, key=lambda e: -e[1])[:5]}


def _weigh(html_dir: Path) -> None:
    with serve(html_dir) as base_url, chromium() as driver:
        total = 0
        pages = html_pages(html_dir)
        for page in pages:
            weight = page_weight(driver, f"{base_url}/{page}")
            total += weight["bytes"]
            largest = ", ".join(f"{name.rsplit('/', 1)[-1].split('?')[0]} {size / 1e3:.0f} kB"
                                for name, size in weight["largest"][:3])
            print(f"{page:40s} {weight['bytes'] / 1e3:8.0f} kB   largest: {largest}")
        print(f"{'mean over ' + str(len(pages)) + ' pages':40s} {total / len(pages) / 1e3:8.0f} kB")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Look at a built book in headless Chromium.")
    commands = parser.add_subparsers(dest="command", required=True)
    weigh = commands.add_parser("weigh", help="bytes each page transfers, offline, with an empty cache")
    weigh.add_argument("html_dir", type=Path, nargs="?", default=REPO / "_build" / "html")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        sys.exit(reason)
    if args.command == "weigh":
        _weigh(args.html_dir)


if __name__ == "__main__":
    main()
