// sitelens dashboard: plain DOM, no build step. Every call goes to the server that served this page, which
// adds the operator's key; text that came from photos or the API is only ever set as textContent.
// The webhook panel is webhooks.js, loaded before this file.
"use strict";

const STATES = ["RECEIVED", "QUEUED", "RUNNING", "SUCCEEDED", "REJECTED", "FAILED"];
const REFRESH_MS = 5000; // between the end of one round of reads and the start of the next
const MAX_WAIT_MS = 300000; // the longest pause a Retry-After may impose on the page
let sites = [];
let askedMs = 0; // the longest Retry-After an answer of this round asked for, in ms

function el(tag, attrs = {}, ...children) {
  const node = tag === "svg" || tag === "polyline" || tag === "line" || tag === "text"
    ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A 429 or 503 with Retry-After (seconds or an HTTP date) asks the page to wait: the next round waits that long.
function retryAfterMs(response) {
  const value = (response.headers.get("Retry-After") || "").trim();
  if (!value) return 0;
  const ms = /^[0-9]+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_WAIT_MS) : 0;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const doc = await response.json().catch(() => null);
  if (!response.ok) {
    askedMs = Math.max(askedMs, retryAfterMs(response));
    throw new Error(doc && doc.reason ? `${doc.reason}: ${doc.detail || ""}` : `HTTP ${response.status}`);
  }
  return doc;
}

