// Backtests: the form that runs one, the list of past ones (newest first) to select, compare side by
// side or delete, and the selected one in detail. Refreshed by the backtest events of the stream.

import { forgetAccess, refused, traderWrites } from "./access.js";
import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import * as detail from "./backtest-detail.js";
import * as form from "./backtest-form.js";
import { NO_VALUE, ranksHigher, statKeys, statLabel, statText } from "./backtest-stats.js";
import { deleteButton, twoPress } from "./confirm.js";
import { byId, countLoad, h } from "./dom.js";
import { listOf, utcTime } from "./format.js";
import { showError } from "./notices.js";
import { state } from "./state.js";
import { cell, numberCell, renderRows, tablePanel } from "./table.js";
import { debounced, latestOnly } from "./timing.js";

const PAGE_LIMIT = 50;
const RELOAD_MS = 300;

const el = {
  section: byId("backtests"),
  note: byId("backtests-note"),
  message: byId("backtests-message"),
  listSlot: byId("backtest-list-slot"),
  compare: byId("backtest-compare"),
  compareTable: byId("backtest-compare-table"),
  compareInfo: byId("backtest-compare-info"),
};

let jobs = []; // the listed backtests, newest first
let more = false; // the API has older ones
const ticked = new Set(); // ids ticked for comparison
const deleting = new Set();
let access = { allowed: true, reason: null, detail: null };
const deleteConfirm = twoPress(() => renderList()); // the Delete pressed once
let listedFor = null; // the key the list was read with
const reads = latestOnly();

// ---- the list -----------------------------------------------------------------------------

const statOf = (job, key) => job.outcome?.stats?.[key] ?? null;

function tickCell(job) {
  const box = h("input", {
    type: "checkbox",
    checked: ticked.has(job.backtest_id),
    disabled: job.status !== "completed",
    dataset: { compareBacktest: job.backtest_id },
    attrs: { "aria-label": `Compare ${job.strategy_name} ${job.backtest_id}` },
  });
  return h("td", { className: "tick" }, box);
}

function strategyCell(job) {
  const button = h("button", {
    type: "button",
    className: "link",
    text: job.strategy_name,
    title: `Show this backtest (${job.backtest_id})`,
    dataset: { selectBacktest: job.backtest_id },
  });
  const params = detail.distinctParams(job);
  return h("td", { className: "strategy" }, button, " ", h("small", { text: params, title: params }));
}

function statusCell(job) {
  return h("td", {}, h("span", { className: `badge status-${job.status}`, text: job.status, title: job.error || "" }));
}

function statCell(job, key, signed = false) {
  const value = statOf(job, key);
  const sign = signed && value !== null ? (value > 0 ? "up" : value < 0 ? "down" : "") : "";
  return numberCell(statText(key, value), value === null ? "no value" : String(value), sign);
}

function deleteCell(job) {
  const id = job.backtest_id;
  const button = deleteButton({
    armed: deleteConfirm.isArmed(id),
    busy: deleting.has(id),
    why: access.allowed ? "" : `Deleting backtests ${access.reason}`,
    label: `Delete the ${job.strategy_name} backtest ${id}`,
    dataset: { deleteBacktest: id },
  });
  return h("td", { className: "actions" }, button);
}

const COLUMNS = [
  { header: "Compare", hidden: true, cell: tickCell },
  {
    header: "Submitted (UTC)",
    cell: (job) => cell(utcTime(job.submitted_at).slice(0, 16), { exact: job.submitted_at }),
  },
  { header: "Status", cell: statusCell },
  { header: "Strategy", cell: strategyCell },
  {
    header: "Symbols",
    cell: ({ request }) =>
      cell(`${listOf(request.symbols, 3)} · ${request.timeframe}`, { exact: request.symbols.join(", ") }),
  },
  { header: "Return [%]", num: true, cell: (job) => statCell(job, "return_pct", true) },
  { header: "Sharpe", num: true, cell: (job) => statCell(job, "sharpe_ratio") },
  { header: "Trades", num: true, cell: (job) => statCell(job, "trades") },
  { header: "Actions", hidden: true, cell: deleteCell },
];

const list = tablePanel({ name: "backtest-list", heading: "Past backtests", columns: COLUMNS });
const compareButton = h("button", { type: "button", id: "backtest-compare-button", className: "small" });
const moreButton = h("button", { type: "button", id: "backtest-more", className: "small ghost", text: "Older…" });
moreButton.hidden = true;
list.section.querySelector(".panel-head").append(h("div", { className: "panel-actions" }, compareButton));
list.section.append(moreButton);
list.section.classList.add("backtest-list-panel");
el.listSlot.replaceWith(list.section);

function renderList() {
  renderRows(list.body, jobs, COLUMNS, {
    data: (job) => ({ backtestId: job.backtest_id, status: job.status }),
    empty: "No backtests yet: run one with the form.",
  });
  const selected = detail.shownId();
  for (const row of list.body.querySelectorAll("tr[data-backtest-id]")) {
    row.setAttribute("aria-selected", String(row.dataset.backtestId === selected));
  }
  list.count.textContent = more ? `${jobs.length}+` : String(jobs.length);
  moreButton.hidden = !more;
  renderCompareButton();
}

