"""gptlib: the small, tested package behind the book "GPT from scratch".

Public entry points (kept stable; chapters, tests and outside users build on them):

- ``load_gpt2(source) -> (config, params)``: a checkpoint folder, "shakespeare" (the project's
  own model) or a hub name such as "gpt2".
- ``gpt2_numpy(ids, params, config)``: logits [len(ids), vocab_size] from the NumPy GPT;
  ``attention_maps`` and ``logit_lens`` look inside it (chapter 6).
- ``NumpyGPT(config, params)``: the NumPy model as an object, ``model(ids) -> logits``.
- ``GPT``: the PyTorch model; ``GPT.from_params(config, params)``.
- ``GPTConfig``: the shape of the model, shared by both.
- ``generate(model, ids, max_new_tokens, ...)``, ``stream``: chapter 7's sampling loop, for
  either model, with a KV cache (``KVCache``, ``NumpyKVCache``).
- ``BPETokenizer``, ``gpt2_tokenizer()``, ``shakespeare_tokenizer()``: chapter 1's tokenizers.
- ``TrainConfig``, ``train``, ``load_shakespeare_model``: chapter 8's training.
"""

from .config import GPTConfig
from .data import cache_dir, fetch
from .device import pick_device
from .generation import generate, stream
from .kvcache import KVCache, NumpyKVCache
from .model import GPT, NumpyGPT, attention_maps, gpt2_numpy, logit_lens
from .tokenizer import BPETokenizer, gpt2_tokenizer, shakespeare_tokenizer
from .training import TrainConfig, train
from .weights import load_gpt2, load_shakespeare_model, save_checkpoint

__all__ = [
    "attention_maps",
    "BPETokenizer",
    "GPT",
    "GPTConfig",
    "KVCache",
    "NumpyGPT",
    "NumpyKVCache",
    "TrainConfig",
    "cache_dir",
    "fetch",
    "generate",
    "gpt2_numpy",
    "gpt2_tokenizer",
    "load_gpt2",
    "load_shakespeare_model",
    "logit_lens",
    "pick_device",
    "save_checkpoint",
    "shakespeare_tokenizer",
    "stream",
    "train",
]
__version__ = "0.1.0"
