// ensemble-cli web UI: plain JS, no framework, no CDN. Generation goes through the public API
// (/v1/chat/completions, streamed); the key is the server's cookie (see ui/auth.py).
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
};
let INFO = null;

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(path, { credentials: "same-origin", ...init });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || `${res.status} ${res.statusText}`);
  return data;
}

// -- spans (mirrors ui/spans.py: members_of, agreeing, merge_pieces, attribution_spans) ------
const membersOf = (model) => (model || "").split("+").filter(Boolean);
function agreeing(record) {
  if (!record) return [];
  const cands = record.candidates || [];
  const chosen = cands.find((c) => c.chosen);
  if (!chosen) return [];
  const same = (c) => (c.answer != null && chosen.answer != null ? c.answer === chosen.answer
    : c.text === chosen.text && c.chars === chosen.chars);
  const out = [chosen.model];
  for (const c of cands) if (c !== chosen && same(c) && !out.includes(c.model)) out.push(c.model);
  return out;
}
function mergePieces(pieces) {
  const out = [];
  for (const [text, model] of pieces) {
    if (!text) continue;
    if (out.length && out[out.length - 1].model === model) out[out.length - 1].text += text;
    else out.push({ text, model, details: [], models: membersOf(model) });
  }
  return out;
}
function attributionSpans(output, attribution, trace) {
  const rounds = new Map((trace || []).filter((r) => !r.stop).map((r) => [r.round, r]));
  const out = [];
  const add = (text, model, detail, models) => {
    const last = out[out.length - 1];
    if (last && last.model === model && last.models.join("+") === models.join("+")) { last.text += text; if (detail) last.details.push(detail); }
    else out.push({ text, model, details: detail ? [detail] : [], models });
  };
  let at = 0;
  for (const seg of attribution || []) {
    const text = seg.text || "";
    if (!text) continue;
    const found = output.indexOf(text, at);
    if (found < 0) continue;
    if (found > at) add(output.slice(at, found), null, null, []);
    const detail = { round: seg.round, score: seg.score, tokens: seg.tokens };
    const record = rounds.get(seg.round);
    let models = membersOf(seg.model);
    if (record) { detail.candidates = record.candidates || []; const agree = agreeing(record); if (agree.length) models = agree; }
    if (models.length > 1) detail.agree = models;
    add(text, seg.model ?? null, detail, models);
    at = found + text.length;
  }
  if (at < output.length) add(output.slice(at), null, null, []);
  return out;
}
let COLOURS = null;  // the colours of the recipe the playground runs now (a folder/builder recipe has its own)
const colour = (model) => (model && ((COLOURS || INFO.colours)[model] || INFO.colours[model])) || "#dddddd";
// several members produced the piece: stripes of all their colours
function background(s) {
  const models = s.models && s.models.length ? s.models : [s.model];
  if (models.length < 2) return `background:${colour(models[0])}`;
  const w = 6, stops = models.map((m, i) => `${colour(m)} ${i * w}px ${(i + 1) * w}px`).join(", ");
  return `background:repeating-linear-gradient(135deg, ${stops})`;
}

function renderSpans(box, spans, onPick) {
  box.replaceChildren(...spans.map((s) => {
    const who = s.models && s.models.length > 1 ? `agreed: ${s.models.join(", ")}` : s.model;
    const title = s.model ? `${who}${s.details.length ? " · " + s.details.map(detailText).join(" | ") : ""}` : "not attributed";
    const blank = /^\s+$/.test(s.text) ? " ws" : "";  // a whitespace-only piece still shows its colour
    const agreed = s.models && s.models.length > 1 ? " agree" : "";
    const span = el("span", { class: "piece" + (s.model ? "" : " unknown") + blank + agreed, "data-model": s.model || "",
      "data-models": (s.models || []).join(" "), tabindex: 0, title, style: background(s), text: s.text });
    const pick = () => onPick && onPick(s);
    span.addEventListener("click", pick);
    span.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    return span;
  }));
}
const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(3));
const detailText = (d) => `round ${d.round}` + (d.score === null || d.score === undefined ? "" : `, score ${fmt(d.score)}`) + (d.tokens ? `, ${d.tokens} tok` : "") +
  (d.candidates ? `, ${d.candidates.length - 1} rejected` : "");
