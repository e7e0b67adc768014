"""The widgets in the static book, used like a reader would, in headless Chromium with no network.

A small book is built in a temporary folder: the playground page as stored, a page of every
widget (a notebook executed here, so that its saved widget state is fresh), and a page that also
shows a plain ipywidgets slider (drawn by @jupyter-widgets/html-manager, served by the book).
The live views run gptlib/web/gpt.js in the page; their predictions are compared with NumPy's.
Skipped, saying what is missing, where Chromium, chromedriver or selenium is not installed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import gptlib
from browser import (
    REPO,
    build_book,
    chromium,
    console_messages,
    require_chromium,
    serve,
    severe_console_errors,
    write_config,
    write_toc,
)
from conftest import make_hf_checkpoint

WAIT = 30  # seconds for a page's widgets (and the model they load) to be ready

# The page of every widget: a notebook executed by the fixture.
WIDGET_CELLS = [
    """import json
import numpy as np
import gptlib
from gptlib.weights import BUNDLED_MODELS
from gptlib.widgets import attention_map_widget, live_gpt, loss_widget, sampling_explorer, token_viewer
config, params, tokenizer = gptlib.load_shakespeare_model()""",
    """verse = "ROMEO:\\nBut, soft! what light through yonder window breaks?<|endoftext|>It is the east."
token_viewer(verse, {"GPT-2 (50,257 tokens)": gptlib.gpt2_tokenizer(), "Shakespeare (1,024 tokens)": tokenizer})""",
    """ids = tokenizer.encode("ROMEO:\\nBut soft, what light through yonder window breaks?")
attention_map_widget([tokenizer.token_str(i) for i in ids], gptlib.attention_maps(ids, params, config),
                     title="Attention maps of the book's model")""",
    """logits = gptlib.gpt2_numpy(tokenizer.encode("ROMEO:\\nI will"), params, config)[-1]
sampling_explorer(logits, tokenizer.token_str, top_p=0.9, title="Next token after ROMEO: I will")""",
    """history = json.loads((BUNDLED_MODELS["shakespeare"] / "metrics.json").read_text())["history"]
loss_widget(history, title="The book's model, trained in chapter 8")""",
    """live_gpt("JULIET:\\nO Romeo, Romeo", views=["drop", "next"])""",
    """live_gpt("KING HENRY:\\nOnce more unto the breach", views=["next", "attention"])""",
]
MIXED_CELLS = [
    """import ipywidgets
from gptlib.widgets import sampling_explorer
ipywidgets.IntSlider(value=7, description="plain")""",
    """sampling_explorer([2.0, 1.0, 0.5, 0.1], ["a", "b", "c", "d"], title="ours, beside a plain widget")""",
]


def executed_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True).execute()
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def site():
    """(base URL, driver): the small book, built and served, and a browser to read it."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="gptlib-widgets-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_config(
            src / "_config.yml"
        )  # the book's, not executing, with paths into the repository
        (src / "intro.md").write_text("# Widgets\n\nThe widget test pages.\n")
        shutil.copyfile(REPO / "book" / "playground.ipynb", src / "playground.ipynb")
        executed_notebook(src / "widgets.ipynb", WIDGET_CELLS)
        executed_notebook(src / "mixed.ipynb", MIXED_CELLS)
        if (REPO / "node_modules").is_dir():  # the html-manager, for the mixed page
            (src / "node_modules").symlink_to(REPO / "node_modules")
        toc = write_toc(Path(tmp) / "_toc.yml", ["playground", "widgets", "mixed"], root="intro")
        (Path(tmp) / "out").mkdir()
        html = build_book(Path(tmp) / "out", toc, repo=src)
        with serve(html) as base_url, chromium() as driver:
            yield base_url, driver


def open_page(site, page, width=1280, dark=False):
    base_url, driver = site
    driver.set_window_size(width, 1600)
    driver.get(f"{base_url}/{page}.html")
    if dark:
        driver.execute_script("document.documentElement.setAttribute('data-theme', 'dark')")
    wait_for(driver, "document.documentElement.hasAttribute('data-gptlib-widgets')")
    return driver


def wait_for(driver, condition: str, seconds: float = WAIT):
    """Wait until the JavaScript expression is true; fail saying which it was."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if driver.execute_script(f"return !!({condition});"):
            return
        time.sleep(0.1)
    pytest.fail(f"waited {seconds} s for: {condition}")


def type_into(driver, textarea, text):
    """Replace a text box's text as typing would (one input event)."""
    driver.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
        textarea,
        text,
    )


