"""What ``--ray`` asks for: where the cluster is and the shape of the actor pool (no Ray import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..recipe import ResolvedRecipe

LOCAL = "local"  #: ``--ray`` with no address (or ``--ray local``): start a local Ray instance here


@dataclass(frozen=True)
class RayOptions:
    """The actor pool: ``workers`` actors of ``num_cpus`` CPUs (and torch threads) each (``None``: as
    many as the cluster holds, and no more than there are batches); ``num_gpus`` ``None`` means "what
    the recipe's vLLM members need" (see ``gpus_for``). A batch whose worker dies is sent again to
    another worker up to ``max_retries`` times, then its rows get error records."""

    address: str = LOCAL
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--ray-workers must be at least 1, got {self.workers}")
        if self.num_cpus <= 0:
            raise UsageError(f"--ray-num-cpus must be above 0, got {self.num_cpus}")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise UsageError(f"--ray-num-gpus must be 0 or more, got {self.num_gpus}")
        if self.max_retries < 0:
            raise UsageError(f"--ray-max-retries must be 0 or more, got {self.max_retries}")

    @property
    def where(self) -> str:
        """The address as said in messages."""
        return "a local Ray instance" if self.address == LOCAL else self.address

    def gpus_for(self, resolved: ResolvedRecipe) -> float:
        """GPUs per worker: as given, else the sum of the recipe's vLLM members' ``tensor_parallel_size``
        (each in-process vLLM engine holds its own GPUs; ``hf`` and ``openai`` members need none)."""
        if self.num_gpus is not None:
            return self.num_gpus
        return float(sum(getattr(m.config, "tensor_parallel_size", 0) for m in resolved.models if m.type == "vllm"))

    def pool_size(self, resources: dict[str, float], gpus: float, batches: int) -> int:
        """How many workers to start: as asked, else what ``resources`` (the cluster's totals) hold."""
        if self.workers is not None:
            return self.workers
        fits = int(resources.get("CPU", 0.0) // self.num_cpus)
        if gpus > 0:
            fits = min(fits, int(resources.get("GPU", 0.0) // gpus))
        return max(1, min(fits, batches))
