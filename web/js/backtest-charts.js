// The charts of the selected backtest: its equity curve over its drawdown curve, and the candles of
// one of its symbols with every trade's entry and exit marked at their prices.

import { COLORS, chartLibrary, chartOptions } from "./charting.js";
import { h } from "./dom.js";
import { candlePriceFormat, price, quantity, signedMoney } from "./format.js";

const TRADE_MARGIN_BARS = 20; // bars either side of a trade the chart shows when it is focused
const BARS_SHOWN = 250; // of a long backtest, the candles shown at first (the latest)

const equity = { api: null, line: null, drawdown: null, cashLine: null };
const candles = { api: null, series: null, markers: null, times: [], symbol: null };

const percentFormat = { type: "custom", minMove: 0.01, formatter: (value) => `${value.toFixed(1)}%` };

async function ensureEquityChart(container) {
  if (equity.api) return;
  const lib = await chartLibrary();
  const { createChart, LineSeries, BaselineSeries } = lib;
  equity.api = createChart(container, chartOptions(lib, { timeScale: { rightOffset: 2 } }));
  equity.line = equity.api.addSeries(LineSeries, {
    color: COLORS.buy,
    lineWidth: 2,
    priceLineVisible: false,
    title: "equity",
  });
  // Drawdowns are at or below zero: the baseline series fills them down from 0 in red.
  equity.drawdown = equity.api.addSeries(
    BaselineSeries,
    {
      baseValue: { type: "price", price: 0 },
      bottomLineColor: COLORS.down,
      bottomFillColor1: "rgba(239, 83, 80, 0.05)",
      bottomFillColor2: "rgba(239, 83, 80, 0.4)",
      topLineColor: COLORS.down,
      lineWidth: 1,
      priceFormat: percentFormat,
      priceLineVisible: false,
      title: "drawdown",
    },
    1,
  );
  const [top, bottom] = equity.api.panes();
  top.setStretchFactor(2);
  bottom.setStretchFactor(1);
}

/** Strictly ascending points for the library (it refuses equal or earlier times). */
function ascending(points) {
  const out = [];
  let last = -Infinity;
  for (const point of points) {
    if (point.time > last) out.push(point);
    last = Math.max(last, point.time);
  }
  return out;
}

/** Draws the equity and drawdown curves (`[{ts, equity, drawdown_pct}]`); answers how many points.
 * `intraday`: the time axis shows the time of day too. */
export async function drawEquity(container, curve, { cash, intraday }) {
  await ensureEquityChart(container);
  equity.api.applyOptions({ timeScale: { timeVisible: intraday } });
  const points = ascending(curve.map((p) => ({ ...p, time: Date.parse(p.ts) / 1000 })));
  equity.line.setData(points.map((p) => ({ time: p.time, value: p.equity })));
  equity.drawdown.setData(points.map((p) => ({ time: p.time, value: p.drawdown_pct ?? 0 })));
  const whole = cash >= 1000; // cents on an axis of thousands are noise
  equity.line.applyOptions({ priceFormat: { type: "price", precision: whole ? 0 : 2, minMove: whole ? 1 : 0.01 } });
  if (equity.cashLine) equity.line.removePriceLine(equity.cashLine);
  equity.cashLine = equity.line.createPriceLine({
    price: cash,
    color: COLORS.text,
    lineWidth: 1,
    lineStyle: 2, // dashed
    axisLabelVisible: true,
    title: "cash",
  });
  equity.api.timeScale().fitContent();
  return points.length;
}

async function ensureCandleChart(container) {
  if (candles.api) return;
  const lib = await chartLibrary();
  const { createChart, createSeriesMarkers, CandlestickSeries } = lib;
  candles.api = createChart(container, chartOptions(lib, { timeScale: { rightOffset: 4 } }));
  candles.series = candles.api.addSeries(CandlestickSeries, {
    upColor: COLORS.up,
    downColor: COLORS.down,
    wickUpColor: COLORS.up,
    wickDownColor: COLORS.down,
    borderVisible: false,
    priceLineVisible: false,
  });
  candles.markers = createSeriesMarkers(candles.series, []);
}

