// filterbank explore: the page. Plain JavaScript, no build step, no network beyond this server.
// It only calls the JSON API (/api/...) and draws on canvases. `window.explore` exposes the
// state so the browser tests can read what the page sent and showed.
"use strict";

const state = {
  model: null,          // GET /api/model
  pixels: null,         // the [0, 1] input last sent: nested h x w (x c) arrays
  source: "",           // where the input came from (shown under the input view)
  prediction: null,     // the last /api/predict answer (activations decoded)
  acts: {},             // layer name -> {shape, data: Float32Array, min, max}
  selected: null,       // {layer, index}
  explanation: null,    // the last /api/explain answer
  highlight: null,      // {layer, cells: [[r, c]], channels: null | [ch]}
  tiles: {},            // layer name -> [{canvas, channel}] (feature-map tiles)
  busy: false, queued: false, requests: 0, errors: [],
};
window.explore = state;

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const fmt = (v, digits = 4) => {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
};

// ---- talking to the server --------------------------------------------------------------
async function api(path, options = {}) {
  state.requests += 1;
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}
const postJSON = (path, payload) => api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
});

let errorTimer = null;
function showError(message) {
  state.errors.push(String(message));
  const box = $("error");
  box.textContent = message;
  box.classList.remove("hidden");
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => box.classList.add("hidden"), 6000);
}

function decode(value) {
  // {shape, base64} (little-endian float32) -> {shape, data}; nested lists -> the same.
  if (value && value.base64 !== undefined) {
    const bytes = Uint8Array.from(atob(value.base64), (c) => c.charCodeAt(0));
    return { shape: value.shape, data: new Float32Array(bytes.buffer) };
  }
  const flat = [];
  const shape = [];
  let v = value;
  while (Array.isArray(v)) { shape.push(v.length); v = v[0]; }
  (function walk(x) { if (Array.isArray(x)) x.forEach(walk); else flat.push(x); })(value);
  return { shape, data: Float32Array.from(flat) };
}

function nested(data, h, w, c) {
  // Flat (h*w*c) -> the API's pixels: h x w for one channel, h x w x c otherwise.
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = [];
    for (let x = 0; x < w; x++) {
      if (c === 1) row.push(data[y * w + x]);
      else row.push(Array.from(data.slice((y * w + x) * c, (y * w + x + 1) * c)));
    }
    rows.push(row);
  }
  return rows;
}

// ---- colours ----------------------------------------------------------------------------
const POS = [214, 96, 77], NEG = [67, 147, 195], HI = "#ffb000", SEL = "#e4572e";
function diverging(t) {
  // t in [-1, 1] -> white at 0, red for positive, blue for negative.
  const c = t >= 0 ? POS : NEG;
  const a = Math.min(1, Math.abs(t));
  return [255 + (c[0] - 255) * a, 255 + (c[1] - 255) * a, 255 + (c[2] - 255) * a];
}

function paintMap(canvas, h, w, valueAt, colour, marks) {
  // Draw an h x w map scaled to the canvas, then outline the marked cells.
  const ctx = canvas.getContext("2d");
  const img = new ImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = colour(valueAt(y, x));
      const i = 4 * (y * w + x);
      img.data[i] = r; img.data[i + 1] = g; img.data[i + 2] = b; img.data[i + 3] = 255;
    }
  }
  const off = document.createElement("canvas");
  off.width = w; off.height = h;
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  const sy = canvas.height / h, sx = canvas.width / w;
  for (const mark of marks || []) {
    if (!mark.cells.length) continue;
    // One frame around the marked cells' bounding box (a conv window, a pooling window).
    const rows = mark.cells.map((p) => p[0]), cols = mark.cells.map((p) => p[1]);
    const r0 = Math.min(...rows), r1 = Math.max(...rows), c0 = Math.min(...cols), c1 = Math.max(...cols);
    ctx.strokeStyle = mark.colour;
    ctx.lineWidth = mark.width || 2;
    const lw = ctx.lineWidth / 2;
    if (mark.box === false) {
      for (const [r, c] of mark.cells) ctx.strokeRect(c * sx + lw, r * sy + lw, sx - 2 * lw, sy - 2 * lw);
    } else {
      ctx.fillStyle = mark.fill || "rgba(255, 176, 0, 0.18)";
      ctx.fillRect(c0 * sx, r0 * sy, (c1 - c0 + 1) * sx, (r1 - r0 + 1) * sy);
      ctx.strokeRect(c0 * sx + lw, r0 * sy + lw, (c1 - c0 + 1) * sx - 2 * lw, (r1 - r0 + 1) * sy - 2 * lw);
    }
  }
}
const gray = (v) => { const g = Math.max(0, Math.min(1, v)) * 255; return [g, g, g]; };

