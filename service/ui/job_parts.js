// The job page's parts drawn from a job's data: its header, its best trial with the
// diagnosis, and the trial table's columns. The page (job.js) keeps them live.

import { h, fmt, age } from "./dom.js";

export function trialColumns(space) {
  const params = Object.keys(space);
  return [
    { key: "number", label: "Trial", value: (t) => t.number },
    { key: "state", label: "State", value: (t) => t.state },
    { key: "value", label: "Value", value: (t) => t.value, show: (t) => fmt(t.value) },
    ...params.map((p) => ({ key: `p:${p}`, label: p, value: (t) => t.params[p], show: (t) => fmt(t.params[p]) })),
    { key: "epochs", label: "Epochs", value: (t) => t.epochs_trained },
    { key: "diagnosis", label: "Diagnosis", value: (t) => t.diagnosis?.label?.replaceAll("_", " ") ?? "" },
    { key: "seconds", label: "Seconds", value: (t) => seconds(t), show: (t) => fmt(seconds(t), 1) },
  ];
}

function seconds(t) {
  return t.started_at && t.finished_at ? (Date.parse(t.finished_at) - Date.parse(t.started_at)) / 1000 : null;
}

function configurationRows(configuration, space) {
  const entries = Object.entries(configuration);
  const searched = (k) => k in space || k.replace(/_\d+$/, "") in space;
  return [...entries.filter(([k]) => searched(k)), ...entries.filter(([k]) => !searched(k))].map(([k, v]) =>
    h("tr", { class: searched(k) ? "searched" : null }, h("th", { scope: "row" }, k, searched(k) ? h("span", { class: "searched-mark" }, "searched") : null), h("td", {}, fmt(v))),
  );
}

export function bestPart(job) {
  const best = job.best;
  if (!best) return h("p", {}, "No trial has finished with a value yet.");
  const diagnosis = best.diagnosis;
  return h(
    "div",
    { class: "best" },
    h("p", { id: "best-value" }, `Trial ${best.trial}: ${job.objective.metric} = `, h("strong", {}, fmt(best.value))),
    h(
      "div",
      { class: "columns" },
      h("table", { id: "best-configuration" }, h("caption", {}, "Configuration (searched settings first)"),
        h("tbody", {}, configurationRows(best.configuration, job.spec.search_space || {}))),
      h("table", { id: "best-metrics" }, h("caption", {}, "Metrics"),
        h("tbody", {}, Object.entries(best.metrics).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, fmt(v)))))),
    ),
    diagnosis
      ? h(
          "div",
          { id: "diagnosis" },
          h("h3", {}, `Diagnosis: ${diagnosis.label.replaceAll("_", " ")}`),
          h("ul", {}, diagnosis.evidence.map((e) => h("li", {}, e))),
          h("h3", {}, "Advice"),
          h("ul", { class: "advice" }, diagnosis.advice.map((a) => h("li", {}, a))),
        )
      : null,
  );
}

export function headerPart(job, actions) {
  const p = job.progress;
  return h(
    "div",
    {},
    h("h1", {}, job.name),
    h(
      "p",
      { class: "meta" },
      h("span", { class: `status ${job.status}`, id: "job-status" }, job.status),
      ` · created ${age(job.created_at)} ago`,
      job.stop_reason ? ` · stopped: ${job.stop_reason}` : "",
    ),
    job.error ? h("p", { class: "error", role: "alert" }, job.error) : null,
    h(
      "p",
      { class: "progress-line" },
      h("progress", { max: p.trials_total, value: p.trials_finished, "aria-labelledby": "progress-text" }),
      h("span", { id: "progress-text" }, `${p.trials_finished} of ${p.trials_total} trials finished`),
    ),
    actions,
  );
}

// Re-rendering a part replaces its elements; the control that had the focus gets it back.
export function keepingFocus(render) {
  const focused = document.activeElement;
  const id = focused && focused.id;
  render();
  if (id && focused !== document.getElementById(id)) document.getElementById(id)?.focus();
}
