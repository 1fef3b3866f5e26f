// The dashboard: symbols, a candlestick + volume chart with the fills marked on it, the live
// event feed, and the trading section (account, positions, open orders, recent fills).
// Plain ES module, no build step. It talks only to its own origin (or the origins named in the
// page's <meta> tags): the chart library is served by the runner from node_modules at /vendor.

const CHART_LIBRARY = "./vendor/lightweight-charts.standalone.production.mjs";
const KEY_STORAGE = "trading.apiKey";

const TIMEFRAMES = ["1m", "5m", "15m", "1h", "1d"];
const TF_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 };
// How many bars the chart holds per timeframe, and how many it shows when a symbol is opened.
const BARS_HELD = { "1m": 2000, "5m": 1500, "15m": 1200, "1h": 1000, "1d": 1500 };
const BARS_SHOWN = 150;
const BAR_PAGE_LIMIT = 10000;
const MAX_BAR_PAGES = 10; // bounds the work per load even if the API kept paginating
const SYMBOL_PAGE_LIMIT = 1000;
const MAX_SYMBOL_PAGES = 100;
const FEED_LIMIT = 200;
const PING_EVERY_MS = 25000; // keeps idle proxies from closing the socket
const TRADING_RELOAD_MS = 300; // a fill is a burst of order and position events: one reload
const OPEN_ORDER_LIMIT = 100;
const RECENT_FILL_LIMIT = 25;
const MARKER_FILL_LIMIT = 1000; // the newest fills of the charted symbol drawn as markers
const RECONNECT_MAX_MS = 30000;

const COLORS = {
  panel: "#161c24",
  text: "#8593a3",
  grid: "rgba(38, 49, 64, 0.55)",
  border: "#263140",
  up: "#26a69a",
  down: "#ef5350",
  upVolume: "rgba(38, 166, 154, 0.5)",
  downVolume: "rgba(239, 83, 80, 0.5)",
  buy: "#4c9aff", // fill markers: distinct from the candles' green and red
  sell: "#f0b429",
};

const $ = (id) => document.getElementById(id);
const el = {
  status: $("status"),
  statusText: $("status-text"),
  changeKey: $("change-key"),
  banner: $("banner"),
  bannerTitle: $("banner-title"),
  bannerDetail: $("banner-detail"),
  bannerErrors: $("banner-errors"),
  bannerClose: $("banner-close"),
  symbolFilter: $("symbol-filter"),
  symbolList: $("symbol-list"),
  symbolCount: $("symbol-count"),
  chartHeading: $("chart-heading"),
  chartInfo: $("chart-info"),
  timeframes: $("timeframes"),
  chart: $("chart"),
  legend: $("legend"),
  chartEmpty: $("chart-empty"),
  feed: $("feed"),
  feedEmpty: $("feed-empty"),
  feedClear: $("feed-clear"),
  keyDialog: $("key-dialog"),
  keyForm: $("key-form"),
  keyInput: $("key-input"),
  keyError: $("key-error"),
  keyForget: $("key-forget"),
  keySubmit: $("key-submit"),
  trading: $("trading"),
  tradingAccount: $("trading-account"),
  tradingUpdated: $("trading-updated"),
  tradingMessage: $("trading-message"),
  tradingBody: $("trading-body"),
  account: $("account"),
  positions: document.querySelector("#positions tbody"),
  positionsCount: $("positions-count"),
  orders: document.querySelector("#open-orders tbody"),
  ordersCount: $("orders-count"),
  fills: document.querySelector("#fills tbody"),
  fillsCount: $("fills-count"),
};

const meta = (name) => (document.querySelector(`meta[name="${name}"]`)?.content || "").trim();
const API_BASE = meta("trading-api").replace(/\/+$/, "");
const STREAM_URL =
  meta("trading-stream") || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;

const state = {
  key: null,
  symbols: new Map(), // symbol -> listing
  symbol: null,
  timeframe: "1d",
  bars: [], // what the chart shows, for the legend
  loads: 0,
  symbolFills: { symbol: null, fills: [] }, // the charted symbol's fills, for the markers
  accountId: null, // the account the trading section shows, once known
  held: new Set(), // symbols with a position: their new bars change the account's value
  cancelling: new Set(), // order ids with a cancel request in flight
  tradingLoads: 0,
};

// ---- storage (it can throw: private modes, disabled storage) ------------------------------

function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // The key then lives for this page only; nothing else to do.
  }
}

/** `?key=` is accepted once: stored, then removed so it does not stay in history or bookmarks. */
function takeKeyFromUrl() {
  const url = new URL(location.href);
  const key = url.searchParams.get("key");
  if (!key) return null;
  url.searchParams.delete("key");
  history.replaceState(history.state, "", url);
  return key.trim() || null;
}

// ---- API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, title, detail, errors = []) {
    super(detail);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

/** Call the API (GET unless told); failures become ApiError carrying the problem+json `detail`. */
async function api(path, { key = state.key, method = "GET" } = {}) {
  let response;
  try {
    response = await fetch(API_BASE + path, {
      method,
      headers: { "x-api-key": key || "", accept: "application/json" },
    });
  } catch (error) {
    throw new ApiError(0, "Cannot reach the API", `${error.message || error} (is the server running?)`);
  }
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body?.title || `HTTP ${response.status}`,
      body?.detail || response.statusText || "the request failed",
      Array.isArray(body?.errors) ? body.errors : [],
    );
  }
  return body;
}

