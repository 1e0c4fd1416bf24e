"""What the engine reports while it works, for whoever shows progress (the CLI's status lines).

Two streams, both plain callbacks that the caller passes in (never global state):

- *loading*: ``Pipeline.load(on_event=...)`` reports each built-in alias being converted (with
  the phase it is in) and each member being loaded (with what it turned out to be: parameters,
  dtype, bytes, seconds); see ``LoadEvent``.
- *generation*: an aggregator calls ``EnsembleContext.progress(index, tokens, rounds)`` after
  every round (segment methods), chunk (whole-answer methods) or token step (token-level
  methods), so a run's display moves long before a batch finishes; see ``RowProgress``.

Each load event reads as one status line (``str(event)``), so the CLI's live display and the
server's log say the same thing. The callbacks may be called from worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RowProgress:
    """How far one example has got in the aggregator call working on it.

    ``tokens``: tokens of the example's output so far (0 while a response-level method is still
    writing candidates it has not chosen between). ``rounds``: rounds, chunks or token steps played
    so far in the current stage.
    """

    tokens: int
    rounds: int


#: ``on_progress(index, progress)``: ``index`` is the example's position in the call's examples.
ProgressHook = Callable[[int, RowProgress], None]


@dataclass(frozen=True)
class Footprint:
    """What a loaded model turned out to be, for the status line (``Generator.footprint``)."""

    params: int  #: number of parameters
    bytes: int  #: memory the weights take
    dtype: str  #: e.g. ``bfloat16``
    device: str = "cpu"


@dataclass(frozen=True)
class Converting:
    """A built-in alias is being converted into the cache (``phase`` says which step it is in)."""

    alias: str
    source_bytes: int  #: size of the weights it starts from (the GGUF file or its parts)
    phase: str = "starting"

    def __str__(self) -> str:
        step = "starting a worker" if self.phase == "starting" else self.phase
        return f"converting {self.alias} ({human_bytes(self.source_bytes)} GGUF, once per machine): {step}"


@dataclass(frozen=True)
class Converted:
    alias: str
    seconds: float
    bytes: int  #: size of the converted checkpoint on disk

    def __str__(self) -> str:
        return f"converted {self.alias} in {self.seconds:.1f} s ({human_bytes(self.bytes)} in the cache)"


@dataclass(frozen=True)
class Loading:
    """Member ``member`` starts loading; ``label`` says what (e.g. ``hf gemma3-270m bfloat16``)."""

    member: str
    label: str

    def __str__(self) -> str:
        return f"loading model {self.member} ({self.label})"


@dataclass(frozen=True)
class Loaded:
    member: str
    label: str
    seconds: float
    footprint: Footprint | None = None  #: None for backends without local weights (remote servers)

    def __str__(self) -> str:
        """``loaded model smol (hf smollm2-135m-instruct bfloat16: 135M params, 269 MB) in 0.4 s``;
        the real dtype is added when the label doesn't say it (``dtype: auto``), the device when
        it is not the CPU."""
        what = self.label
        fp = self.footprint
        if fp is not None:
            parts = [f"{human_count(fp.params)} params"]
            if fp.dtype not in self.label.split():
                parts.append(fp.dtype)
            parts.append(human_bytes(fp.bytes))
            if fp.device != "cpu":
                parts.append(f"on {fp.device}")
            what = f"{self.label}: {', '.join(parts)}"
        return f"loaded model {self.member} ({what}) in {self.seconds:.1f} s"


LoadEvent = Converting | Converted | Loading | Loaded
LoadListener = Callable[[LoadEvent], None]


def human_bytes(n: int) -> str:
    """``98362432`` → ``98 MB`` (decimal units, as pip and file managers show them)."""
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit != "MB" or size >= 10 else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_count(n: int) -> str:
    """``134515008`` → ``135M`` (parameters)."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M"
    return f"{n / 1e3:.0f}k" if n >= 1000 else str(n)
