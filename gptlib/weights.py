"""Loading and saving parameters in GPT-2's own layout.

In memory the parameters are nested dicts of NumPy arrays, as GPT-2 names them::

    params["wte"]                        [vocab_size, n_embd]  token embeddings (also the output head)
    params["wpe"]                        [n_ctx, n_embd]       position embeddings
    params["blocks"][i]["ln_1"]["g"|"b"]            [n_embd]
    params["blocks"][i]["attn"]["c_attn"]["w"|"b"]  [n_embd, 3*n_embd], [3*n_embd]
    params["blocks"][i]["attn"]["c_proj"]["w"|"b"]  [n_embd, n_embd], [n_embd]
    params["blocks"][i]["ln_2"]["g"|"b"]            [n_embd]
    params["blocks"][i]["mlp"]["c_fc"]["w"|"b"]     [n_embd, 4*n_embd], [4*n_embd]
    params["blocks"][i]["mlp"]["c_proj"]["w"|"b"]   [4*n_embd, n_embd], [n_embd]
    params["ln_f"]["g"|"b"]                         [n_embd]

On disk a checkpoint is a folder with ``config.json`` and ``model.safetensors``, exactly as
Hugging Face's ``save_pretrained`` writes GPT-2, so either library reads the other's files.
Nothing here uses pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .config import GPTConfig
from .files import atomic_write

# --- one table of names --------------------------------------------------------------------


def param_table(config: GPTConfig):
    """Every parameter as (name in params, name on disk, name in gptlib.GPT, shape in params).

    Flat names in params join the nested keys with dots: "blocks.0.attn.c_attn.w".
    Linear weights are [in, out] on disk and in params (GPT-2's Conv1D) but [out, in] in nn.Linear.
    """
    C, V = config.n_embd, config.vocab_size
    rows = [
        ("wte", "transformer.wte.weight", "embed.wte.weight", (V, C)),
        ("wpe", "transformer.wpe.weight", "embed.wpe.weight", (config.n_ctx, C)),
    ]
    per_block = [
        ("ln_1.g", "ln_1.weight", (C,)),
        ("ln_1.b", "ln_1.bias", (C,)),
        ("attn.c_attn.w", "attn.c_attn.weight", (C, 3 * C)),
        ("attn.c_attn.b", "attn.c_attn.bias", (3 * C,)),
        ("attn.c_proj.w", "attn.c_proj.weight", (C, C)),
        ("attn.c_proj.b", "attn.c_proj.bias", (C,)),
        ("ln_2.g", "ln_2.weight", (C,)),
        ("ln_2.b", "ln_2.bias", (C,)),
        ("mlp.c_fc.w", "mlp.c_fc.weight", (C, 4 * C)),
        ("mlp.c_fc.b", "mlp.c_fc.bias", (4 * C,)),
        ("mlp.c_proj.w", "mlp.c_proj.weight", (4 * C, C)),
        ("mlp.c_proj.b", "mlp.c_proj.bias", (C,)),
    ]
    for i in range(config.n_layer):
        for ours, hf, shape in per_block:
            rows.append((f"blocks.{i}.{ours}", f"transformer.h.{i}.{hf}", f"blocks.{i}.{hf}", shape))
    rows += [
        ("ln_f.g", "transformer.ln_f.weight", "ln_f.weight", (C,)),
        ("ln_f.b", "transformer.ln_f.bias", "ln_f.bias", (C,)),
    ]
    return rows


def _is_linear_weight(name: str) -> bool:
    return name.endswith(".w")


def _float_dtype(dtype):
    """float64 stays float64 (a float64 training run keeps its exact weights); every other
    float (float16, bfloat16, float32) becomes float32, which NumPy computes in."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


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


def unflatten_params(flat: dict, config: GPTConfig) -> dict:
    """The inverse of ``flatten_params``."""
    params = {"blocks": [{} for _ in range(config.n_layer)]}
    for name, array in flat.items():
        keys = name.split(".")
        node = params["blocks"][int(keys[1])] if keys[0] == "blocks" else params
        keys = keys[2:] if keys[0] == "blocks" else keys
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = array
    return params


def check_params(params: dict, config: GPTConfig) -> None:
    """Refuse parameters that are missing, unexpected or of the wrong shape, naming each one."""
    flat = flatten_params(params)
    expected = {name: shape for name, _, _, shape in param_table(config)}
    _check_names_and_shapes({k: tuple(np.shape(v)) for k, v in flat.items()}, expected, "params")


def _check_names_and_shapes(found: dict, expected: dict, where: str) -> None:
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    wrong = [
        f"{name}: expected {expected[name]}, found {found[name]}"
        for name in expected.keys() & found.keys()
        if tuple(found[name]) != tuple(expected[name])
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    if wrong:
        problems.append("wrong shapes: " + "; ".join(sorted(wrong)))
    if problems:
        raise ValueError(f"{where} does not match the model's config:\n  " + "\n  ".join(problems))


# --- between NumPy params and PyTorch's state dict --------------------------------------------


def params_to_torch_state(params: dict, config: GPTConfig) -> dict:
    """NumPy params -> state dict for gptlib.GPT (linear weights transposed to [out, in])."""
    check_params(params, config)
    flat = flatten_params(params)
    state = {}
    for ours, _, theirs, _ in param_table(config):
        array = np.asarray(flat[ours], dtype=_float_dtype(flat[ours].dtype))
        state[theirs] = torch.from_numpy(np.ascontiguousarray(array.T if _is_linear_weight(ours) else array))
    return state


def torch_state_to_params(state: dict, config: GPTConfig) -> dict:
    """State dict of gptlib.GPT -> NumPy params."""
    flat = {}
    for ours, _, theirs, _ in param_table(config):
        tensor = state[theirs].detach().to("cpu")
        dtype = torch.float64 if tensor.dtype == torch.float64 else torch.float32
        array = tensor.to(dtype).numpy()
        flat[ours] = np.ascontiguousarray(array.T if _is_linear_weight(ours) else array)
    return unflatten_params(flat, config)


# --- files ---------------------------------------------------------------------------------

# Buffers some GPT-2 files carry that are not parameters (the causal mask), and the tied head.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def load_checkpoint(folder) -> tuple[GPTConfig, dict]:
    """Read a checkpoint folder (config.json + model.safetensors) into (config, params)."""
    folder = Path(folder)
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: a checkpoint folder holds config.json and model.safetensors")
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
        raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): {err}") from err


def _params_from_hf_tensors(tensors: dict, config: GPTConfig, path: Path) -> dict:
    # Files from the hub name tensors "h.0..." and from save_pretrained "transformer.h.0...".
    tensors = {
        (name if name.startswith(("transformer.", "lm_head.")) else f"transformer.{name}"): t
        for name, t in tensors.items()
        if not name.endswith(_IGNORED_SUFFIXES)
    }
    head = tensors.pop("lm_head.weight", None)
    table = param_table(config)
    expected = {hf: shape for _, hf, _, shape in table}
    _check_names_and_shapes({k: tuple(v.shape) for k, v in tensors.items()}, expected, str(path))
    if head is not None and not np.array_equal(head, tensors["transformer.wte.weight"]):
        raise ValueError(f"{path}: lm_head.weight differs from wte; GPT-2's output head is tied to wte")
    flat = {ours: tensors[hf].astype(_float_dtype(tensors[hf].dtype)) for ours, hf, _, _ in table}
    return unflatten_params(flat, config)


def save_checkpoint(folder, config: GPTConfig, params: dict) -> Path:
    """Write (config, params) as a Hugging Face GPT-2 checkpoint folder, atomically per file."""
    check_params(params, config)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = flatten_params(params)
    tensors = {
        hf: np.ascontiguousarray(flat[ours], dtype=_float_dtype(flat[ours].dtype))
        for ours, hf, _, _ in param_table(config)
    }
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    config_json = json.dumps(config.to_hf_dict(), indent=2) + "\n"
    atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(config_json))
    return folder


