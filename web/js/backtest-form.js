// The "New backtest" form: a strategy from /v1/strategies with inputs for its parameters (from their
// JSON Schema, filled with the defaults), symbols, timeframe, range, cash and commission. It posts
// the backtest, follows the job until it is completed or failed (the local runner finishes at once;
// in AWS it runs in the background), and puts the API's 422 errors next to the fields they name.

import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { statText } from "./backtest-stats.js";
import { byId, h } from "./dom.js";
import { formErrors } from "./form-errors.js";
import { showError } from "./notices.js";
import { schemaFields } from "./schema-form.js";
import { state } from "./state.js";

const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5000;
const POLL_FOR_MS = 15 * 60 * 1000; // longer than any backtest function may run
const MAX_SYMBOL_OPTIONS = 500;

const el = {
  form: byId("backtest-form"),
  strategy: byId("bt-strategy"),
  summary: byId("bt-strategy-summary"),
  params: byId("bt-param-fields"),
  symbols: byId("bt-symbols"),
  symbolOptions: byId("bt-symbol-options"),
  timeframe: byId("bt-timeframe"),
  cash: byId("bt-cash"),
  commission: byId("bt-commission"),
  start: byId("bt-start"),
  end: byId("bt-end"),
  errors: byId("backtest-form-errors"),
  note: byId("backtest-form-note"),
  run: byId("backtest-run"),
  progress: byId("backtest-run-status"),
};

let strategies = new Map(); // name -> { name, kind, summary, params (JSON Schema), rules? }
let paramFields = { fields: [], read: () => ({ params: {}, problems: [] }) };
let symbolsTouched = false; // typed by the user: the charted symbol no longer fills the field
let busy = false;
let refusal = null; // why this key may not run backtests (null: it may)
let callbacks = { onSubmitted() {}, onFinished() {}, onRefused() {} };

// ---- the strategy and its parameters ------------------------------------------------------

/** Fills the strategy picker; keeps the chosen strategy (and what was typed) if it is still there. */
export function setStrategies(list) {
  const chosen = el.strategy.value;
  strategies = new Map(list.map((s) => [s.name, s]));
  el.strategy.replaceChildren(
    ...list.map((s) =>
      h("option", { value: s.name, text: s.kind === "rules" ? `${s.name} (rules)` : s.name, title: s.summary || "" }),
    ),
  );
  if (!list.length) el.strategy.append(h("option", { value: "", text: "No strategies" }));
  const keep = strategies.has(chosen);
  el.strategy.value = keep ? chosen : list.find((s) => s.name === "sma_cross")?.name || list[0]?.name || "";
  if (!keep) renderParams();
  el.form.dataset.strategies = String(list.length);
}

function renderParams() {
  const strategy = strategies.get(el.strategy.value);
  el.summary.textContent = strategy?.summary || "";
  // A saved (rules) strategy's own settings are the starting values, and the params sent override
  // them: only the changed ones are sent. A code strategy's are all sent, defaults included.
  const rules = strategy?.kind === "rules";
  const values = rules ? strategy.rules || {} : {};
  paramFields = schemaFields(strategy?.params, { values, prefix: "params", idPrefix: "bt-param", onlyChanged: rules });
  el.params.replaceChildren(
    ...(paramFields.fields.length ? paramFields.fields : [h("p", { className: "muted", text: "No parameters." })]),
  );
  errors.clear();
}

/** The symbols the datalist suggests (the registered ones). */
export function setSymbolOptions(symbols) {
  el.symbolOptions.replaceChildren(
    ...symbols.slice(0, MAX_SYMBOL_OPTIONS).map((symbol) => h("option", { value: symbol })),
  );
}

/** The charted symbol fills the symbols field until the user types in it. */
export function suggestSymbol(symbol) {
  if (!symbolsTouched && symbol) el.symbols.value = symbol;
}

// ---- reading the form ---------------------------------------------------------------------

function numberOrNull(input, field, problems) {
  const text = input.value.trim();
  if (input.validity?.badInput) problems.push({ field, reason: "enter a number" });
  return text === "" ? null : Number(text);
}

/** A date input as a moment: the start of its day, or the end of it for `end` (the range is inclusive). */
const dayMoment = (value, endOfDay) => (value ? `${value}T${endOfDay ? "23:59:59" : "00:00:00"}Z` : null);

