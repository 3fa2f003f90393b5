// Charts drawn as SVG from data, no library: a job's history, learning curves, parallel
// coordinates, importance bars and a comparison of jobs. Colours are presentation attributes
// or classes (the page's Content-Security-Policy allows no inline script), and every mark
// carries a <title> with what it shows, so hovering explains it.

import { FINISHED_TRIAL } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 260;
const M = { left: 56, right: 16, top: 14, bottom: 40 };

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const title = (text) => s("title", {}, text);

function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return [lo];
  const raw = (hi - lo) / count;
  const step = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 5, 10].map((m) => m * step).find((u) => (hi - lo) / u <= count) || raw;
  const start = Math.ceil(lo / unit);
  const out = [];
  // by index, never by adding: a unit below the values' precision would never advance
  for (let i = 0; i <= 3 * count; i++) {
    const v = +((start + i) * unit).toPrecision(12);
    if (v > hi + unit * 1e-9) break;
    if (!out.length || v !== out[out.length - 1]) out.push(v);
  }
  return out;
}

function logTicks(lo, hi) {
  // powers of ten; over less than three decades, 2 and 5 times them too
  const steps = Math.log10(hi / lo) < 3 ? [1, 2, 5] : [1];
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of steps) {
      const v = +(m * 10 ** e).toPrecision(6);
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out.length >= 2 ? out : [lo, hi];
}

export function label(v) {
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(0);
  return String(+v.toPrecision(3));
}

// A linear or log scale from a domain onto pixels, padded so no mark sits on the frame; a
// domain of one value (or of values a rounding apart) is widened around it.
function scale(lo, hi, from, to, log = false) {
  if (log && lo > 0 && hi > 0) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const span = b - a || 1;
    return Object.assign((v) => from + ((Math.log10(v) - a) / span) * (to - from), { lo, hi, log });
  }
  const pad = Math.max(hi - lo, Math.abs(hi) * 1e-6, 1e-12) * 0.05;
  [lo, hi] = [lo - pad, hi + pad];
  if (!Number.isFinite(hi - lo)) [lo, hi] = [-Number.MAX_VALUE / 4, Number.MAX_VALUE / 4];
  return Object.assign((v) => from + ((v - lo) / (hi - lo)) * (to - from), { lo, hi, log: false });
}

// The least and greatest finite values, by a loop (spreading 100,000 values into Math.min
// overflows the call stack).
function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}


