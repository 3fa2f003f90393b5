// Two or more jobs side by side: their best-so-far histories on one chart, and their best
// configurations and metrics in one table (a row per setting, a column per job).

import { api } from "./api.js";
import { h, fmt, section } from "./dom.js";
import { compare } from "./charts.js";

export async function comparePage(ids) {
  const jobs = await Promise.all(
    ids.map(async (id) => {
      const [job, trials] = await Promise.all([api(`/v1/jobs/${id}`), api(`/v1/jobs/${id}/trials`)]);
      return { ...job, trials: trials.trials };
    }),
  );
  const settings = [...new Set(jobs.flatMap((j) => Object.keys(j.best?.configuration || {})))].sort();
  const metrics = [...new Set(jobs.flatMap((j) => Object.keys(j.best?.metrics || {})))].sort();
  const row = (name, get) =>
    h("tr", {}, h("th", { scope: "row" }, name), jobs.map((j) => h("td", {}, fmt(get(j)))));
  const node = h(
    "div",
    {},
    h("h1", {}, `Compare ${jobs.length} job${jobs.length === 1 ? "" : "s"}`),
    section(
      "Best so far",
      // jobs that optimise different metrics (or one metric in two directions) share no axis
      [...new Set(jobs.map((j) => `${j.objective.metric} ${j.objective.direction}`))].map((objective) => {
        const group = jobs.filter((j) => `${j.objective.metric} ${j.objective.direction}` === objective);
        return h(
          "figure",
          {},
          compare(group),
          h("figcaption", {}, h("ul", { class: "legend" }, group.map((j, i) => h("li", {}, h("span", { class: `swatch series-${i % 6}`, "aria-hidden": "true" }), j.name)))),
        );
      }),
    ),
    section(
      "Best configurations",
      h(
        "table",
        { id: "compare-table" },
        h("caption", {}, "Each job's best trial"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Setting"), jobs.map((j) => h("th", { scope: "col" }, h("a", { href: `#/jobs/${j.id}` }, j.name))))),
        h(
          "tbody",
          {},
          row("status", (j) => j.status),
          row("trials finished", (j) => j.progress.trials_finished),
          row("objective", (j) => `${j.objective.metric} (${j.objective.direction})`),
          row("best value", (j) => j.best?.value),
          metrics.map((m) => row(m, (j) => j.best?.metrics?.[m])),
          settings.map((k) => row(k, (j) => j.best?.configuration?.[k])),
        ),
      ),
    ),
  );
  return { node };
}
