"""The tokenizer endpoints in vLLM's shapes (lm-eval's remote tokenizer probes them), all on the
first member of the requested pipeline: ``/tokenizer_info``, ``/tokenize``, ``/detokenize``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ...core.components import Generator
from ...core.types import Example
from ..errors import bad_request
from ..schemas import DetokenizeRequest, TokenizeRequest
from ..service import check_ids, context_limit, first_generator, tokenizer_of
from ..state import ServerState, State, require_ready

router = APIRouter()


def _generator(state: ServerState, model: str | None) -> Generator:
    require_ready(state.engine)
    _, pipeline = state.pipelines.get(model, None)
    return first_generator(pipeline)


@router.get("/tokenizer_info", summary="The first member's tokenizer (special tokens, chat template)")
async def tokenizer_info(state: State, model: str | None = None) -> dict[str, Any]:
    gen = _generator(state, model)
    tok = tokenizer_of(gen)
    return {
        "tokenizer_class": type(tok).__name__,
        "eos_token": tok.eos_token,
        "bos_token": tok.bos_token,
        "pad_token": tok.pad_token,
        "unk_token": getattr(tok, "unk_token", None),
        "chat_template": getattr(tok, "chat_template", None),
        "model_max_length": context_limit(gen),
        "vocab_size": len(tok),
    }


@router.post("/tokenize", summary="Text (or a chat, templated as generation does) to the first member's ids")
async def tokenize(req: TokenizeRequest, state: State) -> dict[str, Any]:
    gen = _generator(state, req.model)
    tok = tokenizer_of(gen)

    def work() -> list[int]:
        if req.messages is not None:
            if not req.messages:
                raise bad_request("messages must not be empty", "messages")
            messages = [{"role": m.role, "content": m.text()} for m in req.messages]
            return list(gen.encode_prompt(Example(id="tokenize", messages=messages)))
        if req.prompt is None:
            raise bad_request("give 'prompt' or 'messages'", "prompt")
        return list(tok.encode(req.prompt, add_special_tokens=req.add_special_tokens))

    tokens = await run_in_threadpool(work)
    return {"count": len(tokens), "max_model_len": context_limit(gen), "tokens": tokens, "token_strs": None}


@router.post("/detokenize", summary="The first member's ids to text")
async def detokenize(req: DetokenizeRequest, state: State) -> dict[str, Any]:
    gen = _generator(state, req.model)
    check_ids(gen, req.tokens, "tokens")
    text = await run_in_threadpool(tokenizer_of(gen).decode, req.tokens)
    return {"prompt": text}