def assert_same_top5(page_labels, text, config, params, tokenizer):
    """The page's five most likely next tokens are NumPy's; the page runs an fp16 copy of the
    weights, so neighbours whose logits differ by less than fp16 resolves may swap."""
    logits = gptlib.gpt2_numpy(tokenizer.encode(text, allowed_special="all"), params, config)[-1]
    order = np.argsort(-logits)
    logit_of = {tokenizer.token_str(int(i)): logits[i] for i in order[:10]}
    expected = [tokenizer.token_str(int(i)) for i in order[:5]]
    for k, (got, want) in enumerate(zip(page_labels[:5], expected)):
        assert got == want or abs(logit_of.get(got, -np.inf) - logit_of[want]) < 0.02, (
            page_labels,
            expected,
        )


def no_errors(driver):
    errors = [m for m in severe_console_errors(console_messages(driver)) if "favicon.ico" not in m]
    assert errors == [], "\n".join(errors)


# --- the playground -----------------------------------------------------------------------------


def test_typing_gives_the_predictions_numpy_gives(site):
    driver = open_page(site, "playground")
    live = driver.find_element("css selector", ".gptlib-live")
    wait_for(
        driver, "document.querySelector('.gptlib-live').getAttribute('data-computed') === 'page'"
    )
    config, params, tokenizer = gptlib.load_shakespeare_model()
    for text in ["KING HENRY:\nOnce more unto the breach, dear friends", "To be, or not to be"]:
        type_into(driver, live.find_element("css selector", "textarea.gw-input"), text)
        wait_for(
            driver,
            f"document.querySelector('.gptlib-live').getAttribute('data-text') === {json.dumps(text)}",
        )
        labels = json.loads(
            live.find_element("css selector", ".gw-panel-next").get_attribute("data-top")
        )
        assert_same_top5(labels, text, config, params, tokenizer)
        n = int(live.find_element("css selector", ".gw-panel-tokens").get_attribute("data-n"))
        assert n == len(tokenizer.encode(text))
    assert live.find_elements("css selector", ".gw-lens td")  # the logit lens was drawn
    no_errors(driver)


def test_generation_with_a_seed_gives_the_same_tokens_every_time(site):
    driver = open_page(site, "playground")
    live = driver.find_element("css selector", ".gptlib-live")
    wait_for(
        driver, "document.querySelector('.gptlib-live').getAttribute('data-computed') === 'page'"
    )
    seed = live.find_element("css selector", "input.gw-seed")

    def generate(s):
        driver.execute_script("arguments[0].value = arguments[1];", seed, str(s))
        driver.execute_script("arguments[0].removeAttribute('data-generated');", live)
        live.find_element("css selector", '[data-action="generate"]').click()
        wait_for(driver, "document.querySelector('.gptlib-live').hasAttribute('data-generated')")
        return live.get_attribute("data-generated").split(",")

    first, again, other = generate(5), generate(5), generate(6)
    assert len(first) == 60 and first == again and other != first
    no_errors(driver)


# --- the page of every widget -------------------------------------------------------------------


def test_a_dropped_checkpoint_drives_every_live_view(site, tmp_path):
    # transformers' save_pretrained: config.json + model.safetensors, no tokenizer (the page then
    # uses the book's, which fits its vocabulary of 1,024)
    make_hf_checkpoint(tmp_path, vocab_size=1024, n_ctx=64, n_embd=48, n_head=3, n_layer=2, seed=7)
    driver = open_page(site, "widgets")
    lives = driver.find_elements("css selector", ".gptlib-live")
    assert len(lives) == 2
    wait_for(
        driver,
        "[...document.querySelectorAll('.gptlib-live')].every(w => w.getAttribute('data-computed') === 'page')",
    )
    before = [
        w.find_element("css selector", ".gw-panel-next").get_attribute("data-top") for w in lives
    ]
    files = lives[0].find_element("css selector", "input.gw-files")
    files.send_keys("\n".join(str(tmp_path / n) for n in ("config.json", "model.safetensors")))
    wait_for(driver, "document.querySelector('.gptlib-live').hasAttribute('data-dropped')")
    config, params = gptlib.load_gpt2(tmp_path)
    tokenizer = gptlib.shakespeare_tokenizer()
    wait_for(
        driver,
        "[...document.querySelectorAll('.gptlib-live')].every(w => w.getAttribute('data-model') === 'your model')",
    )
    for w in lives:
        text = w.get_attribute("data-text")
        labels = json.loads(
            w.find_element("css selector", ".gw-panel-next").get_attribute("data-top")
        )
        assert_same_top5(labels, text, config, params, tokenizer)
    assert [
        w.find_element("css selector", ".gw-panel-next").get_attribute("data-top") for w in lives
    ] != before
    assert "your files" in lives[1].find_element("css selector", ".gw-where").text
    no_errors(driver)


