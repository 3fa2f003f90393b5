// The dashboard's shell: asks once for an API key (kept in this tab's session storage; none
// is asked when the server runs without authentication), then routes on the URL's hash.

import { api, auth, ApiError } from "./api.js";
import { h, clear, announce, errorList } from "./dom.js";
import { jobList } from "./jobs.js";
import { jobPage } from "./job.js";
import { comparePage } from "./compare.js";
import { datasetsPage } from "./datasets.js";
import { submitPage } from "./submit.js";

const view = document.getElementById("view");
let leave = null; // what the current page stops when another opens (streams, timers)

const ROUTES = [
  [/^#\/jobs\/([0-9a-f]{32})$/, (m) => jobPage(m[1])],
  [/^#\/compare\/([0-9a-f,]+)$/, (m) => comparePage(m[1].split(",").filter(Boolean))],
  [/^#\/datasets$/, () => datasetsPage()],
  [/^#\/submit(?:\?dataset=([0-9a-f]{64}))?$/, (m) => submitPage(m[1])],
  [/^#\/jobs\/(.+)$/, () => notFound()],
  [/^(#\/?)?(jobs)?$/, () => jobList()],
];

function notFound() {
  return { node: h("div", {}, h("h1", {}, "Not found"), h("p", {}, "No job or page is at this address for your key.")) };
}

async function keyNeeded() {
  if (auth.key()) return false;
  try {
    await api("/v1/jobs?limit=1");
    return false; // authentication is off (tuneq dev)
  } catch (error) {
    return error instanceof ApiError && error.status === 401;
  }
}

function keyForm(message) {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true });
  const problem = message ? h("p", { class: "error", role: "alert" }, message) : null;
  const form = h(
    "form",
    {
      class: "key-form",
      onsubmit: async (event) => {
        event.preventDefault();
        auth.set(input.value.trim());
        try {
          await api("/v1/jobs?limit=1");
          route();
        } catch (error) {
          auth.forget();
          clear(view).append(keyForm(error.message));
        }
      },
    },
    h("h1", {}, "Sign in with an API key"),
    h("p", {}, "The key stays in this browser tab only and is sent with each request."),
    problem,
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit" }, "Use this key"),
  );
  setTimeout(() => input.focus());
  return form;
}

let routed = 0; // the newest navigation wins: a slower page that resolves later is dropped

async function route() {
  if (location.hash && !location.hash.startsWith("#/")) return; // an in-page anchor
  const mine = ++routed;
  if (leave) leave();
  leave = null;
  document.querySelectorAll("nav a").forEach((a) => {
    const here = location.hash.startsWith(a.getAttribute("href")) || (a.getAttribute("href") === "#/jobs" && !location.hash);
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  const askKey = await keyNeeded();
  if (mine !== routed) return;
  document.getElementById("sign-out").hidden = !auth.key(); // nothing to forget with auth off
  if (askKey) {
    clear(view).append(keyForm());
    return;
  }
  const hash = location.hash || "#/jobs";
  const match = ROUTES.map(([pattern, make]) => [pattern.exec(hash), make]).find(([m]) => m);
  clear(view).append(h("p", { class: "loading" }, "Loading…"));
  try {
    const page = await (match ? match[1](match[0]) : notFound());
    if (mine !== routed) {
      if (page.leave) page.leave();
      return;
    }
    clear(view).append(page.node);
    leave = page.leave || null;
    const heading = view.querySelector("h1");
    document.title = `${heading ? heading.textContent : "tuneq"} · tuneq`;
    view.focus();
  } catch (error) {
    if (mine !== routed || (error instanceof ApiError && error.status === 401)) return;
    const shown = error instanceof ApiError && error.status === 404 ? notFound().node : errorList(error);
    clear(view).append(shown);
  }
}

window.addEventListener("tuneq:unauthorized", () => {
  if (auth.key()) {
    auth.forget();
    routed++; // whatever page was on its way is dropped, and the open one stops
    if (leave) leave();
    leave = null;
    clear(view).append(keyForm("The key was refused (unknown or revoked)."));
  }
});
window.addEventListener("hashchange", route);
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#view" is no route: move the focus, leave the page as it is
  view.focus();
});
document.getElementById("sign-out").addEventListener("click", () => {
  auth.forget();
  announce("Signed out");
  route();
});
route();
