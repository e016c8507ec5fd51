"""How a zipfit process ends: library errors, usage errors and signals become one line on
stderr (`zipfit: error: ...`) and a documented exit code.

The library names the setting an error is about; `SETTING_HINTS` (built from the option
declarations in `flags.py`) turns it into the flag to look at. With `cli.py` and
`optspec.py`, the only module that knows about typer.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from ..base.errors import ExitCode, InputError, Terminated, ZipfitError, remember_urls, shown
from ..base.held_signals import run_or_hold
from .flags import OPTIONS
from .optspec import setting_hints

# Where a scheduler's address (and a password in it) may come from besides the command line.
SCHEDULER_VARIABLES = ("ZIPFIT_SCHEDULER", "DASK_SCHEDULER_ADDRESS")


class Commands(TyperGroup):
    """Every command-line error in zipfit's one form: `zipfit: error: ...` on stderr and Click's
    exit code (2 for usage errors), instead of a framed usage block or a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # The command line as given, for --report (Click hands it to commands as ctx.obj).
        extra.setdefault("obj", ["zipfit", *(sys.argv[1:] if args is None else args)])
        # Libraries repeat a URL's password in shapes the pattern cannot know: hide those given.
        remember_urls([*extra["obj"], *(os.environ.get(name, "") for name in SCHEDULER_VARIABLES)])
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as exc:  # Click's errors (typer carries its own Click)
            ctx = getattr(exc, "ctx", None)
            message = exc.format_message()
            if type(exc).__name__ == "NoArgsIsHelpError":
                print(message, file=sys.stderr, flush=True)  # the help itself
            else:
                hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
                print(f"zipfit: error: {shown(message)}{hint}", file=sys.stderr, flush=True)
            if not standalone_mode:
                raise
            sys.exit(int(getattr(exc, "exit_code", ExitCode.USAGE)))
        except typer.Abort:  # Ctrl-C or the end of input before a command ran
            print("zipfit: error: interrupted", file=sys.stderr, flush=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except Terminated as exc:  # a signal while the options were still being read
            message, code = _stopped(exc)
            print(f"zipfit: error: {message}", file=sys.stderr, flush=True)
            sys.exit(int(code))
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


# Typer labels arguments with Python types (`SOURCE <list[str]>`); the metavar says enough.
_TYPE_LABEL = re.compile(r" <(?:list\[str\]|str|int|float)>")


class Command(TyperCommand):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The arguments, then the options in their declared groups (the last: --help)."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                group = getattr(param, "rich_help_panel", None) or "Options"
                sections.setdefault("Arguments" if param.param_type_name == "argument" else group, []).append(
                    record
                )
        for title, records in sections.items():
            with formatter.section(title):
                formatter.write_dl(records)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        # Blanked, not cut, so the help column stays aligned.
        blank = lambda match: " " * len(match[0])  # noqa: E731
        formatter.buffer[:] = [_TYPE_LABEL.sub(blank, piece) for piece in formatter.buffer]


# The library names the setting an error is about; here it becomes the flag to look at:
# the command's own flag for it (`zipfit background -n` is the background size), or none.
SETTING_HINTS = setting_hints(OPTIONS)
COMMAND_HINTS = {
    name: setting_hints(OPTIONS, name) for name in sorted({c for o in OPTIONS for c in o.commands})
}


def _message(exc: ZipfitError, command: str | None) -> str:
    table = COMMAND_HINTS.get(command or "", SETTING_HINTS)
    hints = [table[s] for s in exc.settings if s in table]
    return f"{exc} ({'; '.join(hints)})" if hints else str(exc)


def _what_was_written(stdout_written: bool) -> str:
    if stdout_written:
        return "no output file written, and what went to stdout is incomplete"
    return "no output written"


def _fail(message: str, code: ExitCode) -> NoReturn:
    # The last line of defence: whatever the library put in the message, it ends as one
    # line with no control characters and no URL password (shown() is idempotent).
    print(f"zipfit: error: {shown(message)}", file=sys.stderr, flush=True)
    raise typer.Exit(int(code))


def _stopped(exc: Terminated) -> tuple[str, ExitCode]:
    """The message and exit code of a run a signal stopped."""
    if exc.signum == signal.SIGINT:
        return f"interrupted; {_what_was_written(exc.stdout_written)}", ExitCode.INTERRUPTED
    name = signal.Signals(exc.signum).name
    return f"stopped by {name}; {_what_was_written(exc.stdout_written)}", ExitCode(128 + exc.signum)


@contextmanager
def errors(traceback: bool, command: str | None = None) -> Iterator[None]:
    """Turn library exceptions and signals into one-line messages and exit codes (hints
    name `command`'s flags)."""
    try:
        yield
    except ZipfitError as exc:
        if traceback:
            raise
        _fail(_message(exc, command), exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`| head`): silence the final flush and exit like SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
    except KeyboardInterrupt:
        _fail(f"interrupted; {_what_was_written(False)}", ExitCode.INTERRUPTED)
    except Terminated as exc:
        _fail(*_stopped(exc))
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        if traceback:
            raise
        _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", ExitCode.FAILURE)


# The first SIGINT/SIGTERM/SIGHUP starts the shutdown; later ones are ignored, so a burst
# of signals cannot cut the cleanup short (leaving temporary files, or printing "Exception
# ignored" from a finalizer). The handlers stay installed meanwhile: switching to SIG_IGN
# inside one makes Python report a signal already pending as "ignored due to race condition".
_stopping = False


def _first_signal() -> bool:
    global _stopping
    first, _stopping = not _stopping, True
    return first


def _on_signal(signum: int, frame: object) -> None:
    if _first_signal():
        run_or_hold(lambda: _raise(Terminated(signum)))


def _on_interrupt(signum: int, frame: object) -> None:
    if _first_signal():
        run_or_hold(lambda: _raise(KeyboardInterrupt()))


def _raise(exc: BaseException) -> None:
    raise exc


def ignore_signals_while_exiting() -> None:
    # The interpreter puts its handlers back to the default while it exits (after the
    # atexit cleanup of multiprocessing), and a signal then would kill it with another code.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if _stopping or signal.getsignal(signum) in (_on_signal, _on_interrupt):
            signal.signal(signum, signal.SIG_IGN)


class _ClosedStream:
    """Stands in for a standard stream the shell closed (`<&-`, `>&-`): using it is an error."""

    def __init__(self, error: ZipfitError) -> None:
        self._error = error

    @property
    def buffer(self) -> Any:
        raise self._error

    def write(self, text: str) -> int:
        raise self._error

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def reserve_closed_std_streams() -> None:
    """Give closed descriptors 0-2 to /dev/null, so no file zipfit opens becomes 'stdout'.

    Closed stdin or stdout fail when used, with one line on stderr; a closed stderr takes
    the messages away, leaving the exit code.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 0:
                sys.stdin = _ClosedStream(InputError("stdin is closed; give the input as a file"))
            elif fd == 1:
                message = "stdout is closed; give the output file with -o PATH"
                sys.stdout = _ClosedStream(ZipfitError(message))
            else:
                sys.stderr = open(fd, "w", closefd=False)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP (unless nohup ignores it) raise Terminated; SIGINT raises
    KeyboardInterrupt (unless the shell started us ignoring it); later ones are ignored."""
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup asked to ignore it
        signal.signal(signal.SIGHUP, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored by the shell
        signal.signal(signal.SIGINT, _on_interrupt)
