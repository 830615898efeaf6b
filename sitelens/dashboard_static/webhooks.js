// sitelens dashboard: the webhook panel. A classic script loaded before app.js, whose el, api, clock and openJob
// it calls once the page runs; app.js's round of reads calls renderSubscriptions.
"use strict";

const REPLAY_NOTE_MS = 60000; // how long a replay's outcome stays on its button across re-renders
const FAILED_PAGE = 100; // the API's largest page of failed deliveries
const FAILED_SHOWN = 300; // the most failed deliveries one subscription's table shows
const FAILED_READS = 8; // page reads per listing at most: a page may be empty while its continuation goes on
const FAILED_REREAD_MS = 60000; // how long the pages after the first are trusted while the first stays the same

// A replay's outcome, by subscription and event: the table is rebuilt every round, and the outcome must
// outlive that until the next replay of the row or REPLAY_NOTE_MS.
const replayNotes = new Map();
// Each subscription's failed deliveries as last read in full: a round reads the first page, and the rest only
// when that page changed, after a replay from this page, or after FAILED_REREAD_MS.
const failedLists = new Map();

function showReplay(button, key) {
  const note = replayNotes.get(key);
  const current = note && (note.busy || Date.now() - note.at < REPLAY_NOTE_MS);
  button.textContent = current ? note.text : "Replay";
  button.disabled = Boolean(current && note.busy);
}

async function replay(subId, eventId) {
  const key = `${subId} ${eventId}`;
  const row = () => document.querySelector(`.subscription[data-subscription="${CSS.escape(subId)}"] table.failed `
    + `tr[data-event="${CSS.escape(eventId)}"] button.replay`);
  replayNotes.set(key, { text: "replaying…", at: Date.now(), busy: true });
  const clicked = row();
  if (clicked) showReplay(clicked, key);
  try {
    await api(`/api/subscriptions/${subId}/deliveries/${eventId}/replay`, { method: "POST", headers: { "X-Sitelens-Dashboard": "1" } });
    replayNotes.set(key, { text: "replayed", at: Date.now() });
  } catch (error) {
    replayNotes.set(key, { text: `replay failed: ${error.message}`, at: Date.now() });
  }
  failedLists.delete(subId); // the delivery may have left the list (or come back to it): read it all again
  const button = row(); // the one on the page now, which a refresh may have rebuilt meanwhile
  if (button) showReplay(button, key);
}

// The newest deliveries of any outcome (the API's default number), each outcome as the delivery itself says.
function outcomesTable(deliveries) {
  if (!deliveries.length) return el("p", { class: "muted" }, "no deliveries yet");
  const outcome = (d) => d.state === "pending" && d.attempts ? `retrying, next ${clock(d.next_attempt_at)}`
    : d.state + (d.failure_reason ? ` · ${d.failure_reason}` : "");
  const head = el("tr", {}, ["time", "event", "job", "outcome", "attempts"].map((h) => el("th", {}, h)),
    el("th", { title: "the last attempt's HTTP status" }, "HTTP"));
  const rows = deliveries.map((d) => el("tr", { "data-event": d.event_id, "data-state": d.state },
    el("td", { class: "time" }, clock(d.created_at)), el("td", {}, d.type || "–"),
    el("td", { class: "job", "data-job": d.job_id }, d.job_id ? el("a", { href: "#", title: d.job_id,
      onclick: (e) => { e.preventDefault(); openJob(d.job_id); } }, `${d.job_id.slice(0, 10)}…`) : "–"),
    el("td", { class: `outcome outcome-${d.state}` }, outcome(d)), el("td", { class: "n" }, d.attempts),
    el("td", { class: "status", title: d.last_error || "" }, d.last_status ?? (d.last_error ? "no answer" : "–"))));
  return el("table", { class: "recent" }, el("caption", {}, "Recent deliveries"), head, rows);
}

// A delivery keeps its first and latest attempts only; the last one's number is how many were made.
function lastAttempt(d) {
  return d.attempts[d.attempts.length - 1] || {};
}

