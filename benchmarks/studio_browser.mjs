// The studio's front-end in Chromium, without JupyterLab: the player (timeline) and the recorder
// modules run on a stand-in model, fed the pictures Python made. Called by
// benchmarks/studio_browser.py with one JSON argument {url, browserDir, chromium, profile, repeats};
// prints "RESULT {...}".

import { createRequire } from "module";

const cfg = JSON.parse(process.argv[2]);
const { chromium } = createRequire(`${cfg.browserDir}/`)("playwright-core");
const context = await chromium.launchPersistentContext(cfg.profile, {
  executablePath: cfg.chromium, headless: true, viewport: { width: 1000, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
});
const page = context.pages()[0] || (await context.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
let result;
try {
  await page.goto(cfg.url);
  result = await page.evaluate(async (repeats) => {
    const data = await (await fetch("data.json")).json();
    const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
    const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
    // A stand-in for the anywidget model: get/set with change events, send, custom messages.
    function fakeModel(state) {
      const handlers = {};
      return {
        get: (k) => state[k],
        set: (k, v) => { state[k] = v; for (const f of handlers[`change:${k}`] || []) f(); },
        save_changes: () => {}, send: () => {},
        on: (ev, f) => { (handlers[ev] = handlers[ev] || []).push(f); },
        emit: (ev, ...args) => { for (const f of handlers[ev] || []) f(...args); },
      };
    }
    async function load(name) {
      const url = URL.createObjectURL(new Blob([await (await fetch(name)).text()], { type: "text/javascript" }));
      return (await import(url)).default;
    }
    // --- the player's timeline, a 10 s clip's three sources ---------------------------------
    const player = await load("player.js");
    const state = { versions: { dry: 1, reference: 1, render: 1 }, sent: { dry: 0, reference: 0, render: 0 },
      labels: { dry: "Dry", reference: "Reference", render: "Render" }, info: {}, gains_db: {}, selected: "render",
      match_loudness: true, stages: [], stage: -1, error: "", view: "stack", loop_seconds: [], position_seconds: null,
      shortcuts: data.shortcuts, timeline: data.timeline, dry_wav: new DataView(new ArrayBuffer(0)),
      reference_wav: new DataView(new ArrayBuffer(0)), render_wav: new DataView(new ArrayBuffer(0)) };
    for (const k of ["dry", "reference", "render"]) {
      state[`${k}_spec`] = new DataView(bytes(data.spec[k]).buffer);
      state[`${k}_wave`] = new DataView(bytes(data.wave[k]).buffer);
    }
    const model = fakeModel(state);
    const el = document.createElement("div");
    el.style.width = "900px";
    document.body.append(el);
    player.render({ model, el });
    await frame();
    const patchSpec = bytes(data.patch.spec), patchWave = bytes(data.patch.wave);
    const out = { patch_ms: [], patch_frame_ms: [], full_ms: [], full_frame_ms: [], seek_ms: [], difference_ms: [] };
    for (let i = 0; i < repeats + 1; i++) {
      let t = performance.now();
      model.emit("msg:custom", { op: "patch", key: "render", version: 1, ...data.patch.meta }, [new DataView(patchSpec.buffer), new DataView(patchWave.buffer)]);
      const patchMs = performance.now() - t;
      await frame();
      const patchFrame = performance.now() - t;
      t = performance.now();
      model.set("render_spec", new DataView(bytes(data.spec.render).buffer));
      const fullMs = performance.now() - t;
      await frame();
      const fullFrame = performance.now() - t;
      t = performance.now();
      model.emit("msg:custom", { op: "seek", seconds: 1 + (i % 8) });
      const seekMs = performance.now() - t;
      t = performance.now();
      model.set("view", "difference");
      const diffMs = performance.now() - t;
      model.set("view", "stack");
      if (i === 0) continue;   // warm-up
      out.patch_ms.push(patchMs); out.patch_frame_ms.push(patchFrame); out.full_ms.push(fullMs);
      out.full_frame_ms.push(fullFrame); out.seek_ms.push(seekMs); out.difference_ms.push(diffMs);
    }
    const timeline = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v)]));
    timeline.position_after_seek = Number(el.querySelector(".l2f-timeline").dataset.position);
    // --- the recorder: click -> recording, with Chromium's fake microphone -------------------
    const recorder = await load("recorder.js");
    const recState = { max_seconds: 0.6, recording: false, start_ms: null, error: "", status: "" };
    const recModel = fakeModel(recState);
    let received = 0;
    recModel.send = (msg) => { if (msg.op === "recorded") received += 1; };
    const recEl = document.createElement("div");
    document.body.append(recEl);
    recorder.render({ model: recModel, el: recEl });
    const starts = [];
    for (let i = 0; i < Math.max(3, Math.round(repeats / 2)); i++) {
      recEl.querySelector(".l2f-rec").click();
      const t0 = performance.now();
      while (received <= i && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 50));
      starts.push(recState.start_ms);
    }
    return { timeline, record_start_ms: starts, record_error: recState.error, received };
  }, cfg.repeats);
} catch (err) {
  result = { error: String(err && err.stack || err) };
} finally {
  await context.close();
}
console.log(`RESULT ${JSON.stringify({ ...result, page_errors: errors })}`);