// ---- messages to the user ----------------------------------------------------------------

function describeProblem(problem) {
  const where = [problem.row != null ? `row ${problem.row}` : "", problem.field || ""].filter(Boolean).join(", ");
  return where ? `${where}: ${problem.reason}` : problem.reason;
}

function showError(error, what) {
  if (error instanceof ApiError && error.status === 401) {
    stream.stop(); // it would only keep retrying with the same key
    setStatus("denied", "The API key was refused");
    openKeyDialog(`The API refused the key: ${error.detail}`);
    return;
  }
  const status = error instanceof ApiError && error.status ? ` (${error.status} ${error.title})` : "";
  el.bannerTitle.textContent = `${what}${status}:`;
  el.bannerDetail.textContent = error instanceof ApiError ? error.detail : String(error.message || error);
  el.bannerErrors.replaceChildren(
    ...(error.errors || []).slice(0, 5).map((problem) => {
      const li = document.createElement("li");
      li.textContent = describeProblem(problem);
      return li;
    }),
  );
  el.banner.hidden = false;
  console.warn(what, error); // shown in the banner; logged for whoever has the console open
}

function hideError() {
  el.banner.hidden = true;
}

function setStatus(stateName, text) {
  el.status.dataset.state = stateName;
  el.statusText.textContent = text;
}

// ---- key dialog ---------------------------------------------------------------------------

function openKeyDialog(message = "") {
  el.keyError.textContent = message;
  el.keyError.hidden = !message;
  el.keyInput.value = "";
  if (!el.keyDialog.open) el.keyDialog.showModal();
  el.keyInput.focus();
}

async function submitKey(event) {
  event.preventDefault();
  const key = el.keyInput.value.trim();
  if (!key) return;
  el.keySubmit.disabled = true;
  try {
    await api("/v1/symbols?limit=1", { key }); // proves the key before anything else uses it
  } catch (error) {
    el.keyError.textContent =
      error instanceof ApiError && (error.status === 401 || error.status === 403)
        ? `That key was refused: ${error.detail}`
        : `Could not check the key: ${error.detail || error.message}`;
    el.keyError.hidden = false;
    return;
  } finally {
    el.keySubmit.disabled = false;
  }
  storeKey(key);
  el.keyDialog.close();
  start(key);
}

function forgetKey() {
  storeKey(null);
  state.key = null;
  stream.stop();
  state.symbols.clear();
  renderSymbols();
  clearTrading();
  setStatus("idle", "Not connected");
  openKeyDialog();
}

// ---- symbols ------------------------------------------------------------------------------

async function loadSymbols() {
  const listings = [];
  let after = null;
  for (let page = 0; page < MAX_SYMBOL_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: String(SYMBOL_PAGE_LIMIT) });
    if (after) query.set("after", after);
    const body = await api(`/v1/symbols?${query}`);
    listings.push(...body.items);
    after = body.next_cursor;
    if (!after) break;
  }
  state.symbols = new Map(listings.map((listing) => [listing.symbol, listing]));
  renderSymbols();
}

function storedTimeframes(listing) {
  return TIMEFRAMES.filter((tf) => listing.coverage && listing.coverage[tf]);
}

function renderSymbols() {
  const needle = el.symbolFilter.value.trim().toUpperCase();
  const matches = [...state.symbols.values()].filter(
    (s) =>
      !needle ||
      s.symbol.includes(needle) ||
      (s.name || "").toUpperCase().includes(needle) ||
      (s.tags || []).some((tag) => tag.toUpperCase() === needle),
  );
  const items = matches.map((listing) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.tabIndex = 0;
    li.dataset.symbol = listing.symbol;
    li.setAttribute("aria-selected", String(listing.symbol === state.symbol));
    li.title = [listing.symbol, listing.name, listing.exchange].filter(Boolean).join(" · ");
    const sym = document.createElement("span");
    sym.className = "sym";
    sym.textContent = listing.symbol;
    const tfs = document.createElement("span");
    tfs.className = "tfs";
    tfs.textContent = storedTimeframes(listing).join(" ") || "no bars";
    li.append(sym, tfs);
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = state.symbols.size ? "No symbol matches the filter." : "No symbols registered yet.";
    items.push(li);
  }
  el.symbolList.replaceChildren(...items);
  el.symbolCount.textContent =
    matches.length === state.symbols.size ? String(state.symbols.size) : `${matches.length} / ${state.symbols.size}`;
}

function markSelected() {
  for (const li of el.symbolList.querySelectorAll("li[data-symbol]")) {
    const selected = li.dataset.symbol === state.symbol;
    li.setAttribute("aria-selected", String(selected));
    if (selected) keepInView(li);
  }
  for (const button of el.timeframes.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.tf === state.timeframe));
  }
}