// the click/Enter view of a piece: per round its score and every candidate of that round with its score
function pieceDetails(s) {
  if (!s.model) return [el("p", { text: "not attributed by the aggregator" })];
  const head = el("p", { class: "piece-who" }, el("strong", { text: s.models && s.models.length > 1 ? `${s.models.join(" + ")} (agreed)` : s.model }));
  const rounds = s.details.map((d) => {
    const box = el("div", { class: "round", "data-round": d.round },
      el("div", { text: `round ${d.round} · score ${fmt(d.score)}` + (d.tokens ? ` · ${d.tokens} tokens` : "") + (d.agree ? ` · agreed: ${d.agree.join(", ")}` : "") }));
    if (d.candidates) {
      const rows = d.candidates.map((c) => el("tr", { class: c.chosen ? "chosen" : "rejected", "data-model": c.model, "data-score": c.score ?? "" },
        el("td", {}, el("span", { class: "swatch", style: `background:${colour(c.model)}` }), ` ${c.model}` + (c.sample !== undefined ? ` #${c.sample}` : "") + (c.attempt !== undefined ? ` (try ${c.attempt + 1})` : "")),
        el("td", { text: fmt(c.score) }), el("td", { text: c.chosen ? "chosen" : "rejected" }),
        el("td", { class: "cand-text", text: JSON.stringify(c.text).slice(1, -1) + (c.chars > c.text.length ? ` … (${c.chars} chars)` : "") + (c.answer != null ? `  → answer ${c.answer}` : "") })));
      box.append(el("table", { class: "candidates" }, el("tr", {}, ...["member", "score", "", "text (first 200 chars)"].map((h) => el("th", { text: h }))), ...rows));
    } else box.append(el("div", { class: "muted", text: "this method scores no candidates (nothing was rejected)" }));
    return box;
  });
  return [head, ...(rounds.length ? rounds : [el("p", { class: "muted", text: "no round details yet (they arrive with the last chunk)" })])];
}

