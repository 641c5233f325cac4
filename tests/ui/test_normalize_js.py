"""The chain editor's sliders map values exactly as the toolset spec does, for every parameter.

``widgets/normalize.js`` runs in Node on the toolset the widget receives
(:func:`~llm2fx_lab.ui.chain_editor.toolset_json`); its results are compared with
:meth:`~llm2fx_lab.fx.spec.ParamSpec.normalize` and ``denormalize``.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest

from llm2fx_lab.fx.spec import ALL_PARAMS, TOOLSET
from llm2fx_lab.ui._assets import asset
from llm2fx_lab.ui.chain_editor import toolset_json

NODE = shutil.which("node")
UNITS = np.linspace(0.0, 1.0, 41).tolist()

HARNESS = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const m of input.toolset) for (const p of m.params) {
  const values = input.values[`${m.name}.${p.name}`];
  out[`${m.name}.${p.name}`] = {
    to_unit: values.map((v) => toUnit(p, v)),
    from_unit_exact: input.units.map((u) => fromUnitExact(p, u)),
    from_unit: input.units.map((u) => fromUnit(p, u)),
  };
}
process.stdout.write(JSON.stringify(out));
"""


def run_normalize_js(toolset, values):
    """The three mappings of normalize.js for every parameter of ``toolset``."""
    script = asset("normalize.js") + "\n" + HARNESS
    r = subprocess.run([NODE, "-e", script], input=json.dumps({"toolset": toolset, "values": values, "units": UNITS}),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def spec_values():
    """Per parameter: its range's ends, its default and values spread over the range."""
    return {p.qualified_name: sorted({p.minimum, p.maximum, p.default, p.lowest_valid,
                                      *[p.denormalize(u) for u in (0.1, 0.33, 0.5, 0.77, 0.9)]})
            for p in ALL_PARAMS}


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_sliders_normalise_as_the_spec_over_every_parameter():
    values = spec_values()
    got = run_normalize_js(toolset_json(), values)
    assert set(got) == {p.qualified_name for p in ALL_PARAMS} and len(got) == 26
    for p in ALL_PARAMS:
        js = got[p.qualified_name]
        np.testing.assert_allclose(js["to_unit"], [p.normalize(v) for v in values[p.qualified_name]],
                                   rtol=1e-12, atol=1e-12, err_msg=p.qualified_name)
        np.testing.assert_allclose(js["from_unit_exact"], [p.denormalize(u) for u in UNITS],
                                   rtol=1e-12, atol=1e-9, err_msg=p.qualified_name)
        # what a slider sends: on the slider's grid, where the value renders, near the exact value
        step = 1.0 if p.json_type == "integer" else (p.schema_step if p.schema_step < 0.1 else 0.01)
        for u, v in zip(UNITS, js["from_unit"]):
            assert p.lowest_valid <= v <= p.maximum, (p.qualified_name, u, v)
            exact = min(max(p.denormalize(u), p.lowest_valid), p.maximum)
            assert abs(v - exact) <= step / 2 + 1e-9, (p.qualified_name, u, v, exact)


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_the_check_fails_when_the_front_end_drifts():
    """A front end that used another log offset than the spec's would be caught."""
    toolset = toolset_json()
    for m in toolset:
        for p in m["params"]:
            p["log_offset"] = 10.0
    got = run_normalize_js(toolset, spec_values())
    log_params = [p for p in ALL_PARAMS if p.scale == "log"]
    assert log_params, "the toolset has log-scale parameters (attack and release times)"
    drift = max(abs(a - p.normalize(v)) for p in log_params
                for a, v in zip(got[p.qualified_name]["to_unit"], spec_values()[p.qualified_name]))
    assert drift > 0.01


def test_the_widget_gets_the_spec_numbers():
    sent = {f"{m['name']}.{q['name']}": q for m in toolset_json() for q in m["params"]}
    for p in ALL_PARAMS:
        q = sent[p.qualified_name]
        assert (q["minimum"], q["maximum"], q["scale"], q["lowest_valid"]) == (p.minimum, p.maximum, p.scale,
                                                                              p.lowest_valid)
    assert [m["name"] for m in toolset_json()] == list(TOOLSET)
