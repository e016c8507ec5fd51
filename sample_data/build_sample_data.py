"""Build the zipfit sample dataset from text that ships with this machine.

Outputs (written to ``--out-dir``, default: the directory of this script):

* ``target.jsonl`` -- HumanEval-shaped target tasks taken from small,
  documented top-level functions of a few CPython standard-library modules.
* ``source.jsonl`` -- a deterministic, shuffled mix of Python functions (from
  *other* stdlib modules), English prose from Perl's POD documentation, C code
  from glibc and CPython headers, Perl module code and CMake module code.
* ``styles.jsonl`` -- two generated kinds made of sub-styles (``config``:
  settings in YAML, TOML, INI, JSON and XML plus a family of near-identical
  manifests; ``writing``: prose in five genres), from our own templates.

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
# Generated kinds, each made of several sub-styles (no input files: our own
# templates and word lists, drawn with a seeded RNG)
# --------------------------------------------------------------------------

# Records per sub-style; the `style` field of each record names its sub-style.
# `yaml-deploy` is a family of near-identical manifests (only names and
# numbers change), the other sub-styles vary in structure.
STYLE_COUNTS = {
    "config": {
        "yaml-deploy": 40,
        "yaml": 40,
        "toml": 55,
        "ini": 55,
        "json": 55,
        "xml": 55,
    },
    "writing": {
        "recipe": 60,
        "weather": 60,
        "review": 60,
        "letter": 60,
        "match": 60,
    },
}
STYLE_MAX_CHARS = 2000

Rng = random.Random
Settings = dict[str, dict[str, Any]]

SERVICES = (
    "billing", "inventory", "search", "auth", "gateway", "reports", "mailer",
    "scheduler", "catalog", "payments", "ledger", "uploads", "metrics",
    "notifier", "profile", "checkout", "geo", "chat", "audit", "thumbnails",
    "pricing", "exports", "webhooks", "sessions",
)  # fmt: skip
ENVIRONMENTS = ("dev", "staging", "prod", "qa", "test", "sandbox")
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east")
DOMAINS = ("internal", "corp.example", "svc.local", "example.net", "lan")
FEATURES = (
    "new_checkout", "dark_mode", "beta_search", "bulk_export", "async_mail",
    "audit_trail", "rate_limits", "legacy_api", "fast_thumbnails", "sso_login",
    "weekly_digest", "csv_import",
)  # fmt: skip
PACKAGES = (
    "fastjson", "tinylog", "netpool", "quickcache", "datewise", "cliparse",
    "rowmapper", "httpkit", "yamlish", "retryer", "uuidgen", "textwrapx",
    "bytebuf", "configo", "mailbag", "taskq",
)  # fmt: skip


def version(rng: Rng) -> str:
    return f"{rng.randrange(4)}.{rng.randrange(20)}.{rng.randrange(10)}"


def app_settings(rng: Rng, service: str, env: str) -> Settings:
    """A service's settings: 3-6 sections of typed values (str, int, bool, list)."""
    domain = rng.choice(DOMAINS)
    engine = rng.choice(("postgres", "mysql", "sqlite"))
    builders: dict[str, Any] = {
        "server": lambda: {
            "host": rng.choice(("0.0.0.0", "127.0.0.1", "localhost", "::")),
            "port": rng.choice(
                (80, 443, 8000, 8080, 8443, 9000, 5000 + rng.randrange(1000))
            ),
            "workers": rng.choice((1, 2, 4, 8, 16)),
            "timeout_seconds": rng.choice((5, 10, 30, 60, 120)),
            "keepalive": rng.random() < 0.5,
        },
        "database": lambda: {
            "engine": engine,
            "host": f"db-{rng.randrange(1, 9)}.{domain}",
            "port": {"postgres": 5432, "mysql": 3306, "sqlite": 0}[engine],
            "name": f"{service}_{env}",
            "user": service,
            "pool_size": rng.choice((5, 10, 20, 50)),
            "ssl": rng.random() < 0.7,
        },
        "logging": lambda: {
            "level": rng.choice(("debug", "info", "warning", "error")),
            "format": rng.choice(("json", "text", "logfmt")),
            "file": f"/var/log/{service}/{service}.log",
            "rotate_mb": rng.choice((10, 50, 100, 500)),
            "keep": rng.randrange(3, 31),
        },
        "cache": lambda: {
            "backend": rng.choice(("redis", "memcached", "memory")),
            "url": f"redis://cache-{rng.randrange(1, 5)}.{domain}:6379/{rng.randrange(16)}",
            "ttl_seconds": rng.choice((30, 60, 300, 3600, 86400)),
            "max_entries": rng.choice((1000, 10000, 100000)),
        },
        "auth": lambda: {
            "issuer": f"https://login.{domain}",
            "audience": service,
            "token_ttl_minutes": rng.choice((5, 15, 60, 720)),
            "allow_anonymous": rng.random() < 0.2,
            "scopes": rng.sample(
                ("read", "write", "admin", "export", "billing"), rng.randrange(1, 4)
            ),
        },
        "features": lambda: {
            name: rng.random() < 0.5
            for name in rng.sample(FEATURES, rng.randrange(2, 7))
        },
        "paths": lambda: {
            "data_dir": f"/srv/{service}/data",
            "tmp_dir": f"/tmp/{service}",
            "static_dir": f"/srv/{service}/static",
            "plugins": [
                f"/opt/{service}/plugins/{p}"
                for p in rng.sample(PACKAGES, rng.randrange(1, 4))
            ],
        },
        "limits": lambda: {
            "max_upload_mb": rng.choice((1, 10, 25, 100, 1024)),
            "requests_per_minute": rng.choice((60, 600, 1200, 6000)),
            "max_connections": rng.choice((64, 256, 1024, 4096)),
            "burst": rng.randrange(1, 50),
        },
        "mail": lambda: {
            "smtp_host": f"smtp.{domain}",
            "smtp_port": rng.choice((25, 465, 587)),
            "from_address": f"noreply@{service}.{domain}",
            "use_tls": rng.random() < 0.8,
        },
        "metrics": lambda: {
            "enabled": rng.random() < 0.8,
            "endpoint": rng.choice(("/metrics", "/stats", "/internal/metrics")),
            "interval_seconds": rng.choice((10, 15, 30, 60)),
            "labels": [env, rng.choice(REGIONS)],
        },
    }
    names = rng.sample(sorted(builders), rng.randrange(3, 7))
    return {name: builders[name]() for name in names}


