// Slider positions <-> parameter values: the mapping of ParamSpec.normalize / denormalize in
// llm2fx_lab/fx/spec.py, with the spec's own numbers (range, scale, log offset) sent in the
// toolset trait, never retyped here. tests/ui/test_normalize_js.py runs this file in Node and
// checks it against the spec over every parameter.

function toUnit(p, v) {
  const span = p.maximum - p.minimum;
  if (p.scale === "log") return Math.log1p((v - p.minimum) / p.log_offset) / Math.log1p(span / p.log_offset);
  return (v - p.minimum) / span;
}

function fromUnitExact(p, u) {
  const span = p.maximum - p.minimum;
  return p.scale === "log" ? p.minimum + p.log_offset * Math.expm1(u * Math.log1p(span / p.log_offset))
                           : p.minimum + u * span;
}

// A slider's value: the exact value snapped to the slider's resolution (whole numbers for
// integer parameters) and kept where it renders, [lowest_valid, maximum].
function fromUnit(p, u) {
  const step = p.json_type === "integer" ? 1 : (p.schema_step < 0.1 ? p.schema_step : 0.01);
  const snapped = Math.round(fromUnitExact(p, u) / step) * step;
  return Math.min(p.maximum, Math.max(p.lowest_valid, Number(snapped.toFixed(4))));
}
