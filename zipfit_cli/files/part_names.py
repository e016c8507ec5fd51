"""Names in a directory output (`score -o DIR/`, `merge -o DIR/`): the parts' pattern
(--output-name), the attribute files' names mirroring the sources, and the check that every
name stays inside the directory. Names may come from data (source paths, a part's trailer)."""

from __future__ import annotations

import os
import posixpath
import re
import string

from ..base.errors import UsageError, shown
from .locations import STDIN, is_url
from .writers import check_output_name

MANIFEST = "_zipfit_manifest.json"
DEFAULT_PART_NAME = "part-{n:05d}.jsonl"
NAME_MAX = 255  # bytes of one file name, on the file systems zipfit writes to


def check_pattern(pattern: str, output_format: str) -> None:
    """An --output-name pattern gives a distinct, safe file name for each part number."""
    try:
        _check_specs(pattern)
        first, second = pattern.format(n=0), pattern.format(n=1)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise UsageError(
            f"--output-name {shown(pattern)} is not a pattern like 'part-{{n:05d}}.jsonl' ({shown(exc)})",
            setting="output_name",
        ) from None
    if first == second:
        raise UsageError(
            f"--output-name {shown(pattern)} gives every part the same name: put {{n}} in it",
            setting="output_name",
        )
    if "/" in pattern or "\\" in pattern:
        raise UsageError(f"--output-name {shown(pattern)} is a file name, without '/'", setting="output_name")
    safe_name(first)
    check_output_name(first, output_format)


def _check_specs(pattern: str) -> None:
    """Refuse, before formatting, a spec that would build a huge name first: a width or
    precision above NAME_MAX, or a nested field (`{n:>{n}000000000}` is a gigabyte at n = 1)."""
    for _, field, spec, _ in string.Formatter().parse(pattern):
        if field is None or not spec:
            continue
        if "{" in spec:
            raise ValueError("a field inside a format spec")
        if any(int(number) > NAME_MAX for number in re.findall(r"\d+", spec)):
            raise ValueError(f"a width or precision above {NAME_MAX}, the longest file name")


def safe_name(name: str) -> str:
    """`name` as a relative path that stays inside the directory: no absolute path, no '..'
    or '.' component, no hidden (temporary) name, not the manifest's."""
    parts = name.split("/")
    hostile = not name or "\0" in name or "\\" in name or name.startswith("/")
    if hostile or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise UsageError(f"part name {shown(name)} would not stay inside the output directory")
    longest = max(len(os.fsencode(part)) for part in parts)
    if longest > NAME_MAX:  # shown cut short: the name may be a megabyte of padding
        raise UsageError(
            f"part name {shown(name[:40])}... is {longest:,} bytes long; "
            f"a file name holds at most {NAME_MAX} bytes"
        )
    if name == MANIFEST:
        raise UsageError(f"part name {shown(name)} is the manifest's")
    return name


def relative_names(locations: list[str]) -> list[str]:
    """Each location's path relative to their common parent directory: the name of the
    attribute file that mirrors it. Locations are absolute local paths or URLs, on one
    filesystem. The names are not checked here: each user of one calls safe_name."""
    if len({loc.partition("://")[0] if is_url(loc) else "" for loc in locations}) > 1:
        raise UsageError("attribute files mirror the sources' paths: give sources on one filesystem")
    bare = [posixpath.normpath(loc.partition("://")[2] if is_url(loc) else loc) for loc in locations]
    parent = posixpath.commonpath([posixpath.dirname(path) for path in bare]) if bare else ""
    return [posixpath.relpath(path, parent or "/") for path in bare]


def _located(path: str) -> str:
    """A source as relative_names takes it: a local path made absolute, a URL as it is."""
    local = path.startswith("file://") or not is_url(path)
    return os.path.abspath(path.removeprefix("file://")) if local else path


def source_names(sources: list[str]) -> list[str] | None:
    """The names attribute files mirroring `sources` get (relative_names), as a shard part
    records them for `zipfit merge -o DIR/`; None when they cannot be mirrored (stdin,
    sources on more than one filesystem)."""
    if STDIN in sources:
        return None
    located = [_located(path) for path in sources]
    try:
        return relative_names(located)
    except UsageError:
        return None
