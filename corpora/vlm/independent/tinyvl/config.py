"""Model hyper-parameters.

A plain class rather than a dataclass: every field can be overridden from keyword
arguments or a JSON file, and nested sections are plain dicts.
"""

import json

_DEFAULTS = {
    # vision
    "img_size": 448,
    "patch": 16,
    "vit_dim": 1024,
    "vit_depth": 24,
    "vit_heads": 16,
    # bridge
    "bridge": "qformer",  # or "mlp"
    "num_latents": 64,
    "bridge_layers": 2,
    "bridge_heads": 16,
    # language model
    "text_dim": 4096,
    "image_token_id": 32000,
    "eos_id": 2,
    # tiling
    "tile": 448,
    "max_tiles": 6,
    "add_thumbnail": True,
}


class TinyVLConfig:
    def __init__(self, **overrides):
        unknown = set(overrides) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown option(s): {sorted(unknown)}")
        merged = dict(_DEFAULTS)
        merged.update(overrides)
        for key, value in merged.items():
            setattr(self, key, value)
        if self.img_size % self.patch:
            raise ValueError("img_size must be a multiple of patch")
        if self.bridge not in ("qformer", "mlp"):
            raise ValueError(f"bridge must be 'qformer' or 'mlp', not {self.bridge!r}")

    @property
    def tokens_per_tile(self):
        if self.bridge == "mlp":
            return (self.img_size // self.patch) ** 2
        return self.num_latents

    def to_json(self, path=None):
        text = json.dumps({k: getattr(self, k) for k in _DEFAULTS}, indent=1)
        if path:
            with open(path, "w") as f:
                f.write(text)
        return text

    @staticmethod
    def from_json(path):
        with open(path) as f:
            return TinyVLConfig(**json.load(f))

    def __repr__(self):
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in _DEFAULTS)
        return f"TinyVLConfig({inner})"