// -- streaming ----------------------------------------------------------------------------------
async function streamChat(body, onPiece, signal) {
  const res = await fetch("/v1/chat/completions", {
    method: "POST", credentials: "same-origin", signal, headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new Error((data.error && data.error.message) || `${res.status} ${res.statusText}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", output = "", ensemble = null, usage = null, finish = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!line.startsWith("data: ")) continue;
      const payload = line.slice(6);
      if (payload === "[DONE]") return { output, ensemble, usage, finish };
      const chunk = JSON.parse(payload);
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      if (chunk.ensemble) ensemble = chunk.ensemble;
      for (const c of chunk.choices || []) {
        if (c.finish_reason) finish = c.finish_reason;
        const text = c.delta && c.delta.content;
        if (text) { output += text; onPiece(text, chunk.ensemble_piece ? chunk.ensemble_piece.model : null); }
      }
    }
  }
  return { output, ensemble, usage, finish };
}

// -- tabs ---------------------------------------------------------------------------------------
function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const show = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", on);
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
  };
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => show(t));
    t.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") show(tabs[(i + 1) % tabs.length]);
      if (e.key === "ArrowLeft") show(tabs[(i + tabs.length - 1) % tabs.length]);
    });
  });
}

// -- playground -----------------------------------------------------------------------------------
let history = [];
let controller = null;

function playRequest() {
  const prompt = $("prompt").value;
  const messages = $("play-chat").checked ? [...history, { role: "user", content: prompt }] : [{ role: "user", content: prompt }];
  const body = { model: $("play-model").value, messages };
  const num = (id, key, parse) => { const v = $(id).value; if (v !== "") body[key] = parse(v); };
  num("play-max-tokens", "max_tokens", (v) => parseInt(v, 10));
  num("play-temperature", "temperature", parseFloat);
  num("play-seed", "seed", (v) => parseInt(v, 10));
  return body;
}

// a folder or builder recipe: the server checks it runs on the loaded models and serves it by name
async function prepareModel(body) {
  const option = $("play-model").selectedOptions[0];
  if (!option || (!option.dataset.file && !option.dataset.yaml)) { COLOURS = null; setLegend(INFO.members); return body; }
  const used = await api("/ui/api/recipes/use", option.dataset.file ? { file: option.dataset.file } : { yaml: option.dataset.yaml });
  COLOURS = used.colours;
  setLegend(used.members);
  return { ...body, model: used.model };
}
function setLegend(members) {
  $("legend").replaceChildren(...members.map((m) => el("span", { style: `background:${colour(m)}`, text: m })),
    members.length > 1 ? el("span", { class: "agree", style: background({ models: members }), text: "stripes: members agreed" }) : null);
}

async function send() {
  let body = playRequest();
  const answer = $("answer");
  const pieces = [];
  $("details").textContent = "";
  $("meta").textContent = "";
  answer.dataset.state = "streaming";
  $("send").disabled = true; $("stop").disabled = false;
  controller = new AbortController();
  const t0 = performance.now();
  let firstAt = null;
  try { body = await prepareModel(body); } catch (err) {
    answer.dataset.state = "error"; $("details").className = "details error"; $("details").textContent = `error: ${err.message}`;
    $("send").disabled = false; $("stop").disabled = true; return;
  }
  const showDetails = (s) => { $("details").className = "details"; $("details").replaceChildren(...pieceDetails(s)); };
  try {
    const result = await streamChat(body, (text, model) => {
      if (firstAt === null) firstAt = performance.now();
      pieces.push([text, model]);
      renderSpans(answer, mergePieces(pieces), showDetails);
    }, controller.signal);
    const choice = result.ensemble && result.ensemble.choices && result.ensemble.choices[0];
    const final = choice ? attributionSpans(result.output, choice.attribution, choice.trace) : [];
    const attributed = final.some((s) => s.model);
    renderSpans(answer, attributed ? final : mergePieces(pieces), showDetails);
    answer.dataset.output = result.output;
    const secs = (performance.now() - t0) / 1000;
    const parts = [];
    if (result.usage) parts.push(`tokens: ${result.usage.prompt_tokens} prompt + ${result.usage.completion_tokens} completion`);
    if (choice) parts.push(`rounds: ${choice.rounds}`, `stop: ${choice.stop_cause || result.finish}`, `members: ${choice.selected_models.join(", ")}`);
    else if (result.finish) parts.push(`finish: ${result.finish}`);
    parts.push(`time: ${secs.toFixed(2)} s` + (firstAt ? ` (first piece ${((firstAt - t0) / 1000).toFixed(2)} s)` : ""));
    $("meta").textContent = parts.join(" · ");
    if ($("play-chat").checked) {
      history = [...body.messages, { role: "assistant", content: result.output }];
      renderHistory();
      $("prompt").value = "";
    }
    answer.dataset.state = "done";
  } catch (err) {
    answer.dataset.state = "error";
    $("meta").textContent = "";
    $("details").textContent = `error: ${err.message}`;
    $("details").className = "details error";
  } finally {
    $("send").disabled = false; $("stop").disabled = true; controller = null;
  }
}

function renderHistory() {
  $("history").replaceChildren(...history.map((m) => el("div", { class: "history-turn", text: `${m.role}: ${m.content}` })));
}

function snippet(kind) {
  const body = { ...playRequest(), stream: false };
  const url = `${location.origin}/v1`;
  const key = INFO.auth ? "$ENSEMBLE_API_KEY" : null;
  let text;
  if (kind === "curl") {
    text = `curl ${url}/chat/completions -H 'Content-Type: application/json'` +
      (key ? ` -H "Authorization: Bearer ${key}"` : "") + ` \\\n  -d '${JSON.stringify(body).replace(/'/g, "'\\''")}'`;
  } else {
    const { model, messages, ...rest } = body;
    delete rest.stream;
    const extra = Object.entries(rest).map(([k, v]) => `, ${k}=${JSON.stringify(v)}`).join("");
    text = `from openai import OpenAI\n\nclient = OpenAI(base_url="${url}", api_key=${key ? 'os.environ["ENSEMBLE_API_KEY"]' : '"unused"'})\n` +
      `reply = client.chat.completions.create(model=${JSON.stringify(model)}, messages=${JSON.stringify(messages)}${extra})\n` +
      `print(reply.choices[0].message.content)\nprint(reply.model_extra["ensemble"])  # who wrote what\n`;
    if (key) text = "import os\n" + text;
  }
  const pre = $("snippet");
  pre.hidden = false;
  pre.textContent = text;
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
}

