// Formatting for display. The API sends decimals as strings: they are rounded here for display
// only, and the exact value goes in the element's title where it matters.

export const MISSING = "—";

const twoDecimals = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
const signedTwoDecimals = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});
const sixDecimals = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const wholeNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
// signDisplay "negative": a value that rounds to zero shows no minus sign ("0.00", not "-0.00").
const twoPlaces = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "negative",
});
const signedPercent = new Intl.NumberFormat(undefined, {
  style: "percent",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});

// ---- prices: as many decimals as the symbol trades in ----------------------------------------
// A symbol's prices show with the decimals of its listing's tick size when it has one, else with
// the decimals its recent prices need (EURUSD at 1.08345: 5; AAPL at 187.13: 2), at least 2 and
// at most 8. Every price on the page goes through `price`, so one symbol reads the same in the
// chart, the legend, the tables and the feed.

const MIN_PRICE_DECIMALS = 2;
const MAX_PRICE_DECIMALS = 8;
const tickDecimals = new Map(); // symbol -> decimals of its listing's tick size
const seenDecimals = new Map(); // symbol -> the most decimals its recent prices needed
const priceFormats = new Map(); // decimals -> Intl.NumberFormat

/** The decimals a number needs, up to MAX_PRICE_DECIMALS: 1.08345 -> 5, 187.1 -> 1, 100 -> 0.
 * toFixed drops the float's noise (0.30000000000000004 needs 1). */
function decimalsNeeded(value) {
  const number = Math.abs(Number(value));
  if (!Number.isFinite(number)) return 0;
  const digits = number.toFixed(MAX_PRICE_DECIMALS).split(".")[1] || "";
  return digits.replace(/0+$/, "").length;
}

const clampDecimals = (n) => Math.min(MAX_PRICE_DECIMALS, Math.max(MIN_PRICE_DECIMALS, n));

/** Remembers the listing's tick size (a decimal string, or null/undefined when it has none). */
export function learnTickSize(symbol, tickSize) {
  if (tickSize === null || tickSize === undefined || !(Number(tickSize) > 0)) tickDecimals.delete(symbol);
  else tickDecimals.set(symbol, clampDecimals(decimalsNeeded(tickSize)));
}

/** Learns from a symbol's recent market prices (bars, last prices) how many decimals it trades
 * in. Not from averages, slipped fill prices or limits a trader typed: they may need more
 * decimals than the market quotes. */
export function learnPrices(symbol, values) {
  const known = values.filter((value) => value !== null && value !== undefined && value !== "");
  if (!known.length) return;
  const decimals = Math.max(seenDecimals.get(symbol) ?? 0, ...known.map(decimalsNeeded));
  seenDecimals.set(symbol, clampDecimals(decimals));
}

/** How many decimals a price of `symbol` shows; for a symbol not seen yet, what `value` needs. */
export function priceDecimals(symbol, value) {
  return tickDecimals.get(symbol) ?? seenDecimals.get(symbol) ?? clampDecimals(decimalsNeeded(value));
}

function priceFormat(decimals) {
  if (!priceFormats.has(decimals)) {
    const options = { minimumFractionDigits: decimals, maximumFractionDigits: decimals };
    priceFormats.set(decimals, new Intl.NumberFormat(undefined, options));
  }
  return priceFormats.get(decimals);
}

const RECENT_CANDLES = 100; // the newest bars of a chart say how many decimals the symbol needs

/** Learns from a chart's newest candles how many decimals `symbol` trades in, and answers the
 * chart library's price format for its axis (the library's default shows 2 decimals). */
export function candlePriceFormat(symbol, candles) {
  learnPrices(symbol, candles.slice(-RECENT_CANDLES).flatMap((c) => [c.open, c.high, c.low, c.close]));
  const decimals = priceDecimals(symbol);
  return { type: "price", precision: decimals, minMove: 10 ** -decimals };
}

/** A price of `symbol` (a number or a decimal string, or null) with the symbol's decimals. */
export const price = (value, symbol) => decimal(value, (n) => priceFormat(priceDecimals(symbol, n)).format(n));

export const volume = (value) => compact.format(value);

/** A decimal string (or null) through `format`, or as received when it is no number. */
function decimal(value, format) {
  if (value === null || value === undefined || value === "") return MISSING;
  const number = Number(value);
  return Number.isFinite(number) ? format(number) : String(value);
}

export const money = (value) => decimal(value, twoDecimals.format);
export const signedMoney = (value) => decimal(value, signedTwoDecimals.format);
export const quantity = (value) => decimal(value, sixDecimals.format);
export const percent = (value) => decimal(value, signedPercent.format);
/** A ratio or a percentage already in percent: two decimals, no sign added. */
export const fixed2 = (value) => decimal(value, twoPlaces.format);
export const count = (value) => decimal(value, wholeNumber.format);

/** "3,116 days", "2 days 04:30:00", "06:15:00": a span of seconds as pandas prints a timedelta,
 * whole days without their "00:00:00". */
export function duration(seconds) {
  const total = Math.round(seconds);
  const days = Math.floor(total / 86400);
  const rest = total - days * 86400;
  const clock = [Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60]
    .map((part) => String(part).padStart(2, "0"))
    .join(":");
  if (!days) return clock;
  const dayText = `${wholeNumber.format(days)} day${days === 1 ? "" : "s"}`;
  return rest ? `${dayText} ${clock}` : dayText;
}

/** "up", "down" or "flat": the class that colours a P&L. */
export function signClass(value) {
  const number = Number(value);
  if (!Number.isFinite(number) || number === 0) return "flat";
  return number > 0 ? "up" : "down";
}

/** The local time of day, 24-hour clock. */
export const clockTime = (date = new Date()) => date.toLocaleTimeString(undefined, { hour12: false });

/** "2026-03-02 14:30:05" (UTC). */
export function utcTime(text) {
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? String(text || "") : at.toISOString().slice(0, 19).replace("T", " ");
}

/** "2026-03-02 14:30 → 16:59": UTC, the end's date only when it differs. */
export function span(start, end) {
  const [a, b] = [String(start), String(end)].map((t) => t.slice(0, 16).replace("T", " "));
  if (a === b) return `${a} UTC`;
  return `${a} → ${a.slice(0, 10) === b.slice(0, 10) ? b.slice(11) : b} UTC`;
}

/** "A, B, C, D +2". */
export function listOf(values, max = 4) {
  return values.length > max ? `${values.slice(0, max).join(", ")} +${values.length - max}` : values.join(", ");
}
