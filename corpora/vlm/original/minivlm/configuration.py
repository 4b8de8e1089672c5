"""Configuration objects for MiniVLM.

The defaults describe the ``mini-2b`` checkpoint: a 27-layer vision tower with 14 pixel
patches that feeds a 2304-wide language model through 72 learned queries. The odd numbers
(476 pixels, 72 queries, 7 slices) come from the token budget we could afford per image.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class VisionConfig:
    """Shape of the vision transformer."""

    image_size: int = 476
    patch_size: int = 14
    hidden_size: int = 1152
    num_layers: int = 27
    num_heads: int = 16
    mlp_ratio: float = 3.7
    layer_norm_eps: float = 1e-6
    dropout: float = 0.0

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_positions(self) -> int:
        return self.grid_size * self.grid_size


@dataclass
class MiniVLMConfig:
    """Everything needed to rebuild the model and its processor."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    lm_hidden_size: int = 2304
    vocab_size: int = 122_753
    query_num: int = 72
    resampler_heads: int = 18
    max_pos_grid: tuple[int, int] = (70, 70)
    slice_mode: bool = True
    max_slice_nums: int = 7
    scale_resolution: int = 476
    use_image_id: bool = False
    im_start_token: str = "<image>"
    im_end_token: str = "</image>"
    slice_start_token: str = "<slice>"
    slice_end_token: str = "</slice>"
    unk_token: str = "<unk>"
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 107
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if isinstance(self.vision, dict):
            self.vision = VisionConfig(**self.vision)
        self.max_pos_grid = tuple(self.max_pos_grid)
        if self.lm_hidden_size % self.resampler_heads != 0:
            raise ValueError(
                f"lm_hidden_size ({self.lm_hidden_size}) must be divisible by "
                f"resampler_heads ({self.resampler_heads})"
            )
        if self.query_num <= 0:
            raise ValueError("query_num must be positive")
        if self.max_slice_nums < 1:
            raise ValueError("max_slice_nums must be at least 1")

    @property
    def patch_size(self) -> int:
        return self.vision.patch_size

    def special_tokens(self) -> list[str]:
        """The tokens the tokenizer must know before training starts."""
        return [
            self.im_start_token,
            self.im_end_token,
            self.slice_start_token,
            self.slice_end_token,
            self.unk_token,
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["max_pos_grid"] = list(self.max_pos_grid)
        data["model_type"] = "minivlm"
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MiniVLMConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"model_type"})
        if unknown:
            logger.warning("ignoring unknown config keys: %s", ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> "MiniVLMConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))
