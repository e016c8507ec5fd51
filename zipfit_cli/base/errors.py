"""Exceptions raised by the zipfit core and the exit codes the CLI maps them to."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

# The password of a URL's user part (scheme://user:password@host). It may hold '#', '?', '/'
# and '@', so it runs to the '@' after which a host follows (text up to the next '/', '?',
# '#', quote, whitespace or end, holding no '@'); in running text it ends at whitespace, a
# quote or another URL's '://'. In a URL given alone (remember_urls) it may hold anything.
_HOST_FOLLOWS = r"@(?=[^@/?#\s'\"]*(?:[/?#\s'\"]|$))"
# A scheme starts where no scheme character stands before it: without the lookbehind the
# pattern would be tried from every position of a long word, in time quadratic in its length.
_USER = r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*):"
_PASSWORD = re.compile(_USER + r"((?:(?!://)[^\s'\"])*?)" + _HOST_FOLLOWS)
_GIVEN_PASSWORD = re.compile(_USER + r"((?:(?!://).)*?)" + _HOST_FOLLOWS, re.DOTALL)

# Passwords of the URLs zipfit was given (remember_urls): libraries repeat them without the
# scheme the pattern needs (Dask: "invalid address 'bob:Secr3t@host:1'"), or only the part a
# URL parser took as the password or port ("... integer value as 'pw'" for pw#frag).
_SECRETS: set[str] = set()


def remember_urls(values: Iterable[str]) -> None:
    """Note the passwords of the URLs in `values` (one command's line), for `redacted`. They
    replace those of an earlier command in the same process (the test runner, a notebook):
    a password remembered for ever would blank its letters in every later message."""
    _SECRETS.clear()
    for value in values:
        for match in _GIVEN_PASSWORD.finditer(value):
            password = match.group(2)
            # What URL parsers read of it: up to '/', '?' or '#', without tabs and newlines.
            parsed = re.split(r"[/?#]", password, maxsplit=1)[0]
            for secret in (password, parsed, re.sub(r"[\t\r\n]", "", parsed)):
                if len(secret) > 1 and secret.strip("*"):  # one character would hide every word
                    _SECRETS.add(secret)


def redacted(text: object) -> str:
    """`text` with the password of every URL in it replaced by `***` (alice:***@host), and
    every password of a URL zipfit was given (remember_urls) wherever else it appears.

    Commands are run from logs and reports are shared: a password given in a URL must not
    reach either. Idempotent, so applying it again to a message already redacted is harmless.
    """
    hidden = str(text)
    if "://" in hidden:
        hidden = _PASSWORD.sub(r"\1:***@", hidden)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        hidden = hidden.replace(secret, "***")
    return hidden


def faithful(text: str) -> str:
    """`text` as valid Unicode, for JSON and messages. A file name's bytes that are not UTF-8
    reach Python as lone surrogates (os.fsdecode), which JSON cannot hold: each becomes a
    `\\xNN` escape of its byte, as os.fsencode(name) prints (bad\\xff.jsonl); another lone
    surrogate becomes `\\udNNN`. Valid text, and text already made faithful, is unchanged."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte decoded to (\ud800)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def stored(value: Any) -> Any:
    """A JSON-able value (a report, a part trailer) with every string in it `faithful`."""
    if isinstance(value, str):
        return faithful(value)
    if isinstance(value, dict):
        return {stored(key): stored(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [stored(item) for item in value]
    return value


def shown(text: object) -> str:
    """Input-derived text (a key, a file name, a URL, a value) as it may appear in a message.

    File names, keys and values can come from someone else: a newline would forge a second
    message line, an escape sequence would drive the user's terminal. Every character that is
    not printable (control and format characters, line and paragraph separators, non-ASCII
    spaces) is written as a Python-style escape, so a message stays one line. A URL's
    password is redacted. Idempotent: text already shown passes unchanged.
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else _escape(ch) for ch in redacted(faithful(str(text)))
    )


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class ExitCode(IntEnum):
    """Process exit codes; documented in README.md and in `zipfit --help`."""

    OK = 0
    FAILURE = 1  # runtime failure: a worker died, disk full, an I/O error while writing
    USAGE = 2  # bad options or arguments (Click uses 2 as well)
    BAD_INPUT = 3  # input data: malformed JSONL, missing text, unreadable or missing file
    OUTPUT_EXISTS = 4  # the output file exists and --force was not given
    WARNED = 6  # --strict: the run finished and wrote its outputs, but warned
    HANGUP = 129  # SIGHUP: the terminal or session went away (128 + SIGHUP)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout went away, e.g. `| head` (128 + SIGPIPE)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM)


class ZipfitError(Exception):
    """Base class; the message says what went wrong and what to do next, in library terms.

    `setting` names the settings the problem is about (`text_key`, `level`, `skip_invalid`, ...),
    so the command line can point at its own flags without the library knowing about flags.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, setting: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.settings: tuple[str, ...] = (setting,) if isinstance(setting, str) else setting or ()


class UsageError(ZipfitError):
    """Options that cannot work together, or a value out of range."""

    exit_code = ExitCode.USAGE


class InputError(ZipfitError):
    """Bad or unreadable input data."""

    exit_code = ExitCode.BAD_INPUT


# The setting to look at when a record fails for a reason (records.REASONS).
REASON_SETTINGS = {"missing_key": "text_key", "not_string": "text_key"}


class InvalidRecordError(InputError):
    """One input record cannot be scored; names the file and line."""

    def __init__(self, path: str, line_no: int, reason: str, detail: str) -> None:
        self.path = path
        self.line_no = line_no
        self.reason = reason
        self.detail = detail
        settings = (REASON_SETTINGS[reason],) if reason in REASON_SETTINGS else ()
        super().__init__(f"{shown(path)}:{line_no}: {shown(detail)}", setting=(*settings, "skip_invalid"))


class OutputExistsError(ZipfitError):
    exit_code = ExitCode.OUTPUT_EXISTS


class OutputError(ZipfitError):
    """The output could not be written (permissions, full disk, records that do not fit its format)."""


class WorkerDiedError(ZipfitError):
    """A worker process exited without returning its batch (killed, out of memory)."""


class WarnedError(ZipfitError):
    """--strict: the run warned. Its outputs are written (they are what the run gives); the
    exit code is what tells a cron job or a Makefile that something needs a look."""

    exit_code = ExitCode.WARNED

    def __init__(self, warnings: list[str]) -> None:
        more = f" (and {len(warnings) - 1} more warning{'s' if len(warnings) > 2 else ''})"
        super().__init__(
            f"--strict: {shown(warnings[0])}{more if len(warnings) > 1 else ''}; the outputs were written"
        )


class Terminated(BaseException):
    """Raised in the main process by the SIGTERM/SIGHUP handler, so cleanup code runs."""

    def __init__(self, signum: int, *, stdout_written: bool = False) -> None:
        super().__init__(signum)
        self.signum = signum
        self.stdout_written = stdout_written  # records already went to stdout: it is incomplete
