"""Chapter 0 exercises: read the next token off the logits, write the generation loop, find a bug
in a next-token function, and two predictions checked on the book's trained model.

The references are torch's softmax and top-k, and gptlib's own tested ``generate`` (greedy,
without the KV cache, so it runs the same NumPy forward pass as the reader's loop). The
predictions run on the model that ships with gptlib, in float64, so the numbers they report are
the same on every CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from ..attention import softmax
from ..config import GPTConfig
from ..data import load_text
from ..generation import generate
from ..model import GPT, NumpyGPT, gpt2_numpy
from ..tokenizer import shakespeare_tokenizer
from ..training import encode_corpus
from ..weights import flatten_params, load_gpt2, param_table, unflatten_params
from . import Case, Exercise, Explanation, Mistake, Prediction, describe

# --- the next tokens, from the logits ---------------------------------------------------------


def _top_next_tokens(logits, k):
    """torch: the k most likely tokens after the last position, as (id, probability) pairs."""
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64)[-1], dim=-1)
    values, ids = torch.topk(probs, k)
    return [(int(i), float(p)) for i, p in zip(ids, values)]


def _compare_pairs(expected: list, got) -> str | None:
    if not isinstance(got, list):
        return f"expected a list of (token id, probability) pairs, got {describe(got)}"
    if len(got) != len(expected):
        return f"expected {len(expected)} pairs, got {len(got)}"
    for rank, ((token, prob), pair) in enumerate(zip(expected, got)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            return f"item {rank} is {describe(pair)}, not a (token id, probability) pair"
        if not isinstance(pair[0], (int, np.integer)):
            return f"item {rank}'s token id is {describe(pair[0])}, not an int"
        if int(pair[0]) != token:
            return f"item {rank} (rank {rank + 1}) has the wrong token id, {int(pair[0])}"
        if not np.isclose(float(pair[1]), prob, rtol=1e-6, atol=1e-9):
            return f"item {rank}'s probability, {float(pair[1]):.6g}, is not the model's"
    return None


def _logit_cases(rng):
    n_seq, vocab = int(rng.integers(2, 9)), int(rng.integers(10, 60))
    k = int(rng.integers(1, min(vocab, 8)))
    logits = rng.normal(0.0, 3.0, size=(n_seq, vocab))
    return [Case((logits, k), f"random logits [{n_seq}, {vocab}], k = {k}")]


def _first_row(logits, k):
    probs = softmax(logits[0])
    return [(int(i), float(probs[i])) for i in np.argsort(-probs)[:k]]


def _raw_scores(logits, k):
    row = logits[-1]
    return [(int(i), float(row[i])) for i in np.argsort(-row)[:k]]


def _least_likely_first(logits, k):
    probs = softmax(logits[-1])
    return [(int(i), float(probs[i])) for i in np.argsort(-probs)[:k][::-1]]


def _softmax_over_positions(logits, k):
    probs = softmax(logits, axis=0)[-1]
    return [(int(i), float(probs[i])) for i in np.argsort(-probs)[:k]]


# --- a small random GPT to run the reader's code on ----------------------------------------------


def _random_model(rng, n_ctx=16):
    """(config, params): a tiny GPT with random float64 weights, big enough to have opinions."""
    config = GPTConfig(vocab_size=int(rng.integers(12, 40)), n_ctx=n_ctx, n_embd=8, n_head=2,
                       n_layer=int(rng.integers(1, 3)))
    flat = {}
    for name, _, _, shape in param_table(config):
        centre = 1.0 if name.endswith(".g") else 0.0  # layer-norm gains near 1, as trained ones
        flat[name] = rng.normal(centre, 0.5, size=shape)
    return config, unflatten_params(flat)


def _greedy_cases(rng):
    config, params = _random_model(rng)
    n_new = int(rng.integers(1, 7))
    n_prompt = int(rng.integers(1, config.n_ctx - n_new + 1))
    ids = [int(i) for i in rng.integers(0, config.vocab_size, size=n_prompt)]
    what = f"a random {config.n_layer}-layer GPT, a prompt of {n_prompt} ids"
    return [Case((ids, params, config, n_new), f"{what}, {n_new} new tokens")]


def _next_token_cases(rng):
    config, params = _random_model(rng)
    n_prompt = int(rng.integers(2, config.n_ctx + 1))
    ids = [int(i) for i in rng.integers(0, config.vocab_size, size=n_prompt)]
    return [Case((ids, params, config), f"a random {config.n_layer}-layer GPT and {n_prompt} ids")]


def _greedy(ids, params, config, n_new):
    """gptlib's generation loop, greedy, recomputing the whole sequence at each step."""
    return generate(NumpyGPT(config, params), ids, n_new, temperature=0, eos_id=None,
                    use_cache=False)