// ---- the model: header and layer cards --------------------------------------------------
function renderFacts(m) {
  const facts = $("model-facts");
  facts.textContent = "";
  const parts = [["model", m.name], ["parameters", m.params.toLocaleString()],
    ["input", m.input_shape.join("×")]];
  if (m.data) parts.push(["trained on", m.data]);
  if (m.test_accuracy !== null) parts.push(["test accuracy", (100 * m.test_accuracy).toFixed(1) + "%"]);
  if (m.run) parts.push(["run", m.run]);
  parts.forEach(([k, v], i) => {
    if (i) facts.append(" · ");
    facts.append(k + " ");
    facts.append(el("b", null, v));
  });
}

function tileScale(h, w, count) {
  const target = count > 48 ? 52 : count > 16 ? 60 : 84;
  return Math.max(1, Math.round(target / Math.max(h, w)));
}

function layerCard(info) {
  const card = el("div", "card");
  card.id = "card-" + info.name;
  const shown = info.title || info.name;
  card.dataset.layer = info.name;
  const head = el("div", "head");
  head.append(el("span", "name", shown), el("span", "badge " + info.kind, info.type),
    el("span", "shape", "→ " + info.output_shape.join("×")),
    el("span", "small", info.params ? info.params.toLocaleString() + " params" : "no params"));
  const range = el("span", "range", "");
  range.id = "range-" + info.name;
  head.append(range);
  card.append(head);
  if (info.config) card.append(el("div", "config", info.config));
  if (info.formulas && info.formulas.length) card.append(el("div", "formulas", info.formulas.join("   ·   ")));
  const notes = [];
  if (info.receptive_field) notes.push(`each cell sees a ${info.receptive_field.join("×")} patch of the input`);
  if (info.dense_equivalent) notes.push(`a Dense layer between the same shapes would need ${info.dense_equivalent}`);
  if (notes.length) card.append(el("div", "config", notes.join(" · ")));
  const body = el("div", "body");
  body.id = "body-" + info.name;
  card.append(body);
  if (info.has_filters && info.kind === "conv") {
    const tools = el("div", "tools");
    const button = el("button", null, "show filters");
    button.addEventListener("click", () => toggleFilters(info, card, button));
    tools.append(button);
    card.append(tools);
  }
  return card;
}

function renderModel(m) {
  renderFacts(m);
  const root = $("layers");
  root.textContent = "";
  const input = { name: "__input__", title: "input", type: "Input", kind: "input", output_shape: m.input_shape,
    params: 0, config: "the image as the model receives it" + (m.input_value_range[0] !== 0 ||
      m.input_value_range[1] !== 1 ? ` (mapped to ${m.input_value_range.join("..")})` : ""),
    formulas: [], has_filters: false };
  root.append(layerCard(input));
  for (const info of m.layers) root.append(layerCard(info));
  const select = $("overlay-class");
  m.classes.forEach((name, i) => {
    const o = el("option", null, `class ${name}`);
    o.value = String(i);
    select.append(o);
  });
  if (!m.explain.includes("saliency") && !m.explain.includes("grad_cam")) {
    $("overlay-panel").classList.add("hidden");
  } else {
    for (const o of $("overlay-method").options) if (!m.explain.includes(o.value)) o.disabled = true;
  }
  const legend = $("legend");
  legend.append("values: ", el("span", null, "negative"), el("span", "ramp"),
    el("span", null, "positive"), " (white is 0; each layer scaled to its own largest |value|)");
  renderBars(null);
}

// ---- activations --------------------------------------------------------------------------
function layerInfo(name) {
  return state.model.layers.find((l) => l.name === name);
}

function renderActivations() {
  const m = state.model;
  const input = decode(state.prediction.input);
  const [h, w, c] = m.input_shape;
  const inputAct = { shape: [h, w, c], data: input.data, min: 0, max: 1, input: true };
  renderMapLayer("__input__", inputAct);
  for (const act of state.prediction.activations) {
    const decoded = decode(act.values);
    const entry = { shape: act.shape, data: decoded.data, min: act.min, max: act.max };
    if (act.shape.length === 2) {          // (steps, channels): drawn as maps one row high
      entry.shape = [1, act.shape[0], act.shape[1]];
      entry.rank2 = true;
    }
    state.acts[act.layer] = entry;
    if (entry.shape.length === 3) renderMapLayer(act.layer, entry);
    else renderVectorLayer(act.layer, entry);
  }
  state.acts.__input__ = inputAct;
}

function marksFor(layer, channel) {
  const marks = [];
  const hl = state.highlight;
  if (hl && hl.layer === layer && (!hl.channels || hl.channels.includes(channel))) {
    marks.push({ colour: HI, cells: hl.cells, width: 2, box: !hl.scattered });
  }
  const sel = state.selected;
  if (sel && sel.layer === layer && sel.index.length >= 2 && sel.index[sel.index.length - 1] === channel) {
    const cell = sel.index.length === 3 ? [sel.index[0], sel.index[1]] : [0, sel.index[0]];
    marks.push({ colour: SEL, cells: [cell], width: 2, fill: "rgba(228, 87, 46, 0.25)" });
  }
  return marks;
}

