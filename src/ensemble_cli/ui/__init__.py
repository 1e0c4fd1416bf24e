"""The web UI of ``ensemble serve --ui``: one offline page at ``/ui`` on the API's own app and port.

Why a page of our own rather than Gradio (which installs cleanly next to our pins): the page talks
to the very routes every API client uses (``/v1/chat/completions`` streamed, ``/status``), so the
API key, ``--max-tokens-cap``, the queue limit and batching apply to it by construction — a Gradio
app would call the engine from its own routes and queue and have to re-implement each of those
checks; the per-span colouring with click-for-details needs custom HTML either way; and it adds no
dependency beyond the ``serve`` extra (HTML, CSS and JS ship in ``ui/static``, no CDN).

Modules: ``app`` (routes under ``/ui``), ``auth`` (login page and key cookie), ``spans``
(attribution → coloured spans), ``builder`` (components' Config schemas, form ↔ YAML, validation by
path), ``bench_view`` (a bench folder as one JSON document), ``votes`` (blind-mode votes, JSONL).
"""
