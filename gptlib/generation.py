"""Chapter 7: making a GPT write.

A GPT gives, for the last position, a score (logit) for every token of the vocabulary. To write,
turn the scores into probabilities, pick one token, append it, and ask again. How to pick is
the *decoding strategy*:

- greedy (``temperature=0``): always the most likely token; deterministic, often repetitive;
- sampling with a temperature: divide the logits by T before the softmax; T < 1 sharpens the
  distribution, T > 1 flattens it;
- top-k: sample only among the k most likely tokens;
- top-p (nucleus, Holtzman et al. 2020): sample only among the most likely tokens whose
  probabilities add up to at least p.

The sampling functions work on NumPy arrays of logits ``[..., vocab_size]``; both models use
them (PyTorch's logits are copied to NumPy, one row of the vocabulary per sequence and step),
so a seed gives the same choices whichever model produced the logits.

``generate`` runs the loop for a ``NumpyGPT`` or a ``GPT``, with a KV cache by default
(``gptlib.kvcache``). Context policy: the model never sees more than ``n_ctx`` tokens. When the
text grows past ``n_ctx``, each step reads the last ``n_ctx`` tokens; every token then moves to
a new position, so the cache is rebuilt from that window (a fresh prefill) at every such step.
With or without the cache, the tokens are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from .attention import softmax
from .checks import check_max_new_tokens, check_prompt, check_sampling, check_stops
from .kvcache import KVCache
from .model import GPT, NumpyGPT

GPT2_EOT = 50256  # the id of <|endoftext|> in GPT-2's vocabulary (its last token)

# --- reshaping the distribution (NumPy, over the last axis) ------------------------------------


def top_k_filter(logits, k):
    """Keep the k largest logits of each row, set the others to -inf: [..., V] -> [..., V].

    Ties with the k-th largest value are all kept (there is no fair way to choose among them).
    """
    logits = np.asarray(logits)
    if k >= logits.shape[-1]:
        return logits
    kth_largest = np.partition(logits, -k, axis=-1)[..., -k, None]  # [..., 1]
    return np.where(logits >= kth_largest, logits, -np.inf)


def top_p_filter(logits, p):
    """Keep the smallest set of most likely tokens whose probabilities add up to at least p.

    [..., V] -> [..., V] with -inf outside the set ("the nucleus"). A token is kept when the
    tokens more likely than it add up to less than p, so the most likely token is always kept.
    """
    logits = np.asarray(logits)
    if p >= 1.0:
        return logits
    probs = softmax(logits)  # [..., V]
    order = np.argsort(-probs, axis=-1, kind="stable")  # most likely first
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # probability of the tokens ahead
    keep_sorted = mass_before < p
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)  # back to vocabulary order
    return np.where(keep, logits, -np.inf)


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution the next token is drawn from: logits [..., V] -> probabilities [..., V].

    Temperature first, then top-k, then top-p (each on what the previous step left).
    Temperature 0 puts all the probability on the most likely token (greedy).
    """
    logits = np.asarray(logits, dtype=np.float64)  # float64: small probabilities stay exact enough
    if temperature == 0:
        return np.eye(logits.shape[-1])[np.argmax(logits, axis=-1)]  # one-hot on the argmax
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return softmax(logits)


def sample_token(logits, rng: np.random.Generator, temperature=1.0, top_k=None, top_p=None) -> int:
    """Draw one token id from one row of logits [V]."""
    if temperature == 0:
        return int(np.argmax(logits))  # greedy: no randomness, no softmax needed
    probs = next_token_probs(logits, temperature, top_k, top_p)  # [V]
    # Inverse CDF: the first token whose cumulative probability passes a uniform draw.
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    # side="right" never lands on a token of probability 0; rounding may run past the end.
    return index if index < len(cdf) else int(np.flatnonzero(probs)[-1])


# --- running the model, with or without the cache ----------------------------------------------


class _NumpyRunner:
    """Next-token logits [1, V] for a growing sequence, from a NumpyGPT."""

    def __init__(self, model: NumpyGPT, use_cache: bool):
        self.model, self.use_cache = model, use_cache
        self.cache, self.window_start = None, -1

    def __call__(self, seqs: np.ndarray) -> np.ndarray:  # seqs [1, n] -> [1, V]
        window_start = max(0, seqs.shape[1] - self.model.config.n_ctx)
        window = seqs[0, window_start:]  # the last n_ctx tokens at most
        if not self.use_cache:
            return self.model(window)[-1:]  # the whole window, every position's logits
        if window_start != self.window_start:  # first call, or the window slid: positions moved
            self.cache, self.window_start = self.model.new_cache(), window_start
        new = window[len(self.cache) :]  # the tokens the cache has not seen
        return self.model.forward_cached(new, self.cache, last_only=True)  # [1, V]


class _TorchRunner:
    """Next-token logits [B, V] (as NumPy) for growing sequences, from a gptlib.GPT."""

    def __init__(self, model: GPT, use_cache: bool):
        self.model, self.use_cache = model, use_cache
        self.device = next(model.parameters()).device
        self.cache, self.window_start = None, -1

    @torch.inference_mode()
    def __call__(self, seqs: np.ndarray) -> np.ndarray:  # seqs [B, n] -> [B, V]
        window_start = max(0, seqs.shape[1] - self.model.config.n_ctx)
        window = torch.as_tensor(seqs[:, window_start:], device=self.device)  # [B, <= n_ctx]
        if not self.use_cache:
            logits = self.model(window)[:, -1]  # [B, V]
        else:
            if window_start != self.window_start:  # first call, or the window slid: rebuild
                self.cache, self.window_start = KVCache(self.model.config.n_layer), window_start
            logits = self.model(window[:, len(self.cache) :], kv_cache=self.cache)[:, -1]
        return logits.double().cpu().numpy()  # float64 keeps a float64 model's logits exact


