"""Running ``ensemble run`` / ``ensemble bench`` over a Ray cluster (the ``[ray]`` extra).

The driver keeps the whole contract of a local run (read and validate the input, skip resumed ids,
write records with the crash-safe writer, progress, exit codes); only the batch calls move to a
pool of Ray actors, each holding its own ``Pipeline``. ``options`` and ``worker`` import no Ray;
``ray_runner`` and ``cluster`` import it inside their functions, so the CLI starts without it.
"""

from .options import RayOptions

__all__ = ["RayOptions"]
