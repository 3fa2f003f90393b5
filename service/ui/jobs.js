// The tenant's jobs: status, progress, best value and age, filtered by status and name,
// refreshed every 2 s while the page is open; tick two or more to compare them.

import { api } from "./api.js";
import { h, fmt, age, clear } from "./dom.js";

const STATUSES = ["", "queued", "running", "stopping", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 2000;

export async function jobList() {
  const chosen = new Set();
  const statusSelect = h(
    "select",
    { id: "status-filter" },
    STATUSES.map((s) => h("option", { value: s }, s || "any")),
  );
  const nameInput = h("input", { id: "name-filter", type: "search", placeholder: "part of a name" });
  const body = h("tbody");
  const compareButton = h("button", { type: "button", disabled: true, onclick: () => {
    location.hash = `#/compare/${[...chosen].join(",")}`;
  } }, "Compare selected");
  const empty = h("p", { class: "empty", hidden: true }, "No jobs yet. ", h("a", { href: "#/submit" }, "Submit one"), ".");
  let jobs = [];
  let shownAs = null; // what the rows show; a refresh that changes nothing leaves them be
  let generation = 0; // the newest load wins

  function render() {
    const part = nameInput.value.trim().toLowerCase();
    const key = JSON.stringify([part, jobs.map((j) => [j.id, j.status, j.progress, j.best_value, age(j.created_at)])]);
    if (key === shownAs) return;
    shownAs = key;
    // the focused control (a job's link or checkbox) is found again in the new rows
    const focused = document.activeElement;
    const row = focused?.closest?.("tr[data-job]");
    const again = row && body.contains(row) ? [row.dataset.job, focused.tagName] : null;
    draw(part);
    if (again) body.querySelector(`tr[data-job="${again[0]}"] ${again[1].toLowerCase()}`)?.focus();
  }

  function draw(part) {
    const shown = jobs.filter((j) => !part || j.name.toLowerCase().includes(part));
    clear(body).append(
      ...shown.map((j) => {
        const box = h("input", { type: "checkbox", "aria-label": `Select ${j.name} to compare`, onchange: (e) => {
          if (e.target.checked) chosen.add(j.id);
          else chosen.delete(j.id);
          compareButton.disabled = chosen.size < 2;
        } });
        box.checked = chosen.has(j.id);
        const p = j.progress;
        return h(
          "tr",
          { "data-job": j.id },
          h("td", {}, box),
          h("td", {}, h("a", { href: `#/jobs/${j.id}` }, j.name)),
          h("td", {}, h("span", { class: `status ${j.status}` }, j.status)),
          h("td", { class: "progress-cell" }, h("progress", { max: p.trials_total, value: p.trials_finished, "aria-label": `${j.name} progress` }), ` ${p.trials_finished} / ${p.trials_total}`),
          h("td", {}, fmt(j.best_value)),
          h("td", { title: j.created_at }, age(j.created_at)),
        );
      }),
    );
    const filtered = statusSelect.value || part;
    clear(empty).append(
      ...(filtered ? ["No job matches these filters."] : ["No jobs yet. ", h("a", { href: "#/submit" }, "Submit one"), "."]),
    );
    empty.hidden = shown.length > 0;
  }

  async function load() {
    const mine = ++generation;
    const status = statusSelect.value;
    const query = status ? `?limit=200&status=${status}` : "?limit=200";
    const found = (await api(`/v1/jobs${query}`)).jobs;
    if (mine !== generation) return; // a filter changed meanwhile: its load shows
    jobs = found;
    render();
  }
  statusSelect.addEventListener("change", load);
  nameInput.addEventListener("input", render);
  await load();
  const timer = setInterval(() => {
    if (!document.hidden) load().catch(() => {});
  }, REFRESH_MS);

  const node = h(
    "div",
    {},
    h("h1", {}, "Jobs"),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "status-filter" }, "Status"),
      statusSelect,
      h("label", { for: "name-filter" }, "Name"),
      nameInput,
      compareButton,
      h("a", { class: "button", href: "#/submit" }, "New job"),
    ),
    h(
      "table",
      { id: "jobs" },
      h("caption", {}, "Your jobs, newest first (updated live)"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Compare", "Name", "Status", "Progress", "Best", "Age"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      body,
    ),
    empty,
  );
  return { node, leave: () => clearInterval(timer) };
}