/** The start of the bar holding `seconds` (the last that began at or before it); null before the first. */
function barTimeAt(seconds) {
  const times = candles.times;
  if (!times.length || !(seconds >= times[0])) return null;
  let low = 0;
  let high = times.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (times[middle] <= seconds) low = middle;
    else high = middle - 1;
  }
  return times[low];
}

/** A trade's entry (an arrow pointing at the price, up for a long) and exit (a dot in its P&L's colour). */
function tradeMarkers(trade, index) {
  const long = trade.size > 0;
  const markers = [];
  const entry = barTimeAt(Date.parse(trade.entry_time) / 1000);
  if (entry !== null) {
    markers.push({
      time: entry,
      id: `entry-${index}`,
      position: long ? "atPriceTop" : "atPriceBottom",
      price: trade.entry_price,
      shape: long ? "arrowUp" : "arrowDown",
      color: long ? COLORS.buy : COLORS.sell,
      text: `${long ? "L" : "S"} ${quantity(Math.abs(trade.size))}`,
    });
  }
  const exit = trade.exit_time ? barTimeAt(Date.parse(trade.exit_time) / 1000) : null;
  if (exit !== null && trade.exit_price !== null && trade.exit_price !== undefined) {
    markers.push({
      time: exit,
      id: `exit-${index}`,
      position: "atPriceMiddle",
      price: trade.exit_price,
      shape: "circle",
      color: trade.pnl >= 0 ? COLORS.up : COLORS.down,
      text: signedMoney(trade.pnl),
    });
  }
  return markers;
}

/** Draws `bars` of `symbol` with `trades` (of that symbol) marked on them; answers how many markers. */
export async function drawTrades(container, bars, trades, { intraday, symbol }) {
  await ensureCandleChart(container);
  candles.api.applyOptions({ timeScale: { timeVisible: intraday } });
  const data = ascending(
    bars.map(({ ts, open, high, low, close }) => ({ time: Date.parse(ts) / 1000, open, high, low, close })),
  );
  candles.times = data.map((bar) => bar.time);
  candles.symbol = symbol;
  candles.series.applyOptions({ priceFormat: candlePriceFormat(symbol, data) }); // the axis too
  candles.series.setData(data);
  const markers = trades.flatMap(tradeMarkers).sort((a, b) => a.time - b.time); // the library wants time order
  candles.markers.setMarkers(markers);
  const timeScale = candles.api.timeScale();
  if (data.length > BARS_SHOWN) {
    timeScale.setVisibleLogicalRange({ from: data.length - BARS_SHOWN, to: data.length + 3 });
  } else {
    timeScale.fitContent();
  }
  return markers.length;
}

/** Scrolls the candles to a trade, with some bars either side. */
export function focusTrade(trade) {
  if (!candles.api || !candles.times.length) return;
  const index = (time) => {
    const at = barTimeAt(time);
    return at === null ? 0 : candles.times.indexOf(at);
  };
  const from = index(Date.parse(trade.entry_time) / 1000);
  const to = trade.exit_time ? index(Date.parse(trade.exit_time) / 1000) : candles.times.length - 1;
  candles.api.timeScale().setVisibleLogicalRange({ from: from - TRADE_MARGIN_BARS, to: to + TRADE_MARGIN_BARS });
}

/** The legend over the candles: O H L C of the bar under the cursor. */
export function followCrosshair(legend) {
  if (!candles.api || legend.dataset.following) return;
  legend.dataset.following = "1";
  candles.api.subscribeCrosshairMove((param) => {
    const bar = param.time !== undefined ? param.seriesData.get(candles.series) : null;
    legend.replaceChildren(
      ...(bar
        ? [["O", bar.open], ["H", bar.high], ["L", bar.low], ["C", bar.close]].flatMap(([label, value]) => [
            h("b", { text: label }),
            `${price(value, candles.symbol)}  `,
          ])
        : []),
    );
  });
}