def scalar(value: Any, quote: str = '"') -> str:
    """A value as most config syntaxes write it: bools lower case, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"{quote}{value}{quote}"


def render_ini(rng: Rng, service: str, env: str, settings: Settings) -> str:
    lines = [f"; {service} settings ({env})"]
    for section, values in settings.items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            text = ", ".join(value) if isinstance(value, list) else scalar(value, "")
            lines.append(f"{key} = {text}" if rng.random() < 0.8 else f"{key}={text}")
    return "\n".join(lines) + "\n"


def render_toml(rng: Rng, service: str, env: str, settings: Settings) -> str:
    lines = [f'title = "{service}"', f'environment = "{env}"']
    for section, values in settings.items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            if isinstance(value, list):
                lines.append(f"{key} = [" + ", ".join(scalar(v) for v in value) + "]")
            else:
                lines.append(f"{key} = {scalar(value)}")
    return "\n".join(lines) + "\n"


def render_json(rng: Rng, service: str, env: str, settings: Settings) -> str:
    return (
        json.dumps(
            {"service": service, "environment": env, **settings},
            indent=rng.choice((2, 4)),
        )
        + "\n"
    )


def render_xml(rng: Rng, service: str, env: str, settings: Settings) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<configuration service="{service}" environment="{env}">',
    ]
    for section, values in settings.items():
        lines.append(f"  <{section}>")
        for key, value in values.items():
            items = value if isinstance(value, list) else [value]
            for item in items:
                text = scalar(item, "")
                lines.append(f"    <{key}>{text}</{key}>")
        lines.append(f"  </{section}>")
    lines.append("</configuration>")
    return "\n".join(lines) + "\n"


def render_yaml(rng: Rng, service: str, env: str, settings: Settings) -> str:
    lines = [f"# {service} ({env})", f"service: {service}", f"environment: {env}"]
    for section, values in settings.items():
        lines.append(f"{section}:")
        for key, value in values.items():
            if isinstance(value, list):
                lines.append(f"  {key}:")
                lines.extend(f"    - {item}" for item in value)
            else:
                lines.append(f"  {key}: {scalar(value, '')}")
    return "\n".join(lines) + "\n"


def systemd_unit(rng: Rng, service: str, env: str) -> str:
    """An INI flavour: a service unit file."""
    after = rng.sample(
        (
            "network-online.target",
            "postgresql.service",
            "redis.service",
            "time-sync.target",
        ),
        2,
    )
    lines = [
        "[Unit]",
        f"Description={service.capitalize()} service ({env})",
        f"After={' '.join(after)}",
        f"Wants={after[0]}",
        "",
        "[Service]",
        f"Type={rng.choice(('simple', 'notify', 'exec'))}",
        f"User={service}",
        f"Group={service}",
        f"WorkingDirectory=/srv/{service}",
        f"ExecStart=/usr/bin/{service} --config /etc/{service}/{env}.conf",
        f"Restart={rng.choice(('on-failure', 'always'))}",
        f"RestartSec={rng.choice((1, 2, 5, 10))}",
        f"Environment=LOG_LEVEL={rng.choice(('info', 'debug', 'warning'))}",
        f"LimitNOFILE={rng.choice((1024, 4096, 65536))}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def package_manifest_toml(rng: Rng, service: str, env: str) -> str:
    """A TOML flavour: a package manifest with dependencies."""
    deps = rng.sample(PACKAGES, rng.randrange(3, 8))
    lines = [
        "[package]",
        f'name = "{service}-{rng.choice(("core", "server", "client", "tools"))}"',
        f'version = "{version(rng)}"',
        f'edition = "{rng.choice(("2018", "2021"))}"',
        f'description = "The {service} service and its command line tools"',
        f'license = "{rng.choice(("MIT", "Apache-2.0", "BSD-3-Clause"))}"',
        "",
        "[dependencies]",
        *(f'{dep} = "{version(rng)}"' for dep in deps[:-1]),
        "",
        "[dev-dependencies]",
        f'{deps[-1]} = {{ version = "{version(rng)}", features = ["testing"] }}',
        "",
        "[features]",
        'default = ["std"]',
        "std = []",
    ]
    return "\n".join(lines) + "\n"


def package_manifest_json(rng: Rng, service: str, env: str) -> str:
    """A JSON flavour: a package manifest with scripts."""
    deps = rng.sample(PACKAGES, rng.randrange(3, 8))
    manifest = {
        "name": f"@{rng.choice(('acme', 'internal', 'shop'))}/{service}",
        "version": version(rng),
        "private": rng.random() < 0.5,
        "main": rng.choice(("dist/index.js", "lib/main.js")),
        "scripts": {
            "build": rng.choice(("tsc -p .", "rollup -c")),
            "test": rng.choice(("jest", "mocha --recursive", "vitest run")),
            "lint": "eslint src",
            "start": f"node dist/{service}.js",
        },
        "dependencies": {dep: f"^{version(rng)}" for dep in deps},
        "license": rng.choice(("MIT", "ISC", "UNLICENSED")),
    }
    return json.dumps(manifest, indent=2) + "\n"


def logging_xml(rng: Rng, service: str, env: str) -> str:
    """An XML flavour: a logging configuration with appenders."""
    level = rng.choice(("DEBUG", "INFO", "WARN", "ERROR"))
    stamp = rng.choice(("%d{HH:mm:ss.SSS}", "%date", "%d{ISO8601}"))
    lines = [
        "<configuration>",
        '  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">',
        "    <encoder>",
        f"      <pattern>{stamp} [%thread] %-5level %logger{{36}} - %msg%n</pattern>",
        "    </encoder>",
        "  </appender>",
        '  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">',
        f"    <file>/var/log/{service}/{service}.log</file>",
        '    <rollingPolicy class="ch.qos.logback.core.rolling.TimeBasedRollingPolicy">',
        f"      <fileNamePattern>/var/log/{service}/{service}.%d{{yyyy-MM-dd}}.log</fileNamePattern>",
        f"      <maxHistory>{rng.randrange(3, 60)}</maxHistory>",
        "    </rollingPolicy>",
        "  </appender>",
    ]
    for package in rng.sample(PACKAGES, rng.randrange(1, 4)):
        lines.append(
            f'  <logger name="com.example.{service}.{package}" level="{rng.choice(("DEBUG", "WARN"))}"/>'
        )
    lines += [
        f'  <root level="{level}">',
        '    <appender-ref ref="CONSOLE"/>',
        '    <appender-ref ref="FILE"/>',
    ]
    lines += ["  </root>", "</configuration>"]
    return "\n".join(lines) + "\n"


def ci_workflow_yaml(rng: Rng, service: str, env: str) -> str:
    """A YAML flavour: a CI workflow."""
    versions = rng.sample(("3.9", "3.10", "3.11", "3.12"), rng.randrange(1, 4))
    lines = [
        f"name: {service} checks",
        "on:",
        "  push:",
        f"    branches: [main, {rng.choice(('develop', 'release', 'next'))}]",
        "  pull_request:",
        "jobs:",
        "  test:",
        f"    runs-on: {rng.choice(('ubuntu-latest', 'ubuntu-22.04', 'self-hosted'))}",
        "    strategy:",
        "      matrix:",
        f"        python: [{', '.join(sorted(versions))}]",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - name: Install",
        f"        run: pip install -e .[{rng.choice(('dev', 'test'))}]",
        "      - name: Test",
        f"        run: {rng.choice(('pytest -q', 'make test', 'python -m unittest'))}",
    ]
    if rng.random() < 0.5:
        lines += [
            "  lint:",
            "    runs-on: ubuntu-latest",
            "    steps:",
            "      - uses: actions/checkout@v4",
        ]
        lines += ["      - run: pip install ruff", "      - run: ruff check ."]
    return "\n".join(lines) + "\n"


def deployment_yaml(rng: Rng, service: str, env: str) -> str:
    """The near-identical family: one manifest, only names and numbers change."""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}-{env}
  labels:
    app: {service}
    tier: backend
spec:
  replicas: {rng.choice((1, 2, 3, 4, 6))}
  selector:
    matchLabels:
      app: {service}
  template:
    metadata:
      labels:
        app: {service}
    spec:
      containers:
        - name: {service}
          image: registry.example.com/{service}:{version(rng)}
          ports:
            - containerPort: {rng.choice((8000, 8080, 9000))}
          resources:
            limits:
              cpu: "{rng.choice((250, 500, 1000))}m"
              memory: "{rng.choice((256, 512, 1024))}Mi"
          env:
            - name: LOG_LEVEL
              value: {rng.choice(("info", "debug"))}
"""


