// filterbank explore: the layer cards, their heatmaps and the prediction bars.
"use strict";

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
    // Scattered cells (a dense unit's largest inputs) each belong to one channel's tile.
    const cells = hl.scattered ? hl.cells.filter((_, i) => hl.channels[i] === channel) : hl.cells;
    marks.push({ colour: HI, cells, width: 2, box: !hl.scattered });
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
  // The model's output layer gets its class names under the bars.
  const layers = state.model.layers;
  const classes = state.model.classes;
  const labelled = layers[layers.length - 1].name === name && n === classes.length && n <= 30;
  const H = labelled ? canvas.height - 14 : canvas.height;
  const limit = Math.max(Math.abs(act.min), Math.abs(act.max)) || 1;
  const mid = act.min < 0 ? H / 2 : H - 2;
  const scale = (act.min < 0 ? H / 2 - 2 : H - 4) / limit;
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
  if (labelled) {
    ctx.fillStyle = "#52606d";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    classes.forEach((c, k) => ctx.fillText(String(c).slice(0, 10), (k + 0.5) * bw, canvas.height - 2));
    ctx.textAlign = "start";
  }
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