function seconds(ms) { return ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`; }
function clock(iso) { return iso ? new Date(iso).toLocaleTimeString() : "–"; }

// --- sites ------------------------------------------------------------------------------------
function siteSection(site) {
  const id = `site-${site}`;
  let section = document.getElementById(id);
  if (!section) {
    section = el("section", { id, class: "site", "data-site": site }, el("h2", {}, `Site ${site}`), el("div", { class: "body" }, "loading…"));
    document.getElementById("sites").append(section);
  }
  return section;
}

function reasonsTable(title, cls, reasons) {
  const rows = Object.entries(reasons).map(([reason, n]) => el("tr", {}, el("td", { class: "reason" }, reason), el("td", { class: "n" }, n)));
  return el("div", { class: cls }, el("h3", {}, title), rows.length ? el("table", {}, rows) : el("p", { class: "muted" }, "none"));
}

// What the model read, as text: OCR's lines, a classifier's top labels, a detector's box count and best boxes.
function readOut(summary) {
  if (!summary) return "";
  if (summary.kind === "classify") return (summary.labels || []).map((l) => `${l.label} ${l.score.toFixed(2)}`).join("\n");
  if (summary.kind === "detect") {
    return [`${summary.boxes} boxes`, ...(summary.best || []).map((b) => `${b.label} ${b.score.toFixed(2)}`)].join("\n");
  }
  return (summary.text || []).join("\n");
}

function thumb(job) {
  const links = job.result && job.result.links ? job.result.links : {};
  const text = job.result ? readOut(job.result.summary) : "";
  const picture = links.overlay ? el("img", { src: links.overlay, alt: `overlay of ${job.photo_id}` })
    : el("div", { class: "no-overlay" }, job.state);
  return el("figure", { class: "thumb", "data-job": job.id, onclick: () => openJob(job.id) }, picture,
    el("figcaption", {}, el("b", { class: `state-${job.state}` }, job.state), " ", job.photo_id,
      job.reason ? el("div", { class: "rejection-reason" }, job.reason) : null,
      text ? el("div", { class: "text" }, text) : null));
}

function renderSite(site, doc) {
  const body = siteSection(site).querySelector(".body");
  const counts = el("div", { class: "counts" }, STATES.map((s) => el("div", { class: "count", "data-state": s },
    el("span", { class: "n" }, doc.counts[s]), el("span", { class: "label" }, s))));
  const ttr = doc.time_to_result_ms;
  const facts = el("div", { class: "facts" },
    el("div", { class: "ttr" }, el("h3", {}, "Time to result, last hour"),
      `p50 ${seconds(ttr.p50)} · p95 ${seconds(ttr.p95)} (${ttr.count} results)`),
    reasonsTable("Rejections", "rejections", doc.rejections),
    reasonsTable("Failures", "failures", doc.failures));
  const note = el("p", { class: "muted" }, `${doc.jobs} photos since ${clock(doc.window.from)}`,
    doc.truncated ? " (more than the summary reads: figures cover the oldest of them)" : "");
  body.replaceChildren(note, counts, facts, el("h3", {}, "Latest photos"),
    el("div", { class: "latest" }, doc.latest.map(thumb)));
}

// --- one job ----------------------------------------------------------------------------------
async function openJob(jobId) {
  const panel = document.getElementById("job-panel");
  const box = document.getElementById("job");
  panel.hidden = false;
  box.replaceChildren(el("p", { class: "muted" }, "loading…"));
  try {
    const job = await api(`/api/jobs/${jobId}`);
    const t = job.timings;
    const received = Date.parse(t.received_at);
    const step = (name, iso) => iso ? el("li", { "data-step": name }, el("b", {}, name), " ", el("span", { class: "at" },
      `${clock(iso)} (+${((Date.parse(iso) - received) / 1000).toFixed(1)} s)`)) : null;
    const links = job.result ? job.result.links : {};
    const text = job.result ? readOut(job.result.summary) : "";
    box.replaceChildren(...[
      el("h2", {}, `Job ${job.id}`),
      el("p", {}, el("b", { class: `state-${job.state}` }, job.state), job.reason ? ` · ${job.reason}` : "",
        job.detail ? el("div", { class: "muted" }, job.detail) : null),
      el("p", { class: "muted" }, `site ${job.site} · device ${job.device} · photo ${job.photo_id} · model ${job.model || "–"}`,
        ` · attempts ${job.attempts}${job.cached ? " · cached" : ""}`),
      el("h3", {}, "Timeline"),
      el("ol", { class: "timeline" }, step("received", t.received_at), step("queued", t.queued_at),
        step("started", t.started_at), step("finished", t.finished_at)),
      // The spans live with the telemetry backend, not in the API: the page names the command that draws them.
      el("p", { class: "trace muted" }, "Its trace: ", el("code", {}, `sitelens trace ${job.id}`)),
      links.overlay ? el("img", { src: links.overlay, alt: "overlay" }) : null,
      text ? el("div", { class: "text" }, text) : null].filter(Boolean));
  } catch (error) {
    box.replaceChildren(el("p", { class: "problem" }, String(error.message)));
  }
}

// --- pool -------------------------------------------------------------------------------------
function renderChart(samples) {
  const svg = document.getElementById("pool-chart");
  const W = 640, H = 220, L = 34, B = 22, T = 8;
  const ok = samples.filter((s) => !s.error);
  const times = samples.map((s) => Date.parse(s.at));
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
  const top = Math.max(1, ...ok.flatMap((s) => [s.target_nodes, s.current_nodes, s.pending_tasks]));
  const x = (at) => L + ((Date.parse(at) - t0) / (t1 - t0)) * (W - L - 4);
  const y = (v) => H - B - (v / top) * (H - B - T);
  const parts = [el("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    el("text", { x: 4, y: T + 8 }, top), el("text", { x: 4, y: H - B }, 0),
    el("text", { x: L, y: H - 6 }, samples.length ? clock(samples[0].at) : ""),
    el("text", { x: W - 60, y: H - 6 }, samples.length ? clock(samples[samples.length - 1].at) : "")];
  // The dashed target last, on top: where the nodes have caught up, both lines stay visible.
  for (const [field, cls] of [["pending_tasks", "series-pending"], ["current_nodes", "series-current"], ["target_nodes", "series-target"]]) {
    let run = [];
    const flush = () => { if (run.length) parts.push(el("polyline", { class: cls, "data-series": field, points: run.join(" ") })); run = []; };
    for (const s of samples) {
      if (s.error) { flush(); continue; }
      run.push(`${x(s.at).toFixed(1)},${y(s[field]).toFixed(1)}`);
    }
    flush();
  }
  svg.replaceChildren(...parts);
}

function renderPoolNow(pool) {
  document.getElementById("pool-now").replaceChildren(el("span", { class: "pool-figures" },
    `${pool.pool}: target ${pool.target_nodes} · current ${pool.current_nodes} nodes · pending ${pool.pending_tasks} tasks`,
    pool.autoscale.enabled ? ` · autoscale last ran ${clock(pool.autoscale.last_run_at)}` : " · autoscale off"));
  const failures = [];
  if (pool.failed_nodes) failures.push(`${pool.failed_nodes} failed nodes`);
  if (pool.failed_tasks) failures.push(`${pool.failed_tasks} failed tasks`);
  if (pool.autoscale.error) failures.push(`autoscale error ${pool.autoscale.error}`);
  for (const e of pool.resize_errors) failures.push(`resize error ${e.code}: ${e.message}`);
  document.getElementById("pool-failures").replaceChildren(el("h3", {}, "Failures"),
    failures.length ? el("ul", {}, failures.map((f) => el("li", { class: "problem" }, f))) : el("p", { class: "muted" }, "none"));
}

// --- the loop ---------------------------------------------------------------------------------
async function guarded(what, work) {
  try { await work(); } catch (error) { console.warn(what, error); return `${what}: ${error.message}`; }
  return null;
}

// The pool comes from the dashboard's own samples, never from the API directly: the sampler is the one
// reader of /pool, and it waits out a Retry-After.
async function renderPool() {
  const history = await api("/local/pool-history");
  renderChart(history.samples);
  if (history.now) renderPoolNow(history.now);
  const last = history.samples[history.samples.length - 1];
  if (last && last.error) throw new Error(last.error);
}

// One round of reads; the next starts REFRESH_MS after this one ends (or later, when an answer asked).
async function refresh() {
  askedMs = 0;
  const problems = await Promise.all([
    ...sites.map((site) => guarded(`site ${site}`, async () => renderSite(site, await api(`/api/sites/${site}/summary`)))),
    guarded("pool", renderPool),
    guarded("webhooks", renderSubscriptions),
  ]);
  const wait = Math.max(REFRESH_MS, askedMs);
  const failed = problems.filter(Boolean);
  if (wait > REFRESH_MS) failed.push(`the API asked to wait: next update in ${Math.round(wait / 1000)} s`);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}` + (failed.length ? ` · ${failed.join(" · ")}` : "");
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  return wait;
}