RENDERERS = {
    "yaml": (render_yaml, ci_workflow_yaml),
    "toml": (render_toml, package_manifest_toml),
    "ini": (render_ini, systemd_unit),
    "json": (render_json, package_manifest_json),
    "xml": (render_xml, logging_xml),
}


def config_record(rng: Rng, style: str) -> str:
    service, env = rng.choice(SERVICES), rng.choice(ENVIRONMENTS)
    if style == "yaml-deploy":
        return deployment_yaml(rng, service, env)
    settings_renderer, flavour = RENDERERS[style]
    if (
        rng.random() < 0.6
    ):  # the same settings model in every syntax, or the syntax's own flavour
        return settings_renderer(rng, service, env, app_settings(rng, service, env))
    return flavour(rng, service, env)


# Prose in five genres. Each template is a sentence with {slots}, filled from
# the word lists below; a record is an opening, a sample of body sentences and
# a closing.
NAMES = (
    "Ada", "Bram", "Carys", "Dev", "Elin", "Femi", "Greta", "Hugo", "Ines",
    "Jonah", "Kasia", "Luca", "Mira", "Nils", "Orla", "Pavel", "Rosa", "Tomas",
)  # fmt: skip
PLACES = (
    "Harrowgate", "Millbrook", "Eastwick", "Stonebridge", "Larkfield", "Ashby",
    "Crowmoor", "Fennick", "Dunmere", "Westhollow", "Brackenford", "Oakridge",
)  # fmt: skip
WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
GENRE_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "recipe": {
        "open": (
            "{dish} (serves {n})\n\nPreparation: {m} minutes. Cooking: {m2} minutes.",
            "{dish}\n\nA {adj} dish for {n} people, ready in about {m} minutes.",
        ),
        "body": (
            "Heat the oven to {temp} degrees and grease a {size} baking tin.",
            "Chop the {veg} finely and soften it in a little oil over a low heat.",
            "Whisk {n2} eggs with {g} g of {dairy} until smooth.",
            "Stir in {g2} g of {grain} and season with salt and pepper.",
            "Add the {veg2} and cook for another {m3} minutes, stirring now and then.",
            "Pour in {ml} ml of stock and bring it gently to the boil.",
            "Fold the {dairy} through the mixture and leave it to rest for {m3} minutes.",
            "Scatter the {herb} over the top just before serving.",
            "Bake for {m2} minutes, until the top is golden and firm to the touch.",
            "If the sauce is too thick, loosen it with a splash of water.",
            "Toast the {nut} in a dry pan until they smell nutty, then set them aside.",
            "Leftovers keep for {n} days in the fridge and freeze well.",
        ),
        "close": (
            "Serve warm with {side}.",
            "Serve with {side} and a green salad.",
            "Good hot or cold, and better still the next day.",
        ),
    },
    "weather": {
        "open": (
            "Forecast for {place}, {day}.",
            "{day} in {place} and the surrounding valleys: {sky} at first.",
        ),
        "body": (
            "Morning fog will lift by {hour} o'clock, leaving {sky} skies.",
            "Temperatures reach {t} degrees in the afternoon, falling to {t2} overnight.",
            "A {wind} wind from the {dir} will ease during the evening.",
            "The chance of rain is {p} percent, mostly after {hour2} o'clock.",
            "Showers may turn heavy over high ground, with the odd rumble of thunder.",
            "Frost is likely in sheltered spots before dawn, so take care on untreated roads.",
            "Pollen levels are {level} and the UV index is moderate.",
            "Visibility will be poor along the coast until midday.",
            "Sunrise is at {hour}:{min} and sunset at {hour3}:{min2}.",
            "The high pressure that brought the dry spell is slowly moving {dir}.",
        ),
        "close": (
            "Outlook: {sky} and {wind} through the weekend.",
            "Further ahead, it stays unsettled with temperatures close to normal.",
        ),
    },
    "review": {
        "open": (
            "{stars} out of 5. I bought the {product} to replace one that broke after {years} years.",
            "{stars}/5 - {adj} {product}, with a few caveats.",
        ),
        "body": (
            "It arrived in {days} days, well packed, and took ten minutes to set up.",
            "The build quality is {quality}, although the {part} feels a little flimsy.",
            "After {weeks} weeks of daily use it still works as well as on the first day.",
            "The instructions were vague, so I had to look up how to fit the {part}.",
            "It is quieter than my old one, which my neighbours appreciate.",
            "Battery life is about {hours} hours, which is less than advertised.",
            "For the price, I expected a better {part}.",
            "Customer service replaced a faulty {part} within a week, no questions asked.",
            "My {relative} borrowed it and immediately ordered one for herself.",
            "Cleaning it is a chore because the {part} does not come off easily.",
            "It does one thing and does it well.",
        ),
        "close": (
            "Would buy again.",
            "Recommended if you can live with the {part}.",
            "Not perfect, but good value.",
        ),
    },
    "letter": {
        "open": ("Dear {name},", "Dear {name}, thank you for your letter of {day}."),
        "body": (
            "It was lovely to hear that the move to {place} went smoothly.",
            "The garden is finally coming back after the {adj} winter, and the roses have buds.",
            "We have been meaning to visit since the spring, but the weeks keep slipping away.",
            "{name2} started at the new school in {place} and seems to be settling in.",
            "I enclose the photographs from the {event}; the one by the river is my favourite.",
            "Do let me know whether the {day} train still suits you, or if another day is easier.",
            "The village hall is holding a {event} next month, and everyone asks after you.",
            "My knee is much better, though I still walk with a stick on the hills.",
            "We finally repainted the kitchen, a {colour} that looks far brighter than on the card.",
            "I found your old recipe for {dish} in a drawer and made it on Sunday.",
        ),
        "close": (
            "With love,\n{name2}",
            "With best wishes,\n{name2}",
            "Yours ever,\n{name2}",
        ),
    },
    "match": {
        "open": (
            "{team} {s1}, {team2} {s2}.",
            "{team} and {team2} met at {ground} on {day}; it finished {s1}-{s2}.",
        ),
        "body": (
            "{name} opened the scoring after {minute} minutes with a low shot from the edge of the area.",
            "{team2} equalised just before half-time after a corner was only half cleared.",
            "The home side dominated possession but created few clear chances.",
            "A crowd of {crowd} saw the visitors defend deep for most of the second half.",
            "{name2} was shown a yellow card for a late challenge on the halfway line.",
            "The winner came from a quick counter-attack, finished calmly by {name}.",
            "The goalkeeper made two fine saves to keep the score down.",
            "Rain in the second half made the pitch heavy and the passing slower.",
            "Both managers made three substitutions in the last twenty minutes.",
            "The result leaves {team} in position {pos} in the table, {pts} points off the top.",
        ),
        "close": (
            "{team} travel to {place} next {day}.",
            "The return fixture is in {month}.",
        ),
    },
}
SLOTS: dict[str, tuple[str, ...]] = {
    "dish": (
        "Leek and potato pie",
        "Lemon barley risotto",
        "Spiced lentil soup",
        "Apple crumble",
        "Mushroom tart",
        "Herb omelette",
    ),
    "adj": ("simple", "hearty", "light", "generous", "quick", "long"),
    "veg": ("onion", "leek", "celery", "shallots", "fennel"),
    "veg2": ("peas", "spinach", "courgette", "carrots", "mushrooms"),
    "dairy": ("cream", "milk", "yoghurt", "butter", "cheese"),
    "grain": ("flour", "rice", "barley", "oats", "breadcrumbs"),
    "herb": ("parsley", "chives", "thyme", "dill", "mint"),
    "nut": ("hazelnuts", "almonds", "walnuts", "pine nuts"),
    "side": ("crusty bread", "boiled potatoes", "rice", "a spoon of yoghurt"),
    "size": ("20 cm", "23 cm", "square", "loaf"),
    "sky": ("sunny", "cloudy", "grey", "bright", "overcast", "clear"),
    "wind": ("light", "fresh", "gusty", "strong", "gentle"),
    "dir": ("north", "south-west", "east", "west", "north-east"),
    "level": ("low", "moderate", "high"),
    "product": (
        "kettle",
        "desk lamp",
        "rice cooker",
        "cordless drill",
        "bike light",
        "food processor",
    ),
    "quality": ("solid", "decent", "better than expected", "disappointing"),
    "part": ("lid", "handle", "switch", "charging cable", "base", "filter"),
    "relative": ("sister", "mother", "aunt", "neighbour"),
    "event": ("summer fair", "wedding", "quiz night", "harvest supper", "concert"),
    "colour": ("pale green", "warm yellow", "soft blue", "terracotta"),
    "team": (
        "Harrowgate Rovers",
        "Millbrook Town",
        "Eastwick United",
        "Stonebridge Athletic",
        "Larkfield City",
    ),
    "team2": (
        "Ashby Wanderers",
        "Crowmoor FC",
        "Fennick Albion",
        "Dunmere Rangers",
        "Oakridge Town",
    ),
    "ground": (
        "Mill Lane",
        "the Quarry Ground",
        "Riverside Park",
        "the Old Showground",
    ),
    "month": ("March", "April", "September", "October", "November"),
    "name": NAMES,
    "name2": NAMES,
    "place": PLACES,
    "day": WEEKDAYS,
}


