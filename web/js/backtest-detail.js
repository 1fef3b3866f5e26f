// The selected backtest: what it ran, its equity and drawdown curves, its statistics, its trades,
// and those trades marked on the candles of one of its symbols.

import { api, readPages } from "./api.js";
import { drawEquity, drawTrades, focusTrade, followCrosshair } from "./backtest-charts.js";
import { statKeys, statLabel, statText } from "./backtest-stats.js";
import { byId, countLoad, h } from "./dom.js";
import { count, fixed2, listOf, money, price, quantity, signClass, signedMoney, utcTime } from "./format.js";
import { TF_SECONDS } from "./state.js";
import { cell, numberCell, renderRows, tablePanel } from "./table.js";
import { latestOnly } from "./timing.js";

const EQUITY_POINTS = 2000; // a curve thinned to about the chart's width in pixels, twice over
const TRADE_PAGE_LIMIT = 1000;
const MAX_TRADE_PAGES = 5; // the first 5,000 trades: a table and markers beyond that help nobody
const BAR_PAGE_LIMIT = 10000;
const MAX_BAR_PAGES = 10;

const el = {
  detail: byId("backtest-detail"),
  heading: byId("backtest-detail-heading"),
  info: byId("backtest-detail-info"),
  message: byId("backtest-detail-message"),
  body: byId("backtest-detail-body"),
  equity: byId("backtest-equity"),
  candles: byId("backtest-candles"),
  legend: byId("backtest-legend"),
  symbol: byId("backtest-symbol"),
  candlesInfo: byId("backtest-candles-info"),
  stats: byId("backtest-stats"),
  tradesSlot: byId("backtest-trades-slot"),
};

let shown = null; // { job, trades }
const reads = latestOnly();
const candleReads = latestOnly();

// ---- what the tables show -----------------------------------------------------------------

/** "2004-11-17" for a daily bar's time, "2026-03-02 14:30:00" otherwise (UTC). */
const barTime = (text) => utcTime(text).replace(/ 00:00:00$/, "");
const timeCell = (text) => cell(barTime(text), { exact: text });

const TRADE_COLUMNS = [
  { header: "#", num: true, cell: (t) => numberCell(String(t.index + 1)) },
  { header: "Symbol", cell: (t) => cell(t.symbol) },
  {
    header: "Side",
    cell: (t) => cell(t.size > 0 ? "long" : "short", { className: t.size > 0 ? "side-buy" : "side-sell" }),
  },
  { header: "Size", num: true, cell: (t) => numberCell(quantity(Math.abs(t.size)), String(t.size)) },
  {
    header: "Entry (UTC)",
    cell: (t) =>
      h(
        "td",
        { title: t.entry_time },
        h("button", {
          type: "button",
          className: "link",
          text: barTime(t.entry_time),
          title: `Show trade ${t.index + 1} on the chart`,
          dataset: { tradeIndex: String(t.index) },
        }),
      ),
  },
  { header: "Entry price", num: true, cell: (t) => numberCell(price(t.entry_price, t.symbol), String(t.entry_price)) },
  { header: "Exit (UTC)", cell: (t) => (t.exit_time ? timeCell(t.exit_time) : cell("open")) },
  { header: "Exit price", num: true, cell: (t) => numberCell(price(t.exit_price, t.symbol), String(t.exit_price)) },
  { header: "P&L", num: true, cell: (t) => numberCell(signedMoney(t.pnl), String(t.pnl), signClass(t.pnl)) },
  {
    header: "Return [%]",
    num: true,
    cell: (t) => numberCell(fixed2(t.return_pct), String(t.return_pct), signClass(t.return_pct)),
  },
  { header: "Commission", num: true, cell: (t) => numberCell(money(t.commission), String(t.commission)) },
];

const trades = tablePanel({ name: "backtest-trades", heading: "Trades", columns: TRADE_COLUMNS });
el.tradesSlot.replaceWith(trades.section);
trades.section.classList.add("backtest-trades");

