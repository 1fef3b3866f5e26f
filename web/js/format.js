// Formatting for display. The API sends decimals as strings: they are rounded here for display
// only, and the exact value goes in the element's title where it matters.

export const MISSING = "—";

const twoDecimals = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fewDigits = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
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

/** A price as a number: two decimals, or four significant digits below 1. */
export const price = (value) => (Math.abs(value) >= 1 ? twoDecimals : fewDigits).format(value);
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
export const decimalPrice = (value) => decimal(value, price);
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
