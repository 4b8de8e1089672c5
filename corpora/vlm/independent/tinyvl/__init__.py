"""tinyvl - a compact vision-language model with a Q-Former style bridge."""

from tinyvl.config import TinyVLConfig
from tinyvl.model import TinyVL

__all__ = ["TinyVL", "TinyVLConfig"]
