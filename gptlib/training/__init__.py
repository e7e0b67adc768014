"""Chapter 8: training.

Two halves, as in every chapter:

* NumPy (``backprop``, ``adamw``): the loss (cross-entropy), its gradient, and the backward
  pass through the whole GPT, composed from the backward functions of chapters 2-5; AdamW
  written out. Slow, but every number can be followed by hand, and the tests check it
  against torch autograd.
* PyTorch (``loop`` and its parts): a real training loop in the nanoGPT spirit: random windows
  of the corpus (``batches``), AdamW with weight decay on matrices only, warmup then cosine
  decay (``optimizer``), gradient clipping, periodic evaluation, bf16 autocast on a GPU or
  float64 for runs whose digits must not depend on the CPU, optional torch.compile,
  data-parallel training under torchrun (``distributed``), and checkpoints (safetensors +
  JSON, written atomically) that resume bit for bit (``checkpoints``); settings and presets
  in ``settings``.

The command line is ``python -m gptlib.train`` (see ``gptlib/train.py``). The names below are
the ones chapters and tests use: ``from gptlib import training; training.train(...)``.
"""

from ..tokenizer import CharTokenizer
from ..tokenizer import load_tokenizer as tokenizer_from_folder  # the name gptlib.web reads
from ..weights import load_shakespeare_model
from .adamw import adamw_init, adamw_step, adamw_update
from .backprop import (
    cross_entropy, cross_entropy_backward, lm_head_backward, log_softmax, loss_and_grads,
    transformer_block_backward,
)
from .batches import encode_corpus, get_batch, prepare_data, sample_offsets
from .checkpoints import (
    latest_checkpoint, list_checkpoints, load_training_state, save_training_state,
)
from .loop import estimate_loss, train, training_step
from .optimizer import autocast_context, flops_per_token, initial_model, lr_at, make_optimizer
from .settings import PRESETS, TrainConfig, get_preset

__all__ = [
    "adamw_init", "adamw_step", "adamw_update", "autocast_context", "CharTokenizer",
    "cross_entropy", "cross_entropy_backward", "encode_corpus", "estimate_loss", "flops_per_token",
    "get_batch", "get_preset", "initial_model", "latest_checkpoint", "list_checkpoints",
    "lm_head_backward", "load_shakespeare_model", "load_training_state", "log_softmax",
    "loss_and_grads", "lr_at", "make_optimizer", "prepare_data", "PRESETS", "sample_offsets",
    "save_training_state", "tokenizer_from_folder", "train", "TrainConfig", "training_step",
    "transformer_block_backward",
]