/** Scrolls the list (not the page) so a symbol chosen from the URL or the keyboard is visible. */
function keepInView(li) {
  const list = el.symbolList;
  const top = li.offsetTop;
  if (top < list.scrollTop || top + li.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = top - (list.clientHeight - li.offsetHeight) / 2;
  }
}

// ---- selection and the URL hash (#/AAPL/1h), so a view can be bookmarked and reloaded --------

function select(symbol, timeframe = state.timeframe) {
  state.symbol = symbol;
  state.timeframe = timeframe;
  const hash = `#/${encodeURIComponent(symbol)}/${timeframe}`;
  if (location.hash !== hash) history.replaceState(history.state, "", hash);
  markSelected();
  loadChart(true);
}

function selectionFromHash() {
  const [, symbol, timeframe] = location.hash.split("/");
  if (!symbol) return null;
  return { symbol: decodeURIComponent(symbol), timeframe: TIMEFRAMES.includes(timeframe) ? timeframe : "1d" };
}

// ---- chart --------------------------------------------------------------------------------

const chart = { api: null, candles: null, volume: null, markers: null, loading: null };
let loadSequence = 0; // a slow answer for an earlier selection must not overwrite a newer one

async function ensureChart() {
  if (chart.api) return;
  let lib;
  try {
    lib = await import(CHART_LIBRARY);
  } catch (error) {
    throw new Error(`the chart library did not load from /vendor (run \`make run\` to install it): ${error.message}`);
  }
  const { createChart, createSeriesMarkers, CandlestickSeries, HistogramSeries, ColorType, CrosshairMode } = lib;
  chart.api = createChart(el.chart, {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: COLORS.panel },
      textColor: COLORS.text,
      fontSize: 12,
      panes: { separatorColor: COLORS.border, separatorHoverColor: COLORS.grid },
    },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    crosshair: { mode: CrosshairMode.Normal },
    rightPriceScale: { borderColor: COLORS.border },
    // maxBarSpacing: a handful of bars stays readable instead of stretching into slabs.
    timeScale: {
      borderColor: COLORS.border,
      timeVisible: true,
      secondsVisible: false,
      rightOffset: 4,
      maxBarSpacing: 40,
    },
  });
  chart.candles = chart.api.addSeries(CandlestickSeries, {
    upColor: COLORS.up,
    downColor: COLORS.down,
    wickUpColor: COLORS.up,
    wickDownColor: COLORS.down,
    borderVisible: false,
  });
  // Volume in its own pane under the price pane, a quarter of the height.
  chart.volume = chart.api.addSeries(
    HistogramSeries,
    { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false },
    1,
  );
  chart.markers = createSeriesMarkers(chart.candles, []);
  const [pricePane, volumePane] = chart.api.panes();
  pricePane.setStretchFactor(3);
  volumePane.setStretchFactor(1);
  chart.api.subscribeCrosshairMove((param) => renderLegend(param.time));
}

/** Where to start reading so that about BARS_HELD bars come back, from the symbol's coverage. */
function windowStart(listing, timeframe) {
  const sources = Object.entries(listing.coverage || {}).filter(
    ([stored]) => TF_SECONDS[stored] && TF_SECONDS[stored] <= TF_SECONDS[timeframe],
  );
  if (!sources.length) return null;
  const last = Math.max(...sources.map(([, coverage]) => Date.parse(coverage.last)));
  // Nights and weekends take calendar time without bars: read a wider span than the bar count.
  const calendarPerBar = timeframe === "1d" ? 1.5 : 6;
  const stepMs = TF_SECONDS[timeframe] * 1000;
  const start = last - BARS_HELD[timeframe] * stepMs * calendarPerBar;
  return new Date(Math.floor(start / stepMs) * stepMs); // aligned, so the first bucket is whole
}

async function fetchBars(listing, timeframe) {
  let start = windowStart(listing, timeframe);
  const bars = [];
  let source = null;
  for (let page = 0; page < MAX_BAR_PAGES && start; page += 1) {
    const query = new URLSearchParams({
      timeframe,
      limit: String(BAR_PAGE_LIMIT),
      start: new Date(start).toISOString().replace(".000Z", "Z"),
    });
    const body = await api(`/v1/bars/${encodeURIComponent(listing.symbol)}?${query}`);
    bars.push(...body.bars);
    source = body.source_timeframe || source;
    start = body.next_start;
  }
  return { bars: bars.slice(-BARS_HELD[timeframe]), source };
}

function showChartMessage(text) {
  el.chartEmpty.textContent = text;
  el.chartEmpty.hidden = !text;
}

