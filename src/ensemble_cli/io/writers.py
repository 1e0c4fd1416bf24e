"""Append-only, crash-safe JSONL output, and what ``--resume`` learns from it.

Each record is written as one complete line in a single write, then flushed (and ``fsync``-ed for
files), with Ctrl-C held back for the duration, so a crash or an interrupt loses nothing already
reported as written and never leaves half a line behind *from this writer*. A process killed
outright (SIGKILL, power loss) can still leave a partial last line; resuming truncates it away
before appending, so the file stays valid JSONL (the lost row is simply redone).

The file stays open between records, but before each write the writer checks that its path still
names the file it holds open: ``git stash``, ``git checkout`` or an editor's save *replace* a file
(a new inode), and every record written to the old one after that would land in a file no name
reaches any more (a bench writing into a checked-out ``results/`` folder lost two members' last 25
rows that way). A replaced or deleted path is opened again, in append mode, with a warning, so the
records from then on are where the path points.

Resume semantics (``scan_output``): an id is *done* when the file holds a successful record for it.
Error records do not count as done, so rows that failed at generation time are retried on resume
(their failure may have been transient: out of memory, a flaky remote model); the retry appends a
new record and the last record for an id wins. ``errored`` lists ids with an error record, which lets
the caller avoid re-reporting input errors (bad JSON, duplicate id) that would only repeat.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError

STDOUT = "-"


@dataclass
class OutputState:
    """What an existing output file already holds."""

    done: set[str] = field(default_factory=set)  #: ids with a successful record
    errored: set[str] = field(default_factory=set)  #: ids with at least one error record
    records: int = 0  #: complete, valid records
    bad_lines: int = 0  #: complete lines that are not a JSON object with an id (left untouched)
    partial_tail: bool = False  #: the file ends in an unterminated line (an interrupted write)


def scan_output(path: str | Path) -> OutputState:
    """Read an output file (missing is fine: nothing done). An unterminated last line is ignored."""
    state = OutputState()
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise UsageError(f"cannot read output file {path}: {exc.strerror or exc}") from None
    lines = data.split(b"\n")
    if lines[-1]:
        state.partial_tail = True
    for raw in lines[:-1]:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            state.bad_lines += 1
            continue
        if not isinstance(record, dict) or record.get("id") is None:
            state.bad_lines += 1
            continue
        state.records += 1
        rid = str(record["id"])
        (state.errored if "error" in record else state.done).add(rid)
    return state


def read_done_ids(path: str | Path) -> set[str]:
    """Ids that ``--resume`` skips: those with a successful record (error records are retried)."""
    return scan_output(path).done


class ResultWriter:
    """Writes one JSON line per finished example to a file, or to stdout for ``"-"``.

    ``resume=True`` appends to an existing file (after cutting off a partial last line);
    otherwise the file is created or truncated. Use as a context manager.

    The file is opened (created, truncated) only when the first record arrives, so a run that
    produces nothing (a model that fails to load) leaves no empty file behind and does not wipe
    the file it was told to overwrite. Whether it can be written is checked at once, though, so a
    read-only target is still an error before any model loads.
    """

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = str(path)
        self.written = 0
        #: bytes of an unterminated last line removed when resuming (0 if the file was clean)
        self.repaired_bytes = 0
        self._file: IO[bytes] | None = None
        self._stdout: IO[str] | None = None
        self._mode = "ab" if resume else "wb"
        if self.path == STDOUT:
            self._stdout = sys.stdout
            return
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if resume and target.exists():
                self.repaired_bytes = _cut_partial_tail(target)
        except OSError as exc:
            raise UsageError(f"cannot write output file {path}: {exc.strerror or exc}") from None
        if target.is_dir() or not os.access(target if target.exists() else target.parent, os.W_OK):
            raise UsageError(f"cannot write output file {path}: " + ("is a folder" if target.is_dir() else
                             "permission denied"))

    def _open(self) -> IO[bytes]:
        """The file, opened on the first record (see the class docstring), and opened again when
        something replaced or deleted it since (see the module docstring)."""
        if self._file is not None and not self._still_named():
            warnings.warn(
                f"{self.path} was replaced or deleted by another program while this run wrote to it; "
                "appending the next records to the file now at that path",
                stacklevel=3,
            )
            self._file.close()
            self._file = None
        if self._file is None:
            try:
                self._file = open(self.path, self._mode)  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise UsageError(f"cannot write output file {self.path}: {exc.strerror or exc}") from None
            self._mode = "ab"  # truncated once at most: a record after close() is appended, never lost
        return self._file

    def _still_named(self) -> bool:
        """Whether the path still names the open file (same device and inode)."""
        assert self._file is not None
        try:
            on_disk = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self._file.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def write(self, record: dict[str, Any]) -> None:
        """Write and persist one record; Ctrl-C during the write takes effect right after it."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with _sigint_deferred():
            if self._stdout is not None:
                self._stdout.write(line)
                self._stdout.flush()
            else:
                file = self._open()
                file.write(line.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            self.written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_partial_tail(path: Path) -> int:
    """Truncate the file after its last newline; return how many bytes were removed."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        chunk = 64 * 1024
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            block = f.read(end - start)
            if end == size and block.endswith(b"\n"):
                return 0
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
        return size - keep


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT while a record is written, then deliver it: never half a line on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield  # signal handlers can only be swapped from the main thread, and only Python ones restored
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