def fill(template: str, rng: Rng, chosen: dict[str, str]) -> str:
    """Fill every {slot}: from SLOTS, or a number in a plausible range; a slot keeps
    its value (in `chosen`) across a record's sentences."""
    numbers = {
        "n": (2, 8), "n2": (2, 6), "m": (10, 45), "m2": (20, 60), "m3": (3, 15), "g": (50, 300),
        "g2": (100, 400), "ml": (250, 900), "temp": (160, 220), "hour": (5, 11), "hour2": (12, 20),
        "hour3": (16, 21), "min": (10, 59), "min2": (10, 59), "t": (8, 31), "t2": (-3, 12),
        "p": (5, 95), "stars": (1, 5), "years": (2, 12), "days": (2, 9), "weeks": (2, 30),
        "hours": (3, 40), "minute": (11, 89), "crowd": (300, 9000), "pos": (4, 19), "pts": (1, 15),
        "s1": (0, 4), "s2": (0, 4),
    }  # fmt: skip

    def value(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot not in chosen:
            if slot in SLOTS:
                chosen[slot] = rng.choice(SLOTS[slot])
            else:
                low, high = numbers[slot]
                chosen[slot] = str(rng.randint(low, high))
        return chosen[slot]

    return re.sub(r"\{(\w+)\}", value, template)


def writing_record(rng: Rng, style: str) -> str:
    parts = GENRE_PARTS[style]
    sentences = rng.sample(parts["body"], rng.randrange(4, len(parts["body"]) + 1))
    chosen: dict[str, str] = {}
    body = [fill(s, rng, chosen) for s in sentences]
    opening = fill(rng.choice(parts["open"]), rng, chosen)
    closing = fill(rng.choice(parts["close"]), rng, chosen)
    if style == "recipe":  # a numbered method
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(body, 1))
        return f"{opening}\n\n{steps}\n\n{closing}\n"
    if style == "letter":  # two paragraphs
        cut = len(body) // 2
        return f"{opening}\n\n{' '.join(body[:cut])}\n\n{' '.join(body[cut:])}\n\n{closing}\n"
    return f"{opening}\n\n{' '.join(body)}\n\n{closing}\n"