// What tells a first page from the last round's: its deliveries, their attempts, and where the next page starts.
function pageKey(doc) {
  return JSON.stringify([doc.continuation, doc.items.map((d) => [d.event_id, lastAttempt(d).number])]);
}

// A subscription's failed deliveries, newest first, following `continuation` up to FAILED_SHOWN of them; one
// more than that is read, so a full table knows whether more follow. `more`: null (that is all), "more"
// (more are not shown) or "maybe" (FAILED_READS pages read and the listing still goes on).
async function failedDeliveries(subId) {
  const path = `/api/subscriptions/${subId}/failed`;
  const first = await api(`${path}?limit=${FAILED_PAGE}`);
  const key = pageKey(first);
  const known = failedLists.get(subId);
  if (known && known.key === key && Date.now() - known.at < FAILED_REREAD_MS) return known;
  const items = [...first.items];
  let next = first.continuation;
  for (let reads = 1; next && items.length <= FAILED_SHOWN && reads < FAILED_READS; reads++) {
    const limit = Math.min(FAILED_PAGE, FAILED_SHOWN + 1 - items.length);
    const page = await api(`${path}?limit=${limit}&continuation=${encodeURIComponent(next)}`);
    items.push(...page.items);
    next = page.continuation;
  }
  const more = items.length > FAILED_SHOWN ? "more" : next ? "maybe" : null;
  const listing = { key, at: Date.now(), items: items.slice(0, FAILED_SHOWN), more };
  failedLists.set(subId, listing);
  return listing;
}

function failedTable(subId, failed) {
  const rows = failed.map((d) => {
    const last = lastAttempt(d);
    const button = el("button", { type: "button", class: "replay" }, "Replay");
    button.addEventListener("click", () => replay(subId, d.event_id));
    showReplay(button, `${subId} ${d.event_id}`);
    return el("tr", { "data-event": d.event_id }, el("td", {}, d.event_id), el("td", {}, d.failure_reason || "–"),
      el("td", {}, `${last.number || 0} attempts, last ${last.status || last.error || "–"}`), el("td", {}, button));
  });
  return el("div", { class: "failed-list" }, el("table", { class: "failed" }, el("caption", {}, "Failed, to replay"), rows));
}

// Said plainly under a table that stopped short, with the call that lists every one.
function failedNote(subId, listing) {
  if (!listing.more) return null;
  const more = listing.more === "more" ? "more are not shown here" : "the list may go on past them";
  return el("p", { class: "failed-more" }, `Showing the newest ${listing.items.length} failed deliveries; ${more}. `,
    "All of them: ", el("code", {}, `GET /api/subscriptions/${subId}/failed`), ", again with each answer's ",
    el("code", {}, "continuation"), " until it is null.");
}

async function renderSubscriptions() {
  const box = document.getElementById("subscriptions");
  const subs = (await api("/api/subscriptions")).items;
  const blocks = await Promise.all(subs.map(async (sub) => {
    const [recent, failed] = await Promise.all([api(`/api/subscriptions/${sub.id}/deliveries`), failedDeliveries(sub.id)]);
    return el("div", { class: "subscription", "data-subscription": sub.id },
      el("div", { class: "url" }, sub.url), el("div", { class: "muted" }, `site ${sub.site || "*"} · ${sub.event_types.join(", ")}`,
        sub.disabled_reason ? el("span", { class: "problem" }, ` · disabled: ${sub.disabled_reason}`) : " · active"),
      outcomesTable(recent.deliveries),
      failed.items.length ? failedTable(sub.id, failed.items) : el("p", { class: "muted" }, "no failed deliveries"),
      failedNote(sub.id, failed));
  }));
  const shown = new Set(subs.map((sub) => sub.id));
  for (const id of failedLists.keys()) if (!shown.has(id)) failedLists.delete(id); // deleted subscriptions
  box.classList.remove("muted");
  box.replaceChildren(...(blocks.length ? blocks : [el("p", { class: "muted" }, "no subscriptions")]));
}
