// Shared by every widget module: prepended to each one by llm2fx_lab/ui/_assets.py::esm().
// h(tag, attrs, ...children): build a DOM element; "on..." attrs become event listeners,
// "class" sets className, true/false toggle boolean attributes.
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