function renderStats(stats) {
  el.stats.replaceChildren(
    ...statKeys(stats).map((key) => {
      const value = stats?.[key];
      return h(
        "tr",
        { dataset: { stat: key } },
        h("th", { text: statLabel(key), attrs: { scope: "row" } }),
        h("td", {
          className: typeof value === "number" ? "num" : undefined,
          text: statText(key, value),
          title: value === null || value === undefined ? "no value" : String(value),
        }),
      );
    }),
  );
}

function renderTrades(list, more) {
  renderRows(trades.body, list, TRADE_COLUMNS, {
    data: (t) => ({ tradeIndex: String(t.index), symbol: t.symbol }),
    empty: "No trades.",
  });
  trades.count.textContent = more ? `first ${count(list.length)}` : count(list.length);
}

// ---- what it ran --------------------------------------------------------------------------

/** "n1=10 n2=20" (parameters left unset are not named). */
export const paramsText = (params) =>
  Object.entries(params || {})
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ");

/** The parameters that tell a backtest apart: all of a code strategy's (defaults included), the
 * overrides of a saved rules strategy (its rules are the strategy's own). */
export const distinctParams = (job) => paramsText(job.kind === "rules" ? job.request?.params : job.params);

function describeJob(job) {
  const request = job.request || {};
  const outcome = job.outcome;
  const parts = [
    listOf(outcome?.symbols || request.symbols || [], 6),
    request.timeframe,
    outcome ? `${utcTime(outcome.start).slice(0, 10)} → ${utcTime(outcome.end).slice(0, 10)}` : "",
    outcome ? `${count(outcome.bars)} bars` : "",
    `cash ${money(request.cash)}`,
    outcome?.profile?.commission !== undefined
      ? `commission ${fixed2(outcome.profile.commission * 100)} %`
      : request.commission !== null && request.commission !== undefined
        ? `commission ${fixed2(request.commission * 100)} %`
        : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

function showMessage(text) {
  el.message.textContent = text;
  el.message.hidden = !text;
  el.body.hidden = Boolean(text);
}

// ---- reading ------------------------------------------------------------------------------

async function readTrades(id) {
  let more = false;
  const list = await readPages(
    async (offset) => {
      const from = offset || 0;
      const query = new URLSearchParams({ limit: String(TRADE_PAGE_LIMIT), offset: String(from) });
      const page = await api(`/v1/backtests/${encodeURIComponent(id)}/trades?${query}`);
      const next = page.length === TRADE_PAGE_LIMIT ? from + TRADE_PAGE_LIMIT : null;
      more = next !== null;
      return [page, next];
    },
    MAX_TRADE_PAGES,
  );
  return { list: list.map((trade, index) => ({ ...trade, index })), more };
}

/** The symbol's bars over the backtest's range, in its timeframe. */
async function readBars(job, symbol) {
  const { timeframe } = job.request;
  const last = Date.parse(job.outcome.end);
  const end = new Date(last + TF_SECONDS[timeframe] * 1000); // past the last bar, whatever the bound
  const bars = await readPages(
    async (from) => {
      const query = new URLSearchParams({
        timeframe,
        limit: String(BAR_PAGE_LIMIT),
        start: from,
        end: end.toISOString().replace(".000Z", "Z"),
      });
      const body = await api(`/v1/bars/${encodeURIComponent(symbol)}?${query}`);
      return [body.bars, body.next_start];
    },
    MAX_BAR_PAGES,
    job.outcome.start,
  );
  return bars.filter((bar) => Date.parse(bar.ts) <= last);
}

/** Draws `symbol`'s candles with its trades; the chart says why when the bars cannot be read. */
async function loadCandles(symbol) {
  const current = candleReads.begin();
  const { job, trades: list } = shown;
  el.symbol.value = symbol;
  el.candlesInfo.textContent = "loading…";
  try {
    const bars = await readBars(job, symbol);
    if (!current()) return;
    const own = list.filter((trade) => trade.symbol === symbol);
    const markers = await drawTrades(el.candles, bars, own, { intraday: job.request.timeframe !== "1d", symbol });
    followCrosshair(el.legend);
    el.candles.dataset.symbol = symbol;
    el.candles.dataset.bars = String(bars.length);
    el.candles.dataset.markers = String(markers);
    el.candlesInfo.textContent = `${count(bars.length)} ${job.request.timeframe} bars · ${count(own.length)} trades`;
  } catch (error) {
    if (!current()) return;
    el.candlesInfo.textContent = `Could not read the ${symbol} bars: ${error.detail || error.message}`;
  }
  countLoad(el.candles);
}

/** Shows `job` (a backtest as the API answers it): everything is read again. */
export async function showBacktest(job) {
  const current = reads.begin();
  candleReads.invalidate();
  el.detail.hidden = false;
  el.detail.dataset.backtestId = job.backtest_id;
  el.detail.dataset.status = job.status;
  el.heading.textContent = `${job.strategy_name} ${distinctParams(job)}`.trim();
  el.info.textContent = describeJob(job);
  el.info.title = job.outcome
    ? `${job.backtest_id} · data ${job.outcome.data_fingerprint?.slice(0, 12)} · code ${job.outcome.code_version}`
    : job.backtest_id;
  if (job.status !== "completed") {
    shown = null;
    showMessage(
      job.status === "failed"
        ? `This backtest failed: ${job.error || "no reason given"}`
        : `This backtest is ${job.status}: its results show here when it is done.`,
    );
    countLoad(el.detail);
    return;
  }
  showMessage("");
  renderStats(job.outcome.stats);
  try {
    const id = encodeURIComponent(job.backtest_id);
    const [curve, read] = await Promise.all([
      api(`/v1/backtests/${id}/equity?points=${EQUITY_POINTS}`),
      readTrades(job.backtest_id),
    ]);
    if (!current()) return;
    shown = { job, trades: read.list };
    renderTrades(read.list, read.more);
    const intraday = job.request.timeframe !== "1d";
    el.equity.dataset.points = String(await drawEquity(el.equity, curve, { cash: job.request.cash, intraday }));
    const symbols = job.outcome.symbols || job.request.symbols;
    const withTrades = symbols.find((s) => read.list.some((t) => t.symbol === s));
    el.symbol.replaceChildren(...symbols.map((s) => h("option", { value: s, text: s })));
    el.symbol.disabled = symbols.length < 2;
    await loadCandles(withTrades || symbols[0]);
  } catch (error) {
    if (!current()) return;
    showMessage(`Could not read the results of this backtest: ${error.detail || error.message}`);
  }
  if (current()) countLoad(el.detail);
}

/** The backtest shown, if any (its id), and its status when it was read. */
export const shownId = () => (el.detail.hidden ? null : el.detail.dataset.backtestId || null);
export const shownStatus = () => (el.detail.hidden ? null : el.detail.dataset.status || null);

/** Hides the section (nothing selected, or the backtest shown was deleted). */
export function hideBacktest() {
  reads.invalidate();
  candleReads.invalidate();
  shown = null;
  el.detail.hidden = true;
  delete el.detail.dataset.backtestId;
}

/** `onClose()`: the user closed the section. */
export function init({ onClose }) {
  el.symbol.addEventListener("change", () => shown && loadCandles(el.symbol.value));
  byId("backtest-detail-close").addEventListener("click", onClose);
  trades.body.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-trade-index]");
    if (!button || !shown) return;
    const trade = shown.trades[Number(button.dataset.tradeIndex)];
    if (trade.symbol !== el.candles.dataset.symbol) await loadCandles(trade.symbol);
    focusTrade(trade);
    el.candles.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });
}
