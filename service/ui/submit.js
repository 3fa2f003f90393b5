// A job spec editor, prefilled from an example, in JSON or YAML. The API validates it; each
// 422 field error is shown on the line of the spec that holds its field.

import { api } from "./api.js";
import { h, clear, errorList } from "./dom.js";

// YAML in block style for a JSON value (strings quoted as JSON, which YAML reads as is).
export function toYaml(value, indent = "") {
  const scalar = (v) => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v));
  const inline = (v) => v === null || typeof v !== "object" || (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object"));
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((v) => `${indent}- ${inline(v) ? (Array.isArray(v) ? JSON.stringify(v) : scalar(v)) : toYaml(v, indent + "  ").trimStart()}`).join("\n");
  }
  return Object.entries(value)
    .map(([k, v]) => {
      if (inline(v)) return `${indent}${k}: ${Array.isArray(v) ? JSON.stringify(v) : scalar(v)}`;
      if (Array.isArray(v) ? !v.length : !Object.keys(v).length) return `${indent}${k}: ${JSON.stringify(v)}`;
      return `${indent}${k}:\n${toYaml(v, indent + "  ")}`;
    })
    .join("\n");
}

// The line (0-based) holding a dotted field path, or null: each name is looked for after the
// previous one, as a JSON key ("name":) or a YAML key (name:); list indexes are skipped.
export function lineOf(text, path) {
  let at = 0;
  let found = false;
  for (const part of path.split(".")) {
    if (/^\d+$/.test(part)) continue;
    const escaped = part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`("${escaped}"|(^|[\\s{,-])${escaped})\\s*:`, "m");
    const match = pattern.exec(text.slice(at));
    if (!match) break;
    at += match.index + match[0].indexOf(part);
    found = true;
  }
  return found ? text.slice(0, at).split("\n").length - 1 : null;
}

function annotated(text, fields) {
  const notes = new Map();
  const general = {};
  for (const [path, messages] of Object.entries(fields)) {
    const line = lineOf(text, path);
    if (line === null) general[path] = messages;
    else notes.set(line, [...(notes.get(line) || []), [path, messages]]);
  }
  // Each error's line with two lines either side; "…" where lines are left out.
  const lines = text.split("\n");
  const shown = new Set([...notes.keys()].flatMap((n) => [n - 2, n - 1, n, n + 1, n + 2]));
  const items = [];
  lines.forEach((line, i) => {
    if (!shown.has(i)) {
      if (shown.has(i - 1)) items.push(h("li", { class: "gap", "aria-hidden": "true" }, "…"));
      return;
    }
    items.push(
      h(
        "li",
        { value: i + 1, class: notes.has(i) ? "has-error" : null },
        h("code", {}, line || " "),
        (notes.get(i) || []).map(([path, messages]) =>
          h("span", { class: "field-error", role: "note", "data-field": path }, `${path}: ${messages.join(" ")}`),
        ),
      ),
    );
  });
  return { general, view: h("ol", { class: "annotated", "aria-label": "The spec's lines with errors" }, items) };
}

export async function submitPage() {
  const examples = await (await fetch("/ui/examples.json")).json();
  const names = Object.keys(examples).sort((a, b) => (b === "digits-demo") - (a === "digits-demo"));
  const editor = h("textarea", { id: "spec-editor", rows: 24, spellcheck: "false", "aria-describedby": "spec-help" });
  const formatChoice = (value, text) =>
    h("label", {}, h("input", { type: "radio", name: "format", value, checked: value === "json", onchange: () => fill() }), ` ${text}`);
  const exampleSelect = h("select", { id: "example", onchange: () => fill() }, names.map((n) => h("option", { value: n }, n)));
  const result = h("div", { id: "submit-result", "aria-live": "polite" });
  const format = () => form.querySelector('input[name="format"]:checked')?.value || "json";
  function fill() {
    const spec = examples[exampleSelect.value];
    editor.value = format() === "yaml" ? `${toYaml(spec)}\n` : `${JSON.stringify(spec, null, 2)}\n`;
    clear(result);
  }
  const form = h(
    "form",
    {
      id: "submit-form",
      onsubmit: async (event) => {
        event.preventDefault();
        clear(result);
        const text = editor.value;
        try {
          const type = format() === "yaml" ? "application/yaml" : "application/json";
          const made = await api("/v1/jobs", { method: "POST", body: text, type });
          location.hash = `#/jobs/${made.id}`;
        } catch (error) {
          const { general, view } = annotated(text, error.fields || {});
          result.append(errorList({ message: error.message, fields: general }));
          if (Object.keys(error.fields || {}).length > Object.keys(general).length) {
            result.append(h("h2", {}, "Errors in the spec, by line"), view);
          }
        }
      },
    },
    h("div", { class: "toolbar" }, h("label", { for: "example" }, "Start from"), exampleSelect,
      h("fieldset", {}, h("legend", {}, "Format"), formatChoice("json", "JSON"), formatChoice("yaml", "YAML"))),
    h("label", { for: "spec-editor" }, "Job spec"),
    h("p", { id: "spec-help", class: "help" }, "The API checks every field; errors appear below, on the line of their field."),
    editor,
    h("button", { type: "submit", id: "submit-job" }, "Validate and submit"),
  );
  const node = h("div", {}, h("h1", {}, "Submit a job"), form, result);
  setTimeout(fill);
  return { node };
}
