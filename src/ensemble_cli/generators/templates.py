"""Chat-templated prompt *text*, for backends that hand text (not a live tokenizer) to an engine.

The ``hf`` generator renders and encodes in one step (``HFGenerator.prompt_ids``); ``vllm`` and
``openai`` need the same rendering rules so that one recipe means the same prompt on every backend:

* the tokenizer's chat template with the generation prompt added (or a Jinja template given in the
  recipe), the continuation then extends that assistant turn;
* without a template (Gemma-3-270M base) or with ``chat_template: plain``, the documented plain
  fallback: each turn as ``"<Role>: <content>\\n\\n"`` (system text as is), then ``"Assistant:\\n"``;
* a ``system_prompt`` is prepended as a system turn when the request has none.

``render_prompt`` also says whether the tokenizer's own special tokens (BOS) must be added when the
text is encoded: yes for the plain fallback (it has no BOS of its own), no for a chat template (the
template writes any BOS itself).
"""

from __future__ import annotations

from typing import Any

PLAIN_TEMPLATE = "plain: '<Role>: <content>\\n\\n' per turn, then 'Assistant:\\n'"


def with_system(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """``messages`` with ``system_prompt`` prepended as a system turn when they have none."""
    if system_prompt and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system_prompt}, *messages]
    return list(messages)


def plain_prompt(messages: list[dict[str, str]]) -> str:
    """The plain fallback rendering (no BOS: the encoder adds the tokenizer's own)."""
    return "".join(
        f"{m['content']}\n\n" if m["role"] == "system" else f"{m['role'].capitalize()}: {m['content']}\n\n"
        for m in messages
    ) + "Assistant:\n"


def render_prompt(
    tokenizer: Any | None,
    messages: list[dict[str, str]],
    *,
    chat_template: str = "auto",
    system_prompt: str | None = None,
) -> tuple[str, bool]:
    """The prompt text ending where the assistant's text begins, and whether to add special tokens.

    ``tokenizer`` may be ``None`` (a remote model with no local tokenizer): the plain fallback.
    """
    messages = with_system(messages, system_prompt)
    has_template = tokenizer is not None and getattr(tokenizer, "chat_template", None)
    if chat_template == "plain" or tokenizer is None or (chat_template == "auto" and not has_template):
        return plain_prompt(messages), True
    kwargs: dict[str, Any] = {} if chat_template == "auto" else {"chat_template": chat_template}
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)
    return text, False


def server_prompt_text(tokenizer: Any | None, text: str, add_special_tokens: bool) -> str:
    """Prompt text for a server that tokenizes it *with* special tokens (OpenAI completions do).

    A chat template that writes the BOS token as text (Gemma's ``<bos>``) would then get a second
    BOS from the server's tokenizer, so that leading BOS text is dropped when the tokenizer adds one.
    """
    if add_special_tokens or tokenizer is None:
        return text
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos):
        probe = tokenizer.encode("x", add_special_tokens=True)
        if probe and probe[0] == tokenizer.bos_token_id:
            return text[len(bos) :]
    return text
