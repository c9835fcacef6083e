// filterbank explore: the shared state, small helpers, the API client and colours.
// The page is plain JavaScript in five classic scripts (no build step, no network beyond this
// server), loaded in order: core.js, model.js, input.js, arith.js, app.js. `window.explore`
// exposes the state so the browser tests can read what the page sent and showed.
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
