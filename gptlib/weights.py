"""Chapter 6: GPT-2's parameters, in memory and on disk.

In memory the parameters are nested dicts of NumPy arrays, as GPT-2 names them::

    params["wte"]                                   [vocab_size, n_embd]  token embeddings,
                                                                          also the output head
    params["wpe"]                                   [n_ctx, n_embd]  position embeddings
    params["blocks"][i]["ln_1"]["g"|"b"]            [n_embd]
    params["blocks"][i]["attn"]["c_attn"]["w"|"b"]  [n_embd, 3*n_embd], [3*n_embd]
    params["blocks"][i]["attn"]["c_proj"]["w"|"b"]  [n_embd, n_embd], [n_embd]
    params["blocks"][i]["ln_2"]["g"|"b"]            [n_embd]
    params["blocks"][i]["mlp"]["c_fc"]["w"|"b"]     [n_embd, 4*n_embd], [4*n_embd]
    params["blocks"][i]["mlp"]["c_proj"]["w"|"b"]   [4*n_embd, n_embd], [n_embd]
    params["ln_f"]["g"|"b"]                         [n_embd]

Linear weights are [in, out] (GPT-2's Conv1D), so NumPy computes ``x @ w + b``; PyTorch's
nn.Linear stores [out, in], and ``torch_state`` is the one place that transposes them.

On disk a model is a folder, exactly as Hugging Face's ``save_pretrained`` writes GPT-2, so
either library reads the other's files, plus the tokenizer a training run used:

    config.json         the shape (transformers' GPT2Config names: n_positions, ...)
    model.safetensors   the tensors, named "transformer.h.0.attn.c_attn.weight", ...;
                        float32 (float64 when trained in float64)
    tokenizer.json      written by gptlib.train: what kind of tokenizer, its pattern and
    tokenizer.tiktoken  special tokens, and its ranks (see ``gptlib.tokenizer``)
    metrics.json        written by gptlib.train: losses, timings and settings

Nothing here uses pickle.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import huggingface_hub
import numpy as np
import pooch
import torch
from huggingface_hub.errors import HFValidationError
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .checks import check_names_and_shapes
from .config import GPTConfig
from .data import SHAKESPEARE_GPT, ChecksumError, MissingDataError, cache_dir
from .files import atomic_write
from .tokenizer import load_tokenizer

# --- one table of names --------------------------------------------------------------------


def torch_name(name: str) -> str:
    """Our name of a parameter -> its name in gptlib's PyTorch modules (and, behind
    "transformer.", in Hugging Face's): "blocks.0.attn.c_attn.w" -> "...c_attn.weight",
    "ln_f.g" -> "ln_f.weight", "wte" -> "wte.weight"."""
    *path, leaf = name.split(".")
    leaf = {"w": "weight", "g": "weight", "b": "bias"}.get(leaf, f"{leaf}.weight")
    return ".".join([*path, leaf])


def param_table(config: GPTConfig):
    """Every parameter as (name in params, name on disk, name in gptlib.GPT, shape in params).

    Flat names in params join the nested keys with dots: "blocks.0.attn.c_attn.w".
    Linear weights are [in, out] on disk and in params (GPT-2's Conv1D) but [out, in] in nn.Linear.
    """
    C, V = config.n_embd, config.vocab_size
    per_block = {
        "ln_1.g": (C,), "ln_1.b": (C,),
        "attn.c_attn.w": (C, 3 * C), "attn.c_attn.b": (3 * C,),
        "attn.c_proj.w": (C, C), "attn.c_proj.b": (C,),
        "ln_2.g": (C,), "ln_2.b": (C,),
        "mlp.c_fc.w": (C, 4 * C), "mlp.c_fc.b": (4 * C,),
        "mlp.c_proj.w": (4 * C, C), "mlp.c_proj.b": (C,),
    }
    shapes = {"wte": (V, C), "wpe": (config.n_ctx, C)}
    for i in range(config.n_layer):
        shapes.update({f"blocks.{i}.{name}": shape for name, shape in per_block.items()})
    shapes.update({"ln_f.g": (C,), "ln_f.b": (C,)})
    rows = []
    for ours, shape in shapes.items():
        theirs = torch_name(ours)
        on_disk = "transformer." + theirs.replace("blocks.", "h.")
        in_gpt = f"embed.{theirs}" if ours in ("wte", "wpe") else theirs  # GPT.embed holds both
        rows.append((ours, on_disk, in_gpt, shape))
    return rows


def flatten_params(params: dict) -> dict:
    """Nested params -> {"blocks.0.attn.c_attn.w": array, ...}."""
    flat = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{prefix}{key}.")
        elif isinstance(node, (list, tuple)):
            for i, child in enumerate(node):
                walk(child, f"{prefix}{i}.")
        else:
            flat[prefix[:-1]] = node

    walk(params, "")
    return flat


def unflatten_params(flat: dict, config: GPTConfig | None = None) -> dict:
    """The inverse of ``flatten_params``. (``config`` is not needed: the names tell the layers.)"""
    n_layer = 1 + max((int(name.split(".")[1]) for name in flat if name.startswith("blocks.")),
                      default=-1)
    params = {"blocks": [{} for _ in range(n_layer)]} if n_layer else {}
    for name, array in flat.items():
        keys = name.split(".")
        node = params["blocks"][int(keys[1])] if keys[0] == "blocks" else params
        for key in keys[2 if keys[0] == "blocks" else 0 : -1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = array
    return params


def check_params(params: dict, config: GPTConfig) -> None:
    """Refuse parameters that are missing, unexpected or of the wrong shape, naming each one."""
    found = {name: np.shape(array) for name, array in flatten_params(params).items()}
    expected = {name: shape for name, _, _, shape in param_table(config)}
    check_names_and_shapes(found, expected, "params")


# --- between NumPy params and PyTorch modules ----------------------------------------------------


def _float_dtype(dtype):
    """float64 stays float64 (a float64 training run keeps its exact weights); every other
    float (float16, bfloat16, float32) becomes float32, which NumPy computes in."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def torch_state(params: dict) -> dict:
    """GPT-2-layout NumPy params, of a whole GPT or of one module -> that module's state dict.

    The one place that turns GPT-2's [in, out] linear weights into nn.Linear's [out, in].
    """
    state = {}
    for name, array in flatten_params(params).items():
        array = np.asarray(array, dtype=_float_dtype(np.asarray(array).dtype))
        array = array.T if name.endswith(".w") else array  # linear weight: [in, out] -> [out, in]
        state[torch_name(name)] = torch.from_numpy(np.ascontiguousarray(array))
    return state


def load_params(module: torch.nn.Module, params: dict) -> torch.nn.Module:
    """``module`` holding GPT-2-layout ``params``, in their precision (float32 or float64)."""
    state = torch_state(params)
    module.to(next(iter(state.values())).dtype)
    module.load_state_dict(state)
    return module


def torch_state_to_params(state: dict, config: GPTConfig) -> dict:
    """State dict of gptlib.GPT -> NumPy params (float64 stays float64, others become float32)."""
    flat = {}
    for ours, _, theirs, _ in param_table(config):
        tensor = state[theirs].detach().to("cpu")
        array = tensor.to(torch.float64 if tensor.dtype == torch.float64 else torch.float32).numpy()
        flat[ours] = np.ascontiguousarray(array.T if ours.endswith(".w") else array)
    return unflatten_params(flat)


# --- files ---------------------------------------------------------------------------------

# Buffers some GPT-2 files carry that are not parameters (the causal mask).
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def load_checkpoint(folder) -> tuple[GPTConfig, dict]:
    """Read a checkpoint folder (config.json + model.safetensors) into (config, params)."""
    folder = Path(folder)
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: a checkpoint folder holds "
                                    "config.json and model.safetensors")
    try:
        config = GPTConfig.from_hf_dict(json.loads(config_path.read_text()))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path} is not valid JSON: {err}") from err
    tensors = _read_safetensors(weights_path)
    return config, _params_from_hf_tensors(tensors, config, weights_path)


