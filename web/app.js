// The dashboard: symbols, a candlestick + volume chart, and the live event feed.
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

/** GET a JSON resource; failures become ApiError carrying the problem+json `detail`. */
async function api(path, key = state.key) {
  let response;
  try {
    response = await fetch(API_BASE + path, { headers: { "x-api-key": key || "", accept: "application/json" } });
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
    await api("/v1/symbols?limit=1", key); // proves the key before anything else uses it
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

const chart = { api: null, candles: null, volume: null, loading: null };
let loadSequence = 0; // a slow answer for an earlier selection must not overwrite a newer one

async function ensureChart() {
  if (chart.api) return;
  let lib;
  try {
    lib = await import(CHART_LIBRARY);
  } catch (error) {
    throw new Error(`the chart library did not load from /vendor (run \`make run\` to install it): ${error.message}`);
  }
  const { createChart, CandlestickSeries, HistogramSeries, ColorType, CrosshairMode } = lib;
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
      if (p.symbol && (p.side || p.qty || p.status)) {
        return [p.side, p.qty || p.notional, p.symbol, p.type, p.status, p.reason].filter(Boolean).join(" ");
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
}

// ---- stream -------------------------------------------------------------------------------

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
      setStatus("open", "Live · subscribed to all events");
      if (this.hadDrop) {
        // Events were missed while disconnected: read the state again.
        this.hadDrop = false;
        scheduleSymbolsReload();
        scheduleChartReload();
      }
    } else if (message.type === "error") {
      showError(new Error(message.detail), "The live stream rejected a message");
    } else if (message.event) {
      const at = new Date().toLocaleTimeString(undefined, { hour12: false });
      setStatus("open", `Live · last event ${at}`);
      onEvent(message.event);
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