async function loadFolderRecipes() {
  if (!INFO.recipes_folder) return;
  const { recipes } = await api("/ui/api/recipes");
  const group = el("optgroup", { label: `recipes in ${INFO.recipes_folder}`, id: "folder-recipes" });
  for (const r of recipes) {
    const why = r.reason && r.reason.length > 70 ? r.reason.slice(0, 69) + "…" : r.reason;  // in full in the title
    const label = r.ok ? `${r.name} (${r.aggregator}: ${r.members.join(", ")})` : `${r.name || r.file} — unavailable: ${why}`;
    group.append(el("option", { value: r.name || r.file, "data-file": r.file, disabled: !r.ok, title: r.reason || r.file, text: label }));
  }
  $("play-model").append(group);
}
// the builder's "try it": the built recipe becomes a choice of the playground (its YAML is sent again on each use)
function addTried(name, yaml) {
  let group = $("tried-recipes");
  if (!group) { group = el("optgroup", { label: "from the recipe builder", id: "tried-recipes" }); $("play-model").append(group); }
  for (const o of [...group.children]) if (o.value === name) o.remove();
  group.append(el("option", { value: name, "data-yaml": yaml, text: `${name} (built)` }));
  $("play-model").value = name;
}

function setupPlayground() {
  const select = $("play-model");
  for (const name of INFO.models) select.append(el("option", { value: name, text: name === INFO.recipe ? `${name} (ensemble)` : `${name} (member alone)` }));
  loadFolderRecipes().catch((err) => { $("global-error").textContent = `recipes folder: ${err.message}`; });
  $("play-max-tokens").value = INFO.generation.max_tokens;
  if (INFO.max_tokens_cap) $("play-max-tokens").max = INFO.max_tokens_cap;
  $("play-temperature").value = INFO.generation.temperature;
  if (INFO.generation.seed !== null) $("play-seed").value = INFO.generation.seed;
  setLegend(INFO.members);
  $("send").addEventListener("click", send);
  $("stop").addEventListener("click", () => controller && controller.abort());
  $("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); send(); } });
  $("copy-curl").addEventListener("click", () => snippet("curl"));
  $("copy-openai").addEventListener("click", () => snippet("openai"));
  $("clear").addEventListener("click", () => { history = []; renderHistory(); $("answer").replaceChildren(); $("meta").textContent = ""; });
}

// -- side by side -------------------------------------------------------------------------------
function shuffle(list) {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [out[i], out[j]] = [out[j], out[i]]; }
  return out;
}

async function runSideBySide() {
  const prompt = $("sbs-prompt").value;
  const blind = $("blind").checked;
  const systems = blind ? shuffle(INFO.models) : [...INFO.models];
  const outputs = systems.map(() => "");
  $("vote").hidden = true; $("vote-status").textContent = "";
  const columns = systems.map((name, i) => {
    const label = blind ? `Answer ${String.fromCharCode(65 + i)}` : (name === INFO.recipe ? `${name} (ensemble)` : name);
    const out = el("div", { class: "out", "aria-live": "polite" });
    const col = el("div", { class: "column", "data-system": blind ? "" : name }, el("h3", { text: label }), out);
    return { col, out };
  });
  $("columns").replaceChildren(...columns.map((c) => c.col));
  $("sbs-run").disabled = true;
  await Promise.all(systems.map(async (name, i) => {
    const pieces = [];
    try {
      await streamChat({ model: name, messages: [{ role: "user", content: prompt }] }, (text, model) => {
        outputs[i] += text;
        pieces.push([text, blind ? null : model]);
        if (blind) columns[i].out.textContent = outputs[i];
        else renderSpans(columns[i].out, mergePieces(pieces), null);
      });
    } catch (err) {
      columns[i].out.textContent = `error: ${err.message}`;
      columns[i].out.classList.add("error");
    }
  }));
  $("sbs-run").disabled = false;
  if (blind && INFO.votes) {
    const vote = async (choice) => {
      try {
        const res = await api("/ui/api/vote", { prompt, shown: systems, outputs, choice, recipe: INFO.recipe });
        $("vote-status").textContent = `vote saved — that was ${res.winner}. Columns were: ` + systems.map((s, i) => `${String.fromCharCode(65 + i)} = ${s}`).join(", ");
        $("vote").hidden = true;
      } catch (err) { $("vote-status").textContent = `vote not saved: ${err.message}`; }
    };
    $("vote").replaceChildren(el("span", { text: "Which is best?" }),
      ...systems.map((_, i) => el("button", { "data-choice": i, text: `${String.fromCharCode(65 + i)} is best`, onclick: () => vote(i) })),
      el("button", { "data-choice": "tie", text: "Tie", onclick: () => vote("tie") }),
      el("button", { "data-choice": "all-bad", text: "All bad", onclick: () => vote("all-bad") }));
    $("vote").hidden = false;
  } else if (blind) {
    $("vote-status").textContent = "votes are not recorded (start the server with --votes FILE)";
  }
}

