"""Convert the built-in aliases a run needs, all at once, each in its own quiet worker process.

Dequantizing a GGUF is mostly single-threaded Python/numpy work, so on a first run the two default
models convert side by side (about the time of the slower one instead of the sum, given two free
cores). Each conversion runs in a *spawned* process, even when only one is needed, because:

- the calling process stays free to show what is happening (a conversion in its main thread would
  hold the GIL for most of a minute, freezing the status display);
- transformers dequantizes GGUF tensors under a plain ``tqdm`` bar that no logging switch turns
  off; in a worker of our own we set ``TQDM_DISABLE`` before tqdm is imported (unless
  ``--verbose``), so no third-party bar reaches the user's stderr;
- each worker reports its steps (``joining 4 GGUF parts``, ``dequantizing weights``, ``saving``)
  through a queue, which the caller hears as ``Converting`` / ``Converted`` events.

The price is one more import of torch and transformers per worker (a few seconds, overlapping the
other conversion), paid once per machine: later runs find the cache and start no worker at all.
Plain ``multiprocessing.Process`` objects rather than a process pool, so Ctrl-C or a failure stops
the other conversions at once instead of waiting a minute for them to finish.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.events import Converted, Converting, LoadListener
from ..errors import ModelLoadError
from .aliases import ALIASES, Alias
from .convert import folder_bytes

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

_POLL_S = 0.2


def needs_conversion(names: Sequence[str]) -> list[str]:
    """The built-in aliases among ``names`` that are installed but not converted yet, in order.

    Aliases not installed are left out: loading them raises the clear "install it" error.
    """
    return [
        n for n in dict.fromkeys(names)
        if n in ALIASES and ALIASES[n].package_dir() is not None and ALIASES[n].converted_dir() is None
    ]


def prepare_aliases(names: Sequence[str], *, on_event: LoadListener | None = None) -> None:
    """Convert every alias of ``names`` that needs it, concurrently, reporting progress to ``on_event``.

    Returns once all are in the cache. The first failure is raised as ``ModelLoadError`` naming the
    alias, after stopping the other conversions (a killed conversion never leaves a half-written
    folder behind, see ``convert``).
    """
    todo = needs_conversion(names)
    if not todo:
        return
    import multiprocessing

    emit = on_event or (lambda _: None)
    sizes = {name: ALIASES[name].source_bytes() for name in todo}
    ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold torch threads
    messages: Queue[tuple[str, str, str]] = ctx.Queue()
    started = time.perf_counter()
    workers: dict[str, BaseProcess] = {}
    try:
        for name in todo:
            emit(Converting(name, sizes[name]))
            workers[name] = ctx.Process(target=_worker, args=(ALIASES[name], messages), name=f"convert-{name}",
                                        daemon=True)
            workers[name].start()
        running = set(todo)
        while running:
            try:
                kind, name, text = messages.get(timeout=_POLL_S)
            except queue.Empty:
                _check_alive(workers, running)
                continue
            if kind == "phase":
                emit(Converting(name, sizes[name], text))
            elif kind == "error":
                raise ModelLoadError(text)
            else:
                running.discard(name)
                workers[name].join()
                emit(Converted(name, time.perf_counter() - started, folder_bytes(Path(text))))
    finally:
        for proc in workers.values():
            if proc.pid is None:  # never started (``start`` itself failed)
                continue
            if proc.is_alive():
                proc.terminate()
            proc.join()
        messages.close()


def _check_alive(workers: dict[str, BaseProcess], running: set[str]) -> None:
    """A worker that ended without reporting was killed (out of memory, a signal): say which."""
    for name in running:
        code = workers[name].exitcode
        if code is not None:
            raise ModelLoadError(
                f"converting model alias '{name}' failed: its worker process died (exit code {code}); "
                "run `ensemble --verbose models prepare` to see its output"
            )


def _worker(alias: Alias, messages: Queue[tuple[str, str, str]]) -> None:
    """Worker process body: silence third-party bars unless verbose, convert, report the outcome."""
    from ..verbosity import is_verbose  # ENSEMBLE_DEBUG is inherited from the parent's environment

    name = alias.name
    os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported: the conversions share the cores
    if not is_verbose():
        os.environ["TQDM_DISABLE"] = "1"  # read by tqdm when first imported: transformers' GGUF bar
    try:
        from ..quiet import quiet_third_party

        quiet_third_party()
        folder = alias.prepare(on_phase=lambda phase: messages.put(("phase", name, phase)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        return
    except ModelLoadError as exc:
        messages.put(("error", name, str(exc)))
    except Exception as exc:  # anything else, named after the alias
        messages.put(("error", name, f"converting model alias '{name}' failed: {type(exc).__name__}: {exc}"))
    else:
        messages.put(("done", name, str(folder)))
