// The tenant's datasets: list, upload (the API's own checks and messages, each shown beside
// the form field it names) and delete.

import { api } from "./api.js";
import { h, fmt, age, clear, announce, errorList } from "./dom.js";

const FIELDS = [
  ["file", "File (.npz, .csv, .parquet)", () => h("input", { type: "file", name: "file", required: true, accept: ".npz,.csv,.parquet,.tsv" })],
  ["name", "Name", () => h("input", { type: "text", name: "name", maxlength: 200 })],
  ["target", "Target column (tables)", () => h("input", { type: "text", name: "target", maxlength: 200 })],
  ["task", "Task", () => h("select", { name: "task" }, ["", "classification", "regression"].map((t) => h("option", { value: t }, t || "infer from the target")))],
];

export async function datasetsPage() {
  const body = h("tbody");
  const status = h("div", { "aria-live": "polite" });
  async function load() {
    const { datasets } = await api("/v1/datasets");
    clear(body).append(
      ...datasets.map((d) =>
        h(
          "tr",
          { "data-dataset": d.id },
          h("td", {}, d.name),
          h("td", {}, d.format),
          h("td", {}, d.task),
          h("td", {}, fmt(d.splits?.train)),
          h("td", {}, fmt(d.n_features)),
          h("td", {}, d.class_names ? d.class_names.slice(0, 8).join(", ") : "—"),
          h("td", {}, age(d.created_at)),
          h("td", {}, h("code", { class: "id", title: d.id }, `${d.id.slice(0, 12)}…`), " ",
            h("button", { type: "button", class: "small", "aria-label": `Copy the id of ${d.name}`, onclick: () => copy(d) }, "Copy id")),
          h(
            "td",
            {},
            h("a", { class: "button", href: `#/submit?dataset=${d.id}`, "aria-label": `New job on ${d.name}` }, "New job"),
            " ",
            h("button", { type: "button", "aria-label": `Delete ${d.name}`, onclick: () => remove(d) }, "Delete"),
          ),
        ),
      ),
    );
    if (!datasets.length) body.append(h("tr", {}, h("td", { colspan: 9 }, "No datasets yet.")));
  }
  async function copy(d) {
    try {
      await navigator.clipboard.writeText(d.id);
      announce(`Copied the id of ${d.name}`);
    } catch {
      window.prompt("The dataset's id:", d.id); // no clipboard (plain HTTP): shown to copy
    }
  }
  async function remove(d) {
    if (!window.confirm(`Delete the dataset ${d.name}?`)) return;
    clear(status);
    try {
      await api(`/v1/datasets/${d.id}`, { method: "DELETE" });
      announce(`Deleted ${d.name}`);
      await load();
    } catch (error) {
      status.append(errorList(error));
    }
  }

  const slots = {};
  const form = h(
    "form",
    {
      id: "upload",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(status);
        Object.values(slots).forEach((s) => clear(s));
        const data = new FormData(form);
        for (const [k, v] of [...data.entries()]) if (v === "") data.delete(k);
        try {
          const made = await api("/v1/datasets", { method: "POST", body: data });
          status.append(h("p", { class: "ok" }, `Uploaded ${made.name}: ${made.task}, ${made.n_features} features.`));
          form.reset();
          await load();
        } catch (error) {
          const leftover = {};
          for (const [path, messages] of Object.entries(error.fields)) {
            const slot = slots[path.split(".")[0]];
            if (slot) slot.append(h("span", { "data-field": path }, messages.join(" ")));
            else leftover[path] = messages;
          }
          status.append(errorList({ message: error.message, fields: leftover }));
        }
      },
    },
    h("h2", { id: "upload-heading" }, "Upload a dataset"),
    FIELDS.map(([name, text, make]) => {
      const control = make();
      control.id = `upload-${name}`;
      slots[name] = h("p", { class: "field-error", id: `upload-${name}-error` });
      control.setAttribute("aria-describedby", slots[name].id);
      return h("div", { class: "field" }, h("label", { for: control.id }, text), control, slots[name]);
    }),
    h("button", { type: "submit" }, "Upload"),
  );
  await load();
  const node = h(
    "div",
    {},
    h("h1", {}, "Datasets"),
    h(
      "table",
      { id: "datasets" },
      h("caption", {}, "Your datasets"),
      h("thead", {}, h("tr", {}, ["Name", "Format", "Task", "Training rows", "Features", "Classes", "Age", "Id", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      body,
    ),
    status,
    form,
  );
  return { node };
}
