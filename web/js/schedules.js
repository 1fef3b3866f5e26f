// The platform's schedules (GET /v1/schedules): each catalog schedule with its timing, its last
// run and status, its last error and the failures since its last success. A failing schedule
// comes first and stands out, so a pull that quietly stopped working is seen. The route needs the
// admin role: another key's section says why instead. Read again every minute, and on Refresh.

import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { byId, countLoad, h } from "./dom.js";
import { MISSING, count, utcTime } from "./format.js";
import { showError } from "./notices.js";
import { cell, numberCell, renderRows, tablePanel } from "./table.js";
import { latestOnly } from "./timing.js";

const REFRESH_MS = 60_000;
const ORDER = { failing: 0, ok: 1, never_run: 2 };
const STATUS_TEXT = { failing: "failing", ok: "ok", never_run: "never run" };

const el = {
  section: byId("schedules"),
  note: byId("schedules-note"),
  message: byId("schedules-message"),
  slot: byId("schedule-list-slot"),
};

let schedules = [];
let timer = null;
const reads = latestOnly();

// ---- the table ----------------------------------------------------------------------------

function nameCell(s) {
  return h("td", { className: "schedule-name", title: `${s.summary} (${s.context}: ${s.command})` }, s.name);
}

function timingCell(s) {
  if (s.kind === "timetabled") return cell(`per item (${s.timetable})`, { exact: `timetable group ${s.timetable}` });
  const zone = s.timezone && s.timezone !== "UTC" ? ` ${s.timezone}` : "";
  const next = s.next_run_at ? `next ${s.next_run_at}` : undefined;
  return cell(`${s.expression}${zone}`, { className: "expression", exact: next });
}

function statusCell(s) {
  const failures = s.failures_since_success;
  const title = s.status === "failing" ? `${failures} failed run${failures === 1 ? "" : "s"} since the last success` : undefined;
  return h("td", {}, h("span", { className: `badge status-${s.status}`, text: STATUS_TEXT[s.status] || s.status, title }));
}

function lastRunCell(s) {
  const run = s.last_run;
  if (!run) return cell(MISSING);
  const attempt = run.attempt > 1 ? ` (attempt ${run.attempt})` : "";
  const item = Object.values(run.input || {}).join(", ");
  return cell(`${utcTime(run.finished_at)}${attempt}${item ? ` · ${item}` : ""}`, { exact: `${run.status}, started ${run.started_at}` });
}

function errorCell(s) {
  const failure = s.last_failure;
  if (!failure) return cell(MISSING);
  // A failing schedule's error is its last run's; a healthy one's is history, shown muted.
  const when = s.status === "failing" ? "" : ` (${utcTime(failure.finished_at)})`;
  return cell(`${failure.error}${when}`, { className: s.status === "failing" ? "error-text" : "muted", exact: failure.error });
}

const COLUMNS = [
  { header: "Schedule", cell: nameCell },
  { header: "When", cell: timingCell },
  { header: "Status", cell: statusCell },
  { header: "Last run (UTC)", cell: lastRunCell },
  { header: "Failures", num: true, cell: (s) => numberCell(count(s.failures_since_success), "failures since the last success") },
  { header: "Last error", cell: errorCell },
];

const panel = tablePanel({ name: "schedule-list", heading: "Scheduled runs", columns: COLUMNS });
const refreshButton = h("button", { type: "button", id: "schedules-refresh", className: "small ghost", text: "Refresh" });
panel.section.querySelector(".panel-head").append(h("div", { className: "panel-actions" }, refreshButton));
panel.section.classList.add("schedule-list-panel");
el.slot.replaceWith(panel.section);

function render() {
  const sorted = [...schedules].sort((a, b) => (ORDER[a.status] ?? 3) - (ORDER[b.status] ?? 3) || a.name.localeCompare(b.name));
  renderRows(panel.body, sorted, COLUMNS, {
    data: (s) => ({ schedule: s.name, status: s.status }),
    empty: "No schedules.",
  });
  for (const row of panel.body.querySelectorAll('tr[data-status="failing"]')) row.classList.add("failing");
  const failing = schedules.filter((s) => s.status === "failing").length;
  panel.count.textContent = failing ? `${schedules.length}, ${failing} failing` : String(schedules.length);
  el.section.classList.toggle("has-failing", failing > 0);
}

function showMessage(text) {
  el.message.textContent = text;
  el.message.hidden = !text;
}

// ---- reading ------------------------------------------------------------------------------

/** Reads the schedules (and again every minute while a key is set). */
export async function loadSchedules() {
  clearTimeout(timer);
  if (!currentKey()) return;
  const current = reads.begin();
  let found;
  try {
    found = await api("/v1/schedules");
  } catch (error) {
    if (!current()) return;
    if (hasStatus(error, 401)) showError(error, "Could not list the schedules");
    else if (hasStatus(error, 403)) refuse(error);
    else showMessage(`Could not list the schedules${statusSuffix(error)}: ${error.detail || error.message}`);
    countLoad(el.section);
    return;
  }
  if (!current()) return;
  showMessage("");
  el.note.hidden = true;
  panel.section.hidden = false;
  schedules = found;
  render();
  countLoad(el.section);
  timer = setTimeout(loadSchedules, REFRESH_MS);
}

/** A key below admin: the section says why, and lists nothing. */
function refuse(error) {
  const role = /\bhas (\w+)\s*$/.exec(error.detail || "")?.[1];
  el.note.textContent = `Seeing the schedules needs the admin role${role ? ` (this key has ${role})` : ""}.`;
  el.note.hidden = false;
  schedules = [];
  render();
  panel.section.hidden = true;
}

export function clearSchedules() {
  reads.invalidate();
  clearTimeout(timer);
  schedules = [];
  showMessage("");
  el.note.hidden = true;
  panel.section.hidden = false;
  render();
}

export function init() {
  refreshButton.addEventListener("click", () => loadSchedules());
  render();
}
