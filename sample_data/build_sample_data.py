"""Build the zipfit sample dataset from text that ships with this machine.

Outputs (written to ``--out-dir``, default: the directory of this script):

* ``target.jsonl`` -- HumanEval-shaped target tasks taken from small,
  documented top-level functions of a few CPython standard-library modules.
* ``source.jsonl`` -- a deterministic, shuffled mix of Python functions (from
  *other* stdlib modules), English prose from Perl's POD documentation, C code
  from glibc and CPython headers, Perl module code and CMake module code.

The script only uses the standard library and is fully deterministic: given the
same input files it reproduces byte-identical output.
"""

from __future__ import annotations

import argparse
import ast
import html.entities
import json
import random
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
PERL_DIRS = (
    Path("/usr/share/perl/5.36.0"),
    Path("/usr/lib/x86_64-linux-gnu/perl/5.36.0"),
)
GLIBC_INCLUDE = Path("/usr/include")
CPYTHON_INCLUDE = Path("/root/.pyenv/versions/3.11.7/include/python3.11")
CMAKE_MODULES = Path("/usr/share/cmake-3.25/Modules")

SEED = 20241024

# Target modules (relative to the stdlib root) and the per-module cap.
TARGET_MODULES = (
    "textwrap.py",
    "string.py",
    "heapq.py",
    "bisect.py",
    "statistics.py",
    "fnmatch.py",
    "posixpath.py",
    "shlex.py",
    "genericpath.py",
    "glob.py",
    "html/__init__.py",
    "calendar.py",
)
TARGET_PER_MODULE = 10
TARGET_MIN_CHARS, TARGET_MAX_CHARS = 300, 1200

# Modules never used for the source pool: the target modules plus near
# duplicates of them (ntpath mirrors posixpath).
SOURCE_EXCLUDED_MODULES = (*TARGET_MODULES, "ntpath.py")
SOURCE_EXCLUDED_DIRS = frozenset(
    {"site-packages", "test", "tests", "idle_test", "__pycache__", "turtledemo"}
)

# How many records of each kind go into source.jsonl.
SOURCE_COUNTS = {"python": 600, "prose": 2000, "c": 1000, "perl": 250, "cmake": 150}
PER_FILE_CAP = {"python": 6, "prose": 40, "c": 25, "perl": 8, "cmake": 6}
MIN_CHARS = 200
MAX_CHARS = {"python": 2000, "prose": 3000, "c": 3000, "perl": 3000, "cmake": 3000}
# Greedy packing stops adding blocks once a chunk would exceed this size.
SOFT_MAX = 600
# Prose filter: share of letters/spaces, and at most this many chars per space.
PROSE_MIN_LETTER_SHARE = 0.85
PROSE_MAX_CHARS_PER_SPACE = 12

PERL_LICENCE_RE = re.compile(r"same\s+terms\s+as\s+perl", re.IGNORECASE)
GLIBC_MARKER = "This file is part of the GNU C Library"

Record = dict[str, str]


# --------------------------------------------------------------------------
# Generic helpers
# --------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """Read a file as UTF-8, replacing undecodable bytes."""
    return path.read_text(encoding="utf-8", errors="replace")


def sorted_files(root: Path, pattern: str) -> list[Path]:
    """All files under ``root`` matching ``pattern``, in a stable order."""
    return sorted(p for p in root.rglob(pattern) if p.is_file())


def split_blocks(text: str) -> list[str]:
    """Split text into blank-line separated blocks (trailing spaces removed)."""
    lines = [line.rstrip() for line in text.splitlines()]
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def hard_split(block: str, limit: int, sep: str = "\n") -> list[str]:
    """Split an oversized block on ``sep`` into pieces of at most ``limit``."""
    pieces: list[str] = []
    current = ""
    for part in block.split(sep):
        candidate = f"{current}{sep}{part}" if current else part
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = part if len(part) <= limit else ""
    if current:
        pieces.append(current)
    return pieces


def pack_blocks(
    blocks: Iterable[str], max_chars: int, joiner: str = "\n\n", sep: str = "\n"
) -> list[str]:
    """Greedily pack blocks into chunks of ``MIN_CHARS``..``max_chars`` chars."""
    chunks: list[str] = []
    current = ""
    for raw in blocks:
        parts = [raw] if len(raw) <= max_chars else hard_split(raw, max_chars, sep)
        for block in parts:
            candidate = f"{current}{joiner}{block}" if current else block
            if len(candidate) > max_chars or (
                len(candidate) > SOFT_MAX and len(current) >= MIN_CHARS
            ):
                if len(current) >= MIN_CHARS:
                    chunks.append(current)
                current = block
            else:
                current = candidate
    if len(current) >= MIN_CHARS:
        chunks.append(current)
    return [c for c in chunks if MIN_CHARS <= len(c) <= max_chars]


