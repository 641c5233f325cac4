// Player: one <audio> element, an A/B switch over dry / reference / render that keeps the playback
// position, loudness matching (volume only turns down), and a step-through of the chain's stages.
// Audio bytes are fetched lazily: Python bumps `versions`, we ask ({op: "load"}) only for what is heard.

const KEYS = ["dry", "reference", "render"];

function render({ model, el }) {
  const audio = h("audio", { controls: true, preload: "auto", "aria-label": "Player" });
  const ab = h("div", { class: "l2f-toolbar l2f-ab", role: "group", "aria-label": "A/B switch" });
  const match = h("input", { type: "checkbox", id: `l2f-match-${Math.random().toString(36).slice(2, 8)}`, class: "l2f-match" });
  const stageSel = h("select", { class: "l2f-stage", "aria-label": "Hear the signal after this module" });
  const error = h("div", { class: "l2f-error", role: "alert" });
  const now = h("div", { class: "l2f-muted l2f-now", "aria-live": "polite" });
  el.append(h("div", { class: "l2f l2f-player", role: "region", "aria-label": "Listening" },
    h("h4", {}, "Listen"), ab, audio,
    h("div", { class: "l2f-toolbar" },
      h("label", { for: match.id }, match, " Match loudness (so louder does not win)"),
      h("label", {}, "Step through: ", stageSel)),
    now, error));

  const urls = {};
  let current = null;       // key whose bytes are in audio.src
  let currentVersion = -1;
  let loadTimer = null;

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
  // Swap the source keeping position and play state: that is what makes A/B comparison honest.
  function swapTo(key) {
    const url = urlFor(key);
    if (!url) return;
    const t = audio.currentTime, playing = !audio.paused;
    current = key; currentVersion = model.get("sent")[key];
    audio.src = url;
    audio.addEventListener("loadedmetadata", () => {
      audio.currentTime = Math.min(t, Math.max(0, audio.duration - 0.01));
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
  function drawButtons() {
    const sel = model.get("selected"), versions = model.get("versions"), labels = model.get("labels"), info = model.get("info");
    ab.replaceChildren(...KEYS.map((k) => h("button", { class: `l2f-src l2f-src-${k}`, "aria-pressed": sel === k ? "true" : "false",
      disabled: !versions[k], "data-key": k, title: info[k] || "",
      onclick: () => { model.set("selected", k); model.save_changes(); wanted(true); } }, labels[k] || k)));
  }
  function drawStages() {
    const labels = model.get("stages");
    stageSel.replaceChildren(h("option", { value: -1 }, "full chain"),
      ...labels.map((l, i) => h("option", { value: i }, i === 0 ? "input (dry)" : `after ${i}. ${l}`)));
    stageSel.value = String(model.get("stage"));
  }
  stageSel.addEventListener("change", () => { model.set("stage", Number(stageSel.value)); model.save_changes(); wanted(true); });
  match.addEventListener("change", () => { model.set("match_loudness", match.checked); model.save_changes(); });
  audio.addEventListener("play", () => wanted(true));
  for (const t of ["selected", "versions", "labels", "info"]) model.on(`change:${t}`, () => { drawButtons(); wanted(); });
  model.on("change:sent", () => wanted());
  for (const k of KEYS) model.on(`change:${k}_wav`, () => { if (model.get("selected") === k) { current = null; wanted(); } });
  model.on("change:gains_db", applyVolume);
  model.on("change:match_loudness", () => { match.checked = model.get("match_loudness"); applyVolume(); });
  model.on("change:stages", drawStages);
  model.on("change:stage", () => { stageSel.value = String(model.get("stage")); });
  model.on("change:error", () => { error.textContent = model.get("error"); });
  match.checked = model.get("match_loudness");
  drawButtons(); drawStages(); wanted();
  return () => { clearTimeout(loadTimer); for (const u of Object.values(urls)) URL.revokeObjectURL(u); };
}

export default { render };
