"""Options (options.py, flags.py, optspec.py): the checks between options, and their declarations.

Each check refuses with its message and exit code 2, and accepts what it should. "Given" is
what the user typed (Click's parameter source), whatever the value: an option at its default
value is refused without the option it goes with, as any other value is.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST, SOURCE, TARGET, TARGETS, ok, records, run
from zipfit_cli.errors import ExitCode, UsageError
from zipfit_cli.flags import OPTIONS
from zipfit_cli.options import AlignOptions, CommandFlags, ScoringOptions, SelectionOptions
from zipfit_cli.optspec import declared, default_of

GOES_WITH_CONTRAST = "goes with --contrast (--seed also with --adaptive)"


def refused(*args: Any) -> str:
    """The one error line of `zipfit ARGS...`, which must exit with 2 and write nothing."""
    result = run(*args)
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--adaptive-z", "4"), "--adaptive-z goes with --adaptive"),
        (("--adaptive-audit", "256"), "--adaptive-audit goes with --adaptive"),
        (("--id-key", "id"), "--id-key goes with --output-format ids or attributes"),
        (("--shard-by", "record"), "--shard-by goes with --shard"),
        (("--connect-timeout", "10"), "--scheduler, --blocksize and --connect-timeout need --engine dask"),
        (
            ("--scheduler", "tcp://127.0.0.1:1"),
            "--scheduler, --blocksize and --connect-timeout need --engine dask",
        ),
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


# --- the declarations and the objects they fill ------------------------------------------


@pytest.mark.parametrize("kind", [ScoringOptions, SelectionOptions, AlignOptions, CommandFlags])
def test_every_field_is_declared_and_defaults_to_its_declaration(kind: type[Any]) -> None:
    for field in dataclasses.fields(kind):
        if field.name in ("given", "command_line"):
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
    for name in ("scorers.py", "options.py", "cli.py"):
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
