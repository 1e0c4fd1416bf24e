"""The command that continues an interrupted ``run`` or ``bench``: printed when one is stopped.

Said rather than documented because the user has the exact line in hand then: this process's own
arguments with ``--resume`` added, its output pinned (a default output path is only a default), and
``--overwrite`` taken out (it would throw away what the resume keeps).
"""

from __future__ import annotations

import shlex
import sys


def resume_command(out: str, output_flags: tuple[str, ...]) -> str:
    """This process's command line with ``--resume`` and ``output_flags[0] out`` (unless given)."""
    args = list(sys.argv[1:])
    if "--resume" not in args:
        args.append("--resume")
    if not any(a in output_flags or a.startswith(f"{output_flags[0]}=") for a in args):
        args += [output_flags[0], out]
    args = [a for a in args if a != "--overwrite"]
    return "ensemble " + " ".join(shlex.quote(a) for a in args)