async function loadChart(fresh) {
  const sequence = ++loadSequence;
  const { symbol, timeframe } = state;
  el.chartHeading.textContent = symbol;
  if (fresh) {
    el.chartInfo.textContent = "loading…";
    el.legend.textContent = "";
  }
  try {
    await ensureChart();
    // The listing is read again: its coverage says where the newest bars are.
    const listing = await api(`/v1/symbols/${encodeURIComponent(symbol)}`);
    if (sequence !== loadSequence) return;
    state.symbols.set(symbol, listing);
    const { bars, source } = await fetchBars(listing, timeframe);
    if (sequence !== loadSequence) return;
    draw(bars, fresh);
    await loadFillMarkers(symbol);
    if (sequence !== loadSequence) return;
    const name = listing.name ? `${listing.name} · ` : "";
    const from = source && source !== timeframe ? ` (from ${source})` : "";
    el.chartInfo.textContent = `${name}${bars.length} bars${from} · UTC`;
    if (!bars.length) {
      const stored = storedTimeframes(listing);
      showChartMessage(
        stored.length
          ? `No ${timeframe} bars for ${symbol}: only ${stored.join(", ")} bars are stored, too coarse to make ${timeframe}.`
          : `No bars for ${symbol} yet. Ingest some through the API or drop a CSV into the raw folder.`,
      );
    } else {
      showChartMessage("");
    }
    state.loads += 1;
    el.chart.dataset.loads = String(state.loads);
  } catch (error) {
    if (sequence !== loadSequence) return;
    el.chartInfo.textContent = "";
    showChartMessage(`Could not load ${symbol} ${timeframe}: ${error.detail || error.message}`);
    showError(error, `Could not load ${symbol} ${timeframe} bars`);
  }
  el.chart.dataset.symbol = symbol;
  el.chart.dataset.timeframe = timeframe;
  el.chart.dataset.bars = String(state.bars.length);
}

function draw(bars, fresh) {
  const timeScale = chart.api.timeScale();
  const previousCount = state.bars.length;
  const range = timeScale.getVisibleLogicalRange();
  const followingLatest = !fresh && range !== null && range.to >= previousCount - 1;

  const candles = [];
  const volume = [];
  let lastTime = -Infinity;
  for (const bar of bars) {
    const time = Date.parse(bar.ts) / 1000;
    if (!(time > lastTime)) continue; // the chart requires strictly ascending times
    lastTime = time;
    candles.push({ time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
    volume.push({ time, value: bar.volume, color: bar.close >= bar.open ? COLORS.upVolume : COLORS.downVolume });
  }
  state.bars = candles.map((candle, i) => ({ ...candle, volume: volume[i].value }));
  chart.candles.setData(candles);
  chart.volume.setData(volume);
  renderMarkers(); // the fills move to the bars that now hold them

  if (fresh && candles.length > BARS_SHOWN) {
    timeScale.setVisibleLogicalRange({ from: candles.length - BARS_SHOWN, to: candles.length + 3 });
  } else if (fresh) {
    timeScale.fitContent();
  } else if (followingLatest) {
    timeScale.scrollToRealTime(); // new bars came in while the user watched the latest ones
  }
  renderLegend(undefined);
}

const priceFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const smallPriceFormat = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
const volumeFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
const price = (value) => (Math.abs(value) >= 1 ? priceFormat : smallPriceFormat).format(value);

// The API sends decimals as strings. They are rounded here for display only; the exact value
// stays in the cell's title.
const moneyFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const signedMoneyFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});
const qtyFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const percentFormat = new Intl.NumberFormat(undefined, {
  style: "percent",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});

const MISSING = "—";

/** A decimal string (or null) through `format`, or as received when it is no number. */
function decimal(value, format) {
  if (value === null || value === undefined || value === "") return MISSING;
  const number = Number(value);
  return Number.isFinite(number) ? format(number) : String(value);
}

const money = (value) => decimal(value, moneyFormat.format);
const signedMoney = (value) => decimal(value, signedMoneyFormat.format);
const quantity = (value) => decimal(value, qtyFormat.format);
const percent = (value) => decimal(value, percentFormat.format);
const decimalPrice = (value) => decimal(value, price);

/** "up", "down" or "flat": the class that colours a P&L. */
function signClass(value) {
  const number = Number(value);
  if (!Number.isFinite(number) || number === 0) return "flat";
  return number > 0 ? "up" : "down";
}

/** O H L C V of the bar under the cursor, or of the latest bar. */
function renderLegend(time) {
  const bar = (time !== undefined && state.bars.find((b) => b.time === time)) || state.bars.at(-1);
  if (!bar) {
    el.legend.textContent = "";
    return;
  }
  const change = bar.open ? ((bar.close - bar.open) / bar.open) * 100 : 0;
  const parts = [
    ["O", price(bar.open)],
    ["H", price(bar.high)],
    ["L", price(bar.low)],
    ["C", price(bar.close)],
    ["V", volumeFormat.format(bar.volume)],
  ].flatMap(([label, value]) => {
    const b = document.createElement("b");
    b.textContent = label;
    return [b, `${value}  `];
  });
  const changeSpan = document.createElement("span");
  changeSpan.className = change >= 0 ? "up" : "down";
  changeSpan.textContent = `${change >= 0 ? "+" : ""}${change.toFixed(2)}%`;
  el.legend.replaceChildren(...parts, changeSpan);
}

// ---- fill markers on the chart --------------------------------------------------------------

/** Reads the symbol's newest fills; a failure leaves the markers as they were. */
async function loadFillMarkers(symbol) {
  let body;
  try {
    body = await api(`/v1/fills?${new URLSearchParams({ symbol, limit: String(MARKER_FILL_LIMIT) })}`);
  } catch (error) {
    const noAccount = error instanceof ApiError && error.status === 404; // so no fills either
    if (!noAccount) {
      console.warn(`Could not read the ${symbol} fills`, error); // the trading section says why
      return;
    }
    body = { fills: [] };
  }
  if (symbol !== state.symbol) return; // another symbol was chosen meanwhile
  state.symbolFills = { symbol, fills: body.fills || [] };
  renderMarkers();
}