function renderMapLayer(name, act) {
  const [h, w, c] = act.shape;
  const body = $("body-" + name);
  const limit = Math.max(Math.abs(act.min), Math.abs(act.max)) || 1;
  $("range-" + name).textContent = `values ${fmt(act.min, 3)} … ${fmt(act.max, 3)}`;
  let tiles = state.tiles[name];
  if (!tiles || tiles.length !== c) {
    body.textContent = "";
    const wrap = el("div", "tiles");
    const s = name === "__input__" ? Math.max(1, Math.round(168 / Math.max(h, w))) : tileScale(h, w, c);
    tiles = [];
    for (let ch = 0; ch < c; ch++) {
      const tile = el("div", "tile");
      const canvas = el("canvas");
      canvas.width = w * s; canvas.height = h * s;
      canvas.dataset.layer = name;
      canvas.dataset.channel = String(ch);
      canvas.title = name === "__input__" ? "the input" : `${name}, channel ${ch}: click a cell`;
      if (name !== "__input__") {
        canvas.addEventListener("click", (ev) => {
          const r = Math.floor(ev.offsetY / (canvas.clientHeight / h));
          const col = Math.floor(ev.offsetX / (canvas.clientWidth / w));
          const c2 = Math.min(w - 1, col);
          selectCell(name, act.rank2 ? [c2, ch] : [Math.min(h - 1, r), c2, ch]);
        });
      }
      tile.append(canvas);
      if (c > 1) tile.append(el("span", "ch", String(ch)));
      wrap.append(tile);
      tiles.push({ canvas, channel: ch });
    }
    body.append(wrap);
    state.tiles[name] = tiles;
  }
  for (const { canvas, channel } of tiles) {
    const valueAt = (y, x) => act.data[(y * w + x) * c + channel];
    const colour = act.input ? gray : (v) => diverging(v / limit);
    paintMap(canvas, h, w, valueAt, colour, marksFor(name, channel));
  }
}