// -- recipe builder -------------------------------------------------------------------------------
let COMPONENTS = null;
let FORM = null;
let timer = null;

function resolveSchema(schema, root) {
  if (schema && schema.$ref) return resolveSchema(root.$defs[schema.$ref.split("/").pop()], root);
  if (schema && schema.anyOf) {
    const real = schema.anyOf.filter((s) => s.type !== "null");
    if (real.length === 1) return { ...resolveSchema(real[0], root), default: schema.default, description: schema.description, title: schema.title };
  }
  return schema || {};
}

function fieldFor(path, name, prop, value, onChange) {
  const id = "f-" + path.replace(/[^A-Za-z0-9]/g, "-");
  const help = [prop.description, prop.default !== undefined ? `default: ${JSON.stringify(prop.default)}` : null,
    prop.minimum !== undefined ? `≥ ${prop.minimum}` : null, prop.exclusiveMinimum !== undefined ? `> ${prop.exclusiveMinimum}` : null,
    prop.maximum !== undefined ? `≤ ${prop.maximum}` : null].filter(Boolean).join(" · ");
  let input;
  const placeholder = prop.default !== undefined && prop.default !== null ? JSON.stringify(prop.default) : "";
  if (prop.enum || prop.type === "boolean") {
    const options = prop.enum || [true, false];
    input = el("select", { id }, el("option", { value: "", text: placeholder ? `(default ${placeholder})` : "(unset)" }),
      ...options.map((o) => el("option", { value: JSON.stringify(o), text: String(o) })));
    input.value = value === undefined || value === null ? "" : JSON.stringify(value);
    input.addEventListener("change", () => onChange(input.value === "" ? null : JSON.parse(input.value)));
  } else if (prop.type === "integer" || prop.type === "number") {
    input = el("input", { id, type: "number", step: prop.type === "integer" ? 1 : "any", placeholder,
      min: prop.minimum, max: prop.maximum });
    input.value = value === undefined || value === null ? "" : value;
    input.addEventListener("input", () => onChange(input.value === "" ? null : Number(input.value)));
  } else {
    const structured = prop.type === "array" || prop.type === "object" || (!prop.type && !prop.enum);
    input = el("input", { id, type: "text", placeholder });
    input.value = value === undefined || value === null ? "" : (structured && typeof value !== "string" ? JSON.stringify(value) : value);
    input.addEventListener("input", () => {
      let v = input.value;
      if (v === "") v = null;
      else if (structured) { try { v = JSON.parse(v); } catch (e) { /* the validator names it */ } }
      onChange(v);
    });
  }
  return el("div", { class: "field", "data-path": path }, el("label", { for: id, text: name }), input,
    help ? el("div", { class: "help", text: help }) : null);
}