/** The start of the charted bar holding `seconds`: the last bar that began at or before it. A fill
 * after the last bar (at the last known price) goes on the last bar; one before the first is off the chart. */
function barTimeAt(seconds) {
  const bars = state.bars;
  if (!bars.length || !(seconds >= bars[0].time)) return null;
  let low = 0;
  let high = bars.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (bars[middle].time <= seconds) low = middle;
    else high = middle - 1;
  }
  return bars[low].time;
}

function fillMarker(fill) {
  const time = barTimeAt(Date.parse(fill.market_time) / 1000);
  if (time === null) return null;
  const buy = fill.side === "buy";
  return {
    time,
    id: fill.fill_id,
    position: buy ? "belowBar" : "aboveBar",
    shape: buy ? "arrowUp" : "arrowDown",
    color: buy ? COLORS.buy : COLORS.sell,
    text: `${buy ? "B" : "S"} ${quantity(fill.qty)} @ ${decimalPrice(fill.price)}`,
  };
}

function renderMarkers() {
  if (!chart.markers) return;
  const { symbol, fills } = state.symbolFills;
  const markers = (symbol === state.symbol ? fills : [])
    .map(fillMarker)
    .filter(Boolean)
    .sort((a, b) => a.time - b.time); // the library wants them in time order
  chart.markers.setMarkers(markers);
  el.chart.dataset.markers = String(markers.length);
}

let markersTimer = null;
function scheduleMarkersReload() {
  clearTimeout(markersTimer);
  markersTimer = setTimeout(() => state.symbol && loadFillMarkers(state.symbol), TRADING_RELOAD_MS);
}

let reloadTimer = null;
/** Several events in a burst cause one reload. */
function scheduleChartReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => state.symbol && loadChart(false), 250);
}

let symbolsTimer = null;
function scheduleSymbolsReload() {
  clearTimeout(symbolsTimer);
  symbolsTimer = setTimeout(() => loadSymbols().catch((error) => showError(error, "Could not list symbols")), 500);
}

// ---- trading: account, positions, open orders, recent fills --------------------------------

let tradingSequence = 0;

