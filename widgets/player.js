// Player: one <audio> element, an A/B switch over dry / reference / render that keeps the playback
// position, loudness matching (volume only turns down), a step-through of the chain's stages, and a
// timeline (waveform + spectrograms) with a playhead that follows the audio, click or arrow keys to
// seek, a drag to set a loop region that holds across the A/B switch, and the studio's keyboard
// shortcuts. Audio bytes are fetched lazily: Python bumps `versions`, we ask ({op: "load"}) only
// for what is heard. Timeline pictures arrive as traits; an edit's preview patches columns ({op: "patch"}).

const KEYS = ["dry", "reference", "render"];
const ROW_PX = { wave: 56, spec: 78, diff: 120, gap: 3 };
const MIN_LOOP_SECONDS = 0.05;
const REPORT_MS = 250;   // playhead position sent to Python at most this often while playing

function render({ model, el }) {
  const audio = h("audio", { controls: true, preload: "auto", "aria-label": "Player" });
  const ab = h("div", { class: "l2f-toolbar l2f-ab", role: "group", "aria-label": "A/B switch" });
  const match = h("input", { type: "checkbox", id: `l2f-match-${Math.random().toString(36).slice(2, 8)}`, class: "l2f-match" });
  const stageSel = h("select", { class: "l2f-stage", "aria-label": "Hear the signal after this module" });
  const error = h("div", { class: "l2f-error", role: "alert" });
  const now = h("div", { class: "l2f-muted l2f-now", "aria-live": "polite" });
  const viewBtns = { stack: h("button", { class: "l2f-view-stack", title: "dry, reference and render spectrograms (v)" }, "side by side"),
    difference: h("button", { class: "l2f-view-difference", title: "render minus reference, dB (v)" }, "render − reference") };
  const loopChip = h("span", { class: "l2f-loop l2f-muted" });
  const clock = h("span", { class: "l2f-clock l2f-muted" });
  const base = h("canvas", { class: "l2f-tl-base" });
  const over = h("canvas", { class: "l2f-tl-over" });
  const tl = h("div", { class: "l2f-timeline", tabindex: "0", role: "slider", "aria-label": "Timeline: click to seek, drag to loop a region, arrow keys to seek",
    "aria-valuemin": "0" }, base, over);
  const region = h("div", { class: "l2f l2f-player", role: "region", "aria-label": "Listening" },
    h("h4", {}, "Listen"), ab, audio,
    h("div", { class: "l2f-toolbar" },
      h("label", { for: match.id }, match, " Match loudness (so louder does not win)"),
      h("label", {}, "Step through: ", stageSel)),
    h("div", { class: "l2f-toolbar l2f-tl-bar" }, "Timeline: ", viewBtns.stack, viewBtns.difference, loopChip, clock),
    tl, now, error);
  el.append(region);

  const urls = {};
  let current = null;       // key whose bytes are in audio.src
  let currentVersion = -1;
  let loadTimer = null;
  let swapping = false;     // between a source swap and its metadata: audio.currentTime is not ours yet
  let playWhenLoaded = false;
  let pos = model.get("position_seconds") || 0;   // the playhead (s)
  let lastT = pos, lastReport = 0, raf = 0, drag = null, previewCols = null;
  const levels = {}, waves = {}, images = {};
  let diffImage = null;

  // --- audio ------------------------------------------------------------------------------
  function urlFor(key) {
    const data = model.get(`${key}_wav`);
    if (!data || data.byteLength === 0) return null;
    if (urls[key]) URL.revokeObjectURL(urls[key]);
    urls[key] = URL.createObjectURL(new Blob([data], { type: "audio/wav" }));
    return urls[key];
  }
  function applyVolume() {
    const key = model.get("selected");
    const g = model.get("match_loudness") ? (model.get("gains_db")[key] ?? 0) : 0;
    audio.volume = Math.min(1, Math.pow(10, g / 20));
  }
  const playhead = () => (current !== null && !swapping && Number.isFinite(audio.currentTime) ? audio.currentTime : pos);
  // Swap the source keeping position and play state: that is what makes A/B comparison honest.
  function swapTo(key) {
    const url = urlFor(key);
    if (!url) return;
    const t = playhead(), playing = !audio.paused || playWhenLoaded;
    pos = t; swapping = true;
    current = key; currentVersion = model.get("sent")[key];
    audio.src = url;
    audio.addEventListener("loadedmetadata", () => {
      audio.currentTime = Math.min(pos, Math.max(0, audio.duration - 0.01));
      swapping = false; playWhenLoaded = false;
      if (playing) audio.play().catch(() => {});
    }, { once: true });
    applyVolume();
  }
  function wanted(force = false) {
    const key = model.get("selected");
    const v = model.get("versions")[key] || 0;
    if (v === 0) { now.textContent = `${model.get("labels")[key] || key}: no audio yet`; return; }
    if ((model.get("sent")[key] || 0) !== v) {
      // Fetch only what is being heard (playing, or just asked for), once edits settle: slider
      // drags bump versions many times a second and a paused player needs no bytes at all.
      if (!(force || !audio.paused)) { now.textContent = `${model.get("labels")[key] || key}: press play to hear the latest`; return; }
      clearTimeout(loadTimer);
      loadTimer = setTimeout(() => model.send({ op: "load", key }), 250);
    } else if (current !== key || currentVersion !== v) {
      swapTo(key);
    }
    now.textContent = `Now: ${model.get("labels")[key] || key} · ${model.get("info")[key] || ""}`;
  }
  function select(k) {
    if (!model.get("versions")[k]) return;
    model.set("selected", k); model.save_changes(); wanted(true);   // change:selected redraws
  }
  function togglePlay() {
    if (!audio.paused) { audio.pause(); return; }
    const key = model.get("selected");
    if (current === key && currentVersion === model.get("versions")[key] && !swapping) audio.play().catch(() => {});
    else { playWhenLoaded = true; wanted(true); }
  }

  // --- timeline state ---------------------------------------------------------------------
  const meta = (k) => (model.get("timeline") || {})[k] || null;
  const duration = () => Math.max(0.001, ...KEYS.map((k) => (meta(k) ? meta(k).seconds : 0)), Number.isFinite(audio.duration) ? audio.duration : 0);
  const loop = () => { const l = model.get("loop_seconds"); return l && l.length === 2 ? l : null; };
  function report(force) {
    const t = performance.now();
    if (!force && t - lastReport < REPORT_MS) return;
    lastReport = t;
    model.set("position_seconds", Math.round(pos * 1000) / 1000); model.save_changes();
  }
  function seek(t) {
    pos = Math.max(0, Math.min(t, duration()));
    lastT = pos;
    if (current !== null && !swapping) audio.currentTime = Math.min(pos, Math.max(0, (audio.duration || pos) - 0.01));
    report(true); drawOverlay();
  }
  function setLoop(l) { model.set("loop_seconds", l); model.save_changes(); drawOverlay(); }
  function readPictures(k) {
    const m = meta(k);
    levels[k] = m ? asBytes(model.get(`${k}_spec`)).slice() : null;   // a copy: previews patch it
    waves[k] = m ? asBytes(model.get(`${k}_wave`), Int8Array).slice() : null;
    images[k] = m ? spectrogramImage(levels[k], m) : null;
    if (k === "render") previewCols = null;
  }
  function rebuildDiff() {
    diffImage = levels.render && levels.reference ? differenceImage(levels.render, meta("render"), levels.reference, meta("reference")) : null;
  }
  function rows() {
    const view = model.get("view"), out = [{ kind: "wave", height: ROW_PX.wave }];
    if (view === "difference") out.push({ kind: "diff", height: ROW_PX.diff });
    else for (const k of KEYS) out.push({ kind: "spec", key: k, height: ROW_PX.spec });
    let y = 0;
    for (const r of out) { r.y = y; y += r.height + ROW_PX.gap; }
    return out;
  }
  function sizeCanvas(c, w, hgt) {
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(hgt * dpr);
      c.style.width = `${w}px`; c.style.height = `${hgt}px`;
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }
  const widthPx = () => Math.max(120, tl.clientWidth || 600);
  const xOf = (t) => (t / duration()) * widthPx();
  const timeAt = (e) => Math.max(0, Math.min(duration(), ((e.clientX - over.getBoundingClientRect().left) / widthPx()) * duration()));

  function label(ctx, text, x, y, strong) {
    ctx.font = `${strong ? "bold " : ""}11px sans-serif`;
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(x, y, ctx.measureText(text).width + 8, 15);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 4, y + 11);
  }
  function drawBase() {
    const rs = rows(), w = widthPx(), total = rs[rs.length - 1].y + rs[rs.length - 1].height;
    tl.style.height = `${total}px`;
    const ctx = sizeCanvas(base, w, total);
    ctx.clearRect(0, 0, w, total);
    const sel = model.get("selected"), labels = model.get("labels");
    for (const r of rs) {
      ctx.fillStyle = "#111"; ctx.fillRect(0, r.y, w, r.height);
      if (r.kind === "wave") {
        const m = meta(sel);
        if (m && waves[sel]) drawWave(ctx, waves[sel], m, 0, r.y, xOf(m.seconds), r.height, "#7fb3ff");
        label(ctx, `waveform · ${labels[sel] || sel}`, 2, r.y + 2, false);
      } else if (r.kind === "spec") {
        const m = meta(r.key);
        if (images[r.key]) { ctx.imageSmoothingEnabled = true; ctx.drawImage(images[r.key], 0, r.y, xOf(m.seconds), r.height); }
        label(ctx, `${labels[r.key] || r.key}${images[r.key] ? "" : ": no audio"}`, 2, r.y + 2, r.key === sel);
        if (r.key === sel) { ctx.strokeStyle = "#ffcc33"; ctx.lineWidth = 2; ctx.strokeRect(1, r.y + 1, w - 2, r.height - 2); }
      } else {
        if (diffImage) ctx.drawImage(diffImage, 0, r.y, xOf(meta("render").seconds), r.height);
        label(ctx, diffImage ? "render − reference (blue: render quieter, red: louder; ±24 dB)" : "render − reference: needs a reference and a render", 2, r.y + 2, false);
      }
    }
    tl.setAttribute("aria-valuemax", duration().toFixed(2));
    drawOverlay();
  }
  function drawOverlay() {
    const rs = rows(), w = widthPx(), total = rs[rs.length - 1].y + rs[rs.length - 1].height;
    const ctx = sizeCanvas(over, w, total);
    ctx.clearRect(0, 0, w, total);
    const l = drag && drag.moved ? [Math.min(drag.t0, drag.t1), Math.max(drag.t0, drag.t1)] : loop();
    if (l) {
      ctx.fillStyle = "rgba(120, 200, 255, 0.22)";
      ctx.fillRect(xOf(l[0]), 0, Math.max(1, xOf(l[1]) - xOf(l[0])), total);
      ctx.fillStyle = "rgba(120, 200, 255, 0.9)";
      ctx.fillRect(xOf(l[0]), 0, 1, total); ctx.fillRect(xOf(l[1]) - 1, 0, 1, total);
    }
    const spec = rs.find((r) => r.key === "render" || r.kind === "diff");
    const rm = meta("render");
    if (previewCols && spec && rm) {
      ctx.setLineDash([4, 3]); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1;
      const a = xOf(previewCols.first * rm.hop_seconds), b = xOf((previewCols.first + previewCols.count) * rm.hop_seconds);
      ctx.strokeRect(a, spec.y + 1, b - a, spec.height - 2); ctx.setLineDash([]);
      label(ctx, "preview", a + 2, spec.y + spec.height - 17, false);
    }
    const t = playhead();
    ctx.fillStyle = "#fff";
    ctx.fillRect(Math.round(xOf(t)) - 1, 0, 2, total);
    clock.textContent = `${formatSeconds(t)} / ${formatSeconds(duration())}`;
    tl.setAttribute("aria-valuenow", t.toFixed(2));
    tl.dataset.position = t.toFixed(3);
    const ll = loop();
    loopChip.replaceChildren(...(ll ? [`loop ${formatSeconds(ll[0])}–${formatSeconds(ll[1])} `,
      h("button", { class: "l2f-loop-clear", title: "clear the loop (Esc)", onclick: () => setLoop([]) }, "✕")] : ["drag on the timeline to loop a region"]));
  }
  // While playing: move the playhead and keep playback inside the loop region.
  function tick() {
    raf = 0;
    if (swapping) { raf = requestAnimationFrame(tick); return; }
    const t = audio.currentTime, l = loop();
    if (l && t >= l[1] && lastT < l[1] + 0.3) { audio.currentTime = l[0]; pos = lastT = l[0]; }
    else { pos = lastT = t; }
    drawOverlay(); report(false);
    if (!audio.paused) raf = requestAnimationFrame(tick);
  }
  audio.addEventListener("play", () => { wanted(true); if (!raf) raf = requestAnimationFrame(tick); });
  audio.addEventListener("pause", () => { if (!swapping) { pos = audio.currentTime; report(true); drawOverlay(); } });
  audio.addEventListener("seeked", () => { if (!swapping) { pos = lastT = audio.currentTime; report(true); drawOverlay(); } });
  audio.addEventListener("ended", () => {
    const l = loop();
    if (l) { audio.currentTime = l[0]; audio.play().catch(() => {}); }
  });

  // Click (or tap) to seek; drag to set a loop region. Pointer events: mouse, pen and touch alike.
  over.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault(); tl.focus();
    drag = { t0: timeAt(e), t1: timeAt(e), x0: e.clientX, moved: false };
    const move = (ev) => { if (Math.abs(ev.clientX - drag.x0) > 4) drag.moved = true; drag.t1 = timeAt(ev); drawOverlay(); };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", (ev) => {
      window.removeEventListener("pointermove", move);
      const d = drag; drag = null;
      d.t1 = timeAt(ev);
      const a = Math.min(d.t0, d.t1), b = Math.max(d.t0, d.t1);
      if (d.moved && b - a >= MIN_LOOP_SECONDS) { setLoop([Math.round(a * 1000) / 1000, Math.round(b * 1000) / 1000]); seek(a); }
      else seek(d.t0);
    }, { once: true });
  });

  // --- keyboard (the shortcuts table comes from Python: llm2fx_lab.ui.listening.SHORTCUTS) -----
  const actions = {
    play: togglePlay, dry: () => select("dry"), reference: () => select("reference"), render: () => select("render"),
    back: () => seek(playhead() - 1), forward: () => seek(playhead() + 1),
    back_far: () => seek(playhead() - 5), forward_far: () => seek(playhead() + 5),
    start: () => seek(loop() ? loop()[0] : 0), clear_loop: () => setLoop([]),
    view: () => { model.set("view", model.get("view") === "stack" ? "difference" : "stack"); model.save_changes(); },
  };
  // The keys act when focus is inside the studio, or on what holds it (JupyterLab moves focus to
  // the notebook cell on a click) after the last click landed in the studio.
  const scope = () => el.closest(".l2f-studio") || region;
  let armed = false;
  const onPointer = (e) => { armed = e.target instanceof Node && scope().contains(e.target); };
  function onKey(e) {
    const root = scope(), t = e.target;
    if (!el.isConnected || !(t instanceof Node) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (!root.contains(t) && !(armed && t.contains(root))) return;
    const tag = t.tagName;
    if (t.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !["checkbox", "radio", "button"].includes(t.type))) return;
    // Space and Enter keep their meaning on the studio's other buttons and checkboxes.
    if ((tag === "BUTTON" || tag === "INPUT") && (e.key === " " || e.key === "Enter") && !region.contains(t)) return;
    const name = `${e.shiftKey && e.key.length > 1 ? "Shift+" : ""}${e.key.length === 1 ? e.key.toLowerCase() : e.key}`;
    const hit = (model.get("shortcuts") || []).find(([k]) => k === name);
    if (!hit || !actions[hit[1]]) return;
    e.preventDefault(); e.stopPropagation();   // before JupyterLab's own shortcuts ("a", "b", space...)
    actions[hit[1]]();
  }
  window.addEventListener("keydown", onKey, true);
  window.addEventListener("pointerdown", onPointer, true);

  // --- model wiring -----------------------------------------------------------------------
  function drawButtons() {
    const sel = model.get("selected"), versions = model.get("versions"), labels = model.get("labels"), info = model.get("info");
    ab.replaceChildren(...KEYS.map((k) => h("button", { class: `l2f-src l2f-src-${k}`, "aria-pressed": sel === k ? "true" : "false",
      disabled: !versions[k], "data-key": k, title: `${info[k] || ""} (key ${KEYS.indexOf(k) + 1})`,
      onclick: () => select(k) }, labels[k] || k)));
    for (const [v, b] of Object.entries(viewBtns)) b.setAttribute("aria-pressed", model.get("view") === v ? "true" : "false");
  }
  function drawStages() {
    const labels = model.get("stages");
    stageSel.replaceChildren(h("option", { value: -1 }, "full chain"),
      ...labels.map((l, i) => h("option", { value: i }, i === 0 ? "input (dry)" : `after ${i}. ${l}`)));
    stageSel.value = String(model.get("stage"));
  }
  for (const [v, b] of Object.entries(viewBtns)) b.addEventListener("click", () => { model.set("view", v); model.save_changes(); });
  stageSel.addEventListener("change", () => { model.set("stage", Number(stageSel.value)); model.save_changes(); wanted(true); });
  match.addEventListener("change", () => { model.set("match_loudness", match.checked); model.save_changes(); });
  for (const t of ["selected", "versions", "labels", "info"]) model.on(`change:${t}`, () => { drawButtons(); wanted(); });
  model.on("change:sent", () => wanted());
  for (const k of KEYS) {
    model.on(`change:${k}_wav`, () => { if (model.get("selected") === k) { current = null; wanted(); } });
    model.on(`change:${k}_spec`, () => { readPictures(k); rebuildDiff(); drawBase(); });
  }
  model.on("change:timeline", () => { for (const k of KEYS) readPictures(k); rebuildDiff(); drawBase(); });
  model.on("change:view", () => { drawButtons(); drawBase(); });
  model.on("change:selected", drawBase);
  model.on("change:loop_seconds", drawOverlay);
  model.on("change:gains_db", applyVolume);
  model.on("change:match_loudness", () => { match.checked = model.get("match_loudness"); applyVolume(); });
  model.on("change:stages", drawStages);
  model.on("change:stage", () => { stageSel.value = String(model.get("stage")); });
  model.on("change:error", () => { error.textContent = model.get("error"); });
  model.on("msg:custom", (msg, buffers) => {
    if (msg.op === "seek") seek(msg.seconds);
    if (msg.op === "patch" && msg.key === "render" && levels.render && msg.version === (model.get("versions").render || 0)) {
      const m = meta("render"), spec = asBytes(buffers[0]), wave = asBytes(buffers[1], Int8Array);
      for (let f = 0; f < m.freqs && msg.count; f++) levels.render.set(spec.subarray(f * msg.count, (f + 1) * msg.count), f * m.columns + msg.first);
      if (msg.wave_count) {
        waves.render.set(wave.subarray(0, msg.wave_count), msg.wave_first);
        waves.render.set(wave.subarray(msg.wave_count), m.wave_columns + msg.wave_first);
      }
      images.render = spectrogramImage(levels.render, m);
      rebuildDiff();
      previewCols = { first: msg.first, count: msg.count };
      drawBase();
    }
  });
  const resize = new ResizeObserver(() => drawBase());
  resize.observe(tl);
  match.checked = model.get("match_loudness");
  error.textContent = model.get("error");
  for (const k of KEYS) readPictures(k);
  rebuildDiff();
  drawButtons(); drawStages(); wanted(); drawBase();
  return () => {
    clearTimeout(loadTimer); cancelAnimationFrame(raf); resize.disconnect();
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("pointerdown", onPointer, true);
    for (const u of Object.values(urls)) URL.revokeObjectURL(u);
  };
}

export default { render };