function componentFields(kind, base, spec, optional) {
  const box = el("fieldset", { "data-path": base }, el("legend", { text: base }));
  const list = COMPONENTS[kind];
  const typeId = "f-" + base.replace(/[^A-Za-z0-9]/g, "-") + "-type";
  const select = el("select", { id: typeId }, optional ? el("option", { value: "", text: "(none)" }) : null,
    ...list.map((c) => el("option", { value: c.name, text: c.plugin === "ensemble-cli" || c.plugin === "builtins" ? c.name : `${c.name} (${c.plugin})` })));
  select.value = spec && spec.type ? spec.type : "";
  select.addEventListener("change", () => {
    const target = base.startsWith("models.") ? FORM.models[Number(base.split(".")[1])] : FORM;
    if (base.startsWith("models.")) { target.generator = select.value; target.params = {}; }
    else FORM[base] = select.value ? { type: select.value, params: {} } : null;
    renderBuilder(); refresh();
  });
  const typePath = base.startsWith("models.") ? `${base}.generator` : `${base}.type`;
  box.append(el("div", { class: "field", "data-path": typePath }, el("label", { for: typeId, text: base.startsWith("models.") ? "generator" : "type" }), select));
  const comp = list.find((c) => c.name === (spec && spec.type));
  if (comp) {
    box.append(el("div", { class: "help", text: comp.description || "" }));
    const props = comp.schema.properties || {};
    for (const [name, raw] of Object.entries(props)) {
      const prop = resolveSchema(raw, comp.schema);
      box.append(fieldFor(`${base}.params.${name}`, name, prop, spec.params ? spec.params[name] : undefined, (v) => {
        spec.params = spec.params || {};
        if (v === null) delete spec.params[name]; else spec.params[name] = v;
        refresh();
      }));
    }
  }
  return box;
}

function renderBuilder() {
  const form = $("builder-form");
  const text = (path, label, get, set) => {
    const id = "f-" + path.replace(/[^A-Za-z0-9]/g, "-");
    const input = el("input", { id, type: "text" });
    input.value = get() || "";
    input.addEventListener("input", () => { set(input.value); refresh(); });
    return el("div", { class: "field", "data-path": path }, el("label", { for: id, text: label }), input);
  };
  const kids = [text("name", "name", () => FORM.name, (v) => { FORM.name = v; })];
  const models = el("fieldset", { "data-path": "models" }, el("legend", { text: "models" }));
  FORM.models.forEach((m, i) => {
    const spec = { type: m.generator || "hf", params: m.params || {} };
    m.params = spec.params;
    const box = componentFields("generator", `models.${i}`, spec, false);
    box.insertBefore(text(`models.${i}.name`, "member name", () => m.name, (v) => { m.name = v; }), box.children[1]);
    box.append(el("button", { type: "button", text: "Remove member", onclick: () => { FORM.models.splice(i, 1); renderBuilder(); refresh(); } }));
    models.append(box);
  });
  models.append(el("button", { type: "button", text: "Add member", onclick: () => { FORM.models.push({ name: `m${FORM.models.length + 1}`, generator: "hf", params: {} }); renderBuilder(); refresh(); } }));
  kids.push(models);
  for (const kind of ["selector", "aggregator", "scorer"]) kids.push(componentFields(kind, kind, FORM[kind], kind !== "aggregator"));
  const gen = { type: "generation", params: FORM.generation || {} };
  FORM.generation = gen.params;
  const genBox = componentFields("generation", "generation", gen, false);
  genBox.querySelector(".field").remove();  // no type to choose
  // generation fields live at generation.X, not generation.params.X
  for (const f of genBox.querySelectorAll(".field")) f.dataset.path = f.dataset.path.replace("generation.params.", "generation.");
  kids.push(genBox);
  form.replaceChildren(...kids);
}

function formForServer() {
  const out = JSON.parse(JSON.stringify(FORM));
  return out;
}

