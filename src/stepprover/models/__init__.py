"""Model backends behind one async ``Generator`` interface."""

from stepprover.errors import ModelUnavailable
from stepprover.models.base import Generation, Generator, SamplingParams, Tokenizer
from stepprover.models.loader import check_model_available, load_generator
from stepprover.models.scripted import ScriptedGenerator

__all__ = [
    "Generation",
    "Generator",
    "ModelUnavailable",
    "SamplingParams",
    "ScriptedGenerator",
    "Tokenizer",
    "check_model_available",
    "load_generator",
]
