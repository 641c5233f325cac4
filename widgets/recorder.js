// Recorder: Record / Stop with the browser's MediaRecorder, a level meter while recording, a length
// limit (`max_seconds`), and a clear message when the microphone is denied or missing. The
// recording is decoded here (Web Audio) and sent to Python as one 16-bit WAV ({op: "recorded"}).
// The microphone is opened at the click and released when recording stops.

function wavBytes(buffer) {
  const ch = Math.min(buffer.numberOfChannels, 2), n = buffer.length, sr = buffer.sampleRate;
  const out = new DataView(new ArrayBuffer(44 + n * ch * 2));
  const text = (o, s) => { for (let i = 0; i < s.length; i++) out.setUint8(o + i, s.charCodeAt(i)); };
  text(0, "RIFF"); out.setUint32(4, 36 + n * ch * 2, true); text(8, "WAVE"); text(12, "fmt ");
  out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, ch, true); out.setUint32(24, sr, true);
  out.setUint32(28, sr * ch * 2, true); out.setUint16(32, ch * 2, true); out.setUint16(34, 16, true);
  text(36, "data"); out.setUint32(40, n * ch * 2, true);
  const data = Array.from({ length: ch }, (_, c) => buffer.getChannelData(c));
  for (let i = 0, o = 44; i < n; i++) for (let c = 0; c < ch; c++, o += 2) {
    const v = Math.max(-1, Math.min(1, data[c][i]));
    out.setInt16(o, Math.round(v < 0 ? v * 32768 : v * 32767), true);
  }
  return out.buffer;
}

const DENIED = {
  NotAllowedError: "The browser denied access to the microphone. Allow it for this page (the icon left of the address bar) and press Record again, or upload a file instead.",
  SecurityError: "The browser denied access to the microphone. Allow it for this page (the icon left of the address bar) and press Record again, or upload a file instead.",
  NotFoundError: "No microphone was found. Connect one and press Record again, or upload a file instead.",
  NotReadableError: "The microphone is in use by another program or could not be opened. Close that program and press Record again.",
};

function render({ model, el }) {
  const button = h("button", { class: "l2f-rec", "aria-pressed": "false", title: "Record the dry clip from the microphone" }, "● Record");
  const bar = h("div", {});
  const meter = h("div", { class: "l2f-meter", role: "meter", "aria-label": "Input level", "aria-valuemin": "-60", "aria-valuemax": "0" }, bar);
  const time = h("span", { class: "l2f-rec-time l2f-muted" });
  const status = h("span", { class: "l2f-rec-status l2f-muted" });
  const error = h("div", { class: "l2f-error l2f-rec-error", role: "alert" });
  el.append(h("div", { class: "l2f l2f-recorder" }, button, meter, time, status, error));

  let session = null;   // {stream, recorder, ctx, analyser, t0, timer, raf, chunks}

  function fail(message) {
    error.textContent = message;
    model.set("error", message); model.set("recording", false); model.save_changes();
  }
  function limitText() { return `limit ${model.get("max_seconds")} s`; }
  function meterLoop() {
    if (!session) return;
    const data = new Float32Array(session.analyser.fftSize);
    session.analyser.getFloatTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v));
    const db = peak > 0 ? 20 * Math.log10(peak) : -60;
    bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
    bar.classList.toggle("l2f-clip", peak >= 0.99);
    meter.setAttribute("aria-valuenow", db.toFixed(1));
    if (session.recorder.state === "recording") time.textContent = `${((performance.now() - session.started) / 1000).toFixed(1)} s · ${limitText()}`;
    session.raf = requestAnimationFrame(meterLoop);
  }
  async function start() {
    const clicked = performance.now();
    error.textContent = "";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      fail(`Recording needs a secure page (https:// or localhost); this page is ${location.protocol}//${location.host}. Upload a file instead.`);
      return;
    }
    if (typeof MediaRecorder === "undefined") { fail("This browser cannot record (no MediaRecorder). Upload a file instead."); return; }
    button.disabled = true;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (e) {
      button.disabled = false;
      fail(DENIED[e && e.name] || `The microphone could not be opened (${e && e.name}: ${e && e.message}). Upload a file instead.`);
      return;
    }
    let ctx, analyser, recorder;
    try {
      ctx = new AudioContext();
      analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaStreamSource(stream).connect(analyser);
      recorder = new MediaRecorder(stream);
    } catch (e) {   // the microphone must not stay open behind a failed start
      for (const t of stream.getTracks()) t.stop();
      if (ctx) ctx.close();
      button.disabled = false;
      fail(`This browser could not start recording (${e && e.name}: ${e && e.message}). Upload a file instead.`);
      return;
    }
    session = { stream, recorder, ctx, analyser, chunks: [], started: 0, raf: 0, timer: 0 };
    recorder.addEventListener("dataavailable", (e) => { if (e.data && e.data.size) session.chunks.push(e.data); });
    recorder.addEventListener("start", () => {
      session.started = performance.now();
      model.set("start_ms", Math.round((session.started - clicked) * 10) / 10);
      model.set("recording", true); model.set("error", ""); model.save_changes();
      button.disabled = false; button.textContent = "■ Stop"; button.setAttribute("aria-pressed", "true");
      status.textContent = "recording…";
      session.timer = setTimeout(() => stop(true), model.get("max_seconds") * 1000);
      meterLoop();
    });
    recorder.addEventListener("stop", () => finish());
    recorder.start();
  }
  function stop(limit = false) {
    if (!session || session.recorder.state !== "recording") return;
    clearTimeout(session.timer);
    session.limited = limit;
    session.recorder.stop();
  }
  async function finish() {
    const s = session;
    session = null;
    cancelAnimationFrame(s.raf);
    for (const t of s.stream.getTracks()) t.stop();   // the microphone is released at once
    button.textContent = "● Record"; button.setAttribute("aria-pressed", "false");
    bar.style.width = "0";
    status.textContent = "decoding…";
    try {
      const blob = new Blob(s.chunks, { type: s.recorder.mimeType });
      const decoded = await s.ctx.decodeAudioData(await blob.arrayBuffer());
      time.textContent = `${decoded.duration.toFixed(1)} s${s.limited ? ` (stopped at the ${model.get("max_seconds")} s limit)` : ""}`;
      model.set("recording", false); model.save_changes();
      status.textContent = "sent";
      model.send({ op: "recorded", seconds: decoded.duration, sample_rate: decoded.sampleRate, mime: s.recorder.mimeType }, undefined, [wavBytes(decoded)]);
    } catch (e) {
      fail(`The recording could not be decoded (${e && e.name}: ${e && e.message}). Try again, or upload a file.`);
    } finally {
      s.ctx.close();
    }
  }
  button.addEventListener("click", () => (session ? stop() : start()));
  model.on("change:error", () => { error.textContent = model.get("error"); });
  model.on("change:status", () => { status.textContent = model.get("status"); });
  model.on("change:max_seconds", () => { if (!session) time.textContent = limitText(); });
  time.textContent = limitText();
  error.textContent = model.get("error");
  return () => { if (session) { clearTimeout(session.timer); session.recorder.state === "recording" && session.recorder.stop(); } };
}

export default { render };
