// Shared by the drive scripts: launch Debian's Chromium (playwright-core, no browser download),
// open a notebook in JupyterLab, run its cells, and run Python in its kernel.
// Chromium's fake microphone (a beeping tone) is granted without a prompt, so recording works headless.

import { chromium } from "playwright-core";

async function openLab(cfg, result) {
  const context = await chromium.launchPersistentContext(cfg.profile, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
      "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => { if (m.type() === "error") result.console_errors.push(m.text().slice(0, 300)); });
  page.on("pageerror", (e) => result.console_errors.push(`pageerror: ${String(e).slice(0, 300)}`));
  return { context, page };
}

export const kernelIdle = (page, timeout = 60000) => page.waitForFunction(() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k && k.status === "idle";
}, null, { timeout, polling: 250 });

// Open the notebook at cfg.url, wait for its kernel, run every cell.
export async function runNotebook(page, url) {
  await page.goto(url, { waitUntil: "domcontentloaded", timeout: 60000 });
  await kernelIdle(page);
  await page.evaluate(() => window.jupyterapp.commands.execute("notebook:run-all-cells"));
}

// Run Python in the notebook's kernel and return its stdout.
async function py(page, code) {
  return page.evaluate(async (code) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    let out = "";
    const future = kernel.requestExecute({ code, store_history: false });
    future.onIOPub = (msg) => {
      if (msg.header.msg_type === "stream") out += msg.content.text;
      if (msg.header.msg_type === "error") out += `ERROR ${msg.content.ename}: ${msg.content.evalue}`;
    };
    await future.done;
    return out;
  }, code);
}

function screenshotter(page, dir) {
  let shot = 0;
  return (name) => page.screenshot({ path: `${dir}/${String(++shot).padStart(2, "0")}-${name}.png`, fullPage: false });
}

// Run `body({cfg, result, log, page, py, screenshot})` against a fresh browser (cfg from argv[2]),
// then print "RESULT {...}": what the body put in `result`, or the error and a "failure" screenshot.
export async function drive(body) {
  const cfg = JSON.parse(process.argv[2]);
  const result = { steps: [], console_errors: [] };
  const log = (msg) => { result.steps.push(msg); console.error(`[drive] ${msg}`); };
  const { context, page } = await openLab(cfg, result);
  const screenshot = screenshotter(page, cfg.artifacts);
  try {
    await body({ cfg, result, log, page, py: (code) => py(page, code), screenshot });
  } catch (err) {
    result.error = String(err && err.stack || err);
    try { await screenshot("failure"); } catch { /* the page may be gone */ }
  } finally {
    await context.close();
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
}