def _greedy_next(ids, params, config):
    return _greedy(ids, params, config, 1)[0]


def _greedy_first_row(ids, params, config, n_new):
    ids = list(ids)
    for _ in range(n_new):
        ids.append(int(np.argmax(gpt2_numpy(ids, params, config)[0])))
    return ids[-n_new:]


def _greedy_without_appending(ids, params, config, n_new):
    return [int(np.argmax(gpt2_numpy(ids, params, config)[-1]))] * n_new


def _greedy_whole_sequence(ids, params, config, n_new):
    return list(ids) + _greedy(ids, params, config, n_new)


def buggy_next_token(ids, params, config):
    """The id of the most likely token after ``ids``. (This version has a bug: find it.)"""
    logits = gpt2_numpy(ids, params, config)  # [n_seq, vocab_size]
    probs = np.exp(logits - logits.max())
    probs = probs / probs.sum(axis=0)  # turn the scores into probabilities
    return int(np.argmax(probs[-1]))  # the last position predicts the next token


def _next_from_first_row(ids, params, config):
    return int(np.argmax(gpt2_numpy(ids, params, config)[0]))


def _compare_ids(expected, got) -> str | None:
    if isinstance(expected, int):
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            return f"expected a token id (an int), got {describe(got)}"
        if int(got) == expected:
            return None
        return f"your token id, {int(got)}, is not the greedy choice"
    if not isinstance(got, list):
        return f"expected a list of token ids, got {describe(got)}"
    if len(got) != len(expected):
        return f"expected {len(expected)} new ids, got {len(got)}"
    for i, (e, g) in enumerate(zip(expected, got)):
        if not isinstance(g, (int, np.integer)):
            return f"item {i} is {describe(g)}, not a token id"
        if int(g) != e:
            return f"new token {i + 1} is {int(g)}, not the most likely one"
    return None


# --- predictions, run on the book's trained model ------------------------------------------------

PROMPT = "To be, or not to be"


def _book_model_float64():
    """The book's trained model in float64: the same numbers on every CPU."""
    config, params = load_gpt2("shakespeare")
    flat = flatten_params(params)
    return config, unflatten_params({name: a.astype(np.float64) for name, a in flat.items()})


def _change_the_last_token():
    config, params = _book_model_float64()
    tokenizer = shakespeare_tokenizer()
    ids = tokenizer.encode(PROMPT)
    changed = ids[:-1] + tokenizer.encode(" me")  # "To be, or not to me"
    before, after = gpt2_numpy(ids, params, config), gpt2_numpy(changed, params, config)
    moved = np.abs(before - after).max(axis=-1) > 1e-9  # [n_seq]: which rows changed
    happened = {0: "no row", 1: "only the last row"}.get(int(moved.sum()), "every row")
    if int(moved.sum()) == 1 and not moved[-1]:
        happened = "every row"  # one row moved, but not the last: none of the options
    # The check prints "... the experiment agrees:" first: the report starts on its own line.
    report = (f"\n' be' -> ' me' changed {int(moved.sum())} of the {len(ids)} rows of the logits; "
              f"the other {int((~moved).sum())} stayed the same (within 1e-9).")
    return happened, report