let timer = null;
let running = false;
let again = false; // a site was added during a round: start the next one at once
let quietUntil = 0; // no round before this: an answer asked to wait

async function loop() {
  timer = null;
  running = true;
  let wait = REFRESH_MS;
  try {
    wait = await refresh();
  } finally {
    running = false;
    quietUntil = wait > REFRESH_MS ? Date.now() + wait : 0;
    timer = setTimeout(loop, again && !quietUntil ? 0 : wait);
    again = false;
  }
}

function refreshSoon() {
  if (running) again = true;
  else if (Date.now() >= quietUntil) { clearTimeout(timer); loop(); }
}

function showSites() {
  document.getElementById("no-sites").hidden = sites.length > 0;
  const url = new URL(location.href);
  url.searchParams.delete("site");
  sites.forEach((s) => url.searchParams.append("site", s));
  history.replaceState(null, "", url);
}

async function start() {
  const config = await api("/local/config");
  document.getElementById("api").textContent = config.api;
  const wanted = new URL(location.href).searchParams.getAll("site");
  sites = [...new Set([...config.sites, ...wanted])];
  showSites();
  document.getElementById("add-site").addEventListener("submit", (event) => {
    event.preventDefault();
    const site = event.target.elements.site.value.trim();
    if (site && !sites.includes(site)) { sites.push(site); showSites(); siteSection(site); refreshSoon(); }
    event.target.reset();
  });
  document.getElementById("close-job").addEventListener("click", () => { document.getElementById("job-panel").hidden = true; });
  loop();
}

start();