function frame(name, description, x, y, xLabel, yLabel) {
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": description,
    "data-chart": name,
    class: "chart",
  });
  const axes = s("g", { class: "axes" });
  for (const t of x.log ? logTicks(x.lo, x.hi) : niceTicks(x.lo, x.hi)) {
    if (t < x.lo || t > x.hi || !Number.isInteger(t)) continue; // trials and epochs count
    axes.append(
      s("line", { x1: x(t), x2: x(t), y1: H - M.bottom, y2: H - M.bottom + 4 }),
      s("text", { x: x(t), y: H - M.bottom + 16, "text-anchor": "middle" }, label(t)),
    );
  }
  for (const t of y.log ? logTicks(y.lo, y.hi) : niceTicks(y.lo, y.hi)) {
    if (t < y.lo || t > y.hi) continue;
    axes.append(
      s("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }),
      s("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, label(t)),
    );
  }
  axes.append(
    s("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }),
    s("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }),
    s("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle" }, xLabel),
    s("text", { x: 12, y: (M.top + H - M.bottom) / 2, transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})`, "text-anchor": "middle" }, yLabel),
  );
  svg.append(axes);
  return svg;
}

const paramsText = (params) =>
  Object.entries(params || {})
    .map(([k, v]) => `${k}=${label(v)}`)
    .join(", ");

// Every finished trial's value over trial numbers with the best so far as a step line;
// pruned trials are triangles, failed ones crosses on the bottom edge.
export function history(trials, objective) {
  const done = trials.filter((t) => FINISHED_TRIAL.has(t.state));
  const [lo, hi] = extent(done.map((t) => t.value));
  const last = Math.max(1, extent(done.map((t) => t.number))[1]);
  const x = scale(0, last, M.left, W - M.right);
  const y = scale(lo, hi, H - M.bottom, M.top);
  const svg = frame("history", `${objective.metric} of every finished trial and the best so far`, x, y, "trial", objective.metric);
  const better = objective.direction === "max" ? (a, b) => a > b : (a, b) => a < b;
  let best = null;
  const steps = [];
  for (const t of [...done].sort((a, b) => a.number - b.number)) {
    const v = t.value;
    const tip = title(`Trial ${t.number} (${t.state}): ${Number.isFinite(v) ? label(v) : "no value"}\n${paramsText(t.params)}`);
    if (!Number.isFinite(v)) { // failed, diverged, timed out or cancelled without a value
      const cx = x(t.number);
      const cy = H - M.bottom - 6;
      svg.append(s("path", { class: `trial failed ${t.state}`, d: `M${cx - 4} ${cy - 4}L${cx + 4} ${cy + 4}M${cx - 4} ${cy + 4}L${cx + 4} ${cy - 4}`, "data-trial": t.number }, tip));
      continue;
    }
    if (t.state === "pruned") {
      const [cx, cy] = [x(t.number), y(v)];
      svg.append(s("path", { class: "trial pruned", d: `M${cx} ${cy - 5}L${cx + 5} ${cy + 4}L${cx - 5} ${cy + 4}Z`, "data-trial": t.number }, tip));
    } else {
      svg.append(s("circle", { class: "trial", cx: x(t.number), cy: y(v), r: 4, "data-trial": t.number }, tip));
      if (best === null || better(v, best)) best = v;
    }
    if (best !== null) steps.push([x(t.number), y(best)]);
  }
  if (steps.length) {
    const d = steps.map(([px, py], i) => (i ? `H${px}V${py}` : `M${px} ${py}`)).join("");
    svg.insertBefore(s("path", { class: "best", d }, title(`best so far: ${label(best)}`)), svg.children[1]);
  }
  return svg;
}

// One line per trial: a learning-curve metric over epochs. Hovering a line shows its trial
// and parameters in the readout below the chart.
export function curves(trials, metric, readout) {
  const drawn = trials.filter((t) => (t.history?.[metric] || []).length);
  const [lo, hi] = extent(drawn.flatMap((t) => t.history[metric]));
  const most = Math.max(2, extent(drawn.map((t) => t.history[metric].length))[1]);
  const x = scale(1, most, M.left, W - M.right);
  const y = scale(lo, hi, H - M.bottom, M.top);
  const svg = frame("curves", `${metric} per epoch of every trial`, x, y, "epoch", metric);
  for (const t of drawn) {
    const d = t.history[metric]
      .map((v, i) => (Number.isFinite(v) ? `${i ? "L" : "M"}${x(i + 1).toFixed(1)} ${y(v).toFixed(1)}` : ""))
      .join("");
    const text = `Trial ${t.number} (${t.state}): ${paramsText(t.params)}`;
    const show = () => {
      readout.textContent = text;
    };
    svg.append(s("path", { class: `curve ${t.state}`, d: d.replace(/^L/, "M"), "data-trial": t.number, onmouseenter: show }, title(text)));
  }
  return svg;
}

function axisFor(name, dim, values, from, to) {
  if (dim.type === "categorical") {
    const choices = dim.choices.map(String);
    const step = (to - from) / Math.max(1, choices.length - 1 || 1);
    const at = (v) => {
      const i = choices.indexOf(String(v));
      if (i < 0) return NaN; // not a choice of the space: no point on this axis
      return choices.length === 1 ? (from + to) / 2 : from + i * step;
    };
    return { at, ticks: choices.map((c) => [c, at(c)]) };
  }
  const [seenLo, seenHi] = extent(values);
  const lo = dim.low ?? seenLo;
  const hi = dim.high ?? seenHi;
  const log = Boolean(dim.log) && lo > 0;
  const sc = scale(lo, hi, from, to, log);
  const ticks = (log ? logTicks(lo, hi) : niceTicks(sc.lo, sc.hi, 4)).filter((t) => t >= sc.lo && t <= sc.hi);
  return { at: sc, ticks: ticks.map((t) => [label(t), sc(t)]) };
}

function colour(share) {
  const a = [49, 104, 176];
  const b = [230, 120, 30];
  return `rgb(${a.map((c, i) => Math.round(c + (b[i] - c) * share)).join(",")})`;
}

// Parallel coordinates: one axis per searched dimension with its real values (log axes for
// log ranges, choices for categorical ones) and the objective last; a line per scored trial,
// coloured from worst (blue) to best (orange).
export function parallel(trials, space, objective) {
  const scored = trials.filter((t) => t.state === "completed" && Number.isFinite(t.value));
  const names = Object.keys(space);
  const dims = [...names.map((n) => [n, space[n]]), [objective.metric, { type: "float" }]];
  const width = Math.max(W, 110 * dims.length);
  const svg = s("svg", { viewBox: `0 0 ${width} ${H}`, role: "img", "aria-label": `parallel coordinates of ${names.join(", ")} and ${objective.metric}`, "data-chart": "parallel", class: "chart fixed", width });
  const gap = (width - 2 * M.left) / Math.max(1, dims.length - 1);
  const axes = dims.map(([n, dim], i) => {
    const values = scored.map((t) => (i === dims.length - 1 ? t.value : t.params[n])).filter((v) => v !== undefined && v !== null);
    return { name: n, x: M.left + i * gap, ...axisFor(n, dim, values.length ? values : [0, 1], H - M.bottom, M.top) };
  });
  const [lo, hi] = extent(scored.map((t) => t.value));
  for (const t of scored) {
    let share = hi > lo ? (t.value - lo) / (hi - lo) : 1;
    if (objective.direction === "min") share = 1 - share;
    // an inactive dimension (a conditional one) or an unknown value leaves its axis out
    const points = axes
      .map((a, i) => {
        const v = i === axes.length - 1 ? t.value : t.params[a.name];
        return [a.x, v === undefined || v === null ? NaN : a.at(v)];
      })
      .filter(([, py]) => Number.isFinite(py))
      .map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)} ${py.toFixed(1)}`);
    svg.append(s("path", { class: "line", d: points.join(""), stroke: colour(share), "data-trial": t.number }, title(`Trial ${t.number}: ${label(t.value)}\n${paramsText(t.params)}`)));
  }
  for (const a of axes) {
    const g = s("g", { class: "axes", "data-axis": a.name });
    g.append(s("line", { x1: a.x, x2: a.x, y1: M.top, y2: H - M.bottom }));
    for (const [text, py] of a.ticks) g.append(s("text", { x: a.x - 5, y: py + 4, "text-anchor": "end" }, text));
    g.append(s("text", { x: a.x, y: H - 12, "text-anchor": "middle", class: "axis-name" }, a.name));
    svg.append(g);
  }
  return svg;
}

// Horizontal bars: each searched dimension's share of the explained objective.
export function bars(importance) {
  const entries = Object.entries(importance);
  const row = 26;
  const height = Math.max(row * entries.length + 20, 60);
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "hyperparameter importance", "data-chart": "importance", class: "chart fixed", width: W });
  const left = 160;
  entries.forEach(([name, share], i) => {
    const y = 10 + i * row;
    const w = Math.max(1, share * (W - left - 60));
    svg.append(
      s("text", { x: left - 8, y: y + 15, "text-anchor": "end" }, name),
      s("rect", { class: "bar", x: left, y, width: w, height: row - 8 }, title(`${name}: ${(share * 100).toFixed(1)} %`)),
      s("text", { x: left + w + 6, y: y + 15 }, `${(share * 100).toFixed(1)} %`),
    );
  });
  return svg;
}

