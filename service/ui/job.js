// One job: its progress, best configuration with diagnosis and advice, live charts (history,
// learning curves, parallel coordinates, importance) and a sortable, filterable trial table.
// While it runs, the page follows the job's events: an epoch extends a running trial's curve,
// a finished trial or a status change reloads the job and its trials.

import { api, download, follow } from "./api.js";
import { h, clear, announce, section, FINISHED, FINISHED_TRIAL, errorList } from "./dom.js";
import { history, curves, parallel, bars } from "./charts.js";
import { dataTable } from "./table.js";
import { bestPart, headerPart, keepingFocus, trialColumns } from "./job_parts.js";

const REFRESH_AFTER_MS = 300; // events in a burst (trials finishing together) load once
const IMPORTANCE_EVERY_MS = 10000;
const CURVES_EVERY_MS = 500;
const SETTLE_LOADS = 10;
const SETTLE_EVERY_MS = 3000;

export async function jobPage(id) {
  let [job, trials] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/trials`).then((r) => r.trials)]);
  const space = job.spec.search_space || {};
  const head = h("div");
  const bestBox = h("div");
  const historyBox = h("figure", {}, h("figcaption", {}, "Each trial's value (triangles: pruned, crosses: no value) and the best so far"));
  const readout = h("p", { class: "readout", "aria-live": "polite" }, "Hover a curve to see its trial.");
  const metricSelect = h("select", { id: "curve-metric", onchange: () => drawCharts() });
  const curvesBox = h("figure", {}, h("figcaption", {}, h("label", { for: "curve-metric" }, "Learning curves of "), metricSelect), readout);
  const parallelBox = h("figure", { class: "wide" }, h("figcaption", {}, "Parallel coordinates over the searched dimensions: a line per scored trial, from blue (worst) to orange (best)"));
  const importanceBox = h("div", { id: "importance" }, h("p", {}, "Computing…"));
  const message = h("div", { "aria-live": "polite" });
  const liveNote = h("p", { id: "live-state", class: "help", "aria-live": "polite" });
  const table = dataTable({ id: "trials", caption: "Trials (sort by a column's header, filter below it)", columns: trialColumns(space), rows: trials, rowAttrs: (t) => ({ "data-trial": t.number }) });
  let importanceFor = null;
  let importanceTimer = null;
  let importanceAt = 0;
  let curvesTimer = null;
  let pending = null; // the load waiting to run: a full reload outranks an update
  let loading = false;
  let failures = 0;
  let settling = 0; // loads left to see the trials that were running when the job ended
  let epochsDuringLoad = null; // epoch events that came while a full load was on its way
  let stop = () => {};
  let timer = null;
  let left = false;
  let wanted = new Set(); // trials finished since the last load, fetched one by one
  let needFull = false; // a full reload is due (and an update alone would not do)

  const actions = () =>
    h(
      "div",
      { class: "toolbar" },
      ["queued", "running"].includes(job.status) ? h("button", { type: "button", id: "cancel", onclick: cancel }, "Cancel job") : null,
      h("button", { type: "button", id: "download-model", disabled: !job.model?.bytes, title: job.model?.bytes ? null : "No model is kept for this job (yet)", onclick: () => act(() => download(`/v1/jobs/${id}/model`, "model.keras")) }, "Download model"),
      h("button", { type: "button", id: "open-report", onclick: openReport }, "Open report"),
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
      const cancelled = await api(`/v1/jobs/${id}/cancel`, { method: "POST" });
      announce(`Job ${cancelled.status}`);
      later(reload);
    });
  }
  // The report opens in a new tab as a document of its own (no opener, so it cannot reach
  // this page or its key), its styles allowed by the policy's hash of them.
  function openReport() {
    act(async () => {
      const response = await api(`/v1/jobs/${id}/report?format=html`, { raw: true });
      const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
      const link = h("a", { href: url, target: "_blank", rel: "noopener noreferrer" });
      document.body.append(link);
      link.click();
      link.remove(); // the URL lives as long as this page, so the report's tab can reload
    });
  }

  function drawCurves() {
    const metrics = [...new Set(trials.flatMap((t) => Object.keys(t.history || {})))].sort();
    const chosen = metricSelect.value || (metrics.includes("val_loss") ? "val_loss" : metrics[0]);
    if ([...metricSelect.options].map((o) => o.value).join() !== metrics.join()) {
      clear(metricSelect).append(...metrics.map((m) => h("option", { value: m }, m)));
    }
    if (chosen) metricSelect.value = chosen;
    curvesBox.querySelector("svg")?.remove();
    if (chosen) curvesBox.insertBefore(curves(trials, chosen, readout), readout);
  }

  function drawCharts() {
    historyBox.querySelector("svg")?.remove();
    historyBox.prepend(history(trials, job.objective));
    drawCurves();
    parallelBox.querySelector("svg")?.remove();
    if (Object.keys(space).length) parallelBox.prepend(parallel(trials, space, job.objective));
  }

  // Epochs come fast (a small model trains dozens a second): their curves are drawn at most
  // twice a second, whatever the number of events.
  function curvesSoon() {
    if (curvesTimer === null) {
      curvesTimer = setTimeout(() => {
        curvesTimer = null;
        drawCurves();
        table.querySelector("table").update(trials);
      }, CURVES_EVERY_MS);
    }
  }

  // Importance is a forest fitted by a worker for each version of the job: while the job
  // runs, the page asks for it at most every 10 s.
  async function loadImportance() {
    const version = `${job.status}.${job.progress.trials_finished}.${job.best?.trial}`;
    if (version === importanceFor || left) return;
    clearTimeout(importanceTimer);
    const wait = IMPORTANCE_EVERY_MS - (Date.now() - importanceAt);
    if (!FINISHED.has(job.status) && wait > 0) {
      importanceTimer = setTimeout(() => loadImportance().catch(() => {}), wait);
      return;
    }
    importanceFor = version;
    importanceAt = Date.now();
    try {
      const response = await api(`/v1/jobs/${id}/importance`, { raw: true });
      if (left || version !== importanceFor) return;
      if (response.status === 202) {
        importanceFor = null; // computing: ask again in 2 s (or on the next change)
        importanceAt = 0;
        importanceTimer = setTimeout(() => loadImportance().catch(() => {}), 2000);
        return;
      }
      const found = await response.json();
      clear(importanceBox).append(
        found.importance && Object.keys(found.importance).length ? bars(found.importance) : h("p", {}, found.note || "Not enough trials yet."),
      );
    } catch (error) {
      importanceFor = null; // ask again on the next change
      clear(importanceBox).append(h("p", {}, error.message));
    }
  }

  function render() {
    keepingFocus(() => {
      clear(head).append(headerPart(job, actions()));
      clear(bestBox).append(bestPart(job));
    });
    drawCharts();
    table.querySelector("table").update(trials);
  }

  // A job that ends (a cancel, a failure) can have trials still running: they stop at their
  // next epoch or heartbeat, after the job's stream has ended. The page looks again a few
  // times until none is left running.
  function finishedNow() {
    if (!FINISHED.has(job.status)) return;
    if (settling === 0) {
      announce(`Job ${job.status}`);
      stop();
      liveNote.textContent = "";
      settling = SETTLE_LOADS;
    }
    if (trials.some((t) => !FINISHED_TRIAL.has(t.state)) && --settling > 0) {
      setTimeout(() => later(reload), SETTLE_EVERY_MS);
    }
  }

  // Everything again: on a status change, a long-poll's change, or a return to the tab.
  async function reload() {
    needFull = true;
    wanted = new Set();
    epochsDuringLoad = [];
    let nextJob;
    let nextTrials;
    try {
      [nextJob, nextTrials] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/trials`).then((r) => r.trials)]);
    } finally {
      if (left || !nextTrials) epochsDuringLoad = null;
    }
    if (left) return;
    needFull = false;
    // trials that started while the load was on its way are kept, and the epochs that came
    // meanwhile are applied again (the ones the load already holds are skipped)
    const known = new Set(nextTrials.map((t) => t.number));
    const started = trials.filter((t) => !known.has(t.number));
    [job, trials] = [nextJob, [...nextTrials, ...started].sort((a, b) => a.number - b.number)];
    const replay = epochsDuringLoad;
    epochsDuringLoad = null;
    replay.forEach(onEpoch);
    render();
    loadImportance().catch(() => {});
    finishedNow();
  }

  // A trial finished: the job and that trial only (a job's trial list with every curve grows
  // with its trials, and every open page would fetch it again on every trial).
  async function update() {
    if (needFull) return reload();
    const numbers = [...wanted];
    wanted = new Set();
    let nextJob;
    let finished;
    try {
      [nextJob, ...finished] = await Promise.all([
        api(`/v1/jobs/${id}`),
        ...numbers.map((n) => api(`/v1/jobs/${id}/trials/${n}`)),
      ]);
    } catch (error) {
      needFull = true; // what this update would have shown comes with the next full load
      throw error;
    }
    if (left) return;
    job = nextJob;
    for (const t of finished) {
      const at = trials.findIndex((x) => x.number === t.number);
      if (at >= 0) trials[at] = t;
      else trials.push(t);
    }
    trials.sort((a, b) => a.number - b.number);
    render();
    loadImportance().catch(() => {});
    finishedNow();
  }

  // Events in a burst load once, soon after the first: a later event joins the waiting load
  // (it does not push it back, so a busy job still shows its progress). One load runs at a
  // time, so answers are applied in the order they were asked for.
  function later(work) {
    if (pending !== reload) pending = work;
    if (timer === null && !loading) timer = setTimeout(runPending, REFRESH_AFTER_MS);
  }
  async function runPending() {
    timer = null;
    const run = pending;
    pending = null;
    if (!run || left) return;
    loading = true;
    let wait = REFRESH_AFTER_MS;
    try {
      await run();
      failures = 0;
    } catch {
      // a 429, a 503 or a dropped connection: load everything again, later and later
      if (pending !== reload) pending = reload;
      wait = Math.min(30000, 1000 * 2 ** failures++);
    } finally {
      loading = false;
      if (pending && !left) timer = setTimeout(runPending, wait);
    }
  }

  // An epoch's metrics extend its trial's curve (k-fold epochs count on across folds while a
  // stored history holds the current fold: values are appended, never placed by number).
  function onEpoch(data) {
    const t = trials.find((x) => x.number === data.trial);
    if (!t || data.epoch <= (t.epochs_trained || 0)) return; // already in what was loaded
    for (const [k, v] of Object.entries(data.metrics || {})) (t.history[k] ||= []).push(v);
    t.epochs_trained = data.epoch;
    curvesSoon();
  }

  function onEvent(event) {
    const data = event.data || {};
    if (event.kind === "epoch") {
      if (epochsDuringLoad) epochsDuringLoad.push(data);
      onEpoch(data);
    } else if (event.kind === "trial_started") {
      // a row (and a curve) for it now; its parameters come when it finishes. Another attempt
      // at a trial starts its curve again.
      const t = trials.find((x) => x.number === data.trial);
      const fresh = { state: "running", history: {}, epochs_trained: 0, attempt: data.attempt };
      if (!t) trials.push({ number: data.trial, params: {}, value: null, ...fresh });
      else if ((data.attempt || 1) > (t.attempt || 1)) Object.assign(t, fresh);
      else t.state = "running";
      curvesSoon();
    } else if (event.kind === "trial_finished") {
      wanted.add(data.trial);
      later(update);
    } else if (event.kind === "job_status" || event.kind === "poll") {
      later(reload);
    }
  }

  // A browser keeps six HTTP/1.1 connections per server, and each followed job holds one:
  // a tab that is not shown lets its stream go and catches up when shown again.
  function watch() {
    stop();
    const notes = { live: "", retrying: "Live updates paused: reconnecting…", stopped: "Live updates stopped (the job or the key is gone)." };
    stop = FINISHED.has(job.status) ? () => {} : follow(id, onEvent, (state) => (liveNote.textContent = notes[state]));
  }
  function onVisibility() {
    if (document.hidden) {
      stop();
      stop = () => {};
    } else if (!FINISHED.has(job.status)) {
      later(reload);
      watch();
    }
  }
  document.addEventListener("visibilitychange", onVisibility);
  // the header's "created … ago" moves on while nothing else happens (a queued job)
  const ageTimer = setInterval(() => {
    if (!document.hidden) keepingFocus(() => clear(head).append(headerPart(job, actions())));
  }, 15000);
  render();
  loadImportance().catch(() => {});
  if (!document.hidden) watch();
  const node = h(
    "div",
    { "data-job": id },
    head,
    liveNote,
    message,
    section("Best so far", bestBox),
    section("Search", h("div", { class: "charts" }, historyBox, curvesBox), parallelBox),
    section("Hyperparameter importance", importanceBox),
    section("Trials", table),
  );
  const leave = () => {
    left = true;
    stop();
    clearTimeout(timer);
    clearTimeout(importanceTimer);
    clearTimeout(curvesTimer);
    clearInterval(ageTimer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
  return { node, leave };
}
