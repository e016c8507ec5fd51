"""zipfit: select training data aligned with a target task by compression (ZIP-FIT)."""

from .base.errors import ExitCode, InputError, UsageError, ZipfitError
from .base.version import __version__
from .engines.engine import RunSettings
from .files.records import RecordError, TextSpec
from .files.sources import READERS, JsonlSource, RecordSource, open_source
from .runs.api import score_texts, select_top_k
from .runs.files import score_files, select_files
from .runs.merge import run_merge
from .runs.pipeline import run_score, run_select
from .scoring.adaptive import AdaptiveScorer
from .scoring.align import AlignmentResult, dataset_alignment
from .scoring.background import sample_background
from .scoring.compressors import COMPRESSORS, Compressor, get_compressor
from .scoring.contrast import ContrastScorer, ContrastSettings
from .scoring.corpus import CorpusScorer
from .scoring.pairwise import NcdTerm, NcdTerms, TargetSet, ncd
from .scoring.scorers import SCORERS, Scorer, ScoringInputs, build_scorer
from .selection.budget import make_counter
from .selection.decontam import Decontaminator
from .selection.dedupe import Deduper
from .selection.rules import Filters

__all__ = [
    "COMPRESSORS",
    "READERS",
    "SCORERS",
    "AdaptiveScorer",
    "AlignmentResult",
    "Compressor",
    "ContrastScorer",
    "ContrastSettings",
    "CorpusScorer",
    "Decontaminator",
    "Deduper",
    "ExitCode",
    "Filters",
    "InputError",
    "JsonlSource",
    "NcdTerm",
    "NcdTerms",
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
    "score_files",
    "score_texts",
    "select_files",
    "select_top_k",
]