# --- the loop --------------------------------------------------------------------------------


def stream(model, ids, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, seed: int | None = None, eos_id="auto", stop=None,
           use_cache: bool = True) -> Iterator:
    """Generate token by token: yields each new id as soon as it is chosen.

    For one prompt ([T] ids) it yields ints; for a batch ([B, T], gptlib.GPT only) it yields a
    list of B ids per step, None for the rows that have already stopped. Arguments as ``generate``.
    """
    seqs, batched, stops = _checked(model, ids, max_new_tokens, temperature, top_k, top_p,
                                    eos_id, stop)
    steps = _steps(model, seqs, max_new_tokens, np.random.default_rng(seed), stops, use_cache,
                   dict(temperature=temperature, top_k=top_k, top_p=top_p))
    return steps if batched else (step[0] for step in steps)


def _checked(model, ids, max_new_tokens, temperature, top_k, top_p, eos_id, stop):
    """The arguments of ``generate``, checked: (prompts [B, T], batched, stop sequences)."""
    if not isinstance(model, (NumpyGPT, GPT)):
        raise TypeError(f"generate needs a gptlib.NumpyGPT or gptlib.GPT, "
                        f"got {type(model).__name__}")
    check_sampling(temperature, top_k, top_p)
    check_max_new_tokens(max_new_tokens)
    seqs, batched = check_prompt(ids, model.config, batch_allowed=isinstance(model, GPT))
    if eos_id == "auto":  # GPT-2's vocabulary ends with <|endoftext|>; other vocabularies: no eos
        eos_id = GPT2_EOT if model.config.vocab_size == GPT2_EOT + 1 else None
    stops = check_stops(stop) + ([(int(eos_id),)] if eos_id is not None else [])
    return seqs, batched, stops


def _steps(model, seqs, max_new_tokens, rng, stops, use_cache, sampling) -> Iterator[list]:
    """Each step's new ids, one per row (None for a row that has stopped)."""
    runner = (_NumpyRunner if isinstance(model, NumpyGPT) else _TorchRunner)(model, use_cache)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()  # no dropout while writing
    try:
        generated = [[] for _ in range(seqs.shape[0])]
        done = [False] * seqs.shape[0]
        for _ in range(max_new_tokens):
            logits = runner(seqs)  # [B, V]
            step = [None if done[row] else sample_token(logits[row], rng, **sampling)
                    for row in range(seqs.shape[0])]
            for row, token in enumerate(step):
                if token is not None:
                    generated[row].append(token)
                    done[row] = any(tuple(generated[row][-len(s) :]) == s for s in stops)
            # A row that has stopped keeps being fed (the batch stays rectangular); its
            # tokens are not returned.
            column = [[seqs[r, -1] if t is None else t] for r, t in enumerate(step)]
            seqs = np.concatenate([seqs, np.array(column, dtype=np.int64)], axis=1)
            yield step
            if all(done):
                break
    finally:
        if was_training:
            model.train()


def generate(model, ids, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             eos_id="auto", stop=None, use_cache: bool = True, on_token: Callable | None = None):
    """Continue the prompt ``ids`` by up to ``max_new_tokens`` tokens; return the new ids.

    model: a ``gptlib.NumpyGPT`` or a ``gptlib.GPT`` (any device).
    ids: the prompt, [T] token ids (list, NumPy array or tensor); or [B, T] for a batch of
        prompts of the same length (``gptlib.GPT`` only).
    temperature: 0 for greedy decoding; otherwise logits are divided by it before sampling.
    top_k, top_p: keep only the k most likely tokens / the nucleus of probability p (None: off).
    seed: makes sampling reproducible (None: a fresh random seed).
    eos_id: the token that ends the text. "auto": <|endoftext|> (50256) for GPT-2's vocabulary,
        none for other vocabularies; None: never stop early.
    stop: stop sequences, as token ids: one sequence ``[id, ...]`` or a list of them.
    use_cache: keep keys and values between steps (the KV cache); False recomputes everything.
    on_token: called with each new token as soon as it is chosen (streaming), as ``stream`` yields.

    Returns a list of new token ids; for a batch, one such list per prompt. Generation stops
    right after eos_id or a stop sequence, which are included as the last ids. Past n_ctx
    tokens the model reads the last n_ctx (see the module's docstring).
    """
    seqs, batched, stops = _checked(model, ids, max_new_tokens, temperature, top_k, top_p,
                                    eos_id, stop)
    generated = [[] for _ in range(seqs.shape[0])]
    for step in _steps(model, seqs, max_new_tokens, np.random.default_rng(seed), stops, use_cache,
                       dict(temperature=temperature, top_k=top_k, top_p=top_p)):
        if on_token is not None:
            on_token(step if batched else step[0])
        for row, token in enumerate(step):
            if token is not None:
                generated[row].append(token)
    return generated if batched else generated[0]
