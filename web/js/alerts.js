// Alerts: the user's alerts (a topic's events from one of their accounts, scanners or deployments,
// sent to a URL, a chat webhook or an e-mail address), the form that creates one, Delete (pressed
// twice), and the selected alert's deliveries. Every alert route needs the trader role: a viewer's
// key sees why instead of the form and the list.

import { forgetAccess, refused, traderWrites } from "./access.js";
import * as deliveries from "./alert-deliveries.js";
import * as form from "./alert-form.js";
import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { deleteButton, twoPress } from "./confirm.js";
import { byId, countLoad, h } from "./dom.js";
import { utcTime } from "./format.js";
import { showError } from "./notices.js";
import { cell, renderRows, tablePanel } from "./table.js";
import { debounced, latestOnly } from "./timing.js";

const RELOAD_MS = 300;

// Each topic's event, and the payload field naming its source (alerts/domain.py).
const TOPIC_EVENTS = {
  signals: ["SignalDetected", "scanner_id"],
  fills: ["OrderFilled", "account_id"],
  rejected_orders: ["OrderRejected", "account_id"],
  account_halted: ["AccountHalted", "account_id"],
  deployment_paused: ["DeploymentPaused", "deployment_id"],
};

const el = {
  section: byId("alerts"),
  note: byId("alerts-note"),
  message: byId("alerts-message"),
  body: byId("alerts-body"),
  listSlot: byId("alert-list-slot"),
};

let alerts = []; // newest first
const deleting = new Set();
const deleteConfirm = twoPress(() => renderList());
let access = { allowed: true, reason: null, detail: null };
let listedFor = null; // the key the list was read with
const reads = latestOnly();

// ---- the list -----------------------------------------------------------------------------

function nameCell(alert) {
  const button = h("button", {
    type: "button",
    className: "link",
    text: alert.name,
    title: `Show its deliveries (${alert.alert_id}, owned by ${alert.owner})`,
    dataset: { selectAlert: alert.alert_id },
  });
  return h("td", { className: "alert-name" }, button);
}

function targetCell({ target }) {
  const where = target.url || target.address || "";
  return h("td", { className: "target", title: where }, h("span", { className: "badge", text: target.kind }), " ", where);
}

function deleteCell(alert) {
  const id = alert.alert_id;
  const button = deleteButton({
    armed: deleteConfirm.isArmed(id),
    busy: deleting.has(id),
    label: `Delete the alert ${alert.name}`,
    dataset: { deleteAlert: id },
  });
  return h("td", { className: "actions" }, button);
}

const COLUMNS = [
  { header: "Name", cell: nameCell },
  { header: "Topic", cell: (a) => cell(a.topic.replace("_", " "), { exact: TOPIC_EVENTS[a.topic]?.[0] }) },
  { header: "Source", cell: (a) => cell(a.source_id) },
  { header: "Target", cell: targetCell },
  { header: "Created (UTC)", cell: (a) => cell(utcTime(a.created_at).slice(0, 16), { exact: a.created_at }) },
  { header: "Actions", hidden: true, cell: deleteCell },
];

const list = tablePanel({ name: "alert-list", heading: "Your alerts", columns: COLUMNS });
list.section.classList.add("alert-list-panel");
el.listSlot.replaceWith(list.section);

function renderList() {
  renderRows(list.body, alerts, COLUMNS, {
    data: (a) => ({ alertId: a.alert_id, topic: a.topic }),
    empty: "No alerts yet: create one with the form.",
  });
  const selected = deliveries.shownAlert()?.alert_id;
  for (const row of list.body.querySelectorAll("tr[data-alert-id]")) {
    row.setAttribute("aria-selected", String(row.dataset.alertId === selected));
  }
  list.count.textContent = String(alerts.length);
}

/** Reads what the key may do, then its alerts. */
export async function loadAlerts() {
  const current = reads.begin();
  const key = currentKey();
  let found;
  try {
    access = await traderWrites(key);
    if (!current()) return;
    renderAccess();
    if (!access.allowed) {
      forgetSelection();
      countLoad(el.section);
      return;
    }
    found = await api("/v1/alerts");
  } catch (error) {
    if (!current()) return;
    if (hasStatus(error, 401)) showError(error, "Could not list the alerts");
    else if (hasStatus(error, 403)) refuse(error);
    else showSectionMessage(`Could not list the alerts${statusSuffix(error)}: ${error.detail || error.message}`);
    countLoad(el.section);
    return;
  }
  if (!current()) return;
  if (listedFor !== key) forgetSelection(); // another key: another user's alerts
  listedFor = key;
  showSectionMessage("");
  alerts = found;
  const shown = deliveries.shownAlert();
  if (shown && !alerts.some((a) => a.alert_id === shown.alert_id)) deliveries.hideAlert();
  renderList();
  form.onShown();
  countLoad(el.section);
}

