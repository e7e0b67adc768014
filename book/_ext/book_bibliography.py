"""A bibliography whose labels read like the citations in the text.

The book cites author-year (``bibtex_reference_style: author_year``: "[Vaswani et al., 2017]"),
but sphinxcontrib-bibtex's default bibliography style labels entries alphabetically ("[VSP+17]"),
so a reader following a citation finds a label that matches nothing on the page. The pybtex style
``book_author_year`` registered here labels each entry with the same words the citation shows, by
formatting it with sphinxcontrib-bibtex's own author-year template (one definition of what a
citation says), and sorts the list by author, year and title. Entries whose labels would coincide
get "a", "b", ... after the year. (After changing the style, delete _build: an incremental build
keeps the old order.)
"""

from __future__ import annotations

from collections import Counter

import pybtex.plugin
import sphinxcontrib.bibtex.plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle
from sphinxcontrib.bibtex.style.template import join, year


def citation_text(entry) -> str:
    """What ``{cite}`` shows for ``entry`` in the author-year style, e.g. "Vaswani et al., 2017"."""
    group = sphinxcontrib.bibtex.plugin.find_plugin("sphinxcontrib.bibtex.style.referencing", "author_year")()
    parenthetical = group.role_style["p"]
    template = join(sep=parenthetical.author_year_sep)[
        parenthetical.person.author_or_editor_or_title(full=False), year]
    return template.format_data({"entry": entry, "style": parenthetical}).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        texts = [citation_text(entry) for entry in entries]
        repeated, seen = Counter(texts), Counter()
        for text in texts:
            if repeated[text] == 1:
                yield text
            else:
                yield f"{text}{'abcdefghijklmnopqrstuvwxyz'[seen[text]]}"
                seen[text] += 1


class AuthorYearSorting(SortingStyle):
    def person_key(self, person):
        # A name kept whole in braces ({OpenAI}) sorts by its letters, not after every "z".
        return super().person_key(person).replace("{", "").replace("}", "")


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = AuthorYearSorting


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.labels", "book_author_year", AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "book_author_year", AuthorYearStyle, force=True)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
