// Drive the studio's timeline, keyboard, presets and microphone in JupyterLab with Debian's Chromium.
// Called by tests/ui/test_browser.py with one JSON argument: {url, artifacts, chromium, profile}.
// The notebook holds `studio` (drums example, its demo chain, recorder limited to `record_seconds`).
// Prints one JSON line "RESULT {...}"; the Python test asserts on it.

import { drive, kernelIdle, runNotebook } from "./lab.mjs";

await drive(async ({ cfg, result, log, page, py, screenshot }) => {
  const pyJson = async (code) => JSON.parse(await py(`import json\n${code}`));
  const audioState = () => page.evaluate(() => {
    const a = document.querySelector(".l2f-player audio");
    return { time: a.currentTime, paused: a.paused, src: a.src.slice(0, 5), duration: a.duration,
      position: Number(document.querySelector(".l2f-timeline").dataset.position) };
  });
  const pressed = () => page.evaluate(() => document.querySelector(".l2f-player .l2f-ab button[aria-pressed='true']")?.dataset.key);
  // Sample the player for `ms` milliseconds every 100 ms.
  async function sample(ms) {
    const out = [];
    for (let t = 0; t < ms; t += 100) { out.push(await audioState()); await page.waitForTimeout(100); }
    return out;
  }
  await runNotebook(page, cfg.url);
  await page.waitForSelector(".l2f-player .l2f-timeline", { timeout: 60000 });
  await kernelIdle(page);
  await py("studio.wait_render(30)");
  await page.waitForFunction(() => document.querySelector(".l2f-player .l2f-src-render:not([disabled])"), null, { timeout: 30000 });
  const timeline = page.locator(".l2f-player .l2f-timeline");
  await timeline.scrollIntoViewIfNeeded();
  const box = await timeline.boundingBox();
  result.timeline_box = box;
  result.timeline_meta = await pyJson("print(json.dumps(studio.player.timeline['render']))");
  log(`timeline drawn, ${JSON.stringify(box)}`);
  await screenshot("timeline");

  // 1. Space (with the studio focused) plays; the playhead follows the audio.
  await page.mouse.click(box.x + 4, box.y - 40);   // a bare part of the player: focuses the studio, not a control
  result.focus = await page.evaluate(() => document.activeElement?.className || document.activeElement?.tagName);
  await page.keyboard.press(" ");
  await page.waitForFunction(() => { const a = document.querySelector(".l2f-player audio"); return a && !a.paused && a.currentTime > 0.3; }, null, { timeout: 20000 });
  result.playing = await sample(800);
  await page.keyboard.press(" ");
  await page.waitForTimeout(200);
  result.after_pause = await audioState();
  log(`played: ${JSON.stringify(result.playing.map((s) => s.position))}`);

  // 2. Click the timeline at 75 %: the player seeks there; Python hears where the playhead is.
  const duration = result.timeline_meta.seconds;
  await page.mouse.click(box.x + box.width * 0.75, box.y + 100);
  await page.waitForTimeout(300);
  result.after_click = await audioState();
  result.position_in_python = await pyJson("print(json.dumps(studio.player.position_seconds))");
  result.preview_center = await pyJson("print(json.dumps(studio.preview_center_seconds))");
  await page.keyboard.press("ArrowLeft");
  await page.waitForTimeout(200);
  result.after_left = await audioState();
  log(`seek: click ${JSON.stringify(result.after_click)}, left ${JSON.stringify(result.after_left)}`);

  // 3. Drag 20 % -> 40 %: a loop region; play; switch to the reference (key 2), then dry (button): still looping.
  const y = box.y + 100;
  await page.mouse.move(box.x + box.width * 0.2, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.3, y, { steps: 4 });
  await page.mouse.move(box.x + box.width * 0.4, y, { steps: 4 });
  await page.mouse.up();
  await page.waitForTimeout(300);
  result.loop = await pyJson("print(json.dumps(studio.player.loop_seconds))");
  await page.keyboard.press(" ");
  await page.waitForFunction(() => !document.querySelector(".l2f-player audio").paused, null, { timeout: 10000 });
  result.loop_render = await sample(Math.max(1500, (result.loop[1] - result.loop[0]) * 1000 + 800));
  await page.keyboard.press("2");
  await page.waitForFunction(() => document.querySelector(".l2f-player audio").src && !document.querySelector(".l2f-player audio").paused, null, { timeout: 10000 });
  result.pressed_after_2 = await pressed();
  result.loop_reference = await sample(Math.max(1500, (result.loop[1] - result.loop[0]) * 1000 + 800));
  await page.click(".l2f-player .l2f-src-dry");
  result.pressed_after_dry = await pressed();
  result.loop_dry = await sample(Math.max(1500, (result.loop[1] - result.loop[0]) * 1000 + 800));
  result.loop_after = await pyJson("print(json.dumps([studio.player.loop_seconds, studio.player.selected]))");
  await screenshot("loop");
  await page.mouse.click(box.x + 4, box.y - 40);
  await page.keyboard.press(" ");
  await page.keyboard.press("3");
  await page.keyboard.press("v");
  await page.waitForTimeout(300);
  result.after_keys = await pyJson("print(json.dumps([studio.player.selected, studio.player.view]))");
  await screenshot("difference");
  await page.keyboard.press("Escape");
  await page.waitForTimeout(200);
  result.loop_cleared = await pyJson("print(json.dumps(studio.player.loop_seconds))");
  log(`loop ${JSON.stringify(result.loop)} kept: ${JSON.stringify(result.loop_after)}; keys: ${JSON.stringify(result.after_keys)}`);

  // 4. Presets: save the chain, change it, load the preset back; a bad import shows its error inline.
  await page.setViewportSize({ width: 1400, height: 2400 });
  const presets = page.locator(".l2f-presets");
  await presets.scrollIntoViewIfNeeded();
  result.saved_chain = await pyJson("print(json.dumps(studio.chain.to_tool_calls(include_bypassed=True)))");
  await page.fill(".l2f-preset-name input", "my drums");
  await page.click(".l2f-preset-save");
  // ipywidgets writes spaces in option labels as non-breaking spaces
  const options = () => page.$$eval(".l2f-preset-menu select option", (os) => os.map((o) => o.textContent.replace(/\u00a0/g, " ")));
  await page.waitForFunction(() => Array.from(document.querySelectorAll(".l2f-preset-menu select option")).some((o) => o.textContent.replace(/\u00a0/g, " ") === "my drums"), null, { timeout: 10000 });
  result.preset_options = await options();
  await py("studio.editor.edit('remove', module=studio.chain.names[0])");
  result.changed_chain = await pyJson("print(json.dumps(studio.chain.to_tool_calls(include_bypassed=True)))");
  await page.locator(".l2f-preset-menu select").selectOption({ index: result.preset_options.indexOf("my drums") });
  await page.click(".l2f-preset-load");
  await page.waitForFunction(() => (document.querySelector(".l2f-preset-message")?.textContent || "").includes("loaded preset"), null, { timeout: 10000 });
  result.loaded_chain = await pyJson("print(json.dumps(studio.chain.to_tool_calls(include_bypassed=True)))");
  await page.fill(".l2f-import-text textarea", '[{"name": "equalizer", "arguments": {"low_gain_db": 99}}]');
  await page.click(".l2f-import");
  await page.waitForFunction(() => (document.querySelector(".l2f-preset-message")?.textContent || "").includes("low_gain_db"), null, { timeout: 10000 });
  result.bad_import_message = await page.textContent(".l2f-preset-message");
  result.chain_after_bad_import = await pyJson("print(json.dumps(studio.chain.to_tool_calls(include_bypassed=True)))");
  await screenshot("presets");
  log(`presets ${JSON.stringify(result.preset_options)}; bad import: ${result.bad_import_message}`);

  // 5. Record from Chromium's fake microphone: it stops at the limit and fills the dry slot.
  await page.locator(".l2f-recorder").scrollIntoViewIfNeeded();
  await page.click(".l2f-recorder .l2f-rec");
  await page.waitForFunction(() => (document.querySelector(".l2f-info-dry")?.textContent || "").includes("microphone recording"), null, { timeout: 30000 });
  // The kernel may still be handling the recording's message when this runs: wait for the new dry clip's render.
  result.recorded = await pyJson("import time\n" +
    "d = studio.inputs.dry\n" +
    "for _ in range(100):\n" +
    "    if studio.cache is not None and studio.cache.dry_samples == d.audio.shape[-1]: break\n" +
    "    time.sleep(0.1)\n" +
    "studio.wait_render(30)\n" +
    "print(json.dumps({'source': d.source, 'seconds': d.audio.shape[-1] / d.sample_rate, 'start_ms': d.recorder.start_ms,\n" +
    "  'error': d.recorder.error, 'limit': d.recorder.max_seconds, 'render_seconds': studio.output().shape[-1] / studio.cache.sample_rate,\n" +
    "  'peak': float(abs(d.audio).max())}))");
  result.dry_info = await page.textContent(".l2f-info-dry");
  await screenshot("recorded");
  // A denied microphone: the message says so, in the widget.
  await page.evaluate(() => { navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError")); });
  await page.click(".l2f-recorder .l2f-rec");
  await page.waitForFunction(() => (document.querySelector(".l2f-rec-error")?.textContent || "").length > 0, null, { timeout: 10000 });
  result.denied_message = await page.textContent(".l2f-rec-error");
  result.denied_python = await pyJson("print(json.dumps(studio.inputs.dry.recorder.error))");
  log(`recorded ${JSON.stringify(result.recorded)}; denied: ${result.denied_message}`);
  await screenshot("denied");
});