/** The request body, and the problems found before asking the API (fields holding no number). */
function readForm() {
  const { params, problems } = paramFields.read();
  const symbols = el.symbols.value
    .split(/[\s,;]+/)
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const body = {
    strategy: el.strategy.value,
    params,
    symbols,
    timeframe: el.timeframe.value,
  };
  const cash = numberOrNull(el.cash, "cash", problems);
  if (cash !== null) body.cash = cash;
  const commission = numberOrNull(el.commission, "commission", problems);
  if (commission !== null) body.commission = commission;
  const start = dayMoment(el.start.value, false);
  const end = dayMoment(el.end.value, true);
  if (start) body.start = start;
  if (end) body.end = end;
  return { body, problems };
}

// ---- errors next to the fields ------------------------------------------------------------

const errors = formErrors(el.form, el.errors, { idPrefix: "bt-error" });

// ---- running ------------------------------------------------------------------------------

function setBusy(running, text = "") {
  busy = running;
  el.run.disabled = running || Boolean(refusal);
  el.run.textContent = running ? "Running…" : "Run backtest";
  el.progress.textContent = text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The job once completed or failed: read again at once (the local runner is done already),
 * then every few seconds. Null if the key changed meanwhile or it took too long. */
async function followJob(job, key) {
  const until = Date.now() + POLL_FOR_MS;
  let wait = 0;
  let current = job;
  while (current.status === "queued" || current.status === "running") {
    if (Date.now() > until || currentKey() !== key) return null;
    if (wait) await sleep(wait);
    wait = Math.min(POLL_MAX_MS, (wait || POLL_FIRST_MS / 2) * 2);
    current = await api(`/v1/backtests/${encodeURIComponent(job.backtest_id)}`);
    setBusy(true, `${current.status}…`);
  }
  return current;
}

function outcomeText(job) {
  if (job.status === "failed") return `Failed: ${job.error || "no reason given"}`;
  const stats = job.outcome?.stats || {};
  return `Done: return ${statText("return_pct", stats.return_pct)} %, ${statText("trades", stats.trades)} trades`;
}

async function submit(event) {
  event.preventDefault();
  if (busy || refusal) return;
  errors.clear();
  const { body, problems } = readForm();
  if (problems.length) {
    errors.show("Check the form:", "", problems);
    return;
  }
  const key = currentKey();
  setBusy(true, "Submitting…");
  let job;
  try {
    job = await api("/v1/backtests", { method: "POST", body });
  } catch (error) {
    setBusy(false);
    if (hasStatus(error, 401)) {
      showError(error, "Could not run the backtest");
      return;
    }
    const lead = `Could not run the backtest${statusSuffix(error)}:`;
    errors.show(lead, error.detail || error.message, error.errors || []);
    if (hasStatus(error, 403)) callbacks.onRefused(error);
    return;
  }
  callbacks.onSubmitted(job);
  try {
    const done = await followJob(job, key);
    setBusy(false, done ? outcomeText(done) : "Still running: it shows in the list when it is done.");
    if (done) callbacks.onFinished(done);
  } catch (error) {
    setBusy(false, `Could not follow the backtest: ${error.detail || error.message}`);
  }
}

// ---- what the key may do ------------------------------------------------------------------

/** What the key may do (access.js): a refused key sees why next to a disabled Run button. */
export function setAccess({ allowed, reason, detail }) {
  refusal = allowed ? null : reason;
  el.note.hidden = allowed;
  el.note.textContent = allowed ? "" : `Running backtests ${reason}.`;
  el.note.title = detail || "";
  el.run.disabled = busy || !allowed;
}

/** Forgets the strategies (the key is gone). */
export function clearForm() {
  strategies = new Map();
  el.strategy.replaceChildren();
  el.params.replaceChildren();
  el.summary.textContent = "";
  el.progress.textContent = "";
  errors.clear();
}

/**
 * `onSubmitted(job)`: accepted (202), not yet done. `onFinished(job)`: completed or failed.
 * `onRefused(error)`: the API refused the key the role (a 403).
 */
export function init(handlers) {
  callbacks = handlers;
  el.form.noValidate = true; // the API judges; its errors go next to the fields
  el.form.addEventListener("submit", submit);
  el.strategy.addEventListener("change", renderParams);
  el.symbols.addEventListener("input", () => {
    symbolsTouched = el.symbols.value.trim() !== "";
  });
  suggestSymbol(state.symbol);
}
