"""One configuration for both models (NumPy and PyTorch), named as in GPT-2."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class GPTConfig:
    """The shape of a GPT. The defaults are GPT-2 small (124M parameters)."""

    vocab_size: int = 50257  # number of token ids
    n_ctx: int = 1024  # longest sequence the position table covers
    n_embd: int = 768  # width of the residual stream
    n_head: int = 12  # attention heads per layer
    n_layer: int = 12  # transformer blocks
    layer_norm_eps: float = 1e-5
    dropout: float = 0.0  # used only by the PyTorch model while training

    def __post_init__(self):
        for name in ("vocab_size", "n_ctx", "n_embd", "n_head", "n_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"GPTConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    # Hugging Face's config.json names some fields differently.
    _HF_NAMES = {"n_ctx": "n_positions", "layer_norm_eps": "layer_norm_epsilon"}

    def to_hf_dict(self) -> dict:
        """config.json as transformers' GPT2Config writes it (the fields GPT-2 needs)."""
        hf = {self._HF_NAMES.get(k, k): v for k, v in self.to_dict().items() if k != "dropout"}
        hf.update(
            model_type="gpt2",
            architectures=["GPT2LMHeadModel"],
            activation_function="gelu_new",  # GPT-2's tanh approximation of GELU
            n_inner=None,
            resid_pdrop=self.dropout,
            embd_pdrop=self.dropout,
            attn_pdrop=self.dropout,
            tie_word_embeddings=True,
            bos_token_id=self.vocab_size - 1,
            eos_token_id=self.vocab_size - 1,
        )
        return hf

    @classmethod
    def from_hf_dict(cls, hf: dict) -> "GPTConfig":
        """Read a Hugging Face GPT-2 config.json, refusing variants this GPT does not implement."""
        if hf.get("model_type", "gpt2") != "gpt2":
            raise ValueError(f"config.json describes a {hf.get('model_type')!r} model, not 'gpt2'")
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(f"config.json uses activation {act!r}; "
                             "gptlib implements GPT-2's tanh GELU")
        n_inner = hf.get("n_inner")
        if n_inner not in (None, 4 * hf.get("n_embd", 0)):
            raise ValueError(f"config.json sets n_inner={n_inner}; gptlib uses GPT-2's 4 * n_embd")
        if hf.get("tie_word_embeddings", True) is False:
            raise ValueError("config.json unties the output head; GPT-2 ties it to wte")
        if hf.get("scale_attn_weights", True) is False or hf.get("scale_attn_by_inverse_layer_idx"):
            raise ValueError("config.json changes how attention scores are scaled; "
                             "gptlib uses 1/sqrt(d_k)")
        names = {f.name for f in fields(cls)}
        kwargs = {}
        for ours in names - {"dropout"}:
            theirs = cls._HF_NAMES.get(ours, ours)
            if theirs in hf:
                kwargs[ours] = hf[theirs]
        missing = {"vocab_size", "n_embd", "n_head", "n_layer"} - kwargs.keys()
        if missing:
            raise ValueError(f"config.json lacks {sorted(missing)}")
        return cls(**kwargs)