// Best so far over trial numbers for several jobs, one coloured line each (the page puts the
// legend under it, in HTML).
export function compare(series) {
  const [lo, hi] = extent(series.flatMap((j) => j.trials.map((t) => t.value)));
  const last = Math.max(1, extent(series.flatMap((j) => j.trials.map((t) => t.number)))[1]);
  const x = scale(0, last, M.left, W - M.right);
  const y = scale(lo, hi, H - M.bottom, M.top);
  const metric = series[0]?.objective.metric || "value";
  const svg = frame("compare", `best ${metric} so far of ${series.length} jobs`, x, y, "trial", `best ${metric}`);
  svg.setAttribute("class", "chart fixed");
  svg.setAttribute("width", W);
  series.forEach((job, i) => {
    const better = job.objective.direction === "max" ? (a, b) => a > b : (a, b) => a < b;
    let best = null;
    const pts = [];
    for (const t of [...job.trials].sort((a, b) => a.number - b.number)) {
      if (t.state !== "completed" || !Number.isFinite(t.value)) continue;
      if (best === null || better(t.value, best)) best = t.value;
      pts.push(`${pts.length ? "L" : "M"}${x(t.number).toFixed(1)} ${y(best).toFixed(1)}`);
    }
    svg.append(s("path", { class: `series series-${i % 6}`, d: pts.join(""), "data-job": job.id }, title(`${job.name}: best ${label(best)}`)));
  });
  return svg;
}
