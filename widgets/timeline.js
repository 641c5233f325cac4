// Timeline drawing for the player (prepended to player.js by llm2fx_lab/ui/_assets.py::esm()).
// Pictures come from Python (llm2fx_lab/ui/timeline.py): a spectrogram as uint8 levels
// (freqs x columns, lowest frequency first) and a waveform as int8 min then max per column.
// Everything here is pure drawing: no state, no model.

// Perceptually ordered dark-to-bright map (levels) and a blue-white-red map (differences),
// as 256-entry RGB tables interpolated from a few anchors.
function colorTable(anchors) {
  const t = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (anchors.length - 1), k = Math.min(Math.floor(x), anchors.length - 2), f = x - k;
    for (let c = 0; c < 3; c++) t[i * 3 + c] = anchors[k][c] + (anchors[k + 1][c] - anchors[k][c]) * f;
  }
  return t;
}
const LEVEL_COLORS = colorTable([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]]);
const DIFF_COLORS = colorTable([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]]);
//: Difference view: +-DIFF_RANGE_DB spans the colour map.
const DIFF_RANGE_DB = 24;

function asBytes(v, Type = Uint8Array) {
  if (!v) return new Type(0);
  if (v instanceof ArrayBuffer) return new Type(v);
  if (ArrayBuffer.isView(v)) return new Type(v.buffer, v.byteOffset, v.byteLength / Type.BYTES_PER_ELEMENT);
  return new Type(0);
}

// An offscreen canvas of `columns` x `freqs` pixels holding a spectrogram (top row = highest frequency).
function spectrogramImage(levels, meta) {
  const w = meta.columns, hgt = meta.freqs;
  if (!w || levels.length < w * hgt) return null;
  const c = document.createElement("canvas");
  c.width = w; c.height = hgt;
  const ctx = c.getContext("2d"), img = ctx.createImageData(w, hgt), d = img.data;
  for (let f = 0; f < hgt; f++) {
    const row = (hgt - 1 - f) * w;
    for (let t = 0; t < w; t++) {
      const v = levels[f * w + t], o = (row + t) * 4;
      d[o] = LEVEL_COLORS[v * 3]; d[o + 1] = LEVEL_COLORS[v * 3 + 1]; d[o + 2] = LEVEL_COLORS[v * 3 + 2]; d[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

// render minus reference (dB), sampled on the render's columns; both share the level scale.
function differenceImage(render, renderMeta, reference, referenceMeta) {
  const w = renderMeta.columns, hgt = renderMeta.freqs;
  if (!w || !referenceMeta || referenceMeta.freqs !== hgt || render.length < w * hgt) return null;
  const dbPerStep = (renderMeta.top_db - renderMeta.floor_db) / 255;
  const c = document.createElement("canvas");
  c.width = w; c.height = hgt;
  const ctx = c.getContext("2d"), img = ctx.createImageData(w, hgt), d = img.data;
  for (let t = 0; t < w; t++) {
    const time = (t + 0.5) * renderMeta.hop_seconds;
    const tr = Math.floor(time / referenceMeta.hop_seconds);
    const inRef = tr >= 0 && tr < referenceMeta.columns;
    for (let f = 0; f < hgt; f++) {
      const diff = inRef ? (render[f * w + t] - reference[f * referenceMeta.columns + tr]) * dbPerStep : render[f * w + t] * dbPerStep;
      const v = Math.max(0, Math.min(255, Math.round(127.5 + (diff / DIFF_RANGE_DB) * 127.5)));
      const o = ((hgt - 1 - f) * w + t) * 4;
      d[o] = DIFF_COLORS[v * 3]; d[o + 1] = DIFF_COLORS[v * 3 + 1]; d[o + 2] = DIFF_COLORS[v * 3 + 2]; d[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

function drawWave(ctx, wave, meta, x0, y0, width, height, color) {
  const n = meta.wave_columns;
  if (!n || wave.length < 2 * n) return;
  const mid = y0 + height / 2, scale = height / 2 / 127;
  ctx.fillStyle = color;
  const cols = Math.max(1, Math.round(width));
  for (let px = 0; px < cols; px++) {
    const a = Math.floor((px / cols) * n), b = Math.max(a + 1, Math.floor(((px + 1) / cols) * n));
    let lo = 127, hi = -127;
    for (let i = a; i < b && i < n; i++) { lo = Math.min(lo, wave[i]); hi = Math.max(hi, wave[n + i]); }
    ctx.fillRect(x0 + px, mid - hi * scale, 1, Math.max(1, (hi - lo) * scale));
  }
}

function formatSeconds(t) {
  if (!Number.isFinite(t)) return "–";
  const m = Math.floor(t / 60), s = t - m * 60;
  return `${m}:${s < 10 ? "0" : ""}${s.toFixed(2)}`;
}
