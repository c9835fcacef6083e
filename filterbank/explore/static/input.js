// filterbank explore: the input: drawing (framed like MNIST), upload and the run's test images.
"use strict";

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
