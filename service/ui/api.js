// The API as the page uses it: the tenant's key from this tab's session storage, sent as
// `Authorization: Bearer` (no cookies, so no CSRF surface), one error shape, and a job's
// server-sent events read through fetch (EventSource cannot send the key).

const KEY = "tuneq.api-key";

export const auth = {
  key: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  forget: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
  }
}

function headers(extra = {}) {
  const out = { ...extra };
  const key = auth.key();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

// A request; answers the parsed JSON (or the Response with raw), throws ApiError on a 4xx/5xx.
export async function api(path, { method = "GET", json, body, type, raw = false, idempotencyKey } = {}) {
  const extra = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
  if (json !== undefined) {
    extra["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (type) {
    extra["Content-Type"] = type;
  }
  const response = await fetch(path, { method, headers: headers(extra), body, cache: "no-store" });
  if (response.status === 401) window.dispatchEvent(new CustomEvent("tuneq:unauthorized"));
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    throw new ApiError(response.status, parsed);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// Save what a route answers as a file (the model, the report): fetched with the key, then
// handed to the browser as a download.
export async function download(path, fallbackName) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), {
    href: url,
    download: named ? named[1] : fallbackName,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function parseEvent(block) {
  const event = { kind: "message", id: null, data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "event") event.kind = value;
    else if (field === "id") event.id = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length && event.kind === "message") return null;
  event.data = data.join("\n");
  try {
    event.data = JSON.parse(event.data);
  } catch {
    /* a data line that is not JSON stays text */
  }
  return event;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
const FINISHED = ["succeeded", "failed", "cancelled"];

// Follow a job's events until it finishes or `stop()` is called. Reconnects resume after the
// last event seen (Last-Event-ID), so nothing is missed; a server error or a dropped
// connection is retried with a growing, jittered wait. Where a stream is refused (this key
// holds its most, or the server does), it long-polls the job instead (`?wait=` with its ETag:
// one request per change) and calls onEvent({kind: "poll"}) on each change. onState hears
// "live", "retrying" and "stopped" (the job is gone or the key refused).
export function follow(jobId, onEvent, onState = () => {}) {
  let stopped = false;
  let controller = null;
  let last = null;
  let failures = 0;
  const backoff = () => sleep(Math.min(30000, 1000 * 2 ** failures++) * (0.5 + Math.random()));

  async function stream() {
    controller = new AbortController();
    const extra = last ? { "Last-Event-ID": last } : {};
    const response = await fetch(`/v1/jobs/${jobId}/events`, {
      headers: headers(extra),
      signal: controller.signal,
      cache: "no-store",
    });
    if (response.status === 429 || response.status === 503) return "refused";
    if (response.status >= 500) return "error";
    if (!response.ok) return "gone"; // 401 (key revoked), 404 (job deleted)
    failures = 0;
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "ended";
      // a CR may end one chunk and its LF begin the next: a trailing CR waits for the next
      buffer += value;
      const held = buffer.endsWith("\r") ? "\r" : "";
      buffer = buffer.slice(0, buffer.length - held.length).replace(/\r\n?/g, "\n") + held;
      let at;
      while ((at = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, at));
        buffer = buffer.slice(at + 2);
        if (!event) continue;
        if (event.id) last = event.id;
        onEvent(event);
        const kind = event.kind;
        if ((kind === "job_status" || kind === "snapshot") && FINISHED.includes(event.data.status)) {
          return "finished";
        }
      }
    }
  }

  async function longPoll() {
    let tag = null;
    onState("live");
    while (!stopped) {
      controller = new AbortController();
      let response;
      try {
        response = await fetch(`/v1/jobs/${jobId}?wait=20`, {
          headers: headers(tag ? { "If-None-Match": tag } : {}),
          signal: controller.signal,
          cache: "no-store",
        });
      } catch {
        if (stopped) return;
        onState("retrying");
        await backoff();
        continue;
      }
      if (response.status === 200) {
        let job;
        try {
          job = await response.json();
        } catch {
          if (stopped) return;
          onState("retrying"); // cut off mid-body, or not JSON (a proxy's page)
          await backoff();
          continue;
        }
        failures = 0;
        tag = response.headers.get("ETag");
        onEvent({ kind: "poll", data: job });
        if (FINISHED.includes(job.status)) return;
      } else if (response.status === 401 || response.status === 404) {
        onState("stopped");
        return;
      } else if (response.status !== 304) {
        onState("retrying");
        await backoff();
      }
    }
  }

  (async () => {
    while (!stopped) {
      let outcome;
      try {
        outcome = await stream();
      } catch {
        outcome = stopped ? "finished" : "error";
      }
      if (outcome === "finished") return;
      if (outcome === "gone") {
        onState("stopped");
        return;
      }
      if (outcome === "refused") {
        await longPoll();
        return;
      }
      if (outcome === "error") {
        onState("retrying");
        await backoff();
      } else {
        await sleep(500); // "ended": the server's time limit; resume after the last event
      }
    }
  })().catch(() => onState("stopped"));
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}
