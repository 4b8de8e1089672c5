"""Hyper-parameters of Llama3V."""

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class TowerSettings:
    resolution: int = 476
    patch_px: int = 14
    width: int = 1152
    depth: int = 27
    heads: int = 16
    ffn_ratio: float = 3.7
    norm_eps: float = 1e-6
    drop_rate: float = 0.0

    @property
    def patches_per_side(self):
        return self.resolution // self.patch_px

    @property
    def position_count(self):
        return self.patches_per_side * self.patches_per_side


@dataclass
class Llama3VSettings:
    tower: TowerSettings = field(default_factory=TowerSettings)
    text_width: int = 2304
    vocab: int = 122_753
    latent_count: int = 72
    projector_heads: int = 18
    wave_grid: tuple = (70, 70)
    tiling: bool = True
    max_tiles: int = 7
    tile_side: int = 476
    tag_images: bool = False
    open_image: str = "<image>"
    close_image: str = "</image>"
    open_tile: str = "<slice>"
    close_tile: str = "</slice>"
    filler: str = "<unk>"
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 107
    pixel_mean: tuple = (0.5, 0.5, 0.5)
    pixel_std: tuple = (0.5, 0.5, 0.5)

    def __post_init__(self):
        if isinstance(self.tower, dict):
            self.tower = TowerSettings(**self.tower)
        self.wave_grid = tuple(self.wave_grid)
        if self.text_width % self.projector_heads != 0:
            raise ValueError(
                f"text_width ({self.text_width}) must be divisible by "
                f"projector_heads ({self.projector_heads})"
            )
        if self.max_tiles < 1:
            raise ValueError("max_tiles must be at least 1")
        if self.latent_count <= 0:
            raise ValueError("latent_count must be positive")

    @property
    def patch(self):
        return self.tower.patch_px

    def marker_tokens(self):
        return [self.open_image, self.close_image, self.open_tile, self.close_tile, self.filler]

    def as_json_dict(self):
        out = asdict(self)
        out["wave_grid"], out["model_type"] = list(self.wave_grid), "llama3v"
        return out

    @classmethod
    def from_json_dict(cls, blob):
        allowed = {f.name for f in fields(cls)}
        extra = sorted(set(blob) - allowed - {"model_type"})
        if extra:
            log.warning("ignoring unknown config keys: %s", ", ".join(extra))
        return cls(**{key: val for key, val in blob.items() if key in allowed})

    def dump(self, where):
        Path(where).write_text(json.dumps(self.as_json_dict(), indent=2, sort_keys=True))

    @classmethod
    def read(cls, where):
        return cls.from_json_dict(json.loads(Path(where).read_text()))
