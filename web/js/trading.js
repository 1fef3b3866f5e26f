// Trading: the account summary (equity, cash, P&L), positions, open orders (with cancel) and
// recent fills, read together and refreshed by the account's order and position events.

import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { byId, countLoad, h } from "./dom.js";
import {
  MISSING,
  clockTime,
  learnPrices,
  money,
  percent,
  price,
  quantity,
  signClass,
  signedMoney,
  utcTime,
} from "./format.js";
import { showError } from "./notices.js";
import { cell, numberCell, renderRows, symbolCell, tablePanel } from "./table.js";
import { debounced, latestOnly } from "./timing.js";

const RELOAD_MS = 300; // a fill is a burst of order and position events: one reload
const OPEN_ORDER_LIMIT = 100;
const RECENT_FILL_LIMIT = 25;

const el = {
  trading: byId("trading"),
  account: byId("trading-account"),
  updated: byId("trading-updated"),
  message: byId("trading-message"),
  body: byId("trading-body"),
  summary: byId("account"),
  grid: document.querySelector("#trading-body .trading-grid"),
};

let accountId = null; // the account the section shows, once known
let held = new Set(); // symbols with a position: their new bars change the account's value
const cancelling = new Set(); // order ids with a cancel request in flight
const reads = latestOnly();

// ---- what the tables show -----------------------------------------------------------------

const sideCell = (side) => cell(side, { className: side === "buy" ? "side-buy" : "side-sell" });

const POSITION_COLUMNS = [
  { header: "Symbol", cell: (p) => symbolCell(p.symbol) },
  { header: "Qty", num: true, cell: (p) => numberCell(quantity(p.qty), p.qty) },
  { header: "Avg entry", num: true, cell: (p) => numberCell(price(p.avg_entry_price, p.symbol), p.avg_entry_price) },
  {
    header: "Price",
    num: true,
    cell: (p) => numberCell(price(p.current_price, p.symbol), p.current_price ?? "no price yet: marked at cost"),
  },
  { header: "Value", num: true, cell: (p) => numberCell(money(p.market_value), p.market_value) },
  { header: "Unrealized", num: true, cell: unrealizedCell },
];

function unrealizedCell(p) {
  const td = numberCell(signedMoney(p.unrealized_pl), p.unrealized_pl, signClass(p.unrealized_pl));
  if (p.unrealized_plpc !== null && p.unrealized_plpc !== undefined) {
    td.append(h("small", { text: ` ${percent(p.unrealized_plpc)}` }));
  }
  return td;
}

/** "139.93" for a limit, "stop 150" for a stop, both for a stop-limit; "market" otherwise. */
function orderPrice(order) {
  const parts = [];
  if (order.stop_price !== null && order.stop_price !== undefined) parts.push(`stop ${price(order.stop_price, order.symbol)}`);
  if (order.limit_price !== null && order.limit_price !== undefined) parts.push(price(order.limit_price, order.symbol));
  return parts.join(" / ") || "market";
}

function orderQty(order) {
  if (order.qty !== null && order.qty !== undefined) {
    const filled = Number(order.filled_qty) ? `${quantity(order.filled_qty)} / ` : "";
    return `${filled}${quantity(order.qty)}`;
  }
  return `$${money(order.notional)}`;
}

function cancelCell(order) {
  const busy = cancelling.has(order.id);
  const button = h("button", {
    type: "button",
    className: "small danger",
    text: busy ? "Cancelling…" : "Cancel",
    disabled: busy,
    dataset: { cancelOrder: order.id },
    attrs: { "aria-label": `Cancel the ${order.side} ${order.symbol} ${order.type} order` },
  });
  return h("td", { className: "actions" }, button);
}

const ORDER_COLUMNS = [
  { header: "Symbol", cell: (order) => symbolCell(order.symbol) },
  { header: "Side", cell: (order) => sideCell(order.side) },
  { header: "Type", cell: (order) => cell(`${order.type} · ${order.time_in_force}`) },
  { header: "Qty", num: true, cell: (order) => numberCell(orderQty(order), order.qty ?? order.notional) },
  { header: "Price", num: true, cell: (order) => numberCell(orderPrice(order), order.limit_price ?? order.stop_price) },
  { header: "Status", cell: (order) => cell(order.status.replace("_", " ")) },
  { header: "Actions", hidden: true, cell: cancelCell },
];

const FILL_COLUMNS = [
  {
    header: "Time (UTC)",
    cell: (fill) =>
      cell(utcTime(fill.recorded_at), { exact: `recorded ${fill.recorded_at}, at the price of ${fill.market_time}` }),
  },
  { header: "Symbol", cell: (fill) => symbolCell(fill.symbol) },
  { header: "Side", cell: (fill) => sideCell(fill.side) },
  { header: "Qty", num: true, cell: (fill) => numberCell(quantity(fill.qty), fill.qty) },
  { header: "Price", num: true, cell: (fill) => numberCell(price(fill.price, fill.symbol), fill.price) },
  {
    header: "Realized",
    num: true,
    cell: (fill) => {
      const realized = Number(fill.realized_pl) ? signedMoney(fill.realized_pl) : MISSING;
      return numberCell(realized, fill.realized_pl, signClass(fill.realized_pl));
    },
  },
];

const tables = {
  positions: tablePanel({ name: "positions", heading: "Positions", columns: POSITION_COLUMNS }),
  orders: tablePanel({ name: "orders", tableId: "open-orders", heading: "Open orders", columns: ORDER_COLUMNS }),
  fills: tablePanel({ name: "fills", heading: "Recent fills", columns: FILL_COLUMNS }),
};
el.grid.replaceChildren(...Object.values(tables).map((table) => table.section));