function renderCompareButton() {
  const n = ticked.size;
  compareButton.disabled = n < 2;
  compareButton.textContent = n ? `Compare ${n}` : "Compare";
  compareButton.title = n < 2 ? "Tick two or more completed backtests to compare them" : "";
}

/** Reads the newest page again (and keeps the older pages already shown). */
export async function loadBacktests() {
  const current = reads.begin();
  const key = currentKey();
  let answers;
  try {
    answers = await Promise.all([
      api(`/v1/backtests?limit=${PAGE_LIMIT}`),
      api("/v1/strategies"),
      traderWrites(key),
    ]);
  } catch (error) {
    if (!current()) return;
    if (hasStatus(error, 401)) showError(error, "Could not list the backtests");
    else showSectionMessage(`Could not list the backtests${statusSuffix(error)}: ${error.detail || error.message}`);
    countLoad(el.section);
    return;
  }
  if (!current()) return;
  const [page, strategies, allowed] = answers;
  access = allowed;
  if (listedFor !== key) forgetSelection(); // another key: another principal's backtests
  listedFor = key;
  showSectionMessage("");
  form.setStrategies(strategies);
  renderAccess();
  // Older pages read with "Older…" stay listed after the newest page.
  const older = jobs.slice(PAGE_LIMIT).filter((job) => !page.some((p) => p.backtest_id === job.backtest_id));
  jobs = [...page, ...older];
  more = older.length ? more : page.length === PAGE_LIMIT;
  for (const id of [...ticked]) if (!jobs.some((job) => job.backtest_id === id)) ticked.delete(id);
  renderList();
  countLoad(el.section);
}

async function loadOlder() {
  const last = jobs.at(-1);
  if (!last) return;
  moreButton.disabled = true;
  try {
    const query = new URLSearchParams({ limit: String(PAGE_LIMIT), after: last.backtest_id });
    const page = await api(`/v1/backtests?${query}`);
    jobs.push(...page.filter((job) => !jobs.some((j) => j.backtest_id === job.backtest_id)));
    more = page.length === PAGE_LIMIT;
    renderList();
  } catch (error) {
    showError(error, "Could not list older backtests");
  } finally {
    moreButton.disabled = false;
  }
}

function showSectionMessage(text) {
  el.message.textContent = text;
  el.message.hidden = !text;
}

function renderAccess() {
  el.note.hidden = access.allowed;
  el.note.textContent = access.allowed ? "" : `View only: running and deleting backtests ${access.reason}.`;
  el.note.title = access.detail || "";
  form.setAccess(access);
}

// ---- selecting ----------------------------------------------------------------------------

async function select(id) {
  const known = jobs.find((job) => job.backtest_id === id);
  let job = known;
  try {
    job = await api(`/v1/backtests/${encodeURIComponent(id)}`); // the newest state of it
  } catch (error) {
    if (!known || hasStatus(error, 404, 401)) {
      showError(error, "Could not read the backtest");
      if (hasStatus(error, 404)) scheduleReload();
      return;
    }
  }
  replaceJob(job);
  const reading = detail.showBacktest(job);
  renderList(); // marks the selected row
  await reading;
}

function replaceJob(job) {
  const index = jobs.findIndex((j) => j.backtest_id === job.backtest_id);
  if (index >= 0) jobs[index] = job;
  else jobs.unshift(job);
}

// ---- comparing ----------------------------------------------------------------------------

