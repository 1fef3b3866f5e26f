// The selected alert's deliveries, newest first: each event sent (or being sent) to its target,
// with its status, attempts, last error and next attempt, a Retry for those that failed or wait
// for another attempt, and older pages on demand. Read again when an event of the alert's source
// comes on the stream, and while a delivery is under way or waits for its next attempt.

import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { byId, countLoad, h } from "./dom.js";
import { MISSING, count, utcTime } from "./format.js";
import { showError } from "./notices.js";
import { cell, numberCell, renderRows, tablePanel } from "./table.js";
import { latestOnly } from "./timing.js";

const PAGE_LIMIT = 50;
// After an event of the source: its delivery is written after the event reaches the stream (by
// another function in AWS), so it is looked for a few times, then no more.
const AFTER_EVENT_MS = [300, 1500, 5000];
const PENDING_MS = 2000; // a delivery being sent: read again shortly
const AFTER_DUE_MS = 5000; // read this long after a retry's time...
const OVERDUE_MS = 20000; // ...and then at this pace until the schedule (each minute) has tried it
const RETRYABLE = new Set(["failed", "retrying", "throttled"]);

const el = { slot: byId("alert-deliveries-slot") };

let shown = null; // the alert whose deliveries are shown
let deliveries = []; // newest first
let nextAfter = null; // the cursor of the next older page (null: none)
let expecting = null; // { before: newest id, tries }: an event's delivery looked for
let timer = null;
let timerDue = Infinity;
const retrying = new Set(); // delivery ids with a retry request in flight
const reads = latestOnly();
let callbacks = { onClose() {}, onGone() {} };

// ---- the table ----------------------------------------------------------------------------

function statusCell(d) {
  const code = d.last_status_code ? `HTTP ${d.last_status_code}` : "";
  const title = d.status === "delivered" ? `delivered ${d.delivered_at || ""} ${code}`.trim() : code;
  return h("td", {}, h("span", { className: `badge status-${d.status}`, text: d.status, title }));
}

function retryCell(d) {
  if (!RETRYABLE.has(d.status)) return h("td", { className: "actions" });
  const busy = retrying.has(d.delivery_id);
  const button = h("button", {
    type: "button",
    className: "small",
    text: busy ? "Retrying…" : "Retry",
    disabled: busy,
    title: "Send it again now",
    dataset: { retryDelivery: d.delivery_id },
    attrs: { "aria-label": `Retry the delivery of ${d.summary}` },
  });
  return h("td", { className: "actions" }, button);
}

const COLUMNS = [
  { header: "Event (UTC)", cell: (d) => cell(utcTime(d.occurred_at), { exact: d.occurred_at }) },
  { header: "What", cell: (d) => cell(d.summary, { className: "summary", exact: `${d.event_type}: ${d.summary}` }) },
  { header: "Status", cell: statusCell },
  { header: "Attempts", num: true, cell: (d) => numberCell(count(d.attempts), String(d.attempts)) },
  {
    header: "Last error",
    cell: (d) => cell(d.last_error || MISSING, { className: "error-text", exact: d.last_error ?? undefined }),
  },
  {
    header: "Next attempt (UTC)",
    cell: (d) => cell(d.next_attempt_at ? utcTime(d.next_attempt_at) : MISSING, { exact: d.next_attempt_at ?? undefined }),
  },
  { header: "Actions", hidden: true, cell: retryCell },
];

const panel = tablePanel({ name: "alert-deliveries", tableId: "delivery-list", heading: "Deliveries", columns: COLUMNS });
const info = h("span", { id: "alert-deliveries-info", className: "muted" });
const outcome = h("span", { id: "alert-deliveries-status", className: "muted", attrs: { role: "status", "aria-live": "polite" } });
const refreshButton = h("button", { type: "button", id: "alert-deliveries-refresh", className: "small ghost", text: "Refresh" });
const closeButton = h("button", {
  type: "button",
  id: "alert-deliveries-close",
  className: "small ghost",
  text: "×",
  attrs: { "aria-label": "Close the deliveries" },
});
const moreButton = h("button", { type: "button", id: "alert-deliveries-more", className: "small ghost", text: "Older…" });
moreButton.hidden = true;
const heading = panel.section.querySelector("h3");
panel.count.after(info);
panel.section.querySelector(".panel-head").append(h("div", { className: "panel-actions" }, refreshButton, closeButton));
panel.section.append(outcome, moreButton);
panel.section.id = "alert-deliveries";
panel.section.classList.add("alert-deliveries");
panel.section.hidden = true;
el.slot.replaceWith(panel.section);

function render() {
  renderRows(panel.body, deliveries, COLUMNS, {
    data: (d) => ({ deliveryId: d.delivery_id, status: d.status }),
    empty: "Nothing sent yet: each event of the alert's source shows here.",
  });
  panel.count.textContent = nextAfter ? `${deliveries.length}+` : String(deliveries.length);
  moreButton.hidden = !nextAfter;
}

// ---- reading ------------------------------------------------------------------------------

const path = (alert, query) =>
  `/v1/alerts/${encodeURIComponent(alert.alert_id)}/deliveries?${new URLSearchParams(query)}`;