function renderVectorLayer(name, act) {
  const n = act.shape[act.shape.length - 1];
  const body = $("body-" + name);
  $("range-" + name).textContent = `values ${fmt(act.min, 3)} … ${fmt(act.max, 3)}`;
  let canvas = body.querySelector("canvas");
  if (!canvas) {
    body.textContent = "";
    const wrap = el("div", "dense-bars");
    canvas = el("canvas");
    canvas.width = 600; canvas.height = 70;
    canvas.dataset.layer = name;
    canvas.title = `${name}: click a bar`;
    canvas.addEventListener("click", (ev) => {
      const k = Math.floor(ev.offsetX / (canvas.clientWidth / n));
      selectCell(name, [Math.max(0, Math.min(n - 1, k))]);
    });
    wrap.append(canvas);
    body.append(wrap);
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const limit = Math.max(Math.abs(act.min), Math.abs(act.max)) || 1;
  const mid = act.min < 0 ? canvas.height / 2 : canvas.height - 2;
  const scale = (act.min < 0 ? canvas.height / 2 - 2 : canvas.height - 4) / limit;
  const bw = canvas.width / n;
  const sel = state.selected && state.selected.layer === name ? state.selected.index[0] : -1;
  const hl = state.highlight && state.highlight.layer === name ? state.highlight.indices || [] : [];
  for (let k = 0; k < n; k++) {
    const v = act.data[k];
    const [r, g, b] = diverging(v / limit);
    ctx.fillStyle = k === sel ? SEL : hl.includes(k) ? HI : `rgb(${r},${g},${b})`;
    const hgt = Math.max(1, Math.abs(v) * scale);
    ctx.fillRect(k * bw, v >= 0 ? mid - hgt : mid, Math.max(1, bw - (bw > 3 ? 1 : 0)), hgt);
  }
  ctx.fillStyle = "#c3ccd5";
  ctx.fillRect(0, mid, canvas.width, 1);
}

// ---- prediction -----------------------------------------------------------------------------
function renderBars(prediction) {
  const verdict = $("verdict");
  verdict.textContent = "";
  if (prediction) {
    const p = prediction.probabilities[prediction.predicted];
    verdict.append(el("b", null, prediction.predicted_class),
      `${(100 * p).toFixed(1)}% sure` + (p < 0.5 ? " (unsure: look at the other bars)" : ""));
  } else {
    verdict.textContent = "draw a digit, upload an image or pick a test image";
  }
  const bars = $("bars");
  bars.textContent = "";
  const classes = state.model.classes;
  classes.forEach((name, i) => {
    const p = prediction ? prediction.probabilities[i] : 0;
    const row = el("div", "bar" + (prediction && prediction.predicted === i ? " best" : ""));
    row.dataset.cls = String(i);
    row.dataset.p = String(p);
    const track = el("div", "track");
    const fill = el("div", "fill");
    fill.style.width = (100 * p).toFixed(2) + "%";
    track.append(fill);
    row.append(el("span", "label", name), track, el("span", "pct", prediction ? (100 * p).toFixed(1) + "%" : ""));
    bars.append(row);
  });
}

function renderInputView() {
  const [h, w, c] = state.model.input_shape;
  const input = decode(state.prediction.input);
  const canvas = $("input-view");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = 255 * input.data[i * c + (c === 1 ? 0 : k)];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const notes = state.prediction.notes && state.prediction.notes.length ? " · " + state.prediction.notes.join("; ") : "";
  $("input-note").textContent = `${h}×${w}×${c}, values 0..1 · ${state.source}${notes}`;
}

async function predict(pixels, source) {
  // One request at a time; while one runs, only the newest input waits (drawing stays smooth).
  state.pendingInput = { pixels, source };
  if (state.busy) { state.queued = true; return; }
  state.busy = true;
  try {
    while (state.pendingInput) {
      const { pixels: px, source: src } = state.pendingInput;
      state.pendingInput = null;
      const answer = await postJSON("/api/predict", { pixels: px, activations: true, encoding: "base64" });
      state.pixels = px;
      state.source = src;
      acceptPrediction(answer);
    }
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
    state.queued = false;
  }
}

function acceptPrediction(answer) {
  state.prediction = answer;
  renderBars(answer);
  renderInputView();
  renderActivations();
  document.body.dataset.predicted = String(answer.predicted);
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  if (state.selected) selectCell(state.selected.layer, state.selected.index, true);
  refreshOverlay();
}

// ---- drawing, with MNIST's framing ---------------------------------------------------------
function setupDrawing() {
  const canvas = $("draw");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let down = false, last = null, frame = 0;
  const point = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  };
  const stroke = (a, b) => {
    ctx.strokeStyle = "#fff"; ctx.fillStyle = "#fff";
    ctx.lineWidth = Number($("brush").value); ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
  };
  const update = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; sendDrawing(); });
  };
  canvas.addEventListener("pointerdown", (ev) => {
    down = true; last = point(ev);
    try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic event: no capture needed */ }
    stroke(last, last); update();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!down) return;
    const p = point(ev); stroke(last, p); last = p; update();
  });
  const up = () => { if (down) { down = false; sendDrawing(); } };
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  $("clear").addEventListener("click", () => { clear(); sendDrawing(); });
}

function frameLikeMnist(canvas, h, w) {
  // The digit's bounding box scaled (keeping its aspect) into round(20/28 of the size), placed
  // so that its centre of mass is the centre: MNIST's framing (preprocess.mnist_frame in Python).
  const src = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let r0 = Infinity, c0 = Infinity, r1 = -1, c1 = -1;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      if (src.data[4 * (y * canvas.width + x)] > 0.05 * 255) {
        if (y < r0) r0 = y; if (y > r1) r1 = y; if (x < c0) c0 = x; if (x > c1) c1 = x;
      }
    }
  }
  const out = new Float32Array(h * w);
  if (r1 < 0) return out;
  const ch = r1 - r0 + 1, cw = c1 - c0 + 1;
  const boxH = Math.max(1, Math.round(h * 20 / 28)), boxW = Math.max(1, Math.round(w * 20 / 28));
  const scale = Math.min(boxH / ch, boxW / cw);
  const nh = Math.max(1, Math.round(ch * scale)), nw = Math.max(1, Math.round(cw * scale));
  const small = document.createElement("canvas");
  small.width = nw; small.height = nh;
  const sctx = small.getContext("2d");
  sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = "high";
  sctx.drawImage(canvas, c0, r0, cw, ch, 0, 0, nw, nh);
  const px = sctx.getImageData(0, 0, nw, nh).data;
  const top = Math.floor((h - nh) / 2), left = Math.floor((w - nw) / 2);
  const placed = new Float32Array(h * w);
  let mass = 0, my = 0, mx = 0;
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const v = px[4 * (y * nw + x)] / 255;
      placed[(y + top) * w + (x + left)] = v;
      mass += v; my += v * (y + top + 0.5); mx += v * (x + left + 0.5);
    }
  }
  const dy = mass > 0 ? Math.round(h / 2 - my / mass) : 0;
  const dx = mass > 0 ? Math.round(w / 2 - mx / mass) : 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = y - dy, sx = x - dx;
      if (sy >= 0 && sy < h && sx >= 0 && sx < w) out[y * w + x] = placed[sy * w + sx];
    }
  }
  return out;
}