function showSectionMessage(text) {
  el.message.textContent = text;
  el.message.hidden = !text;
}

/** A viewer's key sees why, instead of the form and the list (it may not read them either). */
function renderAccess() {
  el.note.hidden = access.allowed;
  el.note.textContent = access.allowed ? "" : `View only: managing alerts ${access.reason}.`;
  el.note.title = access.detail || "";
  el.body.hidden = !access.allowed;
}

function refuse(error) {
  forgetAccess();
  access = refused(error);
  renderAccess();
  forgetSelection();
}

// ---- selecting and deleting ---------------------------------------------------------------

function select(id) {
  const alert = alerts.find((a) => a.alert_id === id);
  if (!alert) return;
  const reading = deliveries.showAlert(alert);
  renderList(); // marks the selected row
  return reading;
}

async function remove(button) {
  const id = button.dataset.deleteAlert;
  const name = alerts.find((a) => a.alert_id === id)?.name || id;
  if (!deleteConfirm.press(id)) {
    // The first press asks for a second one: a deleted alert's deliveries go with it.
    list.body.querySelector(`button[data-delete-alert="${CSS.escape(id)}"]`)?.focus();
    return;
  }
  deleting.add(id);
  renderList();
  try {
    await api(`/v1/alerts/${encodeURIComponent(id)}`, { method: "DELETE" });
    forgotten(id);
  } catch (error) {
    if (hasStatus(error, 404)) forgotten(id); // gone already
    else showError(error, `Could not delete the alert ${name}`);
    if (hasStatus(error, 403)) refuse(error);
  } finally {
    deleting.delete(id);
  }
  renderList();
}

function forgotten(id) {
  alerts = alerts.filter((a) => a.alert_id !== id);
  if (deliveries.shownAlert()?.alert_id === id) deliveries.hideAlert();
}

// ---- the key and live updates -------------------------------------------------------------

function forgetSelection() {
  alerts = [];
  deliveries.hideAlert();
  renderList();
}

/** Forgets the alerts (the key is gone). */
export function clearAlerts() {
  reads.invalidate();
  forgetAccess();
  forgetSelection();
  listedFor = null;
  form.clearForm();
  showSectionMessage("");
  el.note.hidden = true;
}

const scheduleReload = debounced(() => currentKey() && loadAlerts(), RELOAD_MS);

/** Any event of the stream: one of the shown alert's topic and source (or its delivery failing)
 * means a new delivery to list. */
export function onEvent(event) {
  const shown = deliveries.shownAlert();
  if (!shown) return;
  const p = event.payload || {};
  const [type, sourceField] = TOPIC_EVENTS[shown.topic] || [];
  const ofSource = event.event_type === type && String(p[sourceField] ?? "") === shown.source_id;
  const failed = event.event_type === "AlertDeliveryFailed" && p.alert_id === shown.alert_id;
  if (ofSource || failed) deliveries.onAlertedEvent();
}

/** After a drop of the stream: events were missed. */
export function resync() {
  scheduleReload();
  if (deliveries.shownAlert()) deliveries.onAlertedEvent();
}

export function init() {
  form.init({
    onCreated(alert) {
      alerts = [alert, ...alerts.filter((a) => a.alert_id !== alert.alert_id)];
      renderList();
      select(alert.alert_id);
    },
    onRefused: refuse,
  });
  deliveries.init({
    onClose() {
      deliveries.hideAlert();
      renderList();
    },
    onGone(id) {
      forgotten(id);
      renderList();
    },
  });
  list.section.addEventListener("click", (event) => {
    const pick = event.target.closest("button[data-select-alert]");
    if (pick) select(pick.dataset.selectAlert);
    const del = event.target.closest("button[data-delete-alert]");
    if (del && !del.disabled) remove(del);
  });
  renderList();
}
