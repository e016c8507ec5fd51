"""zipfit: select training data aligned with a target task by compression (ZIP-FIT)."""

from .api import score_texts, select_top_k
from .compressors import COMPRESSORS, Compressor, get_compressor
from .errors import ExitCode, InputError, UsageError, ZipfitError
from .pipeline import RunSettings, run_score, run_select
from .records import TextSpec
from .scoring import TargetSet, ncd

__version__ = "0.1.0"

__all__ = [
    "COMPRESSORS",
    "Compressor",
    "ExitCode",
    "InputError",
    "RunSettings",
    "TargetSet",
    "TextSpec",
    "UsageError",
    "ZipfitError",
    "__version__",
    "get_compressor",
    "ncd",
    "run_score",
    "run_select",
    "score_texts",
    "select_top_k",
]
