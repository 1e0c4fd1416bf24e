"""Connecting to Ray: a clear error when the extra is missing or the address does not answer.

``ray.init`` on an address nobody listens on retries for a long time before giving up, so a
``host:port`` or ``ray://host:port`` is first probed with a plain TCP connection (a few seconds at
most) and an unreachable one fails naming it. ``auto`` is left to Ray (it finds the cluster this
machine belongs to, or says there is none).
"""

from __future__ import annotations

import socket
from types import ModuleType

from ..errors import EnsembleError, UsageError
from ..verbosity import is_verbose
from .options import LOCAL, RayOptions

PROBE_SECONDS = 3.0


class ClusterError(EnsembleError):
    """The Ray cluster cannot be reached or cannot hold the actor pool."""

    exit_code = 2


def import_ray() -> ModuleType:
    """``ray``, or an error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--ray needs Ray, which is not installed: pip install 'ensemble-cli[ray]'"
        ) from None
    return ray


def connect(options: RayOptions) -> ModuleType:
    """Join the cluster at ``options.address`` (or start a local instance); the ``ray`` module."""
    ray = import_ray()
    address = options.address
    if address not in (LOCAL, "auto"):
        probe(address)
    local = {"include_dashboard": False} if address == LOCAL else {}
    try:  # the workers' own logs reach this terminal only in verbose mode; their errors come back as records
        ray.init(
            address=None if address == LOCAL else address, log_to_driver=is_verbose(), logging_level="ERROR", **local
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {options.where}: {exc}") from None
    return ray


def probe(address: str) -> None:
    """Fail fast when nothing listens at ``address`` (``host:port`` or ``ray://host:port``)."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()):
        raise UsageError(f"--ray address {address!r} is not host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} "
            "(is `ray start --head` running there, and is the port open?)"
        ) from None