/** Reads the four panels together, so they always show the same moment. */
async function loadTrading() {
  const sequence = ++tradingSequence;
  let answers;
  try {
    answers = await Promise.all([
      api("/v1/account"),
      api("/v1/positions"),
      api(`/v1/orders?${new URLSearchParams({ status: "open", limit: String(OPEN_ORDER_LIMIT) })}`),
      api(`/v1/fills?${new URLSearchParams({ limit: String(RECENT_FILL_LIMIT) })}`),
    ]);
  } catch (error) {
    if (sequence !== tradingSequence) return;
    if (error instanceof ApiError && error.status === 401) showError(error, "Could not read the account");
    else showTradingMessage(error);
    countTradingLoad();
    return;
  }
  if (sequence !== tradingSequence) return;
  const [account, positions, orders, fills] = answers;
  state.accountId = account.account_id;
  el.tradingMessage.hidden = true;
  el.tradingBody.hidden = false;
  el.tradingAccount.textContent = `${account.account_id} · ${account.currency || "USD"}`;
  el.tradingUpdated.textContent = `updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  renderAccount(account);
  renderPositions(positions);
  renderOrders(orders.orders || [], Boolean(orders.next));
  renderFills(fills.fills || []);
  countTradingLoad();
}

/** How many reads have finished, for whoever waits on the section (the browser tests). */
function countTradingLoad() {
  state.tradingLoads += 1;
  el.trading.dataset.loads = String(state.tradingLoads);
}

/** The section says why it has nothing to show (no account yet, no permission, ...). */
function showTradingMessage(error) {
  const status = error instanceof ApiError && error.status ? ` (${error.status} ${error.title})` : "";
  const missing = error instanceof ApiError && error.status === 404;
  const lead = missing ? "No trading account" : `Could not read the account${status}`;
  el.tradingMessage.textContent = `${lead}: ${error.detail || error.message || error}`;
  el.tradingMessage.hidden = false;
  el.tradingBody.hidden = true;
  el.tradingAccount.textContent = "";
  el.tradingUpdated.textContent = "";
  state.held = new Set();
  console.warn("Could not read the trading account", error);
}

function clearTrading() {
  tradingSequence += 1; // an answer still on its way is for the old key
  state.accountId = null;
  state.held = new Set();
  el.tradingAccount.textContent = "";
  el.tradingUpdated.textContent = "";
  el.tradingMessage.hidden = true;
  el.tradingBody.hidden = true;
}

let tradingTimer = null;
function scheduleTradingReload() {
  clearTimeout(tradingTimer);
  tradingTimer = setTimeout(() => state.key && loadTrading(), TRADING_RELOAD_MS);
}

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
  el.account.replaceChildren(
    ...ACCOUNT_FIELDS.map(([field, label, pl]) => {
      const exact = account[field];
      const item = document.createElement("div");
      item.className = "stat";
      item.dataset.field = field;
      const term = document.createElement("dt");
      term.textContent = label;
      const value = document.createElement("dd");
      value.textContent = pl ? signedMoney(exact) : money(exact);
      value.title = String(exact ?? "");
      if (pl) value.className = signClass(exact);
      item.append(term, value);
      return item;
    }),
  );
}

/** A table cell; `exact` (the value as received) becomes its tooltip. */
function cell(text, { className = "", exact = null } = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  if (exact !== null && exact !== undefined) td.title = String(exact);
  return td;
}

const numberCell = (text, exact, sign = "") => cell(text, { className: `num ${sign}`.trim(), exact });

/** The symbol as a button that opens its chart. */
function symbolCell(symbol) {
  const td = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.dataset.selectSymbol = symbol;
  button.textContent = symbol;
  button.title = `Show ${symbol} on the chart`;
  td.append(button);
  return td;
}

function emptyRow(columns, text) {
  const tr = document.createElement("tr");
  tr.className = "none";
  const td = cell(text);
  td.colSpan = columns;
  tr.append(td);
  return tr;
}

function renderPositions(positions) {
  state.held = new Set(positions.map((p) => p.symbol));
  const rows = positions.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = p.symbol;
    const unrealized = numberCell(signedMoney(p.unrealized_pl), p.unrealized_pl, signClass(p.unrealized_pl));
    if (p.unrealized_plpc !== null && p.unrealized_plpc !== undefined) {
      const pct = document.createElement("small");
      pct.textContent = ` ${percent(p.unrealized_plpc)}`;
      unrealized.append(pct);
    }
    tr.append(
      symbolCell(p.symbol),
      numberCell(quantity(p.qty), p.qty),
      numberCell(decimalPrice(p.avg_entry_price), p.avg_entry_price),
      numberCell(decimalPrice(p.current_price), p.current_price ?? "no price yet: marked at cost"),
      numberCell(money(p.market_value), p.market_value),
      unrealized,
    );
    return tr;
  });
  el.positions.replaceChildren(...(rows.length ? rows : [emptyRow(6, "No positions.")]));
  el.positionsCount.textContent = String(positions.length);
}

/** "139.93" for a limit, "stop 150" for a stop, both for a stop-limit; "market" otherwise. */
function orderPrice(order) {
  const parts = [];
  if (order.stop_price !== null && order.stop_price !== undefined) parts.push(`stop ${decimalPrice(order.stop_price)}`);
  if (order.limit_price !== null && order.limit_price !== undefined) parts.push(decimalPrice(order.limit_price));
  return parts.join(" / ") || "market";
}

function orderQty(order) {
  if (order.qty !== null && order.qty !== undefined) {
    const filled = Number(order.filled_qty) ? `${quantity(order.filled_qty)} / ` : "";
    return `${filled}${quantity(order.qty)}`;
  }
  return `$${money(order.notional)}`;
}

function renderOrders(orders, more) {
  const rows = orders.map((order) => {
    const tr = document.createElement("tr");
    tr.dataset.orderId = order.id;
    tr.dataset.symbol = order.symbol;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small danger";
    button.dataset.cancelOrder = order.id;
    button.textContent = state.cancelling.has(order.id) ? "Cancelling…" : "Cancel";
    button.disabled = state.cancelling.has(order.id);
    button.setAttribute("aria-label", `Cancel the ${order.side} ${order.symbol} ${order.type} order`);
    const actions = document.createElement("td");
    actions.className = "actions";
    actions.append(button);
    tr.append(
      symbolCell(order.symbol),
      cell(order.side, { className: order.side === "buy" ? "side-buy" : "side-sell" }),
      cell(`${order.type} · ${order.time_in_force}`),
      numberCell(orderQty(order), order.qty ?? order.notional),
      numberCell(orderPrice(order), order.limit_price ?? order.stop_price),
      cell(order.status.replace("_", " ")),
      actions,
    );
    return tr;
  });
  el.orders.replaceChildren(...(rows.length ? rows : [emptyRow(7, "No open orders.")]));
  el.ordersCount.textContent = more ? `${orders.length}+` : String(orders.length);
}

/** "2026-03-02 14:30:05" (UTC). */
function utcTime(text) {
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? String(text || "") : at.toISOString().slice(0, 19).replace("T", " ");
}

function renderFills(fills) {
  const rows = fills.map((fill) => {
    const tr = document.createElement("tr");
    tr.dataset.fillId = fill.fill_id;
    tr.dataset.symbol = fill.symbol;
    const realized = Number(fill.realized_pl) ? signedMoney(fill.realized_pl) : MISSING;
    tr.append(
      cell(utcTime(fill.recorded_at), { exact: `recorded ${fill.recorded_at}, at the price of ${fill.market_time}` }),
      symbolCell(fill.symbol),
      cell(fill.side, { className: fill.side === "buy" ? "side-buy" : "side-sell" }),
      numberCell(quantity(fill.qty), fill.qty),
      numberCell(decimalPrice(fill.price), fill.price),
      numberCell(realized, fill.realized_pl, signClass(fill.realized_pl)),
    );
    return tr;
  });
  el.fills.replaceChildren(...(rows.length ? rows : [emptyRow(6, "No fills yet.")]));
  el.fillsCount.textContent = fills.length >= RECENT_FILL_LIMIT ? `latest ${fills.length}` : String(fills.length);
}

async function cancelOrder(button) {
  const id = button.dataset.cancelOrder;
  const symbol = button.closest("tr")?.dataset.symbol || "";
  state.cancelling.add(id);
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    await api(`/v1/orders/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    showError(error, symbol ? `Could not cancel the ${symbol} order` : "Could not cancel the order");
  } finally {
    state.cancelling.delete(id);
  }
  await loadTrading(); // the row goes, or its button comes back after a refusal
}

