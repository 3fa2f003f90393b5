// Small DOM helpers: elements from data (never from HTML strings, so nothing a job holds can
// become markup), number and age formatting, and one polite live region for announcements.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    const a = Math.abs(value);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? value.toExponential(2) : String(+value.toFixed(digits));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function age(iso) {
  if (!iso) return "—";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function announce(message) {
  const region = document.getElementById("announce");
  if (region) region.textContent = message;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function section(title, ...children) {
  const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
export const FINISHED_TRIAL = new Set(["completed", "pruned", "failed", "diverged", "timed_out", "cancelled"]);

// Field errors of a 4xx as a list, each item naming its field (data-field) beside the message.
export function errorList(error) {
  const fields = error.fields || {};
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", {}, error.message),
    Object.keys(fields).length
      ? h(
          "ul",
          {},
          Object.entries(fields).map(([path, messages]) =>
            h("li", { "data-field": path }, h("code", {}, path), ": ", messages.join(" ")),
          ),
        )
      : null,
  );
}