/** Reads the newest page again (and keeps the older pages already shown). */
async function load() {
  const alert = shown;
  if (!alert || !currentKey()) return;
  const current = reads.begin();
  let page;
  try {
    page = await api(path(alert, { limit: String(PAGE_LIMIT) }));
  } catch (error) {
    if (!current()) return;
    if (hasStatus(error, 404)) {
      callbacks.onGone(alert.alert_id); // deleted elsewhere
      return;
    }
    info.textContent = `Could not read the deliveries${statusSuffix(error)}: ${error.detail || error.message}`;
    if (hasStatus(error, 401)) showError(error, "Could not read the deliveries");
    countLoad(panel.section);
    return;
  }
  if (!current()) return;
  const fresh = page.deliveries || [];
  const last = fresh.at(-1)?.delivery_id;
  // Older pages read with "Older…" stay listed after the newest page (ids sort newest first).
  const older = page.next_after && last ? deliveries.filter((d) => d.delivery_id > last) : [];
  deliveries = [...fresh, ...older];
  if (!older.length) nextAfter = page.next_after || null;
  info.textContent = describe(alert);
  render();
  countLoad(panel.section);
  followUp();
}

async function loadOlder() {
  const alert = shown;
  if (!alert || !nextAfter) return;
  moreButton.disabled = true;
  try {
    const page = await api(path(alert, { limit: String(PAGE_LIMIT), after: nextAfter }));
    if (shown !== alert) return;
    const known = new Set(deliveries.map((d) => d.delivery_id));
    deliveries.push(...(page.deliveries || []).filter((d) => !known.has(d.delivery_id)));
    nextAfter = page.next_after || null;
    render();
  } catch (error) {
    showError(error, "Could not list older deliveries");
  } finally {
    moreButton.disabled = false;
  }
}

const describe = (alert) => `${alert.topic} of ${alert.source_id} → ${alert.target.url || alert.target.address || alert.target.kind}`;

// ---- reading again: after an event of the source, and while deliveries are under way --------

function readIn(ms) {
  const due = Date.now() + ms;
  if (timer !== null && due >= timerDue) return; // an earlier read is planned already
  clearTimeout(timer);
  timerDue = due;
  timer = setTimeout(() => {
    timer = null;
    timerDue = Infinity;
    load();
  }, ms);
}

function stopReading() {
  clearTimeout(timer);
  timer = null;
  timerDue = Infinity;
  expecting = null;
}

/** What the last read asks for: the event's delivery not there yet, one being sent, one waiting. */
function followUp() {
  if (expecting) {
    if ((deliveries[0]?.delivery_id ?? null) !== expecting.before) expecting = null;
    else if ((expecting.tries += 1) < AFTER_EVENT_MS.length) readIn(AFTER_EVENT_MS[expecting.tries]);
    else expecting = null;
  }
  if (deliveries.some((d) => d.status === "pending")) readIn(PENDING_MS);
  const waits = deliveries.filter((d) => d.status === "retrying" && d.next_attempt_at);
  if (waits.length) {
    const soonest = Math.min(...waits.map((d) => new Date(d.next_attempt_at).getTime()));
    const wait = soonest + AFTER_DUE_MS - Date.now();
    readIn(Number.isFinite(wait) && wait > 0 ? wait : OVERDUE_MS);
  }
}

/** An event of the shown alert's source (or one saying its delivery failed): look for its delivery. */
export function onAlertedEvent() {
  if (!shown) return;
  if (!expecting) expecting = { before: deliveries[0]?.delivery_id ?? null, tries: 0 };
  else expecting.tries = 0;
  readIn(AFTER_EVENT_MS[0]);
}

// ---- retrying -----------------------------------------------------------------------------

async function retry(button) {
  const alert = shown;
  const id = button.dataset.retryDelivery;
  retrying.add(id);
  outcome.textContent = "";
  render();
  try {
    const after = await api(
      `/v1/alerts/${encodeURIComponent(alert.alert_id)}/deliveries/${encodeURIComponent(id)}/retry`,
      { method: "POST" },
    );
    if (shown === alert) deliveries = deliveries.map((d) => (d.delivery_id === id ? after : d));
    outcome.textContent = `Sent again: ${after.status}${after.last_error ? ` (${after.last_error})` : ""}.`;
  } catch (error) {
    showError(error, "Could not retry the delivery");
    if (hasStatus(error, 404)) readIn(0);
  } finally {
    retrying.delete(id);
  }
  if (shown !== alert) return;
  render();
  // Focus stays on the row's button, or goes to Refresh when the delivery needs no more retries.
  (panel.body.querySelector(`button[data-retry-delivery="${CSS.escape(id)}"]`) || refreshButton).focus();
  followUp();
}

// ---- showing and hiding -------------------------------------------------------------------

/** Shows `alert`'s deliveries (the newest page), or reads them again if it is shown already. */
export function showAlert(alert) {
  if (shown?.alert_id !== alert.alert_id) {
    stopReading();
    deliveries = [];
    nextAfter = null;
    outcome.textContent = "";
    render();
  }
  shown = alert;
  heading.textContent = `Deliveries of ${alert.name}`;
  info.textContent = describe(alert);
  panel.section.hidden = false;
  return load();
}

export function hideAlert() {
  reads.invalidate();
  stopReading();
  shown = null;
  deliveries = [];
  nextAfter = null;
  outcome.textContent = "";
  panel.section.hidden = true;
  render();
}

/** The alert shown (null: none). */
export const shownAlert = () => shown;

/** `onClose()`: the close button. `onGone(alertId)`: the alert no longer exists. */
export function init(handlers) {
  callbacks = handlers;
  panel.section.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-retry-delivery]");
    if (button && !button.disabled) retry(button);
  });
  refreshButton.addEventListener("click", () => load());
  closeButton.addEventListener("click", () => callbacks.onClose());
  moreButton.addEventListener("click", loadOlder);
  render();
}
