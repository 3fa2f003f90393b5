// A table sortable on every column (the header is a button; aria-sort says the order) and
// filterable on every column (one labelled text box per column, matching what the cell shows).

import { h, clear } from "./dom.js";

// columns: [{key, label, value: row => sortable value, show: row => text or Node}]
export function dataTable({ id, caption, columns, rows, rowAttrs = () => ({}) }) {
  const state = { key: null, dir: 1, filters: {} };
  const body = h("tbody");
  const count = h("p", { class: "count", "aria-live": "polite" });
  const headers = columns.map((c) => {
    const button = h("button", { type: "button", class: "sort", onclick: () => sortBy(c.key) }, c.label);
    return h("th", { scope: "col", "data-key": c.key, "aria-sort": "none" }, button);
  });
  const filters = columns.map((c) =>
    h(
      "td",
      {},
      h("input", {
        type: "search",
        "aria-label": `Filter ${c.label}`,
        "data-filter": c.key,
        oninput: (e) => {
          state.filters[c.key] = e.target.value.trim().toLowerCase();
          render();
        },
      }),
    ),
  );
  const text = (c, row) => {
    const shown = c.show ? c.show(row) : c.value(row);
    return (shown instanceof Node ? shown.textContent : String(shown ?? "")).toLowerCase();
  };
  function sortBy(key) {
    state.dir = state.key === key ? -state.dir : 1;
    state.key = key;
    headers.forEach((th) => th.setAttribute("aria-sort", th.dataset.key === key ? (state.dir > 0 ? "ascending" : "descending") : "none"));
    render();
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined || Number.isNaN(a)) return 1;
    if (b === null || b === undefined || Number.isNaN(b)) return -1;
    return (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true })) * state.dir;
  }
  function render() {
    let shown = rows.filter((row) => columns.every((c) => !state.filters[c.key] || text(c, row).includes(state.filters[c.key])));
    if (state.key) {
      const c = columns.find((col) => col.key === state.key);
      shown = [...shown].sort((a, b) => compare(c.value(a), c.value(b)));
    }
    clear(body).append(
      ...shown.map((row) => h("tr", rowAttrs(row), columns.map((c) => h("td", { "data-key": c.key }, c.show ? c.show(row) : String(c.value(row) ?? "—"))))),
    );
    count.textContent = `${shown.length} of ${rows.length} rows`;
  }
  const table = h(
    "table",
    { id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers), h("tr", { class: "filters" }, filters)),
    body,
  );
  // New rows (a live update) keep the reader's sort and filters.
  table.update = (next) => {
    rows = next;
    render();
  };
  render();
  return h("div", { class: "table-wrap" }, table, count);
}