// The account summary: [field, label, whether it is a P&L (signed and coloured)].
const ACCOUNT_FIELDS = [
  ["equity", "Equity", false],
  ["cash", "Cash", false],
  ["buying_power", "Buying power", false],
  ["day_pl", "Day P&L", true],
  ["unrealized_pl", "Unrealized P&L", true],
  ["realized_pl", "Realized P&L", true],
];

function renderAccount(account) {
  el.summary.replaceChildren(
    ...ACCOUNT_FIELDS.map(([field, label, pl]) => {
      const exact = account[field];
      const value = h("dd", {
        text: pl ? signedMoney(exact) : money(exact),
        title: String(exact ?? ""),
        className: pl ? signClass(exact) : undefined,
      });
      return h("div", { className: "stat", dataset: { field } }, h("dt", { text: label }), value);
    }),
  );
}

function renderPositions(positions) {
  held = new Set(positions.map((p) => p.symbol));
  renderRows(tables.positions.body, positions, POSITION_COLUMNS, {
    data: (p) => ({ symbol: p.symbol }),
    empty: "No positions.",
  });
  tables.positions.count.textContent = String(positions.length);
}

function renderOrders(orders, more) {
  renderRows(tables.orders.body, orders, ORDER_COLUMNS, {
    data: (order) => ({ orderId: order.id, symbol: order.symbol }),
    empty: "No open orders.",
  });
  tables.orders.count.textContent = more ? `${orders.length}+` : String(orders.length);
}

function renderFills(fills) {
  renderRows(tables.fills.body, fills, FILL_COLUMNS, {
    data: (fill) => ({ fillId: fill.fill_id, symbol: fill.symbol }),
    empty: "No fills yet.",
  });
  tables.fills.count.textContent = fills.length >= RECENT_FILL_LIMIT ? `latest ${fills.length}` : String(fills.length);
}

// ---- reading ------------------------------------------------------------------------------

/** Reads the four panels together, so they always show the same moment. */
export async function loadTrading() {
  const current = reads.begin();
  let answers;
  try {
    answers = await Promise.all([
      api("/v1/account"),
      api("/v1/positions"),
      api(`/v1/orders?${new URLSearchParams({ status: "open", limit: String(OPEN_ORDER_LIMIT) })}`),
      api(`/v1/fills?${new URLSearchParams({ limit: String(RECENT_FILL_LIMIT) })}`),
    ]);
  } catch (error) {
    if (!current()) return;
    if (hasStatus(error, 401)) showError(error, "Could not read the account");
    else showTradingMessage(error);
    countLoad(el.trading);
    return;
  }
  if (!current()) return;
  const [account, positions, orders, fills] = answers;
  accountId = account.account_id;
  el.message.hidden = true;
  el.body.hidden = false;
  el.account.textContent = `${account.account_id} · ${account.currency || "USD"}`;
  el.updated.textContent = `updated ${clockTime()}`;
  for (const p of positions) learnPrices(p.symbol, [p.current_price]); // how many decimals each trades in
  renderAccount(account);
  renderPositions(positions);
  renderOrders(orders.orders || [], Boolean(orders.next));
  renderFills(fills.fills || []);
  countLoad(el.trading);
}

/** The section says why it has nothing to show (no account yet, no permission, ...). */
function showTradingMessage(error) {
  const lead = hasStatus(error, 404) ? "No trading account" : `Could not read the account${statusSuffix(error)}`;
  el.message.textContent = `${lead}: ${error.detail || error.message || error}`;
  el.message.hidden = false;
  el.body.hidden = true;
  el.account.textContent = "";
  el.updated.textContent = "";
  held = new Set();
  console.warn("Could not read the trading account", error);
}

/** Forgets the account (the key is gone): an answer still on its way is for the old key. */
export function clearTrading() {
  reads.invalidate();
  accountId = null;
  held = new Set();
  el.account.textContent = "";
  el.updated.textContent = "";
  el.message.hidden = true;
  el.body.hidden = true;
}

const scheduleReload = debounced(() => currentKey() && loadTrading(), RELOAD_MS);

async function cancelOrder(button) {
  const id = button.dataset.cancelOrder;
  const symbol = button.closest("tr")?.dataset.symbol || "";
  cancelling.add(id);
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    await api(`/v1/orders/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    showError(error, symbol ? `Could not cancel the ${symbol} order` : "Could not cancel the order");
  } finally {
    cancelling.delete(id);
  }
  await loadTrading(); // the row goes, or its button comes back after a refusal
}

// ---- live updates -------------------------------------------------------------------------

/** Whether an order or position event is of the account shown (or the account is not known yet). */
/** The account the section shows, once known (null before). */
export const shownAccount = () => accountId;

export function concernsAccount(event) {
  const p = event.payload || {};
  return !(accountId && p.account_id && p.account_id !== accountId);
}

/** An order or position event of the account: the panels are read again, once per burst. */
export const onTradingEvent = scheduleReload;

/** Positions are marked to the latest price: new bars of a held symbol change the account. */
export function onMarketEvent(event) {
  if (event.event_type === "BarsIngested" && (event.payload.symbols || []).some((s) => held.has(s.symbol))) {
    scheduleReload();
  }
}

/** After a drop of the stream: events were missed. */
export const resync = scheduleReload;

/** `onPick(symbol)`: a symbol's button was pressed in one of the tables. */
export function init({ onPick }) {
  el.trading.addEventListener("click", (event) => {
    const cancel = event.target.closest("button[data-cancel-order]");
    if (cancel && !cancel.disabled) cancelOrder(cancel);
    const symbol = event.target.closest("button[data-select-symbol]");
    if (symbol) onPick(symbol.dataset.selectSymbol);
  });
}