def test_the_token_viewers_box_counts_a_special_token_once(site):
    driver = open_page(site, "widgets")
    viewer = driver.find_element("css selector", ".gptlib-tokens")
    text = "ROMEO:\nBut, soft! what light through yonder window breaks?<|endoftext|>It is the east."
    type_into(driver, viewer.find_element("css selector", "textarea.gw-input"), text)
    tokenizer = gptlib.shakespeare_tokenizer()
    expected = tokenizer.encode(text, allowed_special="all")
    wait_for(
        driver,
        f"document.querySelector('.gptlib-tokens').getAttribute('data-live-tokens') === '{len(expected)}'",
    )
    box = viewer.find_elements("css selector", ".gw-live .gw-text")[0]
    ids = [int(s.get_attribute("data-id")) for s in box.find_elements("css selector", ".gw-tok")]
    assert ids == expected
    special = box.find_elements("css selector", ".gw-special")
    assert [s.text for s in special] == ["<|endoftext|>"]
    rows = viewer.find_elements("css selector", ".gw-row:not(.gw-live) .gw-text")
    assert len(rows[1].find_elements("css selector", ".gw-tok")) == len(
        expected
    )  # the same as the Python row


def test_the_attention_maps_controls(site):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = open_page(site, "widgets")
    widget = driver.find_element("css selector", ".gptlib-attention")
    colours = lambda: [
        c.get_attribute("fill") for c in widget.find_elements("css selector", ".gw-cell")
    ]
    n = len(widget.find_elements("css selector", "text[data-q]"))
    assert n > 10 and len(colours()) == n * (n + 1) // 2 and all(colours())
    start = colours()
    widget.find_element("css selector", '.gw-btn[data-head="3"]').click()
    assert widget.get_attribute("data-head") == "3" and colours() != start
    widget.find_element("css selector", '.gw-thumb[data-thumb="1"]').click()
    assert widget.get_attribute("data-head") == "1"
    widget.find_element("css selector", '.gw-btn[data-layer="2"]').click()
    assert widget.get_attribute("data-layer") == "2"
    row_scaled = colours()
    widget.find_element("css selector", '.gw-btn[data-scale="abs"]').click()
    assert widget.get_attribute("data-scale") == "abs" and colours() != row_scaled
    assert "\u221a weight" in widget.find_element("css selector", ".gw-legend").text
    # The first token can only attend to itself: weight exactly 1, shown on hover.
    cell = widget.find_element("css selector", '.gw-cell[data-i="0"][data-j="0"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    ActionChains(driver).move_to_element(cell).perform()
    tip = widget.find_element("css selector", ".gw-tip")
    assert tip.is_displayed() and "position 0" in tip.text and tip.text.endswith("1.000")
    no_errors(driver)


def test_the_loss_widget_shows_its_title_and_reads_out_beside_the_plot(site):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = open_page(site, "widgets")
    widget = driver.find_element("css selector", ".gptlib-loss")
    assert (
        widget.find_element("css selector", ".gw-title").text
        == "The book's model, trained in chapter 8"
    )
    plot = widget.find_element("css selector", "svg.gw-plot")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    ActionChains(driver).move_to_element(plot).perform()
    readout = widget.find_element("css selector", ".gw-readout")
    assert readout.text.startswith("step ") and "val (eval)" in readout.text
    assert (
        readout.rect["y"] + readout.rect["height"] <= plot.rect["y"]
    )  # above the plot, never over it


@pytest.mark.parametrize("page", ["playground", "widgets"])
def test_widgets_fit_a_phone_in_dark_mode(site, page):
    driver = open_page(site, page, width=390, dark=True)
    time.sleep(1)
    report = driver.execute_script("""
        return [...document.querySelectorAll('.gptlib-widget')].map(w => ({
            kind: w.className, dark: w.classList.contains('gw-dark'), right: w.getBoundingClientRect().right,
            background: getComputedStyle(w).backgroundColor}));""")
    width = driver.execute_script("return document.documentElement.clientWidth")
    for w in report:
        assert w["dark"] and w["background"] == "rgb(21, 24, 29)", w
        assert w["right"] <= width, f"{w['kind']} is wider than the phone's {width} px"
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    no_errors(driver)


def test_other_libraries_widgets_are_drawn_by_the_books_html_manager(site):
    driver = open_page(site, "mixed")
    wait_for(driver, "document.querySelector('.widget-slider, .jupyter-widgets.widget-hslider')")
    assert driver.find_elements("css selector", ".gptlib-sampling .gw-bar-row")
    no_errors(driver)


def test_nothing_is_fetched_from_another_host(site):
    base_url, driver = site
    for page in ("playground", "widgets", "mixed"):
        open_page(site, page)
        time.sleep(1)
        foreign = driver.execute_script("""return performance.getEntriesByType('resource').map(r => r.name)
            .filter(u => !u.startsWith(location.origin) && !u.startsWith('blob:') && !u.startsWith('data:'));""")
        assert foreign == [], f"{page} fetched {foreign}"


# --- with a kernel: Python computes, the page draws -----------------------------------------------

KERNEL_PAGE = """<!doctype html><meta charset="utf-8"><div id="host"></div>
<script type="module">
import widget from "./live.mjs";
const {state, results, generated} = JSON.parse(document.getElementById("data").textContent);
const handlers = new Map(), log = [];
const fire = (name, value) => (handlers.get(name) || []).forEach((f) => f(value));
// A stand-in for anywidget's model with a kernel behind it: it answers as the Python widget did.
const model = {
  get: (key) => state[key],
  set(key, value) { state[key] = value; fire("change:" + key, value); },
  save_changes() { log.push(["save", state.text]); setTimeout(() => model.set("result", results[state.text]), 5); },
  send(msg) {
    log.push(["send", msg.type]);
    setTimeout(() => fire("msg:custom", msg.type === "hello" ? {type: "kernel"} : {reply_to: msg.request, ...generated}), 5);
  },
  on(name, f) { handlers.set(name, (handlers.get(name) || []).concat([f])); },
  off() {},
};
window.__log = log;
widget.render({model, el: document.getElementById("host")});
</script>
<script type="application/json" id="data">DATA</script>
"""


def test_with_a_kernel_python_computes_and_the_page_draws(site, tmp_path):
    from gptlib.widgets.base import bundle
    from gptlib.widgets.live import LIMITS, analyse, live_gpt, resolve_model

    _, driver = site
    texts = ["ROMEO:", "JULIET:\nO Romeo, Romeo"]
    view = live_gpt(texts[0], views=["tokens", "next", "generate"])
    generated = view.answer(
        {
            "type": "generate",
            "text": texts[1],
            "settings": {
                "temperature": 0.8,
                "top_k": 0,
                "top_p": 0.95,
                "seed": 4,
                "max_new_tokens": 20,
            },
        }
    )
    state = {k: v for k, v in view.get_state().items() if k not in ("_esm", "_css")}
    results = {t: analyse(t, resolve_model(), LIMITS) for t in texts}
    data = json.dumps({"state": state, "results": results, "generated": generated}).replace(
        "</", "<\\/"
    )
    (tmp_path / "live.mjs").write_text(bundle("live"), encoding="utf-8")
    (tmp_path / "page.html").write_text(KERNEL_PAGE.replace("DATA", data), encoding="utf-8")
    with serve(tmp_path) as url:
        driver.get(f"{url}/page.html")
        wait_for(
            driver,
            "document.querySelector('.gptlib-live')?.getAttribute('data-source') === 'kernel'",
        )
        live = driver.find_element("css selector", ".gptlib-live")
        assert "computed by Python" in live.find_element("css selector", ".gw-where").text
        type_into(driver, live.find_element("css selector", "textarea.gw-input"), texts[1])
        wait_for(
            driver,
            f"document.querySelector('.gptlib-live').getAttribute('data-text') === {json.dumps(texts[1])}",
        )
        top = json.loads(
            live.find_element("css selector", ".gw-panel-next").get_attribute("data-top")
        )
        assert top == results[texts[1]]["next"]["labels"][:5]
        assert ["save", texts[1]] in driver.execute_script("return window.__log;")
        live.find_element("css selector", "input.gw-seed").clear()
        live.find_element("css selector", "input.gw-seed").send_keys("4")
        live.find_element("css selector", '[data-action="generate"]').click()
        wait_for(driver, "document.querySelector('.gptlib-live').hasAttribute('data-generated')")
        assert live.get_attribute("data-generated").split(",") == [
            str(t[0]) for t in generated["tokens"]
        ]
        no_errors(driver)