GENERATORS = {"config": config_record, "writing": writing_record}


def build_styles(seed: int) -> list[dict[str, str]]:
    """The generated kinds: every sub-style's records, shuffled with a fixed seed."""
    rng = random.Random(f"{seed}-styles")
    records: list[dict[str, str]] = []
    for kind, styles in STYLE_COUNTS.items():  # fixed order keeps the RNG stream stable
        texts: list[tuple[str, str]] = []
        seen: set[str] = set()
        for style, count in styles.items():
            made = 0
            while made < count:
                text = GENERATORS[kind](rng, style)
                if text in seen or not MIN_CHARS <= len(text) <= STYLE_MAX_CHARS:
                    continue
                seen.add(text)
                texts.append((style, text))
                made += 1
        for n, (style, text) in enumerate(texts):
            records.append(
                {"id": f"{kind}-{n}", "text": text, "source": kind, "style": style}
            )
    rng.shuffle(records)
    return records


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


def build_styles_file(out_dir: Path, seed: int) -> None:
    """Write styles.jsonl, the generated kinds (reads no input files)."""
    records = build_styles(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / "styles.jsonl", records)
    counts = Counter(f"{r['source']}/{r['style']}" for r in records)
    print(f"styles.jsonl: {len(records)} records {dict(sorted(counts.items()))}")


def build(out_dir: Path, seed: int) -> None:
    build_styles_file(out_dir, seed)
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
    parser.add_argument(
        "--styles-only",
        action="store_true",
        help="write only styles.jsonl (generated; needs none of the system files)",
    )
    args = parser.parse_args(argv)
    if args.styles_only:
        build_styles_file(args.out_dir, args.seed)
    else:
        build(args.out_dir, args.seed)


if __name__ == "__main__":
    main()
