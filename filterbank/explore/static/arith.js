// filterbank explore: one cell's arithmetic: the explain API's answer as patch, kernel, products and sums.
"use strict";

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