# --------------------------------------------------------------------------
# Python (CPython standard library, PSF licence)
# --------------------------------------------------------------------------


def function_nodes(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    """Top-level functions and methods of top-level classes, in file order."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    yield sub


def function_source(lines: list[str], node: ast.FunctionDef) -> str:
    """Exact source lines of a function, decorators included."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    assert node.end_lineno is not None
    return "".join(lines[first - 1 : node.end_lineno])


def has_docstring(node: ast.FunctionDef) -> bool:
    return ast.get_docstring(node, clean=False) is not None


def build_targets(stdlib: Path) -> list[dict[str, str]]:
    """HumanEval-style tasks from small documented stdlib functions."""
    targets: list[dict[str, str]] = []
    for module in TARGET_MODULES:
        path = stdlib / module
        text = read_text(path)
        lines = text.splitlines(keepends=True)
        taken = 0
        for node in ast.parse(text).body:
            if taken >= TARGET_PER_MODULE:
                break
            if not isinstance(node, ast.FunctionDef) or node.decorator_list:
                continue
            if node.name.startswith("_") or not has_docstring(node):
                continue
            # A docstring followed by at least one statement.
            if len(node.body) < 2 or node.end_lineno is None:
                continue
            doc = node.body[0]
            assert doc.end_lineno is not None and doc.end_col_offset is not None
            # The docstring must close its line so the split is clean.
            if lines[doc.end_lineno - 1][doc.end_col_offset :].strip():
                continue
            source = function_source(lines, node)
            if not TARGET_MIN_CHARS <= len(source) <= TARGET_MAX_CHARS:
                continue
            prompt = "".join(lines[node.lineno - 1 : doc.end_lineno])
            solution = "".join(lines[doc.end_lineno : node.end_lineno])
            if not solution.strip():
                continue
            targets.append(
                {
                    "task_id": f"stdlib/{len(targets)}",
                    "prompt": prompt,
                    "canonical_solution": solution,
                    "entry_point": node.name,
                }
            )
            taken += 1
    return targets


def python_candidates(stdlib: Path, excluded_names: frozenset[str]) -> list[list[str]]:
    """Documented functions/methods per stdlib module (non-target modules)."""
    excluded = {stdlib / m for m in SOURCE_EXCLUDED_MODULES}
    per_file: list[list[str]] = []
    for path in sorted_files(stdlib, "*.py"):
        rel_parts = path.relative_to(stdlib).parts
        if path in excluded or SOURCE_EXCLUDED_DIRS.intersection(rel_parts):
            continue
        text = read_text(path)
        try:
            tree = ast.parse(text)
        except SyntaxError:  # e.g. lib2to3 test data
            continue
        lines = text.splitlines(keepends=True)
        found: list[str] = []
        for node in function_nodes(tree):
            if node.name in excluded_names or not has_docstring(node):
                continue
            source = textwrap.dedent(function_source(lines, node)).rstrip() + "\n"
            if MIN_CHARS <= len(source) <= MAX_CHARS["python"]:
                found.append(source)
        if found:
            per_file.append(found)
    return per_file


# --------------------------------------------------------------------------
# Prose and code from Perl (POD docs and .pm code; Perl licence)
# --------------------------------------------------------------------------

POD_CODE_START = re.compile(r"([A-Z])(<+)")
POD_SIMPLE_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/"}


def pod_entity(name: str) -> str:
    """Resolve the content of an ``E<...>`` formatting code."""
    if name in POD_SIMPLE_ESCAPES:
        return POD_SIMPLE_ESCAPES[name]
    try:
        if name.lower().startswith("0x"):
            return chr(int(name, 16))
        if name.startswith("0") and name.isdigit():
            return chr(int(name, 8))
        if name.isdigit():
            return chr(int(name))
    except (ValueError, OverflowError):
        return ""
    codepoint = html.entities.name2codepoint.get(name)
    return chr(codepoint) if codepoint is not None else ""


def pod_link(inner: str) -> str:
    """Readable text for the content of an ``L<...>`` formatting code."""
    if "|" in inner:
        return inner.split("|", 1)[0]
    if "://" in inner:
        return inner
    name, _, section = inner.partition("/")
    section = section.strip('"')
    if name and section:
        return f'"{section}" in {name}'
    return section or name


def pod_render(code: str, inner: str) -> str:
    if code in "XZ":
        return ""
    if code == "E":
        return pod_entity(inner.strip())
    if code == "L":
        return pod_link(inner.strip())
    return inner  # B, I, C, F, S and unknown codes keep their text


def pod_parse(text: str, pos: int, closer: str | None) -> tuple[str, int]:
    """Strip formatting codes from ``text[pos:]`` until ``closer`` (regex)."""
    out: list[str] = []
    end_re = re.compile(closer) if closer else None
    while pos < len(text):
        if end_re is not None:
            end = end_re.match(text, pos)
            if end:
                return "".join(out), end.end()
        start = POD_CODE_START.match(text, pos)
        if start:
            code, brackets = start.group(1), len(start.group(2))
            if brackets == 1:
                inner, pos = pod_parse(text, start.end(), ">")
                out.append(pod_render(code, inner))
                continue
            if pos + len(start.group(0)) < len(text) and text[start.end()].isspace():
                inner, pos = pod_parse(text, start.end() + 1, rf"\s+>{{{brackets}}}")
                out.append(pod_render(code, inner))
                continue
        out.append(text[pos])
        pos += 1
    return "".join(out), pos


def pod_plain(paragraph: str) -> str:
    """Plain text of one ordinary POD paragraph, whitespace collapsed."""
    text, _ = pod_parse(paragraph, 0, None)
    return " ".join(text.split())


def split_perl(text: str) -> tuple[list[list[str]], list[str]]:
    """Split a Perl file into POD sections (lists of paragraphs) and code lines."""
    sections: list[list[str]] = [[]]
    code: list[str] = []
    in_pod = False
    skip_region: str | None = None  # inside =begin X ... =end X
    after_end = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            raw = "\n".join(paragraph)
            paragraph.clear()
            if raw[:1].isspace():  # verbatim (code) paragraph: not prose
                return
            plain = pod_plain(raw)
            if plain:
                sections[-1].append(plain)

    for line in text.splitlines():
        command = re.match(r"^=([a-zA-Z]\w*)\s*(.*)$", line)
        if command and not paragraph:
            name, arg = command.group(1), command.group(2).strip()
            in_pod = name != "cut"
            if skip_region is not None:
                if name == "end" and arg.split()[:1] == [skip_region]:
                    skip_region = None
                continue
            if name == "begin":
                skip_region = (arg.split() or [""])[0]
            elif name.startswith("head"):
                sections.append([])
            elif name == "item" and arg not in {"", "*"} and not arg.isdigit():
                plain = pod_plain(arg)
                if plain:
                    sections[-1].append(plain)
            continue
        if in_pod:
            if skip_region is not None:
                continue
            if line.strip():
                paragraph.append(line)
            else:
                flush()
            continue
        if re.match(r"^__(END|DATA)__\s*$", line):
            after_end = True
        if not after_end:
            code.append(line)
    flush()
    return [s for s in sections if s], code


def looks_like_prose(text: str) -> bool:
    """Reject chunks dominated by symbols, tables or code-like tokens."""
    letters = sum(ch.isalpha() or ch == " " for ch in text)
    spaces = text.count(" ")
    return letters / len(
        text
    ) >= PROSE_MIN_LETTER_SHARE and spaces * PROSE_MAX_CHARS_PER_SPACE >= len(text)


def perl_files(perl_dirs: Iterable[Path]) -> list[Path]:
    """Core Perl .pod/.pm files that are under Perl's own licence."""
    files: list[Path] = []
    for root in perl_dirs:
        for path in sorted_files(root, "*.pod") + sorted_files(root, "*.pm"):
            text = read_text(path)
            if "\n=head" not in text:
                continue
            if path.parent.name == "pod" or PERL_LICENCE_RE.search(text):
                files.append(path)
    return sorted(set(files))


def perl_candidates(perl_dirs: Iterable[Path]) -> tuple[list[list[str]], ...]:
    prose: list[list[str]] = []
    code: list[list[str]] = []
    for path in perl_files(perl_dirs):
        sections, code_lines = split_perl(read_text(path))
        chunks: list[str] = []
        for section in sections:
            paragraphs = [
                piece
                for para in section
                for piece in hard_split(para, MAX_CHARS["prose"], sep=" ")
            ]
            chunks.extend(
                c
                for c in pack_blocks(paragraphs, MAX_CHARS["prose"], sep=" ")
                if looks_like_prose(c)
            )
        if chunks:
            prose.append(chunks)
        code_blocks = split_blocks("\n".join(code_lines))
        code_chunks = pack_blocks(code_blocks, MAX_CHARS["perl"])
        if code_chunks:
            code.append([c + "\n" for c in code_chunks])
    return prose, code


# --------------------------------------------------------------------------
# C headers (glibc: LGPL-2.1+; CPython: PSF) and CMake modules (BSD-3-Clause)
# --------------------------------------------------------------------------


def strip_leading_comment(text: str) -> str:
    """Drop a leading /* ... */ licence/copyright comment."""
    stripped = text.lstrip()
    if stripped.startswith("/*"):
        end = stripped.find("*/")
        head = stripped[: end + 2]
        if end != -1 and re.search(r"Copyright|License", head):
            return stripped[end + 2 :]
    return text


def c_candidates(glibc: Path, cpython: Path) -> list[list[str]]:
    per_file: list[list[str]] = []
    headers = [p for p in sorted_files(glibc, "*.h") if GLIBC_MARKER in read_text(p)]
    headers += sorted_files(cpython, "*.h")
    for path in headers:
        body = strip_leading_comment(read_text(path))
        chunks = pack_blocks(split_blocks(body), MAX_CHARS["c"])
        if chunks:
            per_file.append([c + "\n" for c in chunks])
    return per_file


def cmake_candidates(modules: Path) -> list[list[str]]:
    per_file: list[list[str]] = []
    doc_block = re.compile(r"#\[(=*)\[.*?\]\1\]", re.DOTALL)
    for path in sorted_files(modules, "*.cmake"):
        lines = read_text(path).splitlines()
        body = "\n".join(line for line in lines if "Distributed under" not in line)
        body = doc_block.sub("", body.replace("# file Copyright.txt or", "", 1))
        body = body.replace("https://cmake.org/licensing for details.", "", 1)
        chunks = pack_blocks(split_blocks(body), MAX_CHARS["cmake"])
        if chunks:
            per_file.append([c + "\n" for c in chunks])
    return per_file


# --------------------------------------------------------------------------
# Sampling and output
# --------------------------------------------------------------------------


def sample(per_file: list[list[str]], kind: str, rng: random.Random) -> list[str]:
    """Cap each file's contribution, then draw ``SOURCE_COUNTS[kind]`` texts."""
    pool: list[str] = []
    seen: set[str] = set()
    for chunks in per_file:
        picks = chunks
        if len(chunks) > PER_FILE_CAP[kind]:
            picks = rng.sample(chunks, PER_FILE_CAP[kind])
        for text in picks:
            if text not in seen:
                seen.add(text)
                pool.append(text)
    wanted = SOURCE_COUNTS[kind]
    if len(pool) < wanted:
        sys.exit(f"only {len(pool)} {kind} candidates, need {wanted}")
    return rng.sample(pool, wanted)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def build(out_dir: Path, seed: int) -> None:
    targets = build_targets(STDLIB)
    target_names = frozenset(t["entry_point"] for t in targets)

    prose, perl_code = perl_candidates(PERL_DIRS)
    pools = {
        "python": python_candidates(STDLIB, target_names),
        "prose": prose,
        "c": c_candidates(GLIBC_INCLUDE, CPYTHON_INCLUDE),
        "perl": perl_code,
        "cmake": cmake_candidates(CMAKE_MODULES),
    }
    rng = random.Random(seed)
    records: list[Record] = []
    for kind in SOURCE_COUNTS:  # fixed order keeps the RNG stream stable
        for n, text in enumerate(sample(pools[kind], kind, rng)):
            records.append({"id": f"{kind}-{n}", "text": text, "source": kind})
    rng.shuffle(records)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "target.jsonl", targets)
    write_jsonl(out_dir / "source.jsonl", records)
    counts = Counter(r["source"] for r in records)
    print(f"target.jsonl: {len(targets)} tasks")
    print(f"source.jsonl: {len(records)} records {dict(sorted(counts.items()))}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="directory for target.jsonl and source.jsonl",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="sampling seed")
    args = parser.parse_args(argv)
    build(args.out_dir, args.seed)


if __name__ == "__main__":
    main()
