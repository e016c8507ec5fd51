"""zipfit: select training data aligned with a target task by compression (ZIP-FIT)."""

__version__ = "0.2.0"

from .adaptive import AdaptiveScorer
from .align import AlignmentResult, dataset_alignment
from .api import score_texts, select_top_k
from .background import sample_background
from .budget import make_counter
from .compressors import COMPRESSORS, Compressor, get_compressor
from .contrast import ContrastScorer
from .corpus import CorpusScorer
from .decontam import Decontaminator
from .dedupe import Deduper
from .engine import RunSettings
from .errors import ExitCode, InputError, UsageError, ZipfitError
from .merge import run_merge
from .pipeline import run_score, run_select
from .records import RecordError, TextSpec
from .rules import Filters
from .scorers import SCORERS, Scorer, ScoringInputs, build_scorer
from .scoring import TargetSet, ncd
from .sources import READERS, JsonlSource, RecordSource, open_source

__all__ = [
    "COMPRESSORS",
    "READERS",
    "SCORERS",
    "AdaptiveScorer",
    "AlignmentResult",
    "Compressor",
    "ContrastScorer",
    "CorpusScorer",
    "Decontaminator",
    "Deduper",
    "ExitCode",
    "Filters",
    "InputError",
    "JsonlSource",
    "RecordError",
    "RecordSource",
    "RunSettings",
    "Scorer",
    "ScoringInputs",
    "TargetSet",
    "TextSpec",
    "UsageError",
    "ZipfitError",
    "__version__",
    "build_scorer",
    "dataset_alignment",
    "get_compressor",
    "make_counter",
    "ncd",
    "open_source",
    "run_merge",
    "run_score",
    "run_select",
    "sample_background",
    "score_texts",
    "select_top_k",
]
