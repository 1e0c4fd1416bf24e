"""The server's routes, one module per group, each a module-level ``APIRouter``.

``info`` (``/health``, ``/status``, ``/v1/models``), ``completions`` (``/v1/completions``),
``chat`` (``/v1/chat/completions``), ``tokenizer`` (``/tokenizer_info``, ``/tokenize``,
``/detokenize``); ``replies`` holds what completions and chat share (streamed, replayed and
log-prob replies). Handlers reach the app's ``ServerState`` through the ``State`` dependency.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import chat, completions, info, tokenizer

#: in the order they appear in the OpenAPI document
ROUTERS: tuple[APIRouter, ...] = (info.router, completions.router, chat.router, tokenizer.router)

__all__ = ["ROUTERS"]
