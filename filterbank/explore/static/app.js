// filterbank explore: filters, saliency and Grad-CAM, training curves, and the start.
"use strict";

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
