"""Chapter 6's exercises: the chapter's own solutions pass, and typical wrong answers fail with a
message that points to the wrong idea (the references are Hugging Face's GPT-2 and its count).

The solutions are read from the chapter (tests/chapter_exercises.py), so that there is one copy
of each; that they pass on fresh inputs is tested for every chapter in test_exercises_chapters.py.
"""

import pytest
from chapter_exercises import chapter_solutions

from gptlib.exercises import ch06_gpt, evaluate, find



@pytest.fixture(scope="module")
def solutions():
    """The namespace the chapter's exercise cells leave (its imports and its solutions)."""
    return chapter_solutions("06_gpt.ipynb")


ANSWERS = {"ch06.count_params": "count_params", "ch06.embedding_share": "prediction",
           "ch06.params_from_hf": "params_from_hf", "ch06.fixed_block": "fixed_block"}


def test_every_exercise_of_the_module_is_in_the_chapter():
    checked = {f"ch06.{name}" for name in ch06_gpt.EXERCISES} - {"ch06.why_lens"}
    assert checked == set(ANSWERS)
    with pytest.raises(TypeError, match="graded by hand"):
        evaluate("ch06.why_lens", "an answer")
    assert find("ch06.why_lens").title


def _failure(exercise_id, answer):
    result = evaluate(exercise_id, answer)
    assert not result.passed
    return result.message


def test_counts_that_forget_a_piece_are_named(solutions):
    count = solutions["count_params"]

    def untied_always(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
        return count(vocab_size, n_ctx, n_embd, n_layer, n_inner, tied=False)

    def no_ln_f(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
        return count(vocab_size, n_ctx, n_embd, n_layer, n_inner, tied) - 2 * n_embd

    def ignores_n_inner(vocab_size, n_ctx, n_embd, n_layer, n_inner=None, tied=True):
        return count(vocab_size, n_ctx, n_embd, n_layer, None, tied)

    assert "tied head reuses wte" in _failure("ch06.count_params", untied_always)
    assert "ln_f" in _failure("ch06.count_params", no_ln_f)
    assert "n_inner" in _failure("ch06.count_params", ignores_n_inner)


def test_a_float_count_is_refused(solutions):
    def as_float(*args, **kwargs):
        return float(solutions["count_params"](*args, **kwargs))

    _failure("ch06.count_params", as_float)


def test_a_loader_that_transposes_like_nn_linear_is_named(solutions):
    def transposing(state, which):
        params = solutions["params_from_hf"](state)
        for block in params["blocks"]:
            for layer in which(block):
                layer["w"] = layer["w"].T
        return params

    def every_matrix(block):
        return (block["attn"]["c_attn"], block["attn"]["c_proj"], block["mlp"]["c_fc"],
                block["mlp"]["c_proj"])

    # non-square matrices: NumpyGPT refuses them and names the shape it expected
    assert "expected" in _failure("ch06.params_from_hf", lambda s: transposing(s, every_matrix))
    # the square attn.c_proj loads silently: the message names the layout
    square = _failure("ch06.params_from_hf",
                      lambda s: transposing(s, lambda b: (b["attn"]["c_proj"],)))
    assert "Conv1D" in square


def test_a_loader_that_only_knows_one_naming_fails(solutions):
    def prefixed_only(state):
        state = {name[len("transformer."):]: a for name, a in state.items()
                 if name.startswith("transformer.")}
        return solutions["params_from_hf"](state)

    _failure("ch06.params_from_hf", prefixed_only)


def test_the_given_buggy_block_and_post_ln_are_named():
    assert "still behaves like the given code" in _failure("ch06.fixed_block",
                                                           ch06_gpt.buggy_block)

    def post_ln(x, block, n_head):
        from gptlib.attention import mha
        from gptlib.ffn import ffn
        from gptlib.layernorm import layer_norm

        x = layer_norm(x + mha(x, **block["attn"], n_head=n_head), **block["ln_1"])
        return layer_norm(x + ffn(x, **block["mlp"]), **block["ln_2"])

    assert "post-LN" in _failure("ch06.fixed_block", post_ln)


def test_a_wrong_prediction_fails():
    assert "disagrees" in _failure("ch06.embedding_share", "grows")
    assert "choose one of" in _failure("ch06.embedding_share", "halves")
