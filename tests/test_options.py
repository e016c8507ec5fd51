"""Options (options.py, flags.py, optspec.py): the checks between options, and their declarations.

Each check refuses with its message and exit code 2, and accepts what it should. "Given" is
what the user typed (Click's parameter source), whatever the value: an option at its default
value is refused without the option it goes with, as any other value is.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import linecache
import math
import os
import re
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.conftest import FAST, SOURCE, TARGET, TARGETS, ok, records, run
from zipfit_cli.base.errors import ExitCode, UsageError
from zipfit_cli.cli.app import app
from zipfit_cli.cli.exits import SETTING_HINTS
from zipfit_cli.cli.flags import OPTIONS
from zipfit_cli.cli.options import AlignOptions, CommandFlags, ScoringOptions, SelectionOptions
from zipfit_cli.cli.optspec import Option, declared, default_of
from zipfit_cli.files.writing import check_output_format
from zipfit_cli.selection.coverage import check_coverage, check_share_of_k
from zipfit_cli.selection.ranking import check_limits
from zipfit_cli.selection.rules import check_budget_fill

GOES_WITH_CONTRAST = "goes with --contrast (--seed also with --adaptive)"


def refused(*args: Any, env: dict[str, str] | None = None) -> str:
    """The one error line of `zipfit ARGS...`, which must exit with 2 and write nothing."""
    result = run(*args, env=env)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("zipfit: error: ") and "\n" not in line, line
    return line.removeprefix("zipfit: error: ")


def select(*args: Any) -> tuple[Any, ...]:
    return ("select", SOURCE, *TARGETS, "--compressor", "lz4", "-j", "1", "-q", *args)


# --- the "given" rule: the default value typed out is still given --------------------------


@pytest.mark.parametrize("weight", ["0.5", "0.75"])  # 0.75 is the default
def test_contrast_weight_without_contrast_is_refused_at_any_value(weight: str) -> None:
    assert refused(*select("-k", 1, "--contrast-weight", weight)) == f"--contrast-weight {GOES_WITH_CONTRAST}"


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (("--background-size", "128"), "--background-size goes"),
        (("--seed", "0"), "--seed goes"),
        (("--background", str(SOURCE)), "--background goes"),
        (("--seed", "0", "--contrast-weight", "0.75"), "--seed, --contrast-weight go"),
    ],
)
def test_contrast_options_without_contrast_are_refused(args: tuple[str, ...], flags: str) -> None:
    assert refused(*select("-k", 1, *args)) == f"{flags} with --contrast (--seed also with --adaptive)"


def test_contrast_options_go_with_contrast_or_method_contrast() -> None:
    for way in (("--contrast",), ("--method", "contrast")):
        ok(*select("-k", 1, "--limit", 20, "--background-size", 5, "--contrast-weight", "0.75", *way))


def test_seed_goes_with_adaptive_too() -> None:
    ok(*select("-k", 2, "--limit", 20, "--adaptive", "--seed", 0))


def test_background_file_and_size_are_refused_together() -> None:
    args = ("--contrast", "--background", SOURCE, "--background-size", 128)
    assert (
        refused(*select("-k", 1, *args)) == "give either --background FILE or --background-size N, not both"
    )


DASK_ONLY = "--scheduler, --blocksize, --connect-timeout and --spill-dir need --engine dask"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--adaptive-z", "4"), "--adaptive-z goes with --adaptive"),
        (("--adaptive-audit", "256"), "--adaptive-audit goes with --adaptive"),
        (("--id-key", "id"), "--id-key goes with --output-format ids or attributes"),
        (("--shard-by", "record"), "--shard-by goes with --shard"),
        (("--connect-timeout", "10"), DASK_ONLY),
        (
            ("--scheduler", "tcp://127.0.0.1:1"),
            DASK_ONLY,
        ),
        (("--spill-dir", "/tmp"), DASK_ONLY),
        (("--token-counter", "approx"), "--token-counter goes with --budget-tokens"),
    ],
)
def test_an_option_at_its_default_value_still_needs_its_partner(args: tuple[str, ...], message: str) -> None:
    assert refused(*select("-k", 1, *args)) == message


def test_token_counter_goes_with_budget_tokens_in_merge_too(tmp_path: Path) -> None:
    part = tmp_path / "part.jsonl"
    part.write_text("")
    assert refused("merge", part, "--token-counter", "chars") == "--token-counter goes with --budget-tokens"


def test_partners_accept() -> None:
    ok(*select("-k", 2, "--limit", 20, "--adaptive", "--adaptive-z", "4", "--adaptive-audit", 0))
    ok(*select("-k", 2, "--limit", 20, "--output-format", "ids", "--id-key", "id"))
    ok(*select("-k", 2, "--limit", 20, "--budget-tokens", 1000, "--token-counter", "chars"))


# --- each check on its own, without the command line -------------------------------------


def scoring(**values: Any) -> ScoringOptions:
    """Options as the command line fills them: every value named here was given."""
    return ScoringOptions(
        **{"sources": ["s.jsonl"], "target": ["t.jsonl"], **values}, given=frozenset(values)
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"target": []}, "give the target examples with -t/--target PATH"),
        ({"sources": ["-"], "target": ["-"]}, "stdin (-) can be read only once"),
        ({"score_key": ""}, "--score-key needs a field name"),
        ({"score_key": "text"}, "--score-key 'text' would overwrite a field zipfit needs; choose another"),
        ({"shard_by": "file", "shard": "0/2", "limit": 5}, "--limit counts records across all files"),
        ({"engine": "dask", "shard": "0/2"}, "--shard is for runs without an engine"),
        ({"shard": "0/2", "output_format": "ids"}, "shards write whole records for `zipfit merge`"),
        ({"contrast": True, "method": "corpus"}, "--contrast is a pairwise score"),
        ({"output_format": "attributes", "skip_invalid": True}, "an attribute file needs a line for every"),
        ({"contrast": True, "background": ["-"]}, "the background is read from files, not stdin"),
        ({"adaptive_z": 4.0}, "--adaptive-z goes with --adaptive"),
        ({"contrast_weight": 0.75}, f"--contrast-weight {GOES_WITH_CONTRAST}"),
        ({"background_seed": 1, "adaptive": True, "contrast_weight": 1.0}, "--contrast-weight goes"),
    ],
)
def test_each_scoring_check_refuses(values: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        scoring(**values).check()
    assert str(raised.value).startswith(message)
    assert raised.value.exit_code == ExitCode.USAGE


def test_values_not_given_are_not_checked_against_partners() -> None:
    # The library's defaults (or a script's values) are not the user's: nothing was given.
    ScoringOptions(sources=["s"], target=["t"], adaptive_z=9.0, id_key="x", contrast_weight=0.5).check()
    scoring(contrast=True, contrast_weight=0.5, background_seed=3).check()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"budget_tokens": 5, "budget_chars": 5}, "give either --budget-tokens or --budget-chars, not both"),
        ({"token_counter": "approx"}, "--token-counter goes with --budget-tokens"),
        ({"top_k": 5, "fraction": 0.5}, "give either a top-K count or a fraction, not both"),
    ],
)
def test_each_selection_check_refuses(values: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        SelectionOptions(**values, given=frozenset(values)).check()
    assert str(raised.value).startswith(message)


# --- every check, called directly: it names what it is about, with exit code 2 --------------


# Each refusal of ScoringOptions.check and SelectionOptions.check (the checks they call
# included), and the options or words the user reads in it: every value given is `given`.
SCORING_REFUSALS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"target": []}, ("-t/--target",)),
    ({"sources": ["-"], "target": ["-"]}, ("stdin (-)",)),
    ({"score_key": ""}, ("--score-key",)),
    ({"score_key": "text"}, ("--score-key 'text'",)),
    ({"score_key": "_zipfit_index"}, ("--score-key '_zipfit_index'",)),
    ({"score_key": "_zipfit_part"}, ("--score-key '_zipfit_part'",)),
    ({"text_key": "meta.content", "score_key": "meta"}, ("--score-key 'meta'",)),
    ({"shard_by": "record"}, ("--shard-by", "--shard")),
    ({"shard_by": "file", "shard": "0/2", "limit": 5}, ("--limit", "--shard-by file")),
    ({"scheduler": "tcp://127.0.0.1:1"}, ("--scheduler", "--engine dask")),
    ({"blocksize": "16MiB"}, ("--blocksize", "--engine dask")),
    ({"connect_timeout": 10.0}, ("--connect-timeout", "--engine dask")),
    ({"output_name": "p-{n}.jsonl"}, ("--output-name", "-o DIR/")),
    ({"engine": "dask", "connect_timeout": 0.0}, ("--connect-timeout", "not 0.0")),
    ({"engine": "dask", "blocksize": 1023}, ("--blocksize 1023 is bytes", "at least 1KiB")),
    ({"engine": "dask", "connect_timeout": -1.0}, ("--connect-timeout", "not -1.0")),
    ({"engine": "dask", "connect_timeout": math.nan}, ("--connect-timeout", "not nan")),
    ({"engine": "dask", "connect_timeout": math.inf}, ("--connect-timeout", "not inf")),
    ({"engine": "dask", "shard": "0/2"}, ("--shard", "--engine dask")),
    ({"target": ["t.txt"], "target_key": "text"}, ("--target-key", "t.txt")),
    ({"target": ["t.txt.gz"], "target_template": "{prompt}"}, ("--target-template", "t.txt.gz")),
    ({"output_format": "csv"}, ("output format 'csv'",)),
    ({"output_format": "ids", "score_key": "doc", "id_key": "doc"}, ("--score-key", "--id-key")),
    ({"shard": "0/2", "output_format": "ids"}, ("--output-format",)),
    ({"contrast": True, "method": "corpus"}, ("--contrast", "--method corpus")),
    ({"adaptive_z": 4.0}, ("--adaptive-z", "--adaptive")),
    ({"adaptive_audit": 0}, ("--adaptive-audit", "--adaptive")),
    ({"id_key": "id"}, ("--id-key", "--output-format")),
    ({"output_format": "attributes", "skip_invalid": True}, ("--output-format attributes", "--skip-invalid")),
    (
        {"output_format": "attributes", "decontaminate": True},
        ("--output-format attributes", "decontamination"),
    ),
    ({"output_format": "attributes", "contaminated_output": "x.jsonl"}, ("--output-format attributes",)),
    ({"background": ["b.jsonl"]}, ("--background", "--contrast")),
    ({"background_size": 5}, ("--background-size", "--contrast")),
    ({"background_seed": 3}, ("--seed", "--contrast")),
    ({"contrast_weight": 0.5}, ("--contrast-weight", "--contrast")),
    ({"background_size": 5, "background_seed": 3}, ("--background-size, --seed go with --contrast",)),
    (
        {"contrast": True, "background": ["b.jsonl"], "background_size": 5},
        ("--background", "--background-size"),
    ),
    ({"contrast": True, "background": ["-"]}, ("background", "stdin")),
]
SELECTION_REFUSALS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"top_k": 5, "fraction": Decimal("0.5")}, ("top-K", "fraction", "-k/--top-k and --fraction")),
    ({"top_k": 0}, ("top-K", "not 0", "-k/--top-k")),
    ({"top_k": -3}, ("top-K", "not -3", "-k/--top-k")),
    ({"fraction": Decimal("0")}, ("fraction", "--fraction")),
    ({"fraction": Decimal("1.0001")}, ("fraction", "--fraction")),
    ({"fraction": Decimal("-0.5")}, ("fraction", "--fraction")),
    ({"fraction": Decimal("NaN")}, ("fraction", "--fraction")),
    ({"fraction": Decimal("Infinity")}, ("fraction", "--fraction")),
    ({"budget_tokens": 5, "budget_chars": 5}, ("--budget-tokens", "--budget-chars")),
    ({"token_counter": "chars"}, ("--token-counter", "--budget-tokens")),
    ({"coverage": Decimal("0.5")}, ("--coverage", "-k or --fraction")),
    ({"top_k": 5, "coverage": Decimal("1.01")}, ("--coverage", "from 0 to 1")),
    ({"budget_fill": "longest"}, ("--budget-fill", "rank, shortest", "longest")),
    ({"top_k": 5, "budget_fill": "shortest"}, ("--budget-fill shortest", "--budget-tokens or")),
]


def refusal(check: Callable[[], None]) -> UsageError:
    """The UsageError `check()` raises, which must end the process with exit code 2."""
    with pytest.raises(UsageError) as raised:
        check()
    assert raised.value.exit_code == ExitCode.USAGE
    return raised.value


def read(error: UsageError) -> str:
    """What the user reads: the message, and the hint the command line adds for each setting
    the library named (exits.SETTING_HINTS: 'see --fraction')."""
    return " ".join([str(error), *(SETTING_HINTS[setting] for setting in error.settings)])


@pytest.mark.parametrize(
    ("values", "named"), SCORING_REFUSALS, ids=[" ".join(v) for v, _ in SCORING_REFUSALS]
)
def test_each_scoring_refusal_names_its_options_and_exits_2(
    values: dict[str, Any], named: tuple[str, ...]
) -> None:
    said = read(refusal(scoring(**values).check))
    assert all(name in said for name in named), said


@pytest.mark.parametrize(
    ("values", "named"), SELECTION_REFUSALS, ids=[" ".join(v) for v, _ in SELECTION_REFUSALS]
)
def test_each_selection_refusal_names_its_options_and_exits_2(
    values: dict[str, Any], named: tuple[str, ...]
) -> None:
    said = read(refusal(SelectionOptions(**values, given=frozenset(values)).check))
    assert all(name in said for name in named), said


def _raise_sites(function: Callable[..., Any]) -> set[tuple[str, int]]:
    """(file, line) of each `raise UsageError(...)` or `raise ArgumentError(...)` in `function`."""
    lines, first = inspect.getsourcelines(function)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    raised = ("UsageError", "ArgumentError")
    return {
        (inspect.getsourcefile(function) or "", first + node.lineno - 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") in raised
    }


def test_the_refusals_above_reach_every_check() -> None:
    """Every refusal of those checks has its case above: a check added without one fails here."""
    checks = [ScoringOptions.check, ScoringOptions._check_contrast, SelectionOptions.check]
    checks += [check_limits, check_output_format, check_coverage, check_share_of_k, check_budget_fill]
    sites = set().union(*map(_raise_sites, checks))
    reached = set()
    cases = [scoring(**values).check for values, _ in SCORING_REFUSALS]
    cases += [SelectionOptions(**values, given=frozenset(values)).check for values, _ in SELECTION_REFUSALS]
    for check in cases:
        tb = refusal(check).__traceback__
        while tb is not None and tb.tb_next is not None:  # to the frame that raised
            tb = tb.tb_next
        assert tb is not None
        reached.add((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
    unreached = [linecache.getline(*site).strip() for site in sorted(sites - reached)]
    assert reached == sites, unreached


@pytest.mark.parametrize(
    "values",
    [
        {"method": "contrast", "background_size": 5, "contrast_weight": 0.0, "background_seed": -1},
        {"contrast": True, "background": ["b.jsonl"], "contrast_weight": 2.0},
        {"adaptive": True, "adaptive_z": 0.5, "adaptive_audit": 0, "background_seed": 1},
        {"engine": "dask", "scheduler": "tcp://127.0.0.1:1", "blocksize": 0, "connect_timeout": 86400.0},
        {"engine": "dask", "blocksize": 1024},
        {"shard": "0/2", "shard_by": "file"},
        {"output_format": "ids", "id_key": "doc", "score_key": "score"},
        {"output_format": "attributes", "id_key": "doc"},
        {"target": ["t.txt", "t.jsonl"], "target_key": "prompt", "target_template": "{prompt}"},
        {"text_key": "meta.content", "score_key": "meta.score"},
    ],
    ids=" ".join,
)
def test_each_scoring_check_accepts_options_with_their_partners(values: dict[str, Any]) -> None:
    scoring(**values).check()


@pytest.mark.parametrize(
    "values",
    [
        {"top_k": 1},
        {"fraction": Decimal("1")},
        {"fraction": Decimal("1e-999999999")},
        {"top_k": 5, "budget_chars": 0, "dedupe": True},
        {"budget_tokens": 0, "token_counter": "chars"},
    ],
    ids=" ".join,
)
def test_each_selection_check_accepts_what_it_should(values: dict[str, Any]) -> None:
    SelectionOptions(**values, given=frozenset(values)).check()


def parsed(command: str, *args: str) -> dict[str, Any]:
    """The values Click makes of `zipfit COMMAND SOURCE ARGS...` by the declared types, ranges
    and parsers (flags.OPTIONS), without running the command."""
    group: Any = typer.main.get_command(app)
    return dict(group.commands[command].make_context(command, ["s.jsonl", *args]).params)


RANGED = [option for option in OPTIONS if option.flags and (option.min, option.max) != (None, None)]


@pytest.mark.parametrize("option", RANGED, ids=lambda o: f"{o.commands[0]} {o.long_flag}")
def test_each_declared_range_refuses_the_values_past_it_naming_the_option(option: Option) -> None:
    command = option.commands[0]
    for bound, past in ((option.min, -1), (option.max, 1)):
        if bound is None:
            continue
        assert parsed(command, option.long_flag, str(bound))[option.name] == bound
        with pytest.raises(typer.BadParameter) as raised:
            parsed(command, option.long_flag, str(bound + past))
        assert raised.value.exit_code == ExitCode.USAGE
        assert raised.value.format_message().startswith(f"Invalid value for '{option.long_flag}'")


# What each value parser (optspec.finite, optspec.decimal) says of a value it refuses.
PARSER_REFUSALS = [
    ("--contrast-weight", "-0.5", "must be at least 0, not -0.5"),
    ("--contrast-weight", "inf", "'inf' is not a finite number"),
    ("--adaptive-z", "0.4", "must be at least 0.5, not 0.4"),
    ("--adaptive-z", "nan", "'nan' is not a finite number"),
    ("--decontaminate-ncd", "1e400", "'1e400' is not a finite number"),
    ("--decontaminate-ncd", "near", "'near' is not a number"),
    ("--connect-timeout", "86400.5", "must be at most 86400, not 86400.5"),
    ("--connect-timeout", "-1", "must be at least 0, not -1"),
    ("--fraction", "NaN", "'NaN' is not a finite number"),
    ("--fraction", "10%", "'10%' is not a number"),
]


@pytest.mark.parametrize(
    ("flag", "value", "says"), PARSER_REFUSALS, ids=[f"{f} {v}" for f, v, _ in PARSER_REFUSALS]
)
def test_each_value_parser_refuses_naming_the_option(flag: str, value: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as raised:
        parsed("select", flag, value)
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.format_message() == f"Invalid value for '{flag}': {says}"


def test_every_float_option_has_a_parser_refusing_what_is_not_finite() -> None:
    # Click's own float type takes inf and nan.
    floats = [o for o in OPTIONS if o.flags and o.type in (float, float | None, Decimal | None)]
    assert {o.long_flag for o in floats} == {
        "--contrast-weight",
        "--adaptive-z",
        "--decontaminate-ncd",
        "--connect-timeout",
        "--fraction",
        "--min-score",
    }
    for option in floats:
        assert option.parser is not None, option.long_flag
        with pytest.raises(typer.BadParameter):
            option.parser("inf")


# --- the declarations and the objects they fill ------------------------------------------


@pytest.mark.parametrize("kind", [ScoringOptions, SelectionOptions, AlignOptions, CommandFlags])
def test_every_field_is_declared_and_defaults_to_its_declaration(kind: type[Any]) -> None:
    for field in dataclasses.fields(kind):
        if field.name in ("given", "command_line", "notices"):  # set by zipfit, not options
            continue
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default  # type: ignore[misc]
        assert default == default_of(OPTIONS, field.name), field.name


def test_names_and_flags_are_unique_within_each_command() -> None:
    for command in ("select", "score", "merge", "align", "background"):
        options = declared(OPTIONS, command)
        names = [o.name for o in options]
        flags = [flag for o in options for flag in o.flags]
        assert len(names) == len(set(names)), command
        assert len(flags) == len(set(flags)), command
        assert sum(not o.flags for o in options) == 1, command  # one positional argument


def test_defaults_are_written_once() -> None:
    # ScoringInputs and the options objects read the defaults; no second literal 0.75.
    package = Path(__file__).resolve().parent.parent / "zipfit_cli"
    for name in ("scoring/scorers.py", "cli/options.py", "cli/app.py"):
        assert not re.search(r"\b0\.75\b", (package / name).read_text()), name


def test_target_key_and_template_are_refused_for_plain_text_targets(tmp_path: Path) -> None:
    # A .txt target holds one example a line: a key or a template would be silently ignored.
    plain = tmp_path / "t.txt"
    plain.write_text("def f(): pass\nx = 1\n")
    base = ["select", SOURCE, "-t", plain, "-k", "2", "--compressor", "lz4", "-j", "1"]
    assert "--target-key reads JSONL targets" in refused(*base, "--target-key", "text")
    assert "--target-template reads JSONL targets" in refused(*base, "--target-template", "{prompt}")
    assert ok(*base, "-q").stdout.count("\n") == 2
    mixed = [*base, *TARGETS]  # with a JSONL target too, the key and template serve that one
    assert ok(*mixed, "-q").stdout.count("\n") == 2


# --- refused through the command line --------------------------------------------------------


def test_score_key_naming_the_object_that_holds_the_text_is_refused(write_jsonl: Any) -> None:
    source = write_jsonl([{"meta": {"content": "def f(x): return x"}}])
    result = run("score", source, *FAST, "--text-key", "meta.content", "--score-key", "meta")
    assert result.exit_code == 2, result.output
    assert "--score-key 'meta'" in result.stderr


@pytest.mark.parametrize("key", ["text", "_zipfit_index", "_zipfit_part"])
def test_score_key_may_not_overwrite_what_zipfit_needs(slice_path: Path, key: str) -> None:
    result = run("score", slice_path, *TARGETS, "--score-key", key)
    assert result.exit_code == 2 and "--score-key" in result.stderr


def test_attributes_need_every_document(slice_path: Path) -> None:
    for extra in (["--skip-invalid"], ["--decontaminate"]):
        result = run("score", slice_path, *FAST, "--output-format", "attributes", *extra)
        assert result.exit_code == 2 and "a line for every document" in result.stderr


def test_id_key_goes_with_a_score_only_format(slice_path: Path) -> None:
    result = run("select", slice_path, *FAST, "-k", "2", "--id-key", "doc")
    assert result.exit_code == 2 and "--id-key goes with --output-format" in result.stderr


def test_ids_output_refuses_a_score_key_equal_to_the_id_key(slice_path: Path, tmp_path: Path) -> None:
    for args in (
        ["score", slice_path, *FAST, "--output-format", "ids", "--score-key", "id"],
        ["select", slice_path, *FAST, "-k", 2, "--output-format", "ids", "--score-key", "d", "--id-key", "d"],
    ):
        refused = run(*args)
        assert refused.exit_code == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "the score key and the id key are both" in refused.stderr and not refused.stdout
    # Parts scored under the key "id" hold whole records (fine), but no ids line can be made of them.
    parts = [tmp_path / f"part-{i}.jsonl" for i in range(2)]
    for i, part in enumerate(parts):
        ok("score", slice_path, *FAST, "--score-key", "id", "--shard", f"{i}/2", "-o", part, "-q")
    refused = run("merge", *parts, "--output-format", "ids")
    assert refused.exit_code == 2 and "both 'id'" in refused.stderr and not refused.stdout, refused.stderr
    ids = records(ok("merge", *parts, "--output-format", "ids", "--id-key", "text", "-q").stdout)
    assert set(ids[0]) == {"text", "id"}


def test_seed_alone_is_refused() -> None:
    result = run("select", SOURCE, "-t", TARGET, "-k", "2", "--seed", "3")
    assert result.exit_code == 2 and "--seed goes with --contrast" in result.stderr


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
@pytest.mark.parametrize(
    ("option", "context"),
    [
        ("--contrast-weight", ["--contrast", "-k", "3"]),
        ("--adaptive-z", ["--adaptive", "-k", "3"]),
        ("--decontaminate-ncd", ["-k", "3"]),
        ("--fraction", []),
    ],
)
def test_float_options_refuse_values_that_are_not_finite(option: str, context: list[str], value: str) -> None:
    """1e400 overflows to inf when read as a float; none of these is a usable setting."""
    result = run("select", SOURCE, *FAST, *context, option, value, "-o", os.devnull)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zipfit: error: ") and option in lines[0], result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--max-line-bytes", "9223372036854775808"],
        ["score", "--max-text-bytes", str(10**30)],
        ["select", "-k", "99999999999999999999999"],
        ["select", "--budget-chars", str(2**64)],
        ["select", "--limit", str(2**63)],
        ["select", "--batch-size", str(2**63)],
        ["select", "-j", "99999999999999999999999"],
        ["select", "--contrast", "--seed", str(2**64)],
        ["select", "--shard", "0/99999999999999999999999"],
        ["select", "-k", "5", "--adaptive", "--adaptive-audit", str(2**64)],
        ["score", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1e10"],
    ],
)
def test_numbers_past_an_options_bound_are_usage_errors(source_path: Path, args: list[str]) -> None:
    """Values that would overflow deep inside (C integers, timestamps, 64-bit JSON) are
    refused up front, in one line."""
    command, *options = args
    result = run(command, source_path, *FAST, *options, "-q")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("zipfit: error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""


# --- counts and sizes with suffixes (quantities.py) ------------------------------------------

QUANTITIES = [
    ("--top-k", "10k", 10_000),
    ("--top-k", "2M", 2_000_000),
    ("--top-k", "3K", 3_000),
    ("--limit", "1_000", 1_000),
    ("--budget-tokens", "1M", 1_000_000),
    ("--budget-chars", "0", 0),
    ("--batch-size", "1k", 1_000),
    ("--max-line-bytes", "64MiB", 64 * 2**20),
    ("--max-line-bytes", "64mib", 64 * 2**20),
    ("--max-line-bytes", "1MB", 1_000_000),
    ("--max-line-bytes", "1M", 1_000_000),
    ("--max-text-bytes", "16 KiB", 16 * 1024),
    ("--max-text-bytes", "2Gi", 2 * 2**30),
    ("--max-text-bytes", "100B", 100),
    ("--blocksize", "8KiB", 8 * 1024),
    ("--blocksize", "0", 0),
]


@pytest.mark.parametrize(("flag", "value", "number"), QUANTITIES, ids=[f"{f} {v}" for f, v, _ in QUANTITIES])
def test_counts_and_sizes_take_suffixes(flag: str, value: str, number: int) -> None:
    name = next(o.name for o in OPTIONS if flag in o.flags)
    assert parsed("select", flag, value)[name] == number


QUANTITY_REFUSALS = [
    ("--top-k", "1.5k", "'1.5k' is not a whole number: write 1500"),
    ("--top-k", "1e6", "'1e6' is not a whole number: write 1000000"),
    ("--top-k", "0.5", "'0.5' is not a whole number"),
    ("--top-k", "10Ki", "'10Ki' is not a count like 20000, 20k or 2M"),  # 1024s are for bytes
    ("--top-k", "10kB", "'10kB' is not a count like 20000, 20k or 2M"),
    ("--top-k", "0k", "0 is not in the range 1<=x<=9007199254740992"),
    ("--top-k", "10P", "'10P' is not a count like 20000, 20k or 2M"),
    ("--top-k", "1e400", "'1e400' is too large"),
    ("--top-k", "9" * 40, f"'{'9' * 40}' is too large"),
    ("--top-k", "10000T", "10000000000000000 is not in the range 1<=x<=9007199254740992"),
    ("--limit", "-1k", "-1000 is not in the range 1<=x<=9007199254740992"),
    ("--limit", "k", "'k' is not a count like 20000, 20k or 2M"),
    ("--limit", "nan", "'nan' is not a count like 20000, 20k or 2M"),
    ("--max-line-bytes", "1.5MiB", "'1.5MiB' is not a whole number: write 1572864"),
    ("--max-line-bytes", "64 MiBs", "'64 MiBs' is not a size like 1000000, 1MB or 64MiB"),
    ("--max-line-bytes", "1\x1b[2J", "'1\\x1b[2J' is not a size like 1000000, 1MB or 64MiB"),
    ("--blocksize", "1.5MB", "'1.5MB' is not a whole number: write 1500000"),
]


@pytest.mark.parametrize(
    ("flag", "value", "says"), QUANTITY_REFUSALS, ids=[f"{f} {v!r}" for f, v, _ in QUANTITY_REFUSALS]
)
def test_fractions_and_odd_suffixes_are_refused_with_what_to_write(flag: str, value: str, says: str) -> None:
    with pytest.raises(typer.BadParameter) as raised:
        parsed("select", flag, value)
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.format_message().endswith(f": {says}"), raised.value.format_message()


def test_suffixed_values_run_end_to_end(slice_path: Path) -> None:
    assert len(records(ok("select", slice_path, *FAST, "-k", "1k", "-q").stdout)) == 200
    plain = ok("select", slice_path, *FAST, "--skip-invalid", "--max-line-bytes", "1024", "-q").stdout
    assert ok("select", slice_path, *FAST, "--skip-invalid", "--max-line-bytes", "1KiB", "-q").stdout == plain
    assert len(records(plain)) < 200  # the limit bit: some lines are longer than 1 KiB
    line = refused("select", slice_path, *FAST, "--budget-tokens", "2.5k")
    said = "Invalid value for '--budget-tokens': '2.5k' is not a whole number: write 2500"
    assert line == f"{said} (see 'zipfit select -h')"


def test_help_shows_the_form_of_counts_sizes_and_the_variables(slice_path: Path) -> None:
    text = " ".join(ok("select", "--help").stdout.split())
    assert "Keep the K best records. Takes 10k, 2M (k, M, G: 1000s)." in text
    assert "Takes 1MB, 64MiB (kB, MB, GB: 1000s; KiB, MiB, GiB: 1024s)." in text
    for variable in ("ZIPFIT_WORKERS", "ZIPFIT_FORCE", "ZIPFIT_QUIET", "ZIPFIT_SUMMARY", "ZIPFIT_STRICT"):
        assert f"env var: {variable}" in text, variable
    assert "--force / --no-force" in text and "-q, --quiet / --no-quiet" in text
    merge = " ".join(ok("merge", "--help").stdout.split())
    assert "env var: ZIPFIT_STRICT" in merge and "env var: ZIPFIT_WORKERS" in merge  # merge -o DIR/ -j N


# --- options from the environment ---------------------------------------------------------


def test_each_variable_sets_its_option_and_a_flag_beats_it(slice_path: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    ok("select", slice_path, *TARGETS, "--compressor", "lz4", "-k", "2", "--report", report, "-q",
       env={"ZIPFIT_WORKERS": "2"})  # fmt: skip
    assert json.loads(report.read_text())["settings"]["workers"] == 2
    # -j 1 wins, and the variable is not even read: a bad value would be refused otherwise.
    ok("select", slice_path, *TARGETS, "--compressor", "lz4", "-k", "2", "--report", report, "-q", "-j", "1",
       "--force", env={"ZIPFIT_WORKERS": "lots"})  # fmt: skip
    assert json.loads(report.read_text())["settings"]["workers"] == 1
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    args = ["select", slice_path, *FAST, "-k", "2", "-o", out]
    assert run(*args, "-q").exit_code == ExitCode.OUTPUT_EXISTS
    assert ok(*args, env={"ZIPFIT_FORCE": "1", "ZIPFIT_QUIET": "yes"}).stderr == ""
    assert len(records(out.read_bytes())) == 2
    again = run(*args, "--no-force", "--no-quiet", env={"ZIPFIT_FORCE": "true", "ZIPFIT_QUIET": "on"})
    assert again.exit_code == ExitCode.OUTPUT_EXISTS and "--force" in again.stderr
    summary = ok(*args, "--force", env={"ZIPFIT_SUMMARY": "full"}).stderr
    assert "score min" in summary and "summary read=" not in summary
    line = ok(*args, "--force", "--summary", "line", env={"ZIPFIT_SUMMARY": "full"}).stderr
    assert "summary read=" in line and "score min" not in line
    assert ok(*args, "--force", env={"ZIPFIT_FORCE": "", "ZIPFIT_QUIET": "0"}).stderr  # empty: unset


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ZIPFIT_WORKERS", "0"), ("ZIPFIT_WORKERS", "many"), ("ZIPFIT_WORKERS", "5000"),
     ("ZIPFIT_FORCE", "maybe"), ("ZIPFIT_QUIET", "2"), ("ZIPFIT_SUMMARY", "short"), ("ZIPFIT_STRICT", "sure"),
     ("ZIPFIT_ENGINE", "ray"), ("ZIPFIT_WORKERS", "1\x1b[2J\n")],
)  # fmt: skip
def test_a_bad_variable_is_a_usage_error_naming_it(slice_path: Path, variable: str, value: str) -> None:
    result = run("select", slice_path, *FAST[:-2], "-k", "2", env={variable: value})
    assert result.exit_code == ExitCode.USAGE, result.output
    line = result.stderr
    assert line.startswith("zipfit: error: ") and line.count("\n") == 1 and "\x1b" not in line, line
    assert f"(env var: '{variable}')" in line, line
    assert result.stdout == ""


def test_a_variable_is_a_standing_default_not_checked_against_partners(slice_path: Path) -> None:
    # ZIPFIT_SCHEDULER exported for a whole Makefile must not fail the local runs in it.
    env = {"ZIPFIT_SCHEDULER": "tcp://127.0.0.1:1"}
    assert len(records(ok("select", slice_path, *FAST, "-k", "2", "-q", env=env).stdout)) == 2
    # Typed for this run, the same value is refused without --engine dask.
    typed = refused("select", slice_path, *FAST, "-k", "2", "--scheduler", env["ZIPFIT_SCHEDULER"])
    assert "--engine dask" in typed


@pytest.mark.parametrize("engine", [[], ["--engine", "dask"]])
def test_a_blocksize_smaller_than_a_line_is_refused(tmp_path: Path, engine: list[str]) -> None:
    # `--blocksize 64` (64 MiB meant) cut a 22 KB file into 22,568 parts, 22,528 of them empty
    # files, in 95 s: a size is bytes, and a partition that holds no line start is empty.
    source = tmp_path / "three.jsonl"
    source.write_bytes(b"".join(SOURCE.read_bytes().splitlines(keepends=True)[:3]))
    line = refused("score", source, *FAST, *engine, "-o", f"{tmp_path}/out/", "--blocksize", "64")
    assert "bytes" in line and "--blocksize" in line
    assert not (tmp_path / "out").exists()
