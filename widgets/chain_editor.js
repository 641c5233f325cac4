// Chain editor: one card per module, drag or Alt+Arrow to reorder, a slider + number per parameter.
// Python owns the chain: every edit is sent as a message ({op, ...}) and comes back as `chain`.

function fmt(p, v) {
  const s = Number(v.toPrecision(4)).toString();
  return p.unit === ":1" ? `${s}:1` : (p.unit ? `${s} ${p.unit}` : s);
}

function render({ model, el }) {
  const root = h("div", { class: "l2f l2f-chain", role: "region", "aria-label": "Effect chain editor" });
  const toolbar = h("div", { class: "l2f-toolbar" });
  const cards = h("div", { class: "l2f-cards", role: "list", "aria-label": "Modules in processing order" });
  const error = h("div", { class: "l2f-error", role: "alert", "aria-live": "polite" });
  const exportBox = h("textarea", { readonly: true, "aria-label": "Exported chain", hidden: true });
  root.append(h("h4", {}, "Effect chain"), toolbar, error, cards, exportBox);
  el.append(root);

  const send = (msg) => model.send(msg);
  const specOf = (name) => model.get("toolset").find((m) => m.name === name);
  let structureKey = null;
  let dragName = null;
  let lastSent = 0, pendingTimer = null;

  // Drag events fire far faster than a render; send at most every 60 ms, always the last value.
  function sendParam(module, param, value, final) {
    const msg = { op: "set_param", module, param, value, final };
    clearTimeout(pendingTimer);
    const now = performance.now();
    if (final || now - lastSent > 60) { lastSent = now; send(msg); }
    else pendingTimer = setTimeout(() => { lastSent = performance.now(); send(msg); }, 60 - (now - lastSent));
  }

  function buildToolbar() {
    toolbar.replaceChildren();
    const chain = model.get("chain");
    const present = new Set(chain.map((c) => c.name));
    const missing = model.get("toolset").filter((m) => !present.has(m.name));
    const addSel = h("select", { class: "l2f-add-select", "aria-label": "Module to add" },
      ...missing.map((m) => h("option", { value: m.name }, m.name)));
    const addBtn = h("button", { class: "l2f-add", disabled: missing.length === 0,
      title: "Add the selected module at the end of the chain",
      onclick: () => send({ op: "add", module: addSel.value }) }, "+ Add");
    const undo = h("button", { class: "l2f-undo", disabled: !model.get("can_undo"), title: "Undo (Ctrl+Z)",
      onclick: () => send({ op: "undo" }) }, "↶ Undo");
    const redo = h("button", { class: "l2f-redo", disabled: !model.get("can_redo"), title: "Redo (Ctrl+Y)",
      onclick: () => send({ op: "redo" }) }, "↷ Redo");
    const reset = h("button", { class: "l2f-reset-all", disabled: !model.get("has_estimate"),
      title: "Reset the whole chain to the planner's estimate", onclick: () => send({ op: "reset_all" }) },
      "Reset chain");
    const showJson = h("button", { class: "l2f-export-json", title: "Show the chain as tool-call JSON and copy it",
      onclick: () => showExport(model.get("json_text")) }, "Export JSON");
    const copyPy = h("button", { class: "l2f-copy-python", title: "Copy Python that rebuilds this chain",
      onclick: () => showExport(model.get("python_text")) }, "Copy as Python");
    toolbar.append(addSel, addBtn, undo, redo, reset, showJson, copyPy);
  }

  function showExport(text) {
    exportBox.hidden = false;
    exportBox.value = text;
    exportBox.select();
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  }

  function paramRow(call, p) {
    const value = call.arguments[p.name];
    const id = `${call.name}-${p.name}-${Math.random().toString(36).slice(2, 8)}`;
    const label = h("label", { for: id, title: p.description }, `${p.label}${p.unit && p.unit !== ":1" ? ` (${p.unit})` : ""}`);
    const slider = h("input", { id, type: "range", min: 0, max: 1000, step: 1, class: "l2f-slider",
      "data-module": call.name, "data-param": p.name,
      "aria-label": `${call.name} ${p.label}${p.scale === "log" ? " (log scale)" : ""}`,
      "aria-valuetext": fmt(p, value), value: Math.round(toUnit(p, value) * 1000) });
    const num = h("input", { type: "number", min: p.lowest_valid, max: p.maximum, step: "any",
      class: "l2f-number", "aria-label": `${call.name} ${p.label} exact value${p.unit ? " in " + p.unit : ""}`,
      value: Number(value.toPrecision(6)) });
    const unit = h("span", { class: "l2f-muted" }, p.unit === ":1" ? ":1" : p.unit);
    slider.addEventListener("input", () => {
      const v = fromUnit(p, slider.value / 1000);
      num.value = v; slider.setAttribute("aria-valuetext", fmt(p, v));
      sendParam(call.name, p.name, v, false);
    });
    slider.addEventListener("change", () => sendParam(call.name, p.name, fromUnit(p, slider.value / 1000), true));
    num.addEventListener("change", () => {
      const v = Number(num.value);
      const ok = num.value !== "" && Number.isFinite(v) && v >= p.lowest_valid && v <= p.maximum;
      num.classList.toggle("l2f-invalid", !ok);
      // Out-of-range values still go to Python, whose validation writes the inline error.
      send({ op: "set_param", module: call.name, param: p.name, value: num.value === "" ? null : v, final: true });
    });
    return h("div", { class: "l2f-param", title: `${p.description} Range ${p.range}.` }, label, slider, num, unit);
  }

  function card(call, index, n) {
    const spec = specOf(call.name);
    // Only the head is draggable: inside a draggable element a slider drag would move the card.
    const head = h("div", { class: "l2f-card-head", draggable: "true", title: "Drag to reorder" },
      h("span", { class: "l2f-handle", "aria-hidden": "true" }, "⠿"),
      h("span", { class: "l2f-title" }, `${index + 1}. ${call.name}`),
      h("button", { class: "l2f-up", "aria-label": `Move ${call.name} up`, disabled: index === 0,
        onclick: () => send({ op: "move", module: call.name, index: index - 1 }) }, "↑"),
      h("button", { class: "l2f-down", "aria-label": `Move ${call.name} down`, disabled: index === n - 1,
        onclick: () => send({ op: "move", module: call.name, index: index + 1 }) }, "↓"),
      h("button", { class: "l2f-bypass", "aria-pressed": call.bypass ? "true" : "false",
        "aria-label": `Bypass ${call.name}`, onclick: () => send({ op: "bypass", module: call.name, value: !call.bypass }) },
        "Bypass"),
      h("button", { class: "l2f-reset", "aria-label": `Reset ${call.name} to the planner's estimate`,
        title: "Reset this module to the planner's estimate (or the defaults)",
        onclick: () => send({ op: "reset_module", module: call.name }) }, "Reset"),
      h("button", { class: "l2f-remove", "aria-label": `Remove ${call.name}`,
        onclick: () => send({ op: "remove", module: call.name }) }, "✕"));
    const c = h("div", { class: `l2f-card${call.bypass ? " l2f-bypassed" : ""}`, role: "listitem", tabindex: 0,
      "data-module": call.name, "data-index": index,
      "aria-label": `${index + 1}. ${call.name}${call.bypass ? ", bypassed" : ""}. Alt+Up or Alt+Down moves it.` },
      head, ...spec.params.map((p) => paramRow(call, p)));
    c.addEventListener("keydown", (e) => {
      if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        e.preventDefault();
        const to = index + (e.key === "ArrowUp" ? -1 : 1);
        if (to >= 0 && to < n) { send({ op: "move", module: call.name, index: to }); pendingFocus = call.name; }
      }
    });
    head.addEventListener("dragstart", (e) => {
      if (e.target !== head) return;
      dragName = call.name;
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", call.name);
    });
    c.addEventListener("dragover", (e) => { if (dragName) { e.preventDefault(); c.classList.add("l2f-dragover"); } });
    c.addEventListener("dragleave", () => c.classList.remove("l2f-dragover"));
    c.addEventListener("drop", (e) => {
      e.preventDefault();
      c.classList.remove("l2f-dragover");
      const name = dragName || e.dataTransfer.getData("text/plain");
      dragName = null;
      if (name && name !== call.name) send({ op: "move", module: name, index });
    });
    c.addEventListener("dragend", () => { dragName = null; });
    return c;
  }

  let pendingFocus = null;
  function update() {
    const chain = model.get("chain");
    const key = JSON.stringify(chain.map((c) => [c.name, !!c.bypass]));
    error.textContent = model.get("error");
    buildToolbar();
    if (key === structureKey) {
      // Same modules in the same order: update values in place so an ongoing drag is not broken.
      for (const call of chain) {
        const spec = specOf(call.name);
        for (const p of spec.params) {
          const row = cards.querySelector(`input.l2f-slider[data-module="${call.name}"][data-param="${p.name}"]`);
          if (!row) continue;
          const num = row.parentElement.querySelector("input.l2f-number");
          const v = call.arguments[p.name];
          if (document.activeElement !== row) row.value = Math.round(toUnit(p, v) * 1000);
          if (document.activeElement !== num) { num.value = Number(v.toPrecision(6)); num.classList.remove("l2f-invalid"); }
          row.setAttribute("aria-valuetext", fmt(p, v));
        }
      }
      return;
    }
    structureKey = key;
    cards.replaceChildren(...chain.map((c, i) => card(c, i, chain.length)));
    if (chain.length === 0) cards.append(h("div", { class: "l2f-muted" }, "No modules: the audio passes through unchanged. Add one above."));
    if (pendingFocus) {
      const target = cards.querySelector(`.l2f-card[data-module="${pendingFocus}"]`);
      if (target) target.focus();
      pendingFocus = null;
    }
  }

  root.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z" && e.target.tagName !== "INPUT") { e.preventDefault(); send({ op: "undo" }); }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "y" && e.target.tagName !== "INPUT") { e.preventDefault(); send({ op: "redo" }); }
  });
  for (const t of ["chain", "error", "can_undo", "can_redo", "has_estimate", "toolset"]) model.on(`change:${t}`, update);
  update();
  return () => clearTimeout(pendingTimer);
}

export default { render };