function sendDrawing() {
  const [h, w, c] = state.model.input_shape;
  const gray1 = frameLikeMnist($("draw"), h, w);
  const invert = state.model.light_on_dark === false;
  const data = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    // Rounded to 1/255 steps: the same values a PNG of this drawing would give.
    const v = Math.round(255 * (invert ? 1 - gray1[i] : gray1[i])) / 255;
    for (let k = 0; k < c; k++) data[i * c + k] = v;
  }
  predict(nested(data, h, w, c), "your drawing");
}

// ---- upload and test images ------------------------------------------------------------------
function setupUpload() {
  $("upload").addEventListener("change", async () => {
    const file = $("upload").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("image", file);
    form.append("frame", $("frame").checked ? "mnist" : "none");
    try {
      const answer = await api("/api/predict?activations=true&encoding=base64", { method: "POST", body: form });
      const [h, w, c] = state.model.input_shape;
      state.pixels = nested(decode(answer.input).data, h, w, c);
      state.source = "uploaded " + file.name;
      acceptPrediction(answer);
    } catch (e) {
      showError(e.message);
    }
  });
}

let sampleSeed = 0;
async function loadSamples(pickFirst) {
  const box = $("samples");
  try {
    const answer = await api(`/api/samples?count=12&seed=${sampleSeed}`);
    box.textContent = "";
    $("samples-note").textContent = `${answer.data}, ${answer.count.toLocaleString()} test images`;
    const [h, w, c] = state.model.input_shape;
    for (const s of answer.samples) {
      const flat = decode(s.pixels).data;
      const canvas = el("canvas");
      canvas.width = w; canvas.height = h;
      canvas.title = `test image #${s.index}: ${s.class}`;
      canvas.dataset.index = String(s.index);
      const img = new ImageData(w, h);
      for (let i = 0; i < h * w; i++) {
        for (let k = 0; k < 3; k++) img.data[4 * i + k] = 255 * flat[i * c + (c === 1 ? 0 : k)];
        img.data[4 * i + 3] = 255;
      }
      canvas.getContext("2d").putImageData(img, 0, 0);
      canvas.addEventListener("click", () => {
        box.querySelectorAll("canvas").forEach((x) => x.classList.remove("chosen"));
        canvas.classList.add("chosen");
        predict(nested(flat, h, w, c), `test image #${s.index} (true class ${s.class})`);
      });
      box.append(canvas);
    }
    if (pickFirst && !state.pixels && !state.busy && box.firstChild) box.firstChild.click();
  } catch (e) {
    box.textContent = e.message;
  }
}

function setupTabs() {
  document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t === tab));
    for (const name of ["draw", "upload", "samples"]) {
      $("body-" + name).classList.toggle("hidden", tab.dataset.tab !== name);
    }
    if (tab.dataset.tab === "samples" && !$("samples").children.length) loadSamples();
  }));
  $("more-samples").addEventListener("click", () => { sampleSeed += 1; loadSamples(); });
}

// ---- one cell's arithmetic ---------------------------------------------------------------------
async function selectCell(layer, index, quiet) {
  if (!state.pixels) { showError("draw, upload or pick an image first"); return; }
  state.selected = { layer, index };
  try {
    const e = await postJSON("/api/explain", { pixels: state.pixels, layer, index });
    state.explanation = e;
    const hl = { layer: e.input_layer || "__input__", cells: e.input_positions || [], channels: null };
    if (Array.isArray(hl.layer)) hl.cells = [];     // a merge: several inputs, nothing to frame
    else if (!state.acts[hl.layer] || layerIsInput(hl.layer)) hl.layer = "__input__";
    if (hl.cells.length && hl.cells[0].length === 1) hl.cells = hl.cells.map((p) => [0, p[0]]);
    if (e.kind === "max_pool" || e.kind === "average_pool" || e.kind === "global_pool") hl.channels = [e.channel];
    if (e.kind === "dense" && e.details && e.details.source_layer) {
      const src = e.contributions.filter((c) => c.source_position);
      hl.layer = state.acts[e.details.source_layer] ? e.details.source_layer : "__input__";
      hl.cells = src.map((c) => c.source_position.slice(0, 2));
      hl.channels = src.map((c) => c.source_position[2]);
      hl.scattered = true;
    } else if (e.kind === "dense") {
      hl.indices = e.contributions.map((c) => c.input_index);
      hl.cells = [];
    }
    state.highlight = hl;
    renderExplanation(e);
    redrawHighlights();
  } catch (err) {
    if (!quiet) showError(err.message);
  }
}

function layerIsInput(name) {
  return !state.model.layers.some((l) => l.name === name);
}

