"""gptlib: the small, tested package behind the book "GPT from scratch".

Public entry points (kept stable; chapters, tests and outside users build on them):

- ``load_gpt2(source) -> (config, params)``: a checkpoint folder or a hub name such as "gpt2".
- ``gpt2_numpy(ids, params, config)``: logits [len(ids), vocab_size] from the NumPy GPT.
- ``NumpyGPT(config, params)``: the NumPy model as an object, ``model(ids) -> logits``.
- ``GPT``: the PyTorch model; ``GPT.from_params(config, params)``.
- ``GPTConfig``: the shape of the model, shared by both.
- ``generate(model, ids, max_new_tokens, ...)``: chapter 6's sampling loop, for either model.
- ``BPETokenizer``, ``gpt2_tokenizer()``, ``shakespeare_tokenizer()``: chapter 1's tokenizers.
"""

from .attention import attention_maps
from .config import GPTConfig
from .data import cache_dir, fetch
from .device import pick_device
from .generation import generate, stream
from .kvcache import KVCache
from .model import GPT, NumpyGPT, gpt2_numpy
from .training import TrainConfig, load_shakespeare_model, train
from .tokenizer import BPETokenizer, gpt2_tokenizer, shakespeare_tokenizer
from .weights import load_gpt2, save_checkpoint

__all__ = [
    "attention_maps",
    "BPETokenizer",
    "GPT",
    "GPTConfig",
    "KVCache",
    "NumpyGPT",
    "TrainConfig",
    "cache_dir",
    "fetch",
    "generate",
    "gpt2_numpy",
    "gpt2_tokenizer",
    "load_gpt2",
    "load_shakespeare_model",
    "pick_device",
    "save_checkpoint",
    "shakespeare_tokenizer",
    "stream",
    "train",
]
__version__ = "0.1.0"
