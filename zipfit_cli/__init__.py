"""zipfit: select training data aligned with a target task by compression (ZIP-FIT)."""

__version__ = "0.1.0"

from .align import AlignmentResult, dataset_alignment
from .api import score_texts, select_top_k
from .budget import make_counter
from .compressors import COMPRESSORS, Compressor, get_compressor
from .corpus import CorpusScorer
from .decontam import Decontaminator
from .dedupe import Deduper
from .errors import ExitCode, InputError, UsageError, ZipfitError
from .merge import run_merge
from .pipeline import Filters, RunSettings, run_score, run_select
from .records import RecordError, TextSpec
from .scoring import TargetSet, ncd

__all__ = [
    "COMPRESSORS",
    "AlignmentResult",
    "Compressor",
    "CorpusScorer",
    "Decontaminator",
    "Deduper",
    "ExitCode",
    "Filters",
    "InputError",
    "RecordError",
    "RunSettings",
    "TargetSet",
    "TextSpec",
    "UsageError",
    "ZipfitError",
    "__version__",
    "dataset_alignment",
    "get_compressor",
    "make_counter",
    "ncd",
    "run_merge",
    "run_score",
    "run_select",
    "score_texts",
    "select_top_k",
]