/** Order and position events: refresh the panels (once per burst), and the markers on a fill. */
function onTradingEvent(event) {
  const p = event.payload || {};
  if (state.accountId && p.account_id && p.account_id !== state.accountId) return; // another account
  scheduleTradingReload();
  if (event.event_type === "OrderFilled" && p.symbol === state.symbol) scheduleMarkersReload();
}

// ---- live feed ----------------------------------------------------------------------------

const CONTEXT_OF = [
  [/^(BarsIngested|SymbolRegistered)$/, "market_data"],
  [/^(Order|Position|Trade|Account)/, "trading"],
  [/^(Indicators|SignalGenerated)/, "analytics"],
  [/^(Scan|SignalDetected)/, "scanning"],
];

function listOf(values, max = 4) {
  return values.length > max ? `${values.slice(0, max).join(", ")} +${values.length - max}` : values.join(", ");
}

/** "2026-03-02 14:30 → 16:59": UTC, the end's date only when it differs. */
function span(start, end) {
  const [a, b] = [String(start), String(end)].map((t) => t.slice(0, 16).replace("T", " "));
  if (a === b) return `${a} UTC`;
  return `${a} → ${a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b} UTC`;
}

/** One line saying what happened. */
function summarize(event) {
  const p = event.payload || {};
  switch (event.event_type) {
    case "BarsIngested": {
      const symbols = (p.symbols || []).map((s) => s.symbol);
      return `${p.rows} × ${p.timeframe} bars · ${listOf(symbols)} · ${span(p.start, p.end)}`;
    }
    case "SymbolRegistered":
      return `${p.symbol} registered (${p.asset_class || "?"})`;
    default: {
      if (p.symbol && (p.side || p.qty || p.status || p.order_id)) {
        // Order events without a status say it in their name: OrderAccepted -> "accepted".
        const status = p.status || (p.order_id ? event.event_type.replace(/^Order/, "").toLowerCase() : "");
        const at = p.price ? `@ ${decimalPrice(p.price)}` : "";
        return [p.side, p.qty || p.notional, p.symbol, p.type, status, at, p.reason].filter(Boolean).join(" ");
      }
      const scalars = Object.entries(p).filter(([, v]) => v === null || typeof v !== "object");
      return scalars.length ? scalars.slice(0, 5).map(([k, v]) => `${k}=${v}`).join(" · ") : event.event_type;
    }
  }
}

function addToFeed(event) {
  const li = document.createElement("li");
  li.className = "fresh";
  li.dataset.type = event.event_type;
  const metaLine = document.createElement("div");
  metaLine.className = "meta";
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = event.event_type;
  type.dataset.context = CONTEXT_OF.find(([pattern]) => pattern.test(event.event_type))?.[1] || "other";
  const when = document.createElement("time");
  const at = new Date(event.occurred_at);
  when.dateTime = event.occurred_at;
  when.title = event.occurred_at;
  when.textContent = Number.isNaN(at.getTime()) ? "" : at.toLocaleTimeString(undefined, { hour12: false });
  metaLine.append(type, when);
  const summary = document.createElement("div");
  summary.className = "summary";
  summary.textContent = summarize(event);
  summary.title = summary.textContent;
  li.append(metaLine, summary);
  el.feed.prepend(li);
  while (el.feed.children.length > FEED_LIMIT) el.feed.lastElementChild.remove();
  el.feedEmpty.hidden = true;
}

function onEvent(event) {
  addToFeed(event);
  if (event.event_type === "BarsIngested" && state.symbol) {
    const touched = (event.payload.symbols || []).some((s) => s.symbol === state.symbol);
    // Finer bars feed the coarser timeframes by resampling, so they change the chart too.
    const feeds = TF_SECONDS[event.payload.timeframe] <= TF_SECONDS[state.timeframe];
    if (touched && feeds) scheduleChartReload();
  }
  // The list shows which timeframes each symbol holds: re-read it only when that can change,
  // as reading thousands of symbols on every ingestion would be wasteful.
  const newTimeframe =
    event.event_type === "BarsIngested" &&
    (event.payload.symbols || []).some((s) => !state.symbols.get(s.symbol)?.coverage?.[event.payload.timeframe]);
  if (event.event_type === "SymbolRegistered" || newTimeframe) scheduleSymbolsReload();
  // Positions are marked to the latest price: new bars of a held symbol change the account.
  if (event.event_type === "BarsIngested" && (event.payload.symbols || []).some((s) => state.held.has(s.symbol))) {
    scheduleTradingReload();
  }
}

