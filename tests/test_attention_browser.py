"""The attention chapter really works in the static book: build the book (no execution, the stored
outputs), serve it on 127.0.0.1, open chapter 3 in headless Chromium with every other host
unresolvable, and use the attention-map widget like a reader.

Skipped, saying why, where Chromium, chromedriver or selenium is missing.
"""

import pytest

from browser import REPO, built_book, chromium, console_messages, require_chromium, serve, severe_console_errors

CHAPTER = "chapters/03_attention"


@pytest.fixture(scope="module")
def chapter_page():
    """(driver, url) with chapter 3 of a freshly built book loaded, and the console messages of the load."""
    require_chromium()
    if not (REPO / f"{CHAPTER}.ipynb").exists():
        pytest.fail(f"{CHAPTER}.ipynb is missing")
    # built_book uses the repository's _toc.yml once it lists the chapter, else a temporary toc
    with built_book([CHAPTER]) as html, serve(html) as base_url, chromium() as driver:
        url = f"{base_url}/{CHAPTER}.html"
        driver.get(url)
        yield driver, url, console_messages(driver)


def cell_colours(driver, widget):
    return [c.get_attribute("fill") for c in widget.find_elements("css selector", ".gw-cell")]


def widget_on_page(driver):
    widgets = driver.find_elements("css selector", ".gptlib-attention")
    assert len(widgets) == 1, "the chapter should show exactly one attention-map widget"
    return widgets[0]


def test_the_page_loads_without_javascript_errors(chapter_page):
    driver, url, load_messages = chapter_page
    assert "Attention" in driver.title
    # a favicon the book does not ship is not a page error
    errors = [m for m in severe_console_errors(load_messages) if "favicon.ico" not in m]
    assert errors == [], f"console errors on {url}:\n" + "\n".join(errors)


def test_the_widget_renders_a_causal_heatmap_over_the_tokens(chapter_page):
    driver, _, _ = chapter_page
    widget = widget_on_page(driver)
    n = len(widget.find_elements("css selector", ".gw-tok-q"))
    assert n > 10, "the heatmap has no token labels"
    assert len(widget.find_elements("css selector", ".gw-cell")) == n * (n + 1) // 2  # the lower triangle
    assert all(cell_colours(driver, widget)), "some heatmap cells were never coloured"
    labels = [t.text for t in widget.find_elements("css selector", ".gw-tok-q")]
    assert "".join(labels).startswith("ROMEO:"), labels[:8]  # BPE tokens "ROMEO" and ":"
    n_layer = len(widget.find_elements("css selector", "[data-layer].gw-btn"))
    n_head = len(widget.find_elements("css selector", "[data-head].gw-btn"))
    assert (n_layer, n_head) == (4, 4)  # the 4-layer model trained in chapter 7
    assert len(widget.find_elements("css selector", ".gw-thumb canvas")) == n_head


def test_choosing_another_head_or_layer_changes_the_heatmap(chapter_page):
    driver, _, _ = chapter_page
    widget = widget_on_page(driver)
    before = cell_colours(driver, widget)
    widget.find_element("css selector", '.gw-btn[data-head="3"]').click()
    assert widget.get_attribute("data-head") == "3"
    after_head = cell_colours(driver, widget)
    assert after_head != before, "clicking head 4 did not change the heatmap"
    widget.find_element("css selector", '.gw-thumb[data-thumb="1"]').click()  # thumbnails select too
    assert widget.get_attribute("data-head") == "1"
    assert cell_colours(driver, widget) not in (before, after_head)
    widget.find_element("css selector", '.gw-btn[data-layer="1"]').click()
    assert widget.get_attribute("data-layer") == "1"
    assert cell_colours(driver, widget) not in (before, after_head)


def test_hovering_a_cell_shows_its_value(chapter_page):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _, _ = chapter_page
    widget = widget_on_page(driver)
    cell = widget.find_element("css selector", '.gw-cell[data-i="0"][data-j="0"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    ActionChains(driver).move_to_element(cell).perform()
    tip = widget.find_element("css selector", ".gw-tip")
    assert tip.is_displayed()
    # the first token can only attend to itself: weight exactly 1
    assert "position 0" in tip.text and tip.text.endswith("1.000"), tip.text
    errors = [m for m in severe_console_errors(console_messages(driver)) if "favicon.ico" not in m]
    assert errors == [], "\n".join(errors)
