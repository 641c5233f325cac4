// Drive the studio notebook in JupyterLab with Debian's Chromium (playwright-core, no browser
// download). Called by tests/ui/test_browser.py with one JSON argument:
//   {url, artifacts, upload, chromium, profile}
// Prints one JSON line "RESULT {...}" with what it observed; the Python test asserts on it.
// Python-side state is read by executing code in the notebook's kernel through `window.jupyterapp`.

import { drive, runNotebook } from "./lab.mjs";

await drive(async ({ cfg, result, log, page, py, screenshot }) => {
  const state = async () => JSON.parse(await py(
    "import json, hashlib\n" +
    "studio.wait_render(30)\n" +
    "_o = studio.output()\n" +
    "print(json.dumps({'chain': studio.chain.to_tool_calls(include_bypassed=True), 'names': list(studio.chain.names),\n" +
    "  'render_sha': hashlib.sha1(_o.tobytes()).hexdigest() if _o is not None else None, 'renders': studio.renders,\n" +
    "  'dry': studio.inputs.dry.source, 'status': studio.reasoning.status, 'edit_ms': studio.edit_seconds * 1e3}))"));
  // The drawn path of every line trace in the spectrum plot (changes when it redraws with new data).
  const spectrumPaths = () => page.evaluate(() => {
    const plot = document.querySelector(".js-plotly-plot");
    return plot ? Array.from(plot.querySelectorAll(".scatterlayer .trace path.js-line")).map((p) => p.getAttribute("d") || "").join("|") : "";
  });
  await runNotebook(page, cfg.url);
  log("notebook open, cells running");
  await page.waitForSelector(".l2f-reasoning", { timeout: 60000 });
  await page.waitForSelector('.l2f-reasoning[data-status="done"]', { timeout: 90000 });
  await page.waitForFunction(() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === "idle",
    null, { timeout: 60000, polling: 250 });
  result.stream = await page.evaluate(() => ({
    steps: Array.from(document.querySelectorAll(".l2f-reasoning .l2f-step")).map((s) => s.dataset.step),
    calls: Array.from(document.querySelectorAll(".l2f-reasoning .l2f-call")).map((c) => c.dataset.module),
    stats: document.querySelector(".l2f-reasoning .l2f-stats").textContent,
  }));
  log(`reasoning done: ${JSON.stringify(result.stream)}`);
  await page.locator(".l2f-reasoning").scrollIntoViewIfNeeded();
  await screenshot("planned");
  result.after_plan = await state();
  result.cards_after_plan = await page.$$eval(".l2f-chain .l2f-card", (cs) => cs.map((c) => c.dataset.module));

  // 1. Upload a dry file through the upload control.
  const [chooser] = await Promise.all([page.waitForEvent("filechooser", { timeout: 15000 }), page.click(".l2f-upload-dry")]);
  await chooser.setFiles(cfg.upload);
  await page.waitForFunction((name) => (document.querySelector(".l2f-info-dry") || {}).textContent?.includes(name),
    cfg.upload.split("/").pop(), { timeout: 30000 });
  result.after_upload = await state();
  result.dry_info = await page.textContent(".l2f-info-dry");
  log(`uploaded: ${result.dry_info}`);
  await page.locator(".l2f-slot-dry").scrollIntoViewIfNeeded();
  await screenshot("uploaded");

  // 2. Drag the last module card onto the first one (HTML5 drag and drop), both in view.
  await page.setViewportSize({ width: 1400, height: 2600 });
  await page.locator(".l2f-chain").scrollIntoViewIfNeeded();
  const cards = page.locator(".l2f-chain .l2f-card");
  const n = await cards.count();
  const last = cards.nth(n - 1), first = cards.nth(0);
  result.dragged = await last.getAttribute("data-module");
  await last.dragTo(first, { sourcePosition: { x: 12, y: 12 }, targetPosition: { x: 40, y: 10 } });
  await page.waitForFunction((name) => document.querySelector(".l2f-chain .l2f-card")?.dataset.module === name,
    result.dragged, { timeout: 15000 });
  result.after_drag = await state();
  log(`dragged ${result.dragged} to the top: ${result.after_drag.names.join(" > ")}`);
  await screenshot("dragged");
  await page.setViewportSize({ width: 1400, height: 1000 });

  // 3. Move a slider with the mouse (a real drag over the range input).
  const plotsBefore = await spectrumPaths();
  const slider = page.locator(".l2f-chain input.l2f-slider").first();
  result.slider = { module: await slider.getAttribute("data-module"), param: await slider.getAttribute("data-param") };
  await slider.scrollIntoViewIfNeeded();
  const box = await slider.boundingBox();
  const y = box.y + box.height / 2;
  const startValue = Number(await slider.inputValue());
  const fromX = box.x + box.width * (startValue / 1000), toX = box.x + box.width * (startValue > 500 ? 0.15 : 0.85);
  await page.mouse.move(fromX, y);
  await page.mouse.down();
  result.slider.trace = [];
  for (let i = 1; i <= 10; i++) {
    await page.mouse.move(fromX + ((toX - fromX) * i) / 10, y, { steps: 3 });
    await page.waitForTimeout(30);
    result.slider.trace.push(Number(await slider.inputValue()));
  }
  await page.mouse.up();
  result.slider.start = startValue;
  result.slider.box = box;
  result.slider.end = Number(await slider.inputValue());
  await page.waitForFunction((before) => {
    const plot = document.querySelector(".js-plotly-plot");
    const now = plot ? Array.from(plot.querySelectorAll(".scatterlayer .trace path.js-line")).map((p) => p.getAttribute("d") || "").join("|") : "";
    return now !== before;
  }, plotsBefore, { timeout: 20000, polling: 200 }).catch(() => {});
  result.after_slider = await state();
  result.plot_redrawn = (await spectrumPaths()) !== plotsBefore && plotsBefore !== "";
  log(`slider ${result.slider.module}.${result.slider.param} ${result.slider.start} -> ${result.slider.end}; plot redrawn: ${result.plot_redrawn}`);
  await page.locator(".js-plotly-plot").first().scrollIntoViewIfNeeded();
  await screenshot("slider-and-plot");

  // 4. The A/B switch and the player fetching audio on demand.
  await page.locator(".l2f-player").scrollIntoViewIfNeeded();
  await page.click(".l2f-player .l2f-src-reference");
  await page.waitForFunction(() => (document.querySelector(".l2f-player audio")?.src || "").startsWith("blob:"), null, { timeout: 15000 });
  result.player_src_loaded = true;
  await screenshot("player");
  // 5. Pick another planner in the menu and estimate again with it.
  await page.setViewportSize({ width: 1400, height: 1000 });
  const menu = page.locator(".l2f-planner-menu select");
  await menu.scrollIntoViewIfNeeded();
  result.menu_options = await menu.locator("option").allTextContents();
  await menu.selectOption({ label: result.menu_options.find((o) => o.startsWith("mini:")) });
  result.picked = JSON.parse(await py("import json; print(json.dumps({'planner': studio.planner.name, 'menu': studio.planner_menu.value, 'error': studio.planner_error.value}))"));
  await page.click(".l2f-reasoning .l2f-plan");
  // The kernel takes the click's message before this code, so wait() covers the new estimate.
  result.after_pick = JSON.parse(await py("studio.wait(120)\nimport json; print(json.dumps({'planner_name': studio.reasoning.planner_name, 'status': studio.reasoning.status, 'names': list(studio.chain.names)}))"));
  await page.waitForSelector('.l2f-reasoning[data-status="done"]', { timeout: 30000 });
  result.status_after_pick = await page.textContent(".l2f-reasoning .l2f-stats");
  log(`picked ${JSON.stringify(result.picked)}, planned: ${JSON.stringify(result.after_pick)}`);
  await screenshot("picked-planner");
  await page.setViewportSize({ width: 1400, height: 3000 });
  await page.locator(".l2f-studio").first().screenshot({ path: `${cfg.artifacts}/99-studio-full.png` });
});