function redrawHighlights() {
  document.querySelectorAll(".card").forEach((c) => c.classList.remove("linked", "selected"));
  if (state.highlight) {
    const card = $("card-" + state.highlight.layer);
    if (card) card.classList.add("linked");
  }
  if (state.selected) {
    const card = $("card-" + state.selected.layer);
    if (card) card.classList.add("selected");
  }
  for (const [name, act] of Object.entries(state.acts)) {
    if (act.shape.length === 3) renderMapLayer(name, act);
    else renderVectorLayer(name, act);
  }
}

function numberTable(values, opts = {}) {
  // values: 2-D array; opts.pad: mask; opts.win: [r, c]; opts.colour: v -> css colour
  const table = el("table", "nums");
  values.forEach((row, r) => {
    const tr = el("tr");
    row.forEach((v, c) => {
      const td = el("td", null, cellText(v));
      td.title = String(v);
      if (opts.pad && opts.pad[r][c]) td.classList.add("pad");
      else if (opts.colour) td.style.background = opts.colour(v);
      if (opts.win && opts.win[0] === r && opts.win[1] === c) td.classList.add("win");
      tr.append(td);
    });
    table.append(tr);
  });
  return table;
}

function cellText(v) {
  // Grid cells are narrow: three decimals, no exponents (the full value is the cell's title).
  if (Math.abs(v) < 0.0005) return v === 0 ? "0" : (v < 0 ? "-0.000" : "0.000");
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3);
}

function block(caption, table) {
  const b = el("div", "grid-block");
  b.append(table, el("div", "cap", caption));
  return b;
}

const slice = (a3, k) => a3.map((row) => row.map((cell) => (Array.isArray(cell) ? cell[k] : cell)));
const absMax = (a) => Math.max(1e-12, ...a.flat(3).map((v) => Math.abs(v)));
const cssOf = (limit) => (v) => { const [r, g, b] = diverging(v / limit); return `rgb(${r | 0},${g | 0},${b | 0})`; };

function renderExplanation(e) {
  const box = $("arith-body");
  box.textContent = "";
  box.className = "arith";
  box.dataset.layer = e.layer;
  box.dataset.index = JSON.stringify(e.index);
  const title = el("div", "eq");
  title.append(`${e.layer}[${e.index.join(", ")}] = `);
  const out = el("b", null, fmt(e.output, 6));
  out.id = "arith-output";
  out.dataset.value = String(e.output);
  title.append(out);
  box.append(el("div", "small", `${e.layer_type} · ${e.kind}`), title);
  if (e.kind === "conv") renderConv(box, e);
  else if (e.kind === "max_pool" || e.kind === "average_pool") renderPool(box, e);
  else if (e.kind === "dense") renderDense(box, e);
  if (e.model_output !== null && e.model_output !== undefined) {
    box.append(el("div", "small", `the model computed ${fmt(e.model_output, 7)} here (float32); ` +
      `the arithmetic above is redone in float64.`));
  }
  const details = el("details");
  details.append(el("summary", "small", "as text"), el("pre", "text", e.text || ""));
  box.append(details);
}

function sourceName(name) {
  return Array.isArray(name) ? name.join(" + ") : layerIsInput(name) ? "the input" : name;
}

function renderConv(box, e) {
  const cin = e.window[0][0].length;
  const sums = [];
  for (let k = 0; k < cin; k++) sums.push(slice(e.products, k).flat().reduce((a, b) => a + b, 0));
  let best = 0;
  sums.forEach((s, k) => { if (Math.abs(s) > Math.abs(sums[best])) best = k; });
  const kh = e.window.length, kw = e.window[0].length;
  const [r0, c0] = e.origin;
  box.append(el("div", "small", `filter ${e.channel} slides over a ${kh}×${kw} window at rows ` +
    `${r0}..${r0 + kh - 1}, columns ${c0}..${c0 + kw - 1} of ${sourceName(e.input_layer)} ` +
    `(${cin} channel${cin > 1 ? "s" : ""}; highlighted there; hatched cells are zero padding).`));
  const pick = el("div", "row");
  const select = el("select");
  select.id = "arith-channel";
  sums.forEach((s, k) => {
    const o = el("option", null, `input channel ${k}: Σ = ${fmt(s, 4)}`);
    o.value = String(k);
    select.append(o);
  });
  select.value = String(best);
  if (cin > 1) pick.append(el("span", "small", "show"), select);
  box.append(pick);
  const grids = el("div", "grids");
  const draw = (k) => {
    grids.textContent = "";
    const w = slice(e.window, k), ker = slice(e.kernel, k), prod = slice(e.products, k);
    grids.append(block("input patch", numberTable(w, { pad: e.padding_mask, colour: cssOf(absMax(w)) })),
      el("span", "op", "⊙"), block(`kernel [:, :, ${k}, ${e.channel}]`, numberTable(ker, { colour: cssOf(absMax(ker)) })),
      el("span", "op", "="), block("products", numberTable(prod, { colour: cssOf(absMax(prod)) })));
  };
  select.addEventListener("change", () => draw(Number(select.value)));
  draw(best);
  box.append(grids);
  const eq = (text, value, id) => {
    const d = el("div", "eq", text);
    const b = el("b", null, fmt(value, 6));
    if (id) { b.id = id; b.dataset.value = String(value); }
    d.append(b);
    box.append(d);
  };
  if (cin > 1) eq(`Σ products of channel ${best} = `, sums[best]);
  eq(`sum of all ${kh * kw * cin} products = `, e.sum, "arith-sum");
  eq(`+ bias ${e.bias === null ? "(none)" : fmt(e.bias, 6)} = z = `, e.pre_activation, "arith-z");
  eq(`${e.activation}(z) = `, e.output);
}

