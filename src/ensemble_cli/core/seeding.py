"""Per-row seeds: reproducible sampling that never depends on how examples were batched.

Generators, the random selector and the random writer all derive their streams here, so a
seeded run gives the same result alone, in any batch, or behind the server.
"""

from __future__ import annotations

import hashlib


def row_seed(seed: int | None, *parts: str) -> int | None:
    """A per-row seed that depends on the recipe seed and the example, never on batch composition."""
    if seed is None:
        return None
    digest = hashlib.sha256("|".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)
