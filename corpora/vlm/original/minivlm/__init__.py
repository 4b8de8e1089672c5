"""MiniVLM: a small vision-language model built from a ViT tower, a perceiver resampler
and any causal language model that accepts ``inputs_embeds``."""

from .configuration import MiniVLMConfig, VisionConfig
from .modeling import MiniVLM
from .processor import MiniVLMProcessor
from .resampler import Resampler

__all__ = ["MiniVLM", "MiniVLMConfig", "MiniVLMProcessor", "Resampler", "VisionConfig"]
__version__ = "0.3.1"
