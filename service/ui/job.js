// One job: its progress, best configuration with diagnosis and advice, live charts (history,
// learning curves, parallel coordinates, importance) and a sortable, filterable trial table.
// While it runs, the page follows the job's events: an epoch extends a running trial's curve,
// a finished trial or a status change reloads the job and its trials.

import { api, download, follow } from "./api.js";
import { h, fmt, age, clear, announce, section, FINISHED, errorList } from "./dom.js";
import { history, curves, parallel, bars } from "./charts.js";
import { dataTable } from "./table.js";

const REFRESH_AFTER_MS = 150; // events in a burst (a trial finishes, the next starts) load once

function trialColumns(space) {
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

function bestPart(job) {
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
      h("table", { id: "best-configuration" }, h("caption", {}, "Configuration"),
        h("tbody", {}, Object.entries(best.configuration).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, fmt(v)))))),
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

function headerPart(job, actions) {
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

export async function jobPage(id) {
  let [job, trials] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/trials`).then((r) => r.trials)]);
  const space = job.spec.search_space || {};
  const head = h("div");
  const bestBox = h("div");
  const historyBox = h("figure", {}, h("figcaption", {}, "Each trial's value (triangles: pruned, crosses: failed) and the best so far"));
  const readout = h("p", { class: "readout", "aria-live": "polite" }, "Hover a curve to see its trial.");
  const metricSelect = h("select", { id: "curve-metric", onchange: () => drawCharts() });
  const curvesBox = h("figure", {}, h("figcaption", {}, h("label", { for: "curve-metric" }, "Learning curves of "), metricSelect), readout);
  const parallelBox = h("figure", { class: "wide" }, h("figcaption", {}, "Parallel coordinates over the searched dimensions"));
  const importanceBox = h("div", { id: "importance" }, h("p", {}, "Computing…"));
  const message = h("div", { "aria-live": "polite" });
  const table = dataTable({ id: "trials", caption: "Trials (sort by a column's header, filter below it)", columns: trialColumns(space), rows: trials, rowAttrs: (t) => ({ "data-trial": t.number }) });
  let importanceFor = -1;
  let stop = () => {};
  let timer = null;

  const actions = () =>
    h(
      "div",
      { class: "toolbar" },
      FINISHED.has(job.status) ? null : h("button", { type: "button", id: "cancel", onclick: cancel }, "Cancel job"),
      h("button", { type: "button", id: "download-model", disabled: !["succeeded", "cancelled"].includes(job.status), onclick: () => act(() => download(`/v1/jobs/${id}/model`, "model.keras")) }, "Download model"),
      h("button", { type: "button", id: "open-report", onclick: openReport }, "Open report"),
      h("a", { class: "button", href: `#/compare/${id}` }, "Compare…"),
    );

  async function act(work) {
    clear(message);
    try {
      await work();
    } catch (error) {
      message.append(errorList(error));
    }
  }
  function cancel() {
    if (!window.confirm(`Cancel ${job.name}? Its best trial so far is kept.`)) return;
    act(async () => {
      job = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
      announce(`Job ${job.status}`);
      render();
    });
  }
  function openReport() {
    const tab = window.open("", "_blank");
    act(async () => {
      const response = await api(`/v1/jobs/${id}/report?format=html`, { raw: true });
      const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
      if (tab) tab.location = url;
      else location.assign(url);
    }).then(() => message.childElementCount && tab && tab.close());
  }

  function drawCharts() {
    const metrics = [...new Set(trials.flatMap((t) => Object.keys(t.history || {})))].sort();
    const chosen = metricSelect.value || (metrics.includes("val_loss") ? "val_loss" : metrics[0]);
    if (metricSelect.options.length !== metrics.length) {
      clear(metricSelect).append(...metrics.map((m) => h("option", { value: m }, m)));
    }
    if (chosen) metricSelect.value = chosen;
    historyBox.querySelector("svg")?.remove();
    historyBox.prepend(history(trials, job.objective));
    curvesBox.querySelector("svg")?.remove();
    if (chosen) curvesBox.insertBefore(curves(trials, chosen, readout), readout);
    parallelBox.querySelector("svg")?.remove();
    if (Object.keys(space).length) parallelBox.prepend(parallel(trials, space, job.objective));
  }

  async function loadImportance() {
    const finished = job.progress.trials_finished;
    if (finished === importanceFor) return;
    importanceFor = finished;
    try {
      const response = await api(`/v1/jobs/${id}/importance`, { raw: true });
      if (response.status === 202) {
        importanceFor = -1; // computing: ask again on the next change, or in 2 s
        setTimeout(() => loadImportance().catch(() => {}), 2000);
        return;
      }
      const found = await response.json();
      clear(importanceBox).append(
        found.importance && Object.keys(found.importance).length ? bars(found.importance) : h("p", {}, found.note || "Not enough trials yet."),
      );
    } catch (error) {
      clear(importanceBox).append(h("p", {}, error.message));
    }
  }

  function render() {
    clear(head).append(headerPart(job, actions()));
    clear(bestBox).append(bestPart(job));
    drawCharts();
    table.querySelector("table").update(trials);
  }

  async function refresh() {
    [job, trials] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/trials`).then((r) => r.trials)]);
    render();
    loadImportance().catch(() => {});
    if (FINISHED.has(job.status)) {
      announce(`Job ${job.status}`);
      stop();
    }
  }

  function onEvent(event) {
    if (event.kind === "epoch") {
      const t = trials.find((x) => x.number === event.data.trial);
      if (t) {
        for (const [k, v] of Object.entries(event.data.metrics || {})) (t.history[k] ||= []).push(v);
        t.epochs_trained = event.data.epoch;
        drawCharts();
      }
      return;
    }
    if (event.kind === "snapshot") return;
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), REFRESH_AFTER_MS);
  }

  // A browser keeps six HTTP/1.1 connections per server, and each followed job holds one:
  // a tab that is not shown lets its stream go and catches up when shown again.
  function watch() {
    stop();
    stop = FINISHED.has(job.status) ? () => {} : follow(id, onEvent);
  }
  function onVisibility() {
    if (document.hidden) {
      stop();
      stop = () => {};
    } else if (!FINISHED.has(job.status)) {
      refresh().catch(() => {});
      watch();
    }
  }
  document.addEventListener("visibilitychange", onVisibility);
  render();
  loadImportance().catch(() => {});
  if (!document.hidden) watch();
  const node = h(
    "div",
    { "data-job": id },
    head,
    message,
    section("Best so far", bestBox),
    section("Search", h("div", { class: "charts" }, historyBox, curvesBox), parallelBox),
    section("Hyperparameter importance", importanceBox),
    section("Trials", table),
  );
  const leave = () => {
    stop();
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
  return { node, leave };
}
