// The dashboard's entry module: symbols, a candlestick + volume chart with the fills marked on it,
// the live event feed, the trading section (account, positions, open orders, recent fills), the
// alerts section (alerts out and their deliveries), the schedules section (each schedule's runs) and the backtests section (run, list, compare, delete, and one in detail; parameter sweeps' heat maps).
// Native ES modules, no build step. The page talks only to its own origin (or the origins named in
// its <meta> tags). This module connects the pages: the key, the selection (kept in the URL hash),
// and the live stream's events.

import * as access from "./access.js";
import * as alerts from "./alerts.js";
import { currentKey, setKey } from "./api.js";
import * as backtests from "./backtests.js";
import * as chart from "./chart.js";
import * as feed from "./feed.js";
import * as keys from "./key.js";
import * as notices from "./notices.js";
import * as schedules from "./schedules.js";
import { TIMEFRAMES, state } from "./state.js";
import { STREAM_URL, Stream } from "./stream.js";
import * as sweeps from "./sweeps.js";
import * as symbols from "./symbols.js";
import * as trading from "./trading.js";

// An admin's key may have every event (`events`, for the feed) and every account's order and
// position events (these copies drive the panels). Any other key gets the events everyone may
// see and the events of the account the trading section shows (entrypoints/stream.py).
const PUBLIC_EVENTS = ["events:BarsIngested", "events:SymbolRegistered", "events:SignalGenerated"];
let seesAll = false;

function subscriptions() {
  if (seesAll) return [["events"], ["orders", "positions"]];
  const account = trading.shownAccount();
  return [PUBLIC_EVENTS, account ? [`orders:${account}`, `positions:${account}`] : []];
}

const isTradingChannel = (channel) => /^(orders|positions)(:|$)/.test(channel);

const stream = new Stream({
  url: () => `${STREAM_URL}?api_key=${encodeURIComponent(currentKey())}`,
  subscriptions,
  onEvent(channel, event) {
    if (isTradingChannel(channel)) onTradingEvent(event);
    else onEvent(event);
  },
  onResync() {
    symbols.resync();
    chart.resync();
    trading.resync();
    alerts.resync();
    backtests.resync();
    sweeps.resync();
  },
  onKeyRefused(code, reason) {
    if (code === 4401) keys.openKeyDialog(`The stream refused the key: ${reason || "unauthorized"}`);
  },
});

function onEvent(event) {
  feed.addToFeed(event);
  chart.onMarketEvent(event);
  symbols.onMarketEvent(event);
  trading.onMarketEvent(event);
  alerts.onEvent(event);
  backtests.onEvent(event);
  sweeps.onEvent(event);
}

function onTradingEvent(event) {
  alerts.onEvent(event); // an alert's source may be another account than the one shown
  if (!trading.concernsAccount(event)) return; // another account
  trading.onTradingEvent(event);
  chart.onTradingEvent(event);
}

// ---- selection and the URL hash (#/AAPL/1h), so a view can be bookmarked and reloaded --------

function markSelected() {
  symbols.markSelected();
  chart.markTimeframe();
}

function select(symbol, timeframe = state.timeframe) {
  state.symbol = symbol;
  state.timeframe = timeframe;
  const hash = `#/${encodeURIComponent(symbol)}/${timeframe}`;
  if (location.hash !== hash) history.replaceState(history.state, "", hash);
  markSelected();
  backtests.onSymbol(symbol);
  chart.loadChart(true);
}

function selectionFromHash() {
  const [, symbol, timeframe] = location.hash.split("/");
  if (!symbol) return null;
  return { symbol: decodeURIComponent(symbol), timeframe: TIMEFRAMES.includes(timeframe) ? timeframe : "1d" };
}

// ---- start --------------------------------------------------------------------------------

async function start(key) {
  setKey(key);
  notices.hideError();
  backtests.loadBacktests(); // reports its own failures in its section
  alerts.loadAlerts(); // likewise
  schedules.loadSchedules(); // likewise (an admin's key; another's section says why)
  // The stream's channels depend on the key's role and, below admin, on the account shown.
  Promise.all([access.seesAll(key), trading.loadTrading()]).then(([all]) => {
    seesAll = all;
    if (currentKey() === key) stream.connect();
  });
  sweeps.loadSweeps(); // likewise
  try {
    await symbols.loadSymbols();
  } catch (error) {
    notices.showError(error, "Could not list symbols");
    return;
  }
  backtests.onSymbolsListed();
  const wanted = selectionFromHash();
  if (wanted) select(wanted.symbol, wanted.timeframe);
}

function wireEvents() {
  keys.init({
    onKey: start,
    onForget() {
      setKey(null);
      stream.stop();
      symbols.clearSymbols();
      trading.clearTrading();
      alerts.clearAlerts();
      schedules.clearSchedules();
      backtests.clearBacktests();
      sweeps.clearSweeps();
      notices.setStatus("idle", "Not connected");
    },
  });
  notices.init({
    onKeyRefused(error) {
      stream.stop(); // it would only keep retrying with the same key
      notices.setStatus("denied", "The API key was refused");
      keys.openKeyDialog(`The API refused the key: ${error.detail}`);
    },
  });
  symbols.init({ onPick: (symbol) => select(symbol) });
  chart.init({
    onTimeframe(timeframe) {
      state.timeframe = timeframe;
      if (state.symbol) select(state.symbol, state.timeframe);
      else markSelected();
    },
  });
  trading.init({
    onPick(symbol) {
      select(symbol);
      chart.reveal();
    },
  });
  alerts.init();
  schedules.init();
  backtests.init();
  sweeps.init();
  feed.init();
  window.addEventListener("hashchange", () => {
    const wanted = selectionFromHash();
    if (wanted && currentKey() && (wanted.symbol !== state.symbol || wanted.timeframe !== state.timeframe)) {
      select(wanted.symbol, wanted.timeframe);
    }
  });
}

function main() {
  wireEvents();
  const key = keys.initialKey();
  if (key) start(key);
  else keys.openKeyDialog();
}

main();