def _read_safetensors(path: Path) -> dict:
    try:
        with safe_open(path, framework="np") as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): "
                         f"{err}") from err


def _params_from_hf_tensors(tensors: dict, config: GPTConfig, path: Path) -> dict:
    # Files from the hub name tensors "h.0..." and from save_pretrained "transformer.h.0...".
    tensors = {
        (name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}"): t
        for name, t in tensors.items()
        if not name.endswith(_IGNORED_SUFFIXES)
    }
    head = tensors.pop("lm_head.weight", None)
    table = param_table(config)
    expected = {on_disk: shape for _, on_disk, _, shape in table}
    check_names_and_shapes({k: v.shape for k, v in tensors.items()}, expected, str(path))
    if head is not None and not np.array_equal(head, tensors["transformer.wte.weight"]):
        raise ValueError(f"{path}: lm_head.weight differs from wte; "
                         "GPT-2's output head is tied to wte")
    flat = {ours: tensors[hf].astype(_float_dtype(tensors[hf].dtype)) for ours, hf, _, _ in table}
    return unflatten_params(flat)


def save_checkpoint(folder, config: GPTConfig, params: dict) -> Path:
    """Write (config, params) as a Hugging Face GPT-2 checkpoint folder, atomically per file."""
    check_params(params, config)
    folder = Path(folder)
    flat = flatten_params(params)
    tensors = {
        on_disk: np.ascontiguousarray(flat[ours], dtype=_float_dtype(flat[ours].dtype))
        for ours, on_disk, _, _ in param_table(config)
    }
    atomic_write(folder / "model.safetensors",
                 lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    config_json = json.dumps(config.to_hf_dict(), indent=2) + "\n"
    atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(config_json))
    return folder