function renderPool(box, e) {
  const isMax = e.kind === "max_pool";
  const win = isMax && e.winner ? e.winner.window_position : null;
  const kh = e.window.length;
  const kw = Array.isArray(e.window[0]) ? e.window[0].length : 1;
  box.append(el("div", "small", `${isMax ? "max" : "mean"} over a ${kh}×${kw} window of channel ${e.channel} ` +
    `of ${sourceName(e.input_layer)}, at rows ${e.origin[0]}.., columns ${e.origin[1]}.. (highlighted there).`));
  const grids = el("div", "grids");
  grids.append(block("window", numberTable(e.window, { pad: e.padding_mask, win, colour: cssOf(absMax(e.window)) })));
  box.append(grids);
  const d = el("div", "eq");
  if (isMax) d.append(`max = `, el("b", null, fmt(e.output, 6)), ` (the winner, at row ${e.winner.position[0]}, column ${e.winner.position[1]})`);
  else d.append(`${fmt(e.sum, 6)} / ${e.details.count} = `, el("b", null, fmt(e.output, 6)));
  box.append(d);
}

function renderDense(box, e) {
  const n = e.window.length;
  box.append(el("div", "small", `unit ${e.channel}: the ${n} inputs of ${sourceName(e.input_layer)} times this unit's weights, summed. ` +
    `The 10 largest products (highlighted in ${e.details && e.details.source_layer ? e.details.source_layer : e.input_layer}):`));
  const table = el("table", "contrib");
  const head = el("tr");
  ["input", "from", "value", "weight", "product"].forEach((t) => head.append(el("th", null, t)));
  table.append(head);
  for (const c of e.contributions) {
    const tr = el("tr");
    tr.append(el("td", null, String(c.input_index)), el("td", null, c.source_position ? `[${c.source_position.join(",")}]` : ""),
      el("td", null, fmt(c.input)), el("td", null, fmt(c.weight)), el("td", null, fmt(c.product)));
    table.append(tr);
  }
  box.append(table);
  const eq = (text, value) => { const d = el("div", "eq", text); d.append(el("b", null, fmt(value, 6))); box.append(d); };
  eq(`sum of all ${n} products = `, e.sum);
  eq(`+ bias ${e.bias === null ? "(none)" : fmt(e.bias, 6)} = z = `, e.pre_activation);
  eq(`${e.activation}(z${e.activation === "softmax" ? ", all units" : ""}) = `, e.output);
}

// ---- filters ---------------------------------------------------------------------------------------
async function toggleFilters(info, card, button) {
  let box = card.querySelector(".filters");
  if (box) { box.remove(); button.textContent = "show filters"; return; }
  try {
    const f = await api("/api/filters/" + encodeURIComponent(info.name));
    box = el("div", "filters");
    const [kh, kw, cin, cout] = f.shape;
    const row = el("div", "row");
    const select = el("select");
    for (let k = 0; k < cin; k++) { const o = el("option", null, `input channel ${k}`); o.value = String(k); select.append(o); }
    row.append(el("span", "small", `${cout} filters of ${kh}×${kw}×${cin} (weights ${fmt(f.min, 3)} … ${fmt(f.max, 3)}); slice of`), select);
    box.append(row);
    const tiles = el("div", "tiles");
    box.append(tiles);
    const limit = Math.max(Math.abs(f.min), Math.abs(f.max)) || 1;
    const draw = () => {
      tiles.textContent = "";
      const k = Number(select.value);
      for (let o = 0; o < cout; o++) {
        const tile = el("div", "tile");
        const canvas = el("canvas");
        const s = Math.max(4, Math.round(36 / Math.max(kh, kw)));
        canvas.width = kw * s; canvas.height = kh * s;
        canvas.title = `filter ${o}, input channel ${k}, bias ${fmt(f.bias ? f.bias[o] : 0)}`;
        paintMap(canvas, kh, kw, (y, x) => f.kernel[y][x][k][o], (v) => diverging(v / limit), []);
        tile.append(canvas, el("span", "ch", String(o)));
        tiles.append(tile);
      }
    };
    select.addEventListener("change", draw);
    draw();
    card.append(box);
    button.textContent = "hide filters";
  } catch (e) {
    showError(e.message);
  }
}