// ---- stream -------------------------------------------------------------------------------

// Order and position events also come on `events` (for the feed): these copies drive the panels.
const TRADING_CHANNELS = ["orders", "positions"];

const stream = {
  socket: null,
  attempts: 0,
  retryTimer: null,
  pingTimer: null,
  hadDrop: false,

  connect() {
    this.stop();
    setStatus("connecting", "Connecting to the live stream…");
    const socket = new WebSocket(`${STREAM_URL}?api_key=${encodeURIComponent(state.key)}`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ action: "subscribe", channels: ["events"] }));
      // Separately: a server without these channels refuses this message only, not the feed.
      socket.send(JSON.stringify({ action: "subscribe", channels: TRADING_CHANNELS }));
      this.pingTimer = setInterval(() => socket.send(JSON.stringify({ action: "ping" })), PING_EVERY_MS);
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  },

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "subscribed") {
      this.attempts = 0;
      el.status.dataset.channels = (message.channels || []).join(" "); // what the server confirmed
      setStatus("open", "Live · subscribed to all events");
      if (this.hadDrop) {
        // Events were missed while disconnected: read the state again.
        this.hadDrop = false;
        scheduleSymbolsReload();
        scheduleChartReload();
        scheduleTradingReload();
      }
    } else if (message.type === "error") {
      showError(new Error(message.detail), "The live stream rejected a message");
    } else if (message.event) {
      const at = new Date().toLocaleTimeString(undefined, { hour12: false });
      setStatus("open", `Live · last event ${at}`);
      if (TRADING_CHANNELS.includes(message.channel)) onTradingEvent(message.event);
      else onEvent(message.event);
    }
  },

  closed(socket, event) {
    if (socket !== this.socket) return; // an old socket, replaced on purpose
    clearInterval(this.pingTimer);
    this.socket = null;
    if (event.code === 4401 || event.code === 4403) {
      setStatus("denied", `Stream refused the key (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
      if (event.code === 4401) openKeyDialog(`The stream refused the key: ${event.reason || "unauthorized"}`);
      return;
    }
    this.hadDrop = true;
    const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** this.attempts) * (0.8 + Math.random() * 0.4);
    this.attempts += 1;
    const code = event.code ? ` (code ${event.code})` : "";
    setStatus("closed", `Disconnected${code} · retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  },

  stop() {
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000, "closed by the dashboard");
  },
};

// ---- start --------------------------------------------------------------------------------

async function start(key) {
  state.key = key;
  hideError();
  stream.connect();
  loadTrading(); // reports its own failures in the section
  try {
    await loadSymbols();
  } catch (error) {
    showError(error, "Could not list symbols");
    return;
  }
  const wanted = selectionFromHash();
  if (wanted) select(wanted.symbol, wanted.timeframe);
}

function wireEvents() {
  el.keyForm.addEventListener("submit", submitKey);
  el.keyForget.addEventListener("click", forgetKey);
  el.keyDialog.addEventListener("cancel", (event) => {
    if (!state.key) event.preventDefault(); // nothing works without a key
  });
  el.changeKey.addEventListener("click", () => openKeyDialog());
  el.bannerClose.addEventListener("click", hideError);
  el.symbolFilter.addEventListener("input", renderSymbols);
  el.symbolFilter.addEventListener("keydown", (event) => {
    const first = el.symbolList.querySelector("li[data-symbol]");
    if (event.key === "Enter" && first) select(first.dataset.symbol);
    if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    }
  });
  el.symbolList.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-symbol]");
    if (li) select(li.dataset.symbol);
  });
  el.symbolList.addEventListener("keydown", (event) => {
    const li = event.target.closest("li[data-symbol]");
    if (!li) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(li.dataset.symbol);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = event.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
      (next || li).focus();
    }
  });
  el.timeframes.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-tf]");
    if (!button) return;
    state.timeframe = button.dataset.tf;
    if (state.symbol) select(state.symbol, state.timeframe);
    else markSelected();
  });
  el.trading.addEventListener("click", (event) => {
    const cancel = event.target.closest("button[data-cancel-order]");
    if (cancel && !cancel.disabled) cancelOrder(cancel);
    const symbol = event.target.closest("button[data-select-symbol]");
    if (symbol) {
      select(symbol.dataset.selectSymbol);
      el.chart.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });
  el.feedClear.addEventListener("click", () => {
    el.feed.replaceChildren();
    el.feedEmpty.hidden = false;
  });
  window.addEventListener("hashchange", () => {
    const wanted = selectionFromHash();
    if (wanted && state.key && (wanted.symbol !== state.symbol || wanted.timeframe !== state.timeframe)) {
      select(wanted.symbol, wanted.timeframe);
    }
  });
}

function main() {
  wireEvents();
  const fromUrl = takeKeyFromUrl();
  if (fromUrl) storeKey(fromUrl);
  const key = fromUrl || readKey();
  if (key) start(key);
  else openKeyDialog();
}

main();