# --- the hub and the bundled model ----------------------------------------------------------

HUB_MODELS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}


def download_from_hub(name: str) -> Path:
    """Download a GPT-2 checkpoint from the Hugging Face hub into gptlib's cache; return its folder.

    The weights are then checked against the sha256 the hub publishes for them
    (``verify_hub_file``): huggingface_hub itself only checks a download's size.
    """
    repo_id = HUB_MODELS.get(name, name)
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id, allow_patterns=["config.json", "model.safetensors"],
            cache_dir=cache_dir() / "hub",
        )
    except HFValidationError as err:
        raise ValueError(f"{name!r} is neither a checkpoint folder nor a hub model name") from err
    except Exception as err:  # offline, unknown repo, ...: say what to do instead
        raise MissingDataError(
            f"could not download {repo_id!r} from the Hugging Face hub "
            f"({type(err).__name__}: {err}).\n"
            f"Known names: {sorted(HUB_MODELS)}. Offline, pass a local folder with config.json "
            f"and model.safetensors instead, or set GPTLIB_CACHE to a cache that already holds it."
        ) from err
    verify_hub_file(repo_id, Path(folder) / "model.safetensors")
    return Path(folder)


def hub_sha256(repo_id: str, path: Path) -> str:
    """The sha256 the hub publishes for the large (LFS) file ``path`` of a downloaded snapshot.

    huggingface_hub's cache names each large file's blob by the hub's sha256 of it (its ETag),
    and the snapshot folder holds a link to that blob; where the system has no links, ask the
    hub for the file's LFS metadata at the snapshot's commit (the snapshot folder's name).
    """
    blob = path.resolve().name
    if re.fullmatch(r"[0-9a-f]{64}", blob):
        return blob
    (info,) = huggingface_hub.HfApi().get_paths_info(repo_id, [path.name], revision=path.parent.name)
    return info.lfs.sha256


@lru_cache(maxsize=8)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    """A file's sha256, computed once per version of the file (size and mtime in the key)."""
    return pooch.file_hash(str(path), alg="sha256")


def verify_hub_file(repo_id: str, path: Path) -> None:
    """ChecksumError unless the downloaded ``path`` has the sha256 the hub publishes for it."""
    expected = hub_sha256(repo_id, path)
    stat = path.stat()
    actual = _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)
    if actual != expected:
        raise ChecksumError(
            f"{path} (from {repo_id!r}) has sha256 {actual}, but the hub publishes {expected}: "
            f"the download is damaged. Delete {path.resolve()} and download it again.")


# Models that ship inside gptlib: the project's own small GPT, trained on Tiny Shakespeare with
# chapter 1's tokenizer (`python -m gptlib.train --preset shakespeare-bpe` rebuilds it).
BUNDLED_MODELS = {"shakespeare": SHAKESPEARE_GPT}


def load_gpt2(source, dtype=None) -> tuple[GPTConfig, dict]:
    """(config, params) from a checkpoint folder, a bundled model ("shakespeare"), or the hub by
    name ("gpt2", "gpt2-medium", ...). ``dtype``: the precision of the arrays (default: as
    stored, float32 or float64), e.g. ``np.float64``."""
    if isinstance(source, str) and source in BUNDLED_MODELS:
        config, params = load_checkpoint(BUNDLED_MODELS[source])
    elif Path(source).is_dir():
        config, params = load_checkpoint(source)
    elif Path(source).exists():
        raise ValueError(f"{source} is a file; pass the checkpoint folder that holds "
                         "config.json and model.safetensors")
    else:
        config, params = load_checkpoint(download_from_hub(str(source)))
    return config, (params if dtype is None else cast_params(params, dtype))


def cast_params(params: dict, dtype) -> dict:
    """The same parameters as arrays of ``dtype`` (a float type), in the same nested layout."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating-point type such as np.float64, got {dtype!r}")
    return unflatten_params({name: np.asarray(array, dtype=dtype)
                             for name, array in flatten_params(params).items()})


def load_shakespeare_model():
    """(config, params, tokenizer) of the small GPT this project trained on Tiny Shakespeare.

    Trained by ``python -m gptlib.train --preset shakespeare-bpe`` with chapter 1's tokenizer;
    its validation loss and training time are in ``gptlib/assets/shakespeare_gpt/metrics.json``.
    """
    config, params = load_checkpoint(SHAKESPEARE_GPT)
    return config, params, load_tokenizer(SHAKESPEARE_GPT)