function showProblems(result) {
  for (const node of document.querySelectorAll(".field-error")) node.remove();
  for (const node of document.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  const loose = [];
  for (const p of result.problems) {
    let path = p.path, field = null;
    while (path && !(field = document.querySelector(`#builder-form [data-path="${CSS.escape(path)}"]`))) path = path.split(".").slice(0, -1).join(".");
    const note = el("div", { class: "field-error", role: "alert", "data-error-for": p.path, text: `${p.path}: ${p.message}` });
    if (field) { field.classList.add("invalid"); field.append(note); } else loose.push(note);
  }
  $("builder-errors").replaceChildren(...loose.map((n) => el("li", {}, n)));
  $("builder-status").textContent = result.ok ? `valid (hash ${result.hash})` : `${result.problems.length} problem(s)`;
  $("builder-status").className = result.ok ? "ok" : "error";
}

function refresh() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      const result = await api("/ui/api/builder", { form: formForServer() });
      if (document.activeElement !== $("yaml")) $("yaml").value = result.yaml;
      showProblems(result);
    } catch (err) { $("builder-status").textContent = `error: ${err.message}`; }
  }, 200);
}

function refreshFromYaml() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      const result = await api("/ui/api/builder", { yaml: $("yaml").value });
      if (result.form) { FORM = result.form; FORM.generation = FORM.generation || {}; renderBuilder(); }
      showProblems(result);
    } catch (err) { $("builder-status").textContent = `error: ${err.message}`; }
  }, 300);
}

async function setupBuilder() {
  COMPONENTS = await api("/ui/api/components");
  const r = INFO.recipe_form;
  FORM = { name: `${r.name}-copy`, models: r.models.map((m) => ({ ...m, params: { ...m.params } })),
    selector: r.selector, aggregator: r.aggregator, scorer: r.scorer, generation: { ...r.generation } };
  renderBuilder();
  refresh();
  $("yaml").addEventListener("input", refreshFromYaml);
  $("try-it").addEventListener("click", async () => {
    try {
      const used = await api("/ui/api/recipes/use", { yaml: $("yaml").value });
      addTried(used.model, $("yaml").value);
      $("try-status").textContent = "";
      $("tab-play").click();
      $("prompt").focus();
    } catch (err) { $("try-status").textContent = `cannot try it here: ${err.message}`; }
  });
  $("download").addEventListener("click", () => {
    const link = el("a", { href: URL.createObjectURL(new Blob([$("yaml").value], { type: "application/yaml" })), download: `${FORM.name || "recipe"}.yaml` });
    document.body.append(link); link.click(); link.remove();
  });
}

// -- bench viewer -------------------------------------------------------------------------------
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
const ci = (pair) => (pair && pair[0] !== null ? `[${pct(pair[0])}, ${pct(pair[1])}]` : "");

async function openBench() {
  const index = $("bench-folder").value;
  $("bench-summary").textContent = "loading…";
  try {
    const doc = await api(`/ui/api/bench/${index}`);
    $("bench-note").textContent = "";
    renderBench(doc);
    $("bench-plots").replaceChildren(...(doc.plots || []).map((name) => el("figure", {},
      el("img", { src: `/ui/api/bench/${index}/plot/${encodeURIComponent(name)}`, alt: `${name} of ${doc.folder}`, "data-plot": name }),
      el("figcaption", { class: "muted", text: name }))));
  } catch (err) { $("bench-summary").replaceChildren(el("p", { class: "error", text: err.message })); }
}

