// Market data: the candlestick + volume chart of the selected symbol and timeframe, its legend,
// and the account's fills of that symbol marked on it (the library and the colours: charting.js).

import { api, hasStatus, readPages } from "./api.js";
import { COLORS, chartLibrary, chartOptions } from "./charting.js";
import { byId, countLoad, h } from "./dom.js";
import { candlePriceFormat, learnTickSize, price, quantity, volume as volumeText } from "./format.js";
import { showError } from "./notices.js";
import { TF_SECONDS, state, storedTimeframes } from "./state.js";
import { debounced, latestOnly } from "./timing.js";

// How many bars the chart holds per timeframe, and how many it shows when a symbol is opened.
const BARS_HELD = { "1m": 2000, "5m": 1500, "15m": 1200, "1h": 1000, "1d": 1500 };
const BARS_SHOWN = 150;
const BAR_PAGE_LIMIT = 10000;
const MAX_BAR_PAGES = 10; // bounds the work per load even if the API kept paginating
const MARKER_FILL_LIMIT = 1000; // the newest fills of the charted symbol drawn as markers
const MARKERS_RELOAD_MS = 300; // a fill is a burst of order and position events: one reload

const el = {
  heading: byId("chart-heading"),
  info: byId("chart-info"),
  timeframes: byId("timeframes"),
  chart: byId("chart"),
  legend: byId("legend"),
  empty: byId("chart-empty"),
};

const chart = { api: null, candles: null, volume: null, markers: null };
let bars = []; // what the chart shows, for the legend and the markers
let symbolFills = { symbol: null, fills: [] }; // the charted symbol's fills, for the markers
const loads = latestOnly(); // a slow answer for an earlier selection must not overwrite a newer one

async function ensureChart() {
  if (chart.api) return;
  const lib = await chartLibrary();
  const { createChart, createSeriesMarkers, CandlestickSeries, HistogramSeries } = lib;
  chart.api = createChart(el.chart, chartOptions(lib, { timeScale: { rightOffset: 4 } }));
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
  const start = windowStart(listing, timeframe);
  let source = null;
  if (!start) return { bars: [], source };
  const read = await readPages(
    async (from) => {
      const query = new URLSearchParams({
        timeframe,
        limit: String(BAR_PAGE_LIMIT),
        start: new Date(from).toISOString().replace(".000Z", "Z"),
      });
      const body = await api(`/v1/bars/${encodeURIComponent(listing.symbol)}?${query}`);
      source = body.source_timeframe || source;
      return [body.bars, body.next_start];
    },
    MAX_BAR_PAGES,
    start,
  );
  return { bars: read.slice(-BARS_HELD[timeframe]), source };
}

function showChartMessage(text) {
  el.empty.textContent = text;
  el.empty.hidden = !text;
}

/** Draws the selected symbol and timeframe: `fresh` for a new selection, else new bars of the same. */
export async function loadChart(fresh) {
  const current = loads.begin();
  const { symbol, timeframe } = state;
  el.heading.textContent = symbol;
  if (fresh) {
    el.info.textContent = "loading…";
    el.legend.textContent = "";
  }
  try {
    await ensureChart();
    // The listing is read again: its coverage says where the newest bars are.
    const listing = await api(`/v1/symbols/${encodeURIComponent(symbol)}`);
    if (!current()) return;
    state.symbols.set(symbol, listing);
    learnTickSize(symbol, listing.tick_size);
    const { bars: read, source } = await fetchBars(listing, timeframe);
    if (!current()) return;
    draw(symbol, read, fresh);
    await loadFillMarkers(symbol);
    if (!current()) return;
    const name = listing.name ? `${listing.name} · ` : "";
    const from = source && source !== timeframe ? ` (from ${source})` : "";
    el.info.textContent = `${name}${read.length} bars${from} · UTC`;
    if (!read.length) {
      const stored = storedTimeframes(listing);
      showChartMessage(
        stored.length
          ? `No ${timeframe} bars for ${symbol}: only ${stored.join(", ")} bars are stored, too coarse to make ${timeframe}.`
          : `No bars for ${symbol} yet. Ingest some through the API or drop a CSV into the raw folder.`,
      );
    } else {
      showChartMessage("");
    }
    countLoad(el.chart);
  } catch (error) {
    if (!current()) return;
    el.info.textContent = "";
    showChartMessage(`Could not load ${symbol} ${timeframe}: ${error.detail || error.message}`);
    showError(error, `Could not load ${symbol} ${timeframe} bars`);
  }
  el.chart.dataset.symbol = symbol;
  el.chart.dataset.timeframe = timeframe;
  el.chart.dataset.bars = String(bars.length);
}