def _shuffled_loss():
    config, params = _book_model_float64()
    model = GPT.from_params(config, params, device="cpu")
    text = load_text("tinyshakespeare.txt")
    _, val = encode_corpus(text, shakespeare_tokenizer())  # the held-out last tenth, as token ids
    T = config.n_ctx
    # The first 64 windows (8,192 held-out tokens): two decimals of the loss, in seconds.
    windows = torch.as_tensor(val[: 64 * (T + 1)].reshape(-1, T + 1))
    shuffled = windows[:, torch.randperm(T + 1, generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        in_order = float(model(windows[:, :-1], windows[:, 1:])[1])
        mixed = float(model(shuffled[:, :-1], shuffled[:, 1:])[1])
    uniform = float(np.log(config.vocab_size))
    if mixed < in_order:
        happened = "lower than in order"
    elif mixed < uniform:
        happened = "higher, but below a uniform guess"
    else:
        happened = "higher than a uniform guess"
    report = (f"\nheld-out loss in order {in_order:.2f} nats per token, shuffled {mixed:.2f}, "
              f"a uniform guess (ln {config.vocab_size}) {uniform:.2f}.")
    return happened, report


EXERCISES = {
    "top_next_tokens": Exercise(
        title="The most likely next tokens",
        kind="derive", difficulty=1,
        reference=_top_next_tokens,
        compare=_compare_pairs,
        cases=[
            Case((np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 2.0]]), 2),
                 "logits [[0, 1, 2], [3, 1, 2]], k = 2"),
            Case((np.array([[1000.0, 0.0, -1000.0]]), 3),
                 "logits of +-1000 (does your softmax overflow?)"),
        ],
        generate=_logit_cases, n_generated=8,
        mistakes=[
            Mistake(_first_row, "Which row predicts the token after the last one?"),
            Mistake(_raw_scores, "The logits are scores, not probabilities: a softmax turns them "
                                 "into "
                                 "probabilities."),
            Mistake(_least_likely_first, "The list starts with the most likely token."),
            Mistake(_softmax_over_positions, "A softmax over which axis gives a distribution "
                                             "over the "
                                             "vocabulary?"),
        ],
    ),
    "greedy": Exercise(
        title="Greedy generation",
        kind="derive", difficulty=2,
        reference=_greedy,
        compare=_compare_ids,
        cases=[],
        generate=_greedy_cases, n_generated=8,
        mistakes=[
            Mistake(_greedy_first_row, "Which row of the logits predicts the next token?"),
            Mistake(_greedy_without_appending, "Each new token must be appended before the "
                                               "model is "
                                               "asked again."),
            Mistake(_greedy_whole_sequence, "Return only the new ids, not the prompt."),
        ],
    ),
    "fix_next_token": Exercise(
        title="Find the bug in a next-token function",
        kind="debug", difficulty=2,
        reference=_greedy_next,
        compare=_compare_ids,
        cases=[],
        generate=_next_token_cases, n_generated=10,
        mistakes=[
            Mistake(buggy_next_token, "This still behaves like the given code: over which axis "
                                      "do the "
                                      "probabilities of one prediction add up to 1?"),
            Mistake(_next_from_first_row, "Which row of the logits predicts the next token?"),
        ],
    ),
    "change_last_token": Prediction(
        title="Change the last token",
        options=("every row", "only the last row", "no row"),
        experiment=_change_the_last_token,
        difficulty=2,
    ),
    "shuffled": Prediction(
        title="Shakespeare, shuffled",
        options=("lower than in order", "higher, but below a uniform guess",
                 "higher than a uniform guess"),
        experiment=_shuffled_loss,
        difficulty=2,
    ),
    "why_uniform": Explanation(title="Why a random GPT scores about ln V", difficulty=1),
}