function renderBench(doc) {
  const c = doc.comparison, s = doc.summary;
  const row = (sys, role) => {
    const cost = sys.cost || {};
    const share = c.attributed_share[sys.name];
    return el("tr", { "data-system": sys.name }, el("td", { text: sys.name + (role ? ` (${role})` : "") }),
      el("td", { text: `${sys.correct}/${sys.total}` }), el("td", { text: pct(sys.accuracy) }), el("td", { text: ci(sys.ci95) }),
      el("td", { text: cost.generated_tokens ?? "" }), el("td", { text: cost.seconds ?? "" }),
      el("td", { text: cost.time_vs_best ?? "" }), el("td", { text: share === undefined ? "" : pct(share) }));
  };
  const head = el("tr", {}, ...["system", "correct", "accuracy", "95% CI", "tokens", "seconds", "time × best", "output share"].map((h) => el("th", { text: h })));
  const table = el("table", { id: "bench-table" }, head, ...c.members.map((m) => row(m, m.name === c.best_member ? "best member" : "")), row(c.ensemble, "ensemble"));
  const facts = el("p", { id: "bench-facts",
    text: `${s.recipe}: ${s.problems} problems · lift ${pct(s.lift)} ${ci(s.lift_ci95)} over ${s.best_member} · McNemar p = ${s.mcnemar.p_value} ` +
      `(${s.mcnemar.ensemble_only} ensemble-only, ${s.mcnemar.best_only} best-only) · oracle ${pct(s.oracle.accuracy)}` });
  $("bench-summary").replaceChildren(facts, table);
  const systems = [...doc.members, doc.ensemble];
  const mark = (v) => (v === true ? "✓" : v === false ? "✗" : "–");
  const prows = doc.problems.map((p) => {
    const tr = el("tr", { class: "problem", tabindex: 0, "data-id": p.id }, el("td", { text: p.id }),
      el("td", { text: String(p.prompt || "").slice(0, 80) }), el("td", { text: p.reference ?? "" }),
      ...systems.map((n) => el("td", { class: p.systems[n].correct ? "ok" : "bad", text: `${mark(p.systems[n].correct)} ${p.systems[n].answer ?? ""}` })));
    const open = () => {
      $("bench-detail").replaceChildren(...systems.map((n) => el("div", { class: "column", "data-system": n },
        el("h3", { text: `${n} ${mark(p.systems[n].correct)} (answer ${p.systems[n].answer ?? "none"}, reference ${p.reference ?? "?"})` }),
        el("div", { class: "out", text: p.systems[n].output ?? "" }))));
    };
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    return tr;
  });
  $("bench-problems").replaceChildren(el("table", { id: "problems-table" },
    el("tr", {}, ...["id", "prompt", "reference", ...systems].map((h) => el("th", { text: h }))), ...prows));
}

// a bench.json alone (its records files are elsewhere): the stored comparison as the table, nothing more
function benchFromJson(bench, file) {
  if (!bench || !Array.isArray(bench.members) || !bench.ensemble || !bench.ensemble.name) throw new Error(`${file} is not a bench.json (no members / ensemble)`);
  return {
    folder: file, ensemble: bench.ensemble.name, members: bench.members.map((m) => m.name), problems: [], plots: [],
    comparison: { ...bench, attributed_share: bench.attributed_share || {} },
    summary: { recipe: bench.recipe, problems: bench.problems ?? bench.compared, lift: bench.lift, best_member: bench.best_member,
      mcnemar: bench.mcnemar || {}, oracle: bench.oracle || {} },
  };
}
async function uploadBench() {
  const file = $("bench-upload").files[0];
  if (!file) return;
  try {
    const doc = benchFromJson(JSON.parse(await file.text()), file.name);
    renderBench(doc);
    $("bench-plots").replaceChildren();
    $("bench-detail").replaceChildren();
    $("bench-problems").replaceChildren();
    $("bench-note").textContent = `${file.name} alone: the table as the bench stored it. Its records files are not here, so there is no ` +
      "per-problem view, no intervals re-computed from the records and no plots: start the server with --bench FOLDER for those.";
  } catch (err) { $("bench-summary").replaceChildren(el("p", { class: "error", text: `cannot read ${file.name}: ${err.message}` })); }
}

function setupBench() {
  $("bench-upload").addEventListener("change", uploadBench);
  const select = $("bench-folder");
  INFO.benches.forEach((b, i) => select.append(el("option", { value: i, text: b })));
  $("bench-none").hidden = INFO.benches.length > 0;
  $("bench-open").disabled = INFO.benches.length === 0;
  $("bench-open").addEventListener("click", openBench);
}

// -- start --------------------------------------------------------------------------------------
(async () => {
  setupTabs();
  try {
    INFO = await api("/ui/api/info");
  } catch (err) { $("global-error").textContent = `cannot reach the server: ${err.message}`; return; }
  $("recipe-name").textContent = `· ${INFO.recipe} (${INFO.aggregator})`;
  $("logout").hidden = !INFO.auth;
  setupPlayground();
  $("sbs-run").addEventListener("click", runSideBySide);
  setupBench();
  await setupBuilder().catch((err) => { $("builder-status").textContent = `builder unavailable: ${err.message}`; });
  document.body.dataset.ready = "true";
})();
