"""gptlib.display: the focused views chapters show are real programs that compute the same thing."""

import ast
import inspect
import textwrap

import numpy as np
import pytest
import torch

from gptlib import attention, embeddings, model
from gptlib.display import focused_source, show_source

# Everything that carries lines or names of a later chapter, and the chapter that first shows it.
TAGGED = [
    (attention.mha, 3), (attention.CausalSelfAttention, 3), (embeddings.Embeddings, 2),
    (model.Block, 6), (model.GPT, 6),
]


@pytest.mark.parametrize("obj, chapter", TAGGED)
def test_focused_views_parse_and_leave_the_cache_out(obj, chapter):
    view = focused_source(obj, chapter)
    ast.parse(textwrap.dedent(view))
    header, code = view.split("\n", 1)
    assert header.lstrip().startswith("# Not shown here:") and "chapter 7" in header
    assert "kv_cache" not in code and "[ch" not in view
    full = focused_source(obj)  # the full view: the source, without the tags
    assert "[ch" not in full and len(full.splitlines()) == len(inspect.getsource(obj).splitlines())


def _run_view(fn, chapter):
    """Define the focused view of ``fn`` in its own module's namespace and return it."""
    namespace = dict(vars(inspect.getmodule(fn)))
    exec(textwrap.dedent(focused_source(fn, chapter)), namespace)
    return namespace[fn.__name__]


def test_the_chapter_3_view_of_mha_computes_mha(rng):
    x = rng.normal(size=(5, 8))
    c_attn = {"w": rng.normal(size=(8, 24)), "b": rng.normal(size=24)}
    c_proj = {"w": rng.normal(size=(8, 8)), "b": rng.normal(size=8)}
    shown = _run_view(attention.mha, 3)
    assert list(inspect.signature(shown).parameters) == ["x", "c_attn", "c_proj", "n_head"]
    np.testing.assert_array_equal(shown(x, c_attn, c_proj, 2), attention.mha(x, c_attn, c_proj, 2))


def test_the_chapter_3_view_of_the_torch_attention_computes_it():
    torch.manual_seed(0)
    module = attention.CausalSelfAttention(8, 2).eval()
    shown = _run_view(attention.CausalSelfAttention.forward, 3)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(shown(module, x), module(x), rtol=0, atol=0)


def test_a_view_that_would_still_mention_a_hidden_name_is_refused():
    def leaky(x, kv_cache=None):  # [ch7: kv_cache]
        return kv_cache or x

    with pytest.raises(ValueError, match="still mentions 'kv_cache'"):
        focused_source(leaky, 6)
    assert "kv_cache" in focused_source(leaky, 7)


def test_show_source_joins_objects_as_highlighted_python():
    code = show_source(attention.softmax, attention.mha, chapter=3)
    assert code.language == "python" and "def softmax" in code.data
    code_lines = [line for line in code.data.splitlines() if "# Not shown here" not in line]
    assert "kv_cache" not in "\n".join(code_lines) and "# Not shown here" in code.data