async function compare() {
  const ids = jobs.map((job) => job.backtest_id).filter((id) => ticked.has(id));
  if (ids.length < 2) return;
  compareButton.disabled = true;
  let found;
  try {
    found = await api(`/v1/backtests?${new URLSearchParams({ ids: ids.join(",") })}`);
  } catch (error) {
    showError(error, "Could not compare the backtests");
    renderCompareButton();
    return;
  }
  renderCompareButton();
  renderComparison(found);
  el.compare.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

/** The rows above the statistics: what each backtest ran. */
const RUN_ROWS = [
  ["Strategy", (job) => job.strategy_name],
  ["Parameters", (job) => detail.paramsText(job.params) || NO_VALUE],
  ["Symbols", (job) => `${listOf(job.request.symbols, 4)} · ${job.request.timeframe}`],
  ["Cash", (job) => statText("equity_final", job.request.cash)],
];

function renderComparison(found) {
  const header = h(
    "tr",
    {},
    h("th", { attrs: { scope: "col" } }, h("span", { className: "visually-hidden", text: "Statistic" })),
    ...found.map((job) =>
      h(
        "th",
        { className: "num", attrs: { scope: "col" }, dataset: { backtestId: job.backtest_id } },
        h("button", {
          type: "button",
          className: "link",
          text: job.backtest_id.slice(-6),
          title: `Show ${job.backtest_id}`,
          dataset: { selectBacktest: job.backtest_id },
        }),
      ),
    ),
  );
  const runRows = RUN_ROWS.map(([label, text]) =>
    h(
      "tr",
      { className: "run" },
      h("th", { text: label, attrs: { scope: "row" } }),
      ...found.map((job) => h("td", { className: "num", text: text(job) })),
    ),
  );
  const keys = statKeys(Object.assign({}, ...found.map((job) => job.outcome?.stats || {})));
  const statRows = keys.map((key) => {
    const values = found.map((job) => statOf(job, key));
    const numbers = values.filter((v) => typeof v === "number" && Number.isFinite(v));
    const best = ranksHigher(key) && numbers.length > 1 ? Math.max(...numbers) : null;
    return h(
      "tr",
      { dataset: { stat: key } },
      h("th", { text: statLabel(key), attrs: { scope: "row" } }),
      ...values.map((value) =>
        h("td", {
          className: `num${best !== null && value === best ? " best" : ""}`,
          text: statText(key, value),
          title: value === null ? "no value" : String(value),
        }),
      ),
    );
  });
  el.compareTable.replaceChildren(h("thead", {}, header), h("tbody", {}, ...runRows, ...statRows));
  el.compareInfo.textContent = `${found.length} backtests · the best of each ranked statistic is marked`;
  el.compare.dataset.ids = found.map((job) => job.backtest_id).join(",");
  el.compare.hidden = false;
  countLoad(el.compare);
}

function closeComparison() {
  el.compare.hidden = true;
  delete el.compare.dataset.ids;
}

// ---- deleting -----------------------------------------------------------------------------

async function remove(button) {
  const id = button.dataset.deleteBacktest;
  if (!deleteConfirm.press(id)) {
    // The first press asks for a second one: a deleted backtest cannot be brought back.
    list.body.querySelector(`button[data-delete-backtest="${CSS.escape(id)}"]`)?.focus();
    return;
  }
  deleting.add(id);
  renderList();
  try {
    await api(`/v1/backtests/${encodeURIComponent(id)}`, { method: "DELETE" });
    forgotten(id);
  } catch (error) {
    if (hasStatus(error, 403)) {
      forgetAccess();
      access = refused(error);
      renderAccess();
    }
    if (hasStatus(error, 404)) forgotten(id); // gone already
    else showError(error, "Could not delete the backtest");
  } finally {
    deleting.delete(id);
  }
  renderList();
}

/** A backtest is gone: from the list, the comparison and the detail. */
function forgotten(id) {
  jobs = jobs.filter((job) => job.backtest_id !== id);
  ticked.delete(id);
  if (detail.shownId() === id) detail.hideBacktest();
  if ((el.compare.dataset.ids || "").split(",").includes(id)) closeComparison();
}

// ---- the key and live updates -------------------------------------------------------------

function forgetSelection() {
  jobs = [];
  more = false;
  ticked.clear();
  detail.hideBacktest();
  closeComparison();
}

/** Forgets the backtests (the key is gone). */
export function clearBacktests() {
  reads.invalidate();
  forgetAccess();
  forgetSelection();
  listedFor = null;
  form.clearForm();
  renderList();
}

const scheduleReload = debounced(() => currentKey() && loadBacktests(), RELOAD_MS);

/** Backtest events (anyone's): the list is read again; the one shown is read again when it ends. */
export function onEvent(event) {
  if (!/^Backtest/.test(event.event_type)) return;
  scheduleReload();
  // The one shown was waiting for its results (the form's own run is shown by the form's callback).
  const id = event.payload?.backtest_id;
  const waiting = ["queued", "running"].includes(detail.shownStatus());
  if (id && id === detail.shownId() && waiting && event.event_type !== "BacktestRequested") select(id);
}

/** After a drop of the stream: events were missed. */
export const resync = scheduleReload;

/** The charted symbol is the form's default symbol. */
export const onSymbol = form.suggestSymbol;

/** The registered symbols were read: the form suggests them. */
export const onSymbolsListed = () => form.setSymbolOptions([...state.symbols.keys()]);

export function init() {
  form.init({
    onSubmitted(job) {
      replaceJob(job);
      renderList();
    },
    onFinished(job) {
      replaceJob(job);
      select(job.backtest_id);
    },
    onRefused(error) {
      forgetAccess();
      access = refused(error);
      renderAccess();
      renderList();
    },
  });
  detail.init({
    onClose() {
      detail.hideBacktest();
      renderList();
    },
  });
  list.section.addEventListener("click", (event) => {
    const pick = event.target.closest("button[data-select-backtest]");
    if (pick) select(pick.dataset.selectBacktest);
    const del = event.target.closest("button[data-delete-backtest]");
    if (del && !del.disabled) remove(del);
  });
  list.body.addEventListener("change", (event) => {
    const box = event.target.closest("input[data-compare-backtest]");
    if (!box) return;
    if (box.checked) ticked.add(box.dataset.compareBacktest);
    else ticked.delete(box.dataset.compareBacktest);
    renderCompareButton();
  });
  compareButton.addEventListener("click", compare);
  moreButton.addEventListener("click", loadOlder);
  byId("backtest-compare-close").addEventListener("click", closeComparison);
  el.compareTable.addEventListener("click", (event) => {
    const pick = event.target.closest("button[data-select-backtest]");
    if (pick) select(pick.dataset.selectBacktest);
  });
  renderList();
}
