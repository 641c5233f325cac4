// Reasoning view: the planner's stream grouped by step, tool-call cards, Stop, and a conversation.
// Python streams into traits from a worker thread; this module only draws them and sends {op}.

const fmtArgs = (args) => Object.entries(args).map(([k, v]) => `${k}=${Number(v.toPrecision(4))}`).join(", ");

function render({ model, el }) {
  const status = h("span", { class: "l2f-status", role: "status", "aria-live": "polite" });
  const stats = h("span", { class: "l2f-stats l2f-muted" });
  const planBtn = h("button", { class: "l2f-plan", onclick: () => model.send({ op: "plan" }) }, "Estimate chain");
  const stopBtn = h("button", { class: "l2f-stop", "aria-label": "Stop the planner", onclick: () => model.send({ op: "stop" }) }, "■ Stop");
  const error = h("div", { class: "l2f-error", role: "alert" });
  const stream = h("div", { class: "l2f-stream", "aria-label": "Planner reasoning", "aria-live": "off" });
  const calls = h("div", { class: "l2f-calls", "aria-label": "Tool calls" });
  const response = h("div", { class: "l2f-response" });
  const claims = h("details", { class: "l2f-claims" });
  const input = h("input", { type: "text", class: "l2f-instruction", placeholder: "Ask for a change: \"remove the delay\", \"reverb mix 0.2\", \"a bit brighter\", \"undo\"…",
    "aria-label": "Instruction for the planner" });
  const send = () => { model.send({ op: "instruct", text: input.value }); input.value = ""; };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); send(); } });
  const sendBtn = h("button", { class: "l2f-send", onclick: send }, "Send");
  const turns = h("ol", { class: "l2f-turns", "aria-label": "Conversation history" });
  const root = h("div", { class: "l2f l2f-reasoning", role: "region", "aria-label": "Planner reasoning" },
    h("h4", {}, "Reasoning"),
    h("div", { class: "l2f-toolbar" }, planBtn, stopBtn, status, stats),
    error, stream, calls, response, claims,
    h("div", { class: "l2f-toolbar" }, input, sendBtn), turns);
  el.append(root);

  const stepNodes = [];
  function drawSteps() {
    const steps = model.get("steps");
    const running = model.get("status") === "running";
    const nearBottom = stream.scrollHeight - stream.scrollTop - stream.clientHeight < 40;
    // Append-only in the common case: reuse step nodes and only replace the growing text.
    if (steps.length < stepNodes.length) { stream.replaceChildren(); stepNodes.length = 0; }
    steps.forEach((s, i) => {
      if (!stepNodes[i]) {
        const text = h("div", { class: "l2f-step-text" });
        const node = h("section", { class: "l2f-step", "data-step": s.step }, h("h5", {}, s.title), text);
        stream.append(node);
        stepNodes[i] = text;
      }
      if (stepNodes[i].textContent !== s.text) stepNodes[i].textContent = s.text;
      stepNodes[i].classList.toggle("l2f-cursor", running && i === steps.length - 1);
    });
    if (steps.length === 0) stream.replaceChildren(h("div", { class: "l2f-muted" }, "The planner's reasoning appears here as it is written."));
    if (nearBottom) stream.scrollTop = stream.scrollHeight;
  }
  function drawCalls() {
    calls.replaceChildren(...model.get("tool_calls").map((c) =>
      h("div", { class: "l2f-call", "data-module": c.name }, h("b", {}, `${c.index + 1}. ${c.name}${c.bypass ? " (bypassed)" : ""}`), fmtArgs(c.arguments))));
  }
  function drawStatus() {
    const st = model.get("status");
    const running = st === "running";
    const name = model.get("planner_name");
    const words = { idle: "Ready", running: "Thinking…", done: "Done", stopped: "Stopped", error: "Failed" };
    status.textContent = `${words[st] || st}${name ? ` · ${name}` : ""}`;
    status.dataset.status = st;
    root.dataset.status = st;
    const ttft = model.get("first_token_seconds");
    stats.textContent = ttft >= 0
      ? `first token ${ttft.toFixed(2)} s · ${model.get("tokens_per_second").toFixed(1)} tokens/s · ${model.get("tokens")} tokens` : "";
    stopBtn.disabled = !running;
    planBtn.disabled = running || !model.get("can_plan");
    sendBtn.disabled = running || !model.get("can_plan");
    error.textContent = model.get("error");
    drawSteps();
  }
  function drawTurns() {
    turns.replaceChildren(...model.get("turns").map((t, i) => {
      const undo = h("button", { class: "l2f-undo-turn", "aria-label": `Undo turn ${i + 1}`, disabled: t.undone || !t.done,
        onclick: () => model.send({ op: "undo_turn", index: i }) }, "Undo");
      return h("li", { class: t.undone ? "l2f-undone" : "" },
        h("b", {}, t.instruction), t.response ? ` — ${t.response}` : "", t.chain ? h("span", { class: "l2f-muted" }, ` [${t.chain}]`) : "",
        t.stopped ? h("span", { class: "l2f-muted" }, " (stopped)") : "", undo);
    }));
  }
  model.on("change:steps", drawSteps);
  model.on("change:tool_calls", drawCalls);
  model.on("change:response", () => { response.textContent = model.get("response"); });
  for (const t of ["status", "error", "first_token_seconds", "tokens_per_second", "tokens", "can_plan", "planner_name"]) model.on(`change:${t}`, drawStatus);
  function drawClaims() {
    const list = model.get("claims");
    const summary = model.get("claims_summary");
    claims.hidden = !summary;
    claims.replaceChildren(h("summary", {}, summary),
      h("ul", {}, ...list.map((c) => h("li", { class: `l2f-claim-${c.verdict}` }, h("b", {}, c.verdict), ` “${c.text}” — ${c.reason}`))));
  }
  model.on("change:turns", drawTurns);
  model.on("change:claims_summary", drawClaims);
  model.on("change:claims", drawClaims);
  drawStatus(); drawCalls(); drawTurns(); drawClaims();
  response.textContent = model.get("response");
}

export default { render };
