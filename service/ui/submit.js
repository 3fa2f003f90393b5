// A job spec editor, prefilled from an example, in JSON or YAML. The API validates it; each
// 422 field error is shown on the line of the spec that holds its field.

import { api } from "./api.js";
import { h, clear, errorList } from "./dom.js";

// A key YAML reads as the same string only when it is plain: else it is quoted as JSON.
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_ .-]*$/;
const YAML_WORDS = /^(?:true|false|null|yes|no|on|off|y|n|~)$/i;
const yamlKey = (k) => (PLAIN_KEY.test(k) && !YAML_WORDS.test(k) && !k.endsWith(" ") ? k : yamlScalar(k));

// A value as YAML reads it back: JSON's own spelling, with the characters YAML reads as
// line breaks or byte-order marks (U+0085, U+2028, U+2029, U+FEFF) and C1 controls escaped.
const yamlScalar = (v) =>
  JSON.stringify(v).replace(/[\u0080-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

// YAML in block style for a JSON value: what the API's YAML reader turns back into it.
export function toYaml(value, indent = "") {
  const flat = (v) => v === null || typeof v !== "object" || (Array.isArray(v) ? !v.length || v.every((x) => x === null || typeof x !== "object") : !Object.keys(v).length);
  const inline = (v) => (Array.isArray(v) ? `[${v.map(yamlScalar).join(", ")}]` : typeof v === "object" && v !== null ? "{}" : yamlScalar(v));
  if (Array.isArray(value)) {
    return value.map((v) => (flat(v) ? `${indent}- ${inline(v)}` : `${indent}- ${toYaml(v, indent + "  ").trimStart()}`)).join("\n");
  }
  return Object.entries(value)
    .map(([k, v]) => (flat(v) ? `${indent}${yamlKey(k)}: ${inline(v)}` : `${indent}${yamlKey(k)}:\n${toYaml(v, indent + "  ")}`))
    .join("\n");
}

// The line (0-based) of each path in a JSON text, a path's line being its key's (or, in a
// list, its item's): a small parser that keeps positions, as JSON.parse does not.
function jsonLines(text) {
  const at = new Map();
  let i = 0;
  let line = 0;
  const space = () => {
    while (i < text.length && " \t\r\n".includes(text[i])) line += text[i++] === "\n" ? 1 : 0;
  };
  const string = () => {
    let out = "";
    for (i++; i < text.length && text[i] !== '"'; i++) out += text[i] === "\\" ? text[++i] : text[i];
    i++;
    return out;
  };
  const value = (path, depth) => {
    space();
    if (depth > 200) throw new Error("too deep");
    if (!at.has(path)) at.set(path, line);
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      for (let n = 0; ; n++) {
        space();
        if (text[i] === close || i >= text.length) break;
        let child = `${path}${path ? "." : ""}${n}`;
        if (c === "{") {
          at.set(`${path}${path ? "." : ""}${(child = string())}`, line);
          child = `${path}${path ? "." : ""}${child}`;
          space();
          i++; // the colon
        }
        value(child, depth + 1);
        space();
        if (text[i] === ",") i++;
      }
      i++;
    } else if (c === '"') {
      string();
    } else {
      while (i < text.length && !",]} \t\r\n".includes(text[i])) i++;
    }
  };
  value("", 0);
  return at;
}

// The same for block-style YAML, by indentation. A block is lines [from, to), its first line
// read from column `col` on (an item's content starts after its "- "); its children are its
// entries at the indentation of its first one. Each name is looked for among the children,
// each list index among the child items.
function yamlLine(lines, parts) {
  const entry = (k, col) => {
    const raw = col ? lines[k].slice(col) : lines[k];
    const text = raw.trimStart();
    return { indent: (col || 0) + raw.length - text.length, text };
  };
  const blank = (text) => !text || text.startsWith("#");
  // the end of a block whose parent entry sits at `indent` (list items at that indentation
  // still belong to a key that has no value on its own line)
  const endOf = (from, indent, itemsToo) => {
    let k = from;
    for (; k < lines.length; k++) {
      const { indent: ind, text } = entry(k, 0);
      if (blank(text)) continue;
      if (ind < indent || (ind === indent && !(itemsToo && text.startsWith("-")))) break;
    }
    return k;
  };
  let block = { from: 0, to: lines.length, col: 0 };
  let found = null;
  for (const part of parts) {
    let child = null;
    let hit = null;
    let n = -1;
    for (let k = block.from; k < block.to && !hit; k++) {
      const { indent, text } = entry(k, k === block.from ? block.col : 0);
      if (blank(text)) continue;
      if (child === null) child = indent;
      if (indent !== child) continue;
      if (/^\d+$/.test(part)) {
        if (/^-(\s|$)/.test(text) && ++n === Number(part)) {
          hit = { line: k, block: { from: k, to: endOf(k + 1, indent + 1, false), col: indent + 2 } };
        }
      } else {
        const key = part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        const m = new RegExp(`^(?:${key}|"${key}"|'${key}')\\s*:(.*)$`).exec(text);
        if (m) {
          const inline = m[1].trim() !== "" && !m[1].trim().startsWith("#");
          hit = { line: k, block: { from: k + 1, to: endOf(k + 1, indent, !inline), col: 0 } };
        }
      }
    }
    if (!hit) break;
    found = hit.line;
    block = hit.block;
  }
  return found;
}

// The line (0-based) of a field's path as the API names it (`model.layers[3].units`), or of
// the nearest enclosing field the text holds; null when none is there.
export function lineOf(text, path, format) {
  const parts = path.replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean);
  if (format === "yaml") return yamlLine(text.split("\n"), parts);
  let lines;
  try {
    lines = jsonLines(text);
  } catch {
    return null;
  }
  for (let n = parts.length; n > 0; n--) {
    const line = lines.get(parts.slice(0, n).join("."));
    if (line !== undefined) return line;
  }
  return null;
}