# --- the hub -------------------------------------------------------------------------------

HUB_MODELS = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}


def download_from_hub(name: str) -> Path:
    """Download a GPT-2 checkpoint from the Hugging Face hub into gptlib's cache; return its folder.

    huggingface_hub checks each downloaded file against the sha256 the hub publishes for it.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    from .data import MissingDataError, cache_dir

    repo_id = HUB_MODELS.get(name, name)
    try:
        folder = snapshot_download(
            repo_id, allow_patterns=["config.json", "model.safetensors"], cache_dir=cache_dir() / "hub"
        )
    except HFValidationError as err:
        raise ValueError(f"{name!r} is neither a checkpoint folder nor a hub model name") from err
    except Exception as err:  # offline, unknown repo, ...: say what to do instead
        raise MissingDataError(
            f"could not download {repo_id!r} from the Hugging Face hub ({type(err).__name__}: {err}).\n"
            f"Known names: {sorted(HUB_MODELS)}. Offline, pass a local folder with config.json and "
            f"model.safetensors instead, or set GPTLIB_CACHE to a cache that already holds it."
        ) from err
    return Path(folder)


# Models that ship inside gptlib: the project's own small GPT, trained on Tiny Shakespeare with
# chapter 1's tokenizer (`python -m gptlib.train --preset shakespeare-bpe` rebuilds it).
BUNDLED_MODELS = {"shakespeare": Path(__file__).parent / "assets" / "shakespeare_gpt"}


def load_gpt2(source) -> tuple[GPTConfig, dict]:
    """(config, params) from a checkpoint folder, a bundled model ("shakespeare"), or the hub by
    name ("gpt2", "gpt2-medium", ...)."""
    if isinstance(source, str) and source in BUNDLED_MODELS:
        return load_checkpoint(BUNDLED_MODELS[source])
    path = Path(source)
    if path.is_dir():
        return load_checkpoint(path)
    if path.exists():
        raise ValueError(f"{path} is a file; pass the checkpoint folder that holds config.json and model.safetensors")
    return load_checkpoint(download_from_hub(str(source)))
