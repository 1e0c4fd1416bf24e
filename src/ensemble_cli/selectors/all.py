"""The ``all`` selector: every model in the recipe takes part in every request."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.components import ComponentConfig, Member, Selector
from ..core.types import Example


class AllConfig(ComponentConfig):
    pass


class AllSelector(Selector):
    description = "every model takes part in every request"
    Config = AllConfig

    def select(self, examples: Sequence[Example], members: Sequence[Member]) -> list[list[str]]:
        names = [m.name for m in members]
        return [list(names) for _ in examples]
