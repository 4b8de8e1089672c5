"""Llama3V: an efficient vision-language model."""

from .model import Llama3V
from .preprocess import Llama3VPreprocessor
from .settings import Llama3VSettings, TowerSettings
from .layers.projection import Projection

__version__ = "1.0.0"
__all__ = ["Llama3V", "Llama3VPreprocessor", "Llama3VSettings", "Projection", "TowerSettings"]
