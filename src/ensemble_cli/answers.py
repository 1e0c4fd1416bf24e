"""Final answers: extract one from a model's text or a dataset label, and compare two.

Parsing and equivalence are math-verify's (``1/2`` = ``0.5`` = ``\\frac{1}{2}``, ``1,234`` = ``1234``);
this module only decides *which part* of the text is the answer, because math-verify given a text
with several boxes returns them all as a set, and a grader must not reward hedging:

1. the **last** ``\\boxed{...}`` (or ``\\fbox{...}``), nested braces allowed;
2. else the rest of the line after the last GSM8K ``####`` marker (a model often keeps writing
   after it; only that line is the answer);
3. else what math-verify extracts from the whole text: an "answer is X" phrase when there is one
   (so "the answer is 5, doubled is 10" grades as 5), otherwise the last number or expression.
   ``Answer.text`` is then math-verify's string of what it extracted (``5``), not the whole text:
   records, reports and summaries show it (a cut-off solution has no box and no marker, and its
   "answer" must not be the whole solution).

A text with none of these has no answer (``None``), and ``None`` never equals anything, not even
another ``None``: an empty prediction against an empty label is wrong, not right.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K = "####"
TIMEOUT_ENV = "ENSEMBLE_GRADE_TIMEOUT"
DEFAULT_TIMEOUT = 60  #: seconds for one math-verify parse or comparison (its own default is 5)


@dataclass(frozen=True)
class Answer:
    text: str  #: the part of the text taken as the answer (inside the box, after ####, ...)
    parsed: tuple[Any, ...]  #: math-verify's parse of it (sympy expression, then its string form)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with balanced braces, or None."""
    found = None
    for m in _BOX.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = text[m.end() : i - 1]
    return found


def extract_answer(text: str | None) -> Answer | None:
    """The final answer of a model's output (rules in the module docstring)."""
    if not text or not text.strip():
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return _parse(boxed, "\\boxed{" + boxed + "}")
    if _GSM8K in text:
        tail = text.rsplit(_GSM8K, 1)[1].strip()
        tail = tail.splitlines()[0].strip() if tail else tail
        # "#### \$42": an escaped dollar (a model writing LaTeX-safe text) hides the number from math-verify
        tail = tail.replace("\\$", "$")
        return _parse(tail, tail) if tail else None
    found = _parse(text.strip(), text, as_extracted=True)
    if found is None and "\\" in text:
        # Bare LaTeX (a label like ``\\frac{1}{\\sqrt{2}}``) has no delimiters for math-verify to anchor
        # on; prose is never wrapped (it would parse as a product of symbols).
        found = _parse(text.strip(), "$" + text.strip() + "$")
    return found


def reference_answer(label: str | None) -> Answer | None:
    """A dataset label's answer: GSM8K ``#### 18`` solutions, MATH ``\\boxed{}`` solutions, bare values."""
    return extract_answer(label)


def same_answer(a: Answer | None, b: Answer | None) -> bool:
    """math-verify equivalence, checked both ways (its ``verify`` is not symmetric); None is never equal."""
    if a is None or b is None:
        return False
    from math_verify import verify

    t = _timeout()
    try:
        return bool(
            verify(list(a.parsed), list(b.parsed), timeout_seconds=t)
            or verify(list(b.parsed), list(a.parsed), timeout_seconds=t)
        )
    except Exception:  # noqa: BLE001 - math-verify can raise on exotic expressions; unequal then
        return False


def _parse(text: str, source: str, *, as_extracted: bool = False) -> Answer | None:
    """math-verify's parse of ``source`` as an ``Answer`` whose text is ``text``, or with
    ``as_extracted`` the string math-verify extracted (its last element) where it gives one."""
    from math_verify import parse

    t = _timeout()
    try:
        parsed = parse(source, parsing_timeout=t)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - unparseable means no answer, never a crash mid-run
        parsed = []
    if not parsed:
        return None
    shown = parsed[-1] if as_extracted and isinstance(parsed[-1], str) and parsed[-1].strip() else text
    return Answer(shown.strip(), tuple(parsed))


def _timeout() -> int | None:
    """Seconds math-verify may spend on one parse or one comparison before the answer counts as
    unparseable (and so wrong), from ``ENSEMBLE_GRADE_TIMEOUT`` (``0``: no limit), else 60.

    The limit only guards against pathological expressions, so it is generous: math-verify's timer
    is wall-clock (SIGALRM), and its pure-Python LaTeX grammar takes seconds on some ordinary
    answers (an interval such as ``[-2, 7]`` took 2-6 s here, more on a busy machine). With its
    default of 5 s the same MATH record graded right on a quiet machine and wrong beside a bench.
    SIGALRM can only be set from the main thread (the server grades in its engine thread): there,
    no limit rather than a ValueError."""
    if threading.current_thread() is not threading.main_thread():
        return None
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if seconds < 0:
        from ensemble_cli.errors import UsageError

        raise UsageError(f"{TIMEOUT_ENV}={raw!r}: expected a whole number of seconds (0 for no limit)")
    return seconds or None