function draw(symbol, read, fresh) {
  const timeScale = chart.api.timeScale();
  const previousCount = bars.length;
  const range = timeScale.getVisibleLogicalRange();
  const followingLatest = !fresh && range !== null && range.to >= previousCount - 1;

  const candles = [];
  const volume = [];
  let lastTime = -Infinity;
  for (const bar of read) {
    const time = Date.parse(bar.ts) / 1000;
    if (!(time > lastTime)) continue; // the chart requires strictly ascending times
    lastTime = time;
    candles.push({ time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
    volume.push({ time, value: bar.volume, color: bar.close >= bar.open ? COLORS.upVolume : COLORS.downVolume });
  }
  bars = candles.map((candle, i) => ({ ...candle, volume: volume[i].value }));
  chart.candles.applyOptions({ priceFormat: candlePriceFormat(symbol, candles) }); // the axis too
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

/** O H L C V of the bar under the cursor, or of the latest bar. */
function renderLegend(time) {
  const bar = (time !== undefined && bars.find((b) => b.time === time)) || bars.at(-1);
  if (!bar) {
    el.legend.textContent = "";
    return;
  }
  const change = bar.open ? ((bar.close - bar.open) / bar.open) * 100 : 0;
  const parts = [
    ["O", price(bar.open, state.symbol)],
    ["H", price(bar.high, state.symbol)],
    ["L", price(bar.low, state.symbol)],
    ["C", price(bar.close, state.symbol)],
    ["V", volumeText(bar.volume)],
  ].flatMap(([label, value]) => [h("b", { text: label }), `${value}  `]);
  const changeText = `${change >= 0 ? "+" : ""}${change.toFixed(2)}%`;
  el.legend.replaceChildren(...parts, h("span", { className: change >= 0 ? "up" : "down", text: changeText }));
}

// ---- fill markers -------------------------------------------------------------------------

/** Reads the symbol's newest fills; a failure leaves the markers as they were. */
async function loadFillMarkers(symbol) {
  let body;
  try {
    body = await api(`/v1/fills?${new URLSearchParams({ symbol, limit: String(MARKER_FILL_LIMIT) })}`);
  } catch (error) {
    if (!hasStatus(error, 404)) {
      // 404: no account, so no fills either; anything else: the trading section says why.
      console.warn(`Could not read the ${symbol} fills`, error);
      return;
    }
    body = { fills: [] };
  }
  if (symbol !== state.symbol) return; // another symbol was chosen meanwhile
  symbolFills = { symbol, fills: body.fills || [] };
  renderMarkers();
}

/** The start of the charted bar holding `seconds`: the last bar that began at or before it. A fill
 * after the last bar (at the last known price) goes on the last bar; one before the first is off the chart. */
function barTimeAt(seconds) {
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
    text: `${buy ? "B" : "S"} ${quantity(fill.qty)} @ ${price(fill.price, fill.symbol)}`,
  };
}

function renderMarkers() {
  if (!chart.markers) return;
  const { symbol, fills } = symbolFills;
  const markers = (symbol === state.symbol ? fills : [])
    .map(fillMarker)
    .filter(Boolean)
    .sort((a, b) => a.time - b.time); // the library wants them in time order
  chart.markers.setMarkers(markers);
  el.chart.dataset.markers = String(markers.length);
}

// ---- live updates -------------------------------------------------------------------------

/** Several events in a burst cause one reload. */
const scheduleChartReload = debounced(() => state.symbol && loadChart(false), 250);
const scheduleMarkersReload = debounced(() => state.symbol && loadFillMarkers(state.symbol), MARKERS_RELOAD_MS);

/** New bars of the charted symbol, in its timeframe or a finer one (they are resampled into it). */
export function onMarketEvent(event) {
  if (event.event_type !== "BarsIngested" || !state.symbol) return;
  const touched = (event.payload.symbols || []).some((s) => s.symbol === state.symbol);
  const feeds = TF_SECONDS[event.payload.timeframe] <= TF_SECONDS[state.timeframe];
  if (touched && feeds) scheduleChartReload();
}

/** An order or position event of the account: a fill of the charted symbol adds a marker. */
export function onTradingEvent(event) {
  if (event.event_type === "OrderFilled" && event.payload?.symbol === state.symbol) scheduleMarkersReload();
}

/** After a drop of the stream: events were missed. */
export const resync = scheduleChartReload;

/** Marks the selected timeframe in the toolbar. */
export function markTimeframe() {
  for (const button of el.timeframes.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.tf === state.timeframe));
  }
}

/** Scrolls the chart into view (a symbol chosen further down the page). */
export function reveal() {
  el.chart.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

/** `onTimeframe(tf)`: a timeframe button was pressed. */
export function init({ onTimeframe }) {
  el.timeframes.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-tf]");
    if (button) onTimeframe(button.dataset.tf);
  });
}