function annotated(text, fields, format, syntax = null) {
  const notes = new Map();
  const general = {};
  if (syntax) notes.set(syntax.line, [["syntax", [syntax.message]]]);
  for (const [path, messages] of Object.entries(fields)) {
    const line = lineOf(text, path, format);
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

// A random Idempotency-Key (crypto.randomUUID needs HTTPS; getRandomValues does not).
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

const DRAFT = "tuneq.draft"; // this tab's unsent spec, kept across pages

// An example to start from for an uploaded dataset: the demo's search, on that dataset, with
// the objective its task calls for.
function exampleFor(dataset, base) {
  const spec = structuredClone(base);
  spec.name = `${dataset.name || "dataset"}-search`.slice(0, 100);
  spec.dataset = { id: dataset.id };
  spec.training = { ...spec.training };
  delete spec.training.validation; // the server's default: k-fold for a small table, and it says why
  spec.training.objective = dataset.task === "regression" ? { metric: "val_loss", direction: "min" } : { metric: "val_accuracy", direction: "max" };
  return spec;
}

// Where a 400 for unparseable text says the problem is ("line 4, column 2"), as a field-like
// note for that line.
function syntaxNote(error) {
  const at = /line (\d+)/.exec(error.message || "");
  return at ? { line: Number(at[1]) - 1, message: error.message } : null;
}

export async function submitPage(datasetId) {
  const examples = await (await fetch("/ui/examples.json")).json();
  if (datasetId) {
    const dataset = await api(`/v1/datasets/${datasetId}`);
    examples[`${dataset.name || "dataset"} (uploaded)`] = exampleFor(dataset, examples["digits-demo"]);
  }
  const names = Object.keys(examples).sort((a, b) => (b === "digits-demo") - (a === "digits-demo"));
  if (datasetId) names.unshift(names.pop());
  const editor = h("textarea", { id: "spec-editor", rows: 24, spellcheck: "false", "aria-describedby": "spec-help" });
  const saved = datasetId ? null : JSON.parse(sessionStorage.getItem(DRAFT) || "null");
  let format = saved?.format || "json";
  let filled = ""; // the example as last put in the editor: anything else is the user's
  let sent = null; // [text, format, key]: the same spec sent again is the same job
  const keep = () => sessionStorage.setItem(DRAFT, JSON.stringify({ text: editor.value, format, example: exampleSelect.value }));
  editor.addEventListener("input", keep);
  const formatChoice = (value, text) =>
    h("label", {}, h("input", { type: "radio", name: "format", value, checked: value === format, onchange: () => switchTo(value) }), ` ${text}`);
  const exampleSelect = h("select", { id: "example", onchange: () => {
    if (editor.value === filled || window.confirm("Replace your edits with this example?")) fill();
    else exampleSelect.value = lastExample;
  } }, names.map((n) => h("option", { value: n }, n)));
  let lastExample = names[0];
  const result = h("div", { id: "submit-result", "aria-live": "polite" });
  const button = h("button", { type: "submit", id: "submit-job" }, "Validate and submit");
  function fill() {
    const spec = examples[exampleSelect.value];
    lastExample = exampleSelect.value;
    filled = editor.value = format === "yaml" ? `${toYaml(spec)}\n` : `${JSON.stringify(spec, null, 2)}\n`;
    clear(result);
    keep();
  }
  function check(value) {
    form.querySelector(`input[value="${value}"]`).checked = true;
    format = value;
    keep();
  }
  // The spec follows the format: JSON is rewritten as YAML. YAML is read by the API only, so
  // edited YAML stays unless the user would rather start again from the example in JSON.
  function switchTo(next) {
    const previous = format;
    if (editor.value === filled) {
      format = next;
      return fill();
    }
    clear(result);
    if (next === "yaml") {
      try {
        editor.value = `${toYaml(JSON.parse(editor.value))}\n`;
        return check("yaml");
      } catch (error) {
        check(previous); // never a JSON text sent as YAML
        result.append(h("p", { class: "error", role: "alert" }, `The spec is not valid JSON, so it stays JSON: ${error.message}`));
        return;
      }
    }
    if (window.confirm("Start again from the example in JSON? (Your YAML edits would go.)")) {
      format = next;
      fill();
    } else check(previous);
  }
  const form = h(
    "form",
    {
      id: "submit-form",
      onsubmit: async (event) => {
        event.preventDefault();
        if (button.disabled) return;
        clear(result);
        const text = editor.value;
        if (!sent || sent[0] !== text || sent[1] !== format) sent = [text, format, newKey()];
        button.disabled = true;
        try {
          const type = format === "yaml" ? "application/yaml" : "application/json";
          const made = await api("/v1/jobs", { method: "POST", body: text, type, idempotencyKey: sent[2] });
          sessionStorage.removeItem(DRAFT);
          location.hash = `#/jobs/${made.id}`;
        } catch (error) {
          const fields = { ...(error.fields || {}) };
          const syntax = Object.keys(fields).length ? null : syntaxNote(error);
          const { general, view } = annotated(text, fields, format, syntax);
          result.append(errorList({ message: error.message, fields: general }));
          if (syntax || Object.keys(fields).length > Object.keys(general).length) {
            result.append(h("h2", {}, "Errors in the spec, by line"), view);
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h("div", { class: "toolbar" }, h("label", { for: "example" }, "Start from"), exampleSelect,
      h("fieldset", {}, h("legend", {}, "Format"), formatChoice("json", "JSON"), formatChoice("yaml", "YAML"))),
    h("label", { for: "spec-editor" }, "Job spec"),
    h("p", { id: "spec-help", class: "help" }, "The API checks every field; errors appear below, on the line of their field. Your draft stays while you look at other pages."),
    editor,
    button,
  );
  const node = h("div", {}, h("h1", {}, "Submit a job"), form, result);
  if (saved && examples[saved.example]) {
    exampleSelect.value = lastExample = saved.example;
    const spec = examples[saved.example];
    filled = format === "yaml" ? `${toYaml(spec)}\n` : `${JSON.stringify(spec, null, 2)}\n`;
    editor.value = saved.text;
  } else {
    fill();
  }
  return { node };
}
