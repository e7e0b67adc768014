"""Chapter 7 exercises: one attention step with a KV cache, min-p sampling, a repetition
penalty, beam search, a bug in a cached forward pass, and a prediction about beam search.

References no one here wrote: PyTorch's ``scaled_dot_product_attention``, transformers' logits
processors (``MinPLogitsWarper``, ``RepetitionPenaltyLogitsProcessor``) and its beam search
(``generate(num_beams=...)``). The cached forward pass is compared with gptlib's full forward
pass, which the tests compare with transformers' GPT-2.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..attention import softmax
from ..config import GPTConfig
from ..embeddings import embed
from ..kvcache import NumpyKVCache, with_cache
from ..model import gpt2_numpy, lm_head, transformer_block
from ..weights import param_table, unflatten_params
from . import Case, Exercise, Mistake, Prediction
from .ch06_gpt import hf_gpt2
from .references import torch_function

# --- kv_step: one attention step with a cache ----------------------------------------------------


def _sdpa_step(q, k_new, v_new, k_cache, v_cache):
    k, v = torch.cat([k_cache, k_new], dim=1), torch.cat([v_cache, v_new], dim=1)
    return F.scaled_dot_product_attention(q, k, v), k, v  # one query: it may read every key


def _step_case(rng, n_past, description):
    n_head, hs = int(rng.integers(1, 5)), int(rng.integers(2, 9))
    new = [rng.standard_normal((n_head, 1, hs)) for _ in range(3)]
    cache = [rng.standard_normal((n_head, n_past, hs)) for _ in range(2)]
    return Case((*new, *cache), description.format(n_head=n_head, hs=hs))


def _step_cases(rng):
    n_past = int(rng.integers(1, 12))
    return [_step_case(rng, n_past, f"{{n_head}} heads of size {{hs}}, {n_past} cached positions")]


def _unscaled_step(q, k_new, v_new, k_cache, v_cache):
    k, v = np.concatenate([k_cache, k_new], 1), np.concatenate([v_cache, v_new], 1)
    return softmax(q @ k.transpose(0, 2, 1)) @ v, k, v


def _first_key_only_step(q, k_new, v_new, k_cache, v_cache):
    k, v = np.concatenate([k_cache, k_new], 1), np.concatenate([v_cache, v_new], 1)
    return np.broadcast_to(v[:, :1], q.shape).copy(), k, v  # a causal mask for position 0


# --- min_p: a filter the chapter did not show -----------------------------------------------------


def _hf_min_p(logits, min_p):
    from transformers.generation.logits_process import MinPLogitsWarper

    scores = torch.tensor(np.asarray(logits, dtype=np.float64))
    rows = scores.reshape(-1, scores.shape[-1])  # the warper takes [batch, vocab]
    return MinPLogitsWarper(min_p)(None, rows).reshape(scores.shape).numpy()


def _min_p_on_logits(logits, min_p):
    return np.where(logits >= min_p * logits.max(-1, keepdims=True), logits, -np.inf)


def _min_p_absolute(logits, min_p):
    return np.where(softmax(logits) >= min_p, logits, -np.inf)


def _min_p_cases(rng):
    shape = (int(rng.integers(5, 200)),) if rng.random() < 0.5 else (3, int(rng.integers(5, 50)))
    return [Case((rng.normal(0.0, 2.5, size=shape), float(rng.uniform(0.02, 0.5))),
                 f"logits of shape {shape}")]


# --- repetition_penalty ---------------------------------------------------------------------


def _hf_repetition_penalty(logits, previous, penalty):
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    ids = torch.as_tensor(np.asarray(previous, dtype=np.int64).reshape(1, -1))
    scores = torch.tensor(np.asarray(logits, dtype=np.float64))[None]
    return RepetitionPenaltyLogitsProcessor(penalty)(ids, scores)[0].numpy()


def _divide_all_seen(logits, previous, penalty):
    out = np.array(logits, dtype=np.float64)
    seen = np.unique(np.asarray(previous, dtype=np.int64))
    out[seen] = out[seen] / penalty
    return out


def _penalise_each_time(logits, previous, penalty):
    out = np.array(logits, dtype=np.float64)
    for token in np.asarray(previous, dtype=np.int64):
        out[token] = out[token] / penalty if out[token] > 0 else out[token] * penalty
    return out


def _penalty_cases(rng):
    vocab = int(rng.integers(5, 60))
    previous = rng.integers(0, vocab, int(rng.integers(1, 2 * vocab)))
    return [Case((rng.normal(0.0, 2.0, vocab), previous, float(rng.uniform(1.05, 2.0))),
                 f"{vocab} logits, {len(previous)} earlier tokens (some repeated)")]


_PENALTY_EDGES = [
    Case((np.array([2.0, -1.0, 0.5, -3.0]), [0, 1], 2.0),
         "logits [2, -1, 0.5, -3], earlier tokens [0, 1], penalty 2"),
    Case((np.array([2.0, -1.0, 0.5, -3.0]), [3, 3, 3], 1.5), "token 3 seen three times, penalty 1.5"),
    Case((np.array([2.0, -1.0, 0.5, -3.0]), [], 1.5), "no earlier tokens"),
]

# --- beam_search -----------------------------------------------------------------------------


class LanguageModel:
    """A language model as a beam search sees it: ``lm(ids)`` -> the log-probabilities [V] of the
    token after the list ``ids``. (Here transformers' GPT-2 with random weights, in float64.)"""

    def __init__(self, model):
        self.model = model

    def __call__(self, ids) -> np.ndarray:
        with torch.no_grad():
            logits = self.model(torch.as_tensor(list(ids), dtype=torch.long)[None]).logits[0, -1]
        return torch.log_softmax(logits, dim=-1).numpy()

    def __repr__(self):
        return f"<a language model over {self.model.config.vocab_size} tokens>"


def _hf_beam_search(next_log_probs, prompt, n_beams, n_new):
    ids = torch.as_tensor(list(prompt), dtype=torch.long)[None]
    with torch.no_grad():
        # the attention mask is given: without it transformers would guess one from pad_token_id
        # and hide every prompt token that happens to be id 0
        out = next_log_probs.model.generate(
            ids, attention_mask=torch.ones_like(ids), num_beams=n_beams, do_sample=False,
            max_new_tokens=n_new, min_new_tokens=n_new, eos_token_id=None, pad_token_id=0)
    return [int(t) for t in out[0, len(prompt):]]


def _greedy(next_log_probs, prompt, n_beams, n_new):
    ids = list(prompt)
    for _ in range(n_new):
        ids.append(int(np.argmax(next_log_probs(ids))))
    return ids[len(prompt):]


def _beams_never_meet(next_log_probs, prompt, n_beams, n_new):
    """n_beams separate greedy runs from the n_beams best first tokens, the best sum kept."""
    first = np.argsort(-next_log_probs(list(prompt)))[:n_beams]
    runs = []
    for token in first:
        ids, score = list(prompt) + [int(token)], next_log_probs(list(prompt))[token]
        for _ in range(n_new - 1):
            log_probs = next_log_probs(ids)
            ids.append(int(np.argmax(log_probs)))
            score += log_probs[ids[-1]]
        runs.append((score, ids[len(prompt):]))
    return max(runs, key=lambda run: run[0])[1]


def _beam_cases(rng):
    config = GPTConfig(vocab_size=int(rng.integers(8, 40)), n_ctx=24, n_embd=16, n_head=2,
                       n_layer=int(rng.integers(1, 3)))
    lm = LanguageModel(hf_gpt2(config, seed=int(rng.integers(1 << 30)), scale=0.3))
    prompt = [int(t) for t in rng.integers(0, config.vocab_size, int(rng.integers(1, 5)))]
    n_beams, n_new = int(rng.integers(2, 5)), int(rng.integers(3, 8))
    return [Case((lm, prompt, n_beams, n_new),
                 f"a random GPT-2 over {config.vocab_size} tokens, a prompt of {len(prompt)}, "
                 f"{n_beams} beams, {n_new} new tokens")]


# --- fixed_continue: a bug in a cached forward pass -----------------------------------------------


def buggy_continue(prompt, new, params, config):
    """Logits [len(new), vocab_size] for the tokens ``new`` after ``prompt``, with a KV cache:
    the prompt fills the cache, then only the new tokens run through the network."""
    cache = NumpyKVCache(config.n_layer)
    for ids in (prompt, new):
        x = embed(np.asarray(ids), params["wte"], params["wpe"])  # [len(ids), n_embd]
        for block in with_cache(params, cache)["blocks"]:  # each block with its layer of the cache
            x = transformer_block(x, **block, n_head=config.n_head, eps=config.layer_norm_eps)
    return lm_head(x, params, config)  # [len(new), vocab_size]


def _full_pass(prompt, new, params, config):
    """The reference: the whole text through gptlib's forward pass, no cache; the new rows."""
    return gpt2_numpy(list(prompt) + list(new), params, config)[len(prompt):]


def _continue_cases(rng):
    n_head = int(rng.integers(1, 4))
    config = GPTConfig(vocab_size=int(rng.integers(10, 50)), n_ctx=int(rng.integers(6, 16)),
                       n_embd=4 * n_head, n_head=n_head, n_layer=int(rng.integers(1, 3)))
    flat = {name: rng.normal(1.0 if name.endswith(".g") else 0.0, 0.5, size=shape)
            for name, _, _, shape in param_table(config)}
    n_prompt = int(rng.integers(1, config.n_ctx - 1))
    n_new = int(rng.integers(1, config.n_ctx - n_prompt + 1))
    prompt, new = (rng.integers(0, config.vocab_size, n) for n in (n_prompt, n_new))
    return [Case((prompt, new, unflatten_params(flat), config),
                 f"a prompt of {n_prompt} tokens, then {n_new} new ones, {config}")]


# --- beam_repeats: a prediction -------------------------------------------------------------------


def repeated_4grams(ids) -> float:
    """The share of a text's 4-token windows that already occurred earlier in it."""
    seen, repeats = set(), 0
    windows = [tuple(ids[i : i + 4]) for i in range(len(ids) - 3)]
    for window in windows:
        repeats += window in seen
        seen.add(window)
    return repeats / len(windows)


def _beam_repeats_experiment():
    from transformers import GPT2LMHeadModel

    from ..data import SHAKESPEARE_GPT
    from ..tokenizer import shakespeare_tokenizer

    from transformers.utils import logging as hf_logging

    threads, bars = torch.get_num_threads(), hf_logging.is_progress_bar_enabled()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other
    hf_logging.disable_progress_bar()  # no "loading weights" bar in the reader's notebook
    try:
        lm = LanguageModel(GPT2LMHeadModel.from_pretrained(SHAKESPEARE_GPT).double().eval())
        prompt = shakespeare_tokenizer().encode("ROMEO:\n")
        greedy = repeated_4grams(_hf_beam_search(lm, prompt, 1, 100))
        beams = repeated_4grams(_hf_beam_search(lm, prompt, 5, 100))
    finally:
        torch.set_num_threads(threads)
        if bars:
            hf_logging.enable_progress_bar()
    happened = ("about as repetitive" if abs(beams - greedy) <= 0.05 else
                "more repetitive" if beams > greedy else "less repetitive")
    return happened, (f"\n  of the 4-token windows in 100 tokens after 'ROMEO:', {greedy:.0%} repeat"
                      f"\n  an earlier one with greedy decoding, {beams:.0%} with 5 beams.")


EXERCISES = {
    "kv_step": Exercise(
        title="one attention step with a KV cache",
        kind="derive", difficulty=2,
        reference=torch_function(_sdpa_step),
        cases=[_step_case(np.random.default_rng(0), 0, "one new position and an empty cache "
                          "(n_past = 0), {n_head} heads of size {hs}")],
        generate=_step_cases, n_generated=4,
        mistakes=[Mistake(_unscaled_step, "The scores are divided by sqrt(head_size), as in "
                                          "chapter 3."),
                  Mistake(_first_key_only_step, "The newest position may read every cached one: no "
                                                "mask is needed for a single query.")],
        idea="The new key and value go after the cached ones, in the order of the positions.",
    ),
    "min_p": Exercise(
        title="min-p filtering",
        kind="variant", difficulty=2,
        reference=_hf_min_p,
        cases=[Case((np.log(np.array([0.5, 0.3, 0.15, 0.05])), 0.2),
                    "probabilities [0.5, 0.3, 0.15, 0.05] and min_p = 0.2"),
               Case((np.log(np.array([0.05, 0.5, 0.15, 0.3])), 0.5), "the same shuffled, min_p = 0.5")],
        generate=_min_p_cases, n_generated=6,
        mistakes=[Mistake(_min_p_on_logits, "The threshold is on probabilities, not on logits."),
                  Mistake(_min_p_absolute, "The threshold scales with the most likely token's "
                                           "probability.")],
    ),
    "repetition_penalty": Exercise(
        title="a repetition penalty",
        kind="variant", difficulty=2,
        reference=_hf_repetition_penalty,
        cases=_PENALTY_EDGES,
        generate=_penalty_cases, n_generated=6,
        mistakes=[Mistake(_divide_all_seen, "Dividing a negative logit by the penalty makes its "
                                            "token more likely."),
                  Mistake(_penalise_each_time, "A token is penalised once, however often it "
                                               "appeared.")],
    ),
    "beam_search": Exercise(
        title="beam search",
        kind="variant", difficulty=3,
        reference=_hf_beam_search,
        generate=_beam_cases, n_generated=4,
        mistakes=[Mistake(_greedy, "This is what greedy decoding writes: keep the n_beams best "
                                   "sequences at every step."),
                  Mistake(_beams_never_meet, "At every step choose the best n_beams among the "
                                             "extensions of all beams together, not one per beam.")],
        idea="A beam's score is the sum of the log-probabilities of all its tokens.",
    ),
    "fixed_continue": Exercise(
        title="find the bug in a cached forward pass",
        kind="debug", difficulty=2,
        reference=_full_pass,
        generate=_continue_cases, n_generated=6,
        mistakes=[Mistake(buggy_continue, "This still behaves like the given code: at which "
                                          "position does the first new token sit?")],
        atol=1e-8, rtol=1e-7,
    ),
    "beam_repeats": Prediction(
        title="beam search and repetition",
        options=("more repetitive", "about as repetitive", "less repetitive"),
        experiment=_beam_repeats_experiment,
        difficulty=2,
    ),
}