// ---- saliency and Grad-CAM -----------------------------------------------------------------------
async function refreshOverlay() {
  if ($("overlay-panel").classList.contains("hidden") || !state.pixels) return;
  const method = $("overlay-method").value;
  const cls = $("overlay-class").value;
  try {
    const payload = { pixels: state.pixels, method };
    if (cls !== "") payload.class = Number(cls);
    const o = await postJSON("/api/overlay", payload);
    const [h, w, c] = state.model.input_shape;
    const input = decode(state.prediction.input).data;
    const canvas = $("overlay");
    paintMap(canvas, h, w, (y, x) => [input[(y * w + x) * c], o.map[y][x]], ([g, m]) => {
      const base = 255 * g * 0.6;
      return [base + (255 - base) * m, base * (1 - m) + 176 * m * 0.6, base * (1 - m)];
    }, []);
    $("overlay-note").textContent = `${method === "grad_cam" ? "Grad-CAM" : "saliency"} for class ` +
      `${state.model.classes[o.class]}: brighter orange = more influence on that class's score`;
  } catch (e) {
    $("overlay-note").textContent = e.message;
  }
}

// ---- training curves ---------------------------------------------------------------------------------
function drawCurve(canvas, series, title) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 38, R = 8, T = 18, B = 22;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#1f2933";
  ctx.fillText(title, L, 12);
  const all = series.flatMap((s) => s.values);
  if (!all.length) { ctx.fillStyle = "#66788a"; ctx.fillText("no epochs yet", L, H / 2); return; }
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const n = Math.max(...series.map((s) => s.values.length));
  const X = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const Y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  ctx.strokeStyle = "#dde3ea"; ctx.lineWidth = 1;
  ctx.strokeRect(L, T, W - L - R, H - T - B);
  ctx.fillStyle = "#66788a";
  ctx.fillText(fmt(hi, 3), 2, T + 8); ctx.fillText(fmt(lo, 3), 2, H - B);
  ctx.fillText("epoch 1", L, H - 6); ctx.fillText(String(n), W - R - 10, H - 6);
  let lx = W - R - 150;
  for (const s of series) {
    if (!s.values.length) continue;
    ctx.strokeStyle = s.colour; ctx.fillStyle = s.colour; ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [5, 4] : []);
    ctx.beginPath();
    s.values.forEach((v, i) => (i ? ctx.lineTo(X(i), Y(v)) : ctx.moveTo(X(i), Y(v))));
    ctx.stroke();
    s.values.forEach((v, i) => { ctx.beginPath(); ctx.arc(X(i), Y(v), 2.5, 0, 7); ctx.fill(); });
    ctx.setLineDash([]);
    ctx.fillText(s.label, lx, 12); lx += 75;
  }
}

let historyTimer = null;
async function pollHistory() {
  try {
    const h = await api("/api/history");
    state.history = h;
    const get = (k) => h.history[k] || [];
    drawCurve($("curve-loss"), [
      { label: "training", values: get("loss"), colour: "#2e86ab" },
      { label: "validation", values: get("val_loss"), colour: "#e4572e", dashed: true }], "loss");
    drawCurve($("curve-acc"), [
      { label: "training", values: get("accuracy"), colour: "#2e86ab" },
      { label: "validation", values: get("val_accuracy"), colour: "#e4572e", dashed: true }], "accuracy");
    const note = $("curve-note");
    if (!h.source) note.textContent = "no training history in this run folder";
    else if (h.done) note.textContent = `${h.epochs} epochs (from ${h.source})`;
    else note.textContent = `training: epoch ${h.epochs}${h.epochs_planned ? " of " + h.epochs_planned : ""} done (live from ${h.source})`;
    document.body.dataset.curves = String(h.epochs);
    historyTimer = setTimeout(pollHistory, h.done ? 10000 : 2000);
  } catch (e) {
    historyTimer = setTimeout(pollHistory, 10000);
  }
}

// ---- start ---------------------------------------------------------------------------------------------
async function start() {
  try {
    state.model = await api("/api/model");
  } catch (e) {
    showError("cannot load the model: " + e.message);
    return;
  }
  renderModel(state.model);
  setupTabs();
  setupDrawing();
  setupUpload();
  $("overlay-method").addEventListener("change", refreshOverlay);
  $("overlay-class").addEventListener("change", refreshOverlay);
  pollHistory();
  document.body.dataset.ready = "1";
  // Start with a test image, so the network is alive before anything is drawn.
  if (state.model.data) loadSamples(true);
}

document.addEventListener("DOMContentLoaded", start);
