// Backtest statistics: their labels (backtesting.py's, as in its stats printout) and how each kind of
// value is shown. The API names them in snake_case (shared/trading_system/strategies/statistics.py).

import { count, duration, fixed2, money, utcTime } from "./format.js";

/** What a statistic without a value (null: undefined for these trades) shows. */
export const NO_VALUE = "–";

// [key, label, kind]; in backtesting.py's order. Kinds: time, duration (seconds), money, count,
// number (percentages and ratios: the label says which).
export const STATS = [
  ["start", "Start", "time"],
  ["end", "End", "time"],
  ["duration_s", "Duration", "duration"],
  ["exposure_time_pct", "Exposure Time [%]", "number"],
  ["equity_final", "Equity Final [$]", "money"],
  ["equity_peak", "Equity Peak [$]", "money"],
  ["commissions", "Commissions [$]", "money"],
  ["return_pct", "Return [%]", "number"],
  ["buy_and_hold_return_pct", "Buy & Hold Return [%]", "number"],
  ["return_ann_pct", "Return (Ann.) [%]", "number"],
  ["volatility_ann_pct", "Volatility (Ann.) [%]", "number"],
  ["cagr_pct", "CAGR [%]", "number"],
  ["sharpe_ratio", "Sharpe Ratio", "number"],
  ["sortino_ratio", "Sortino Ratio", "number"],
  ["calmar_ratio", "Calmar Ratio", "number"],
  ["alpha_pct", "Alpha [%]", "number"],
  ["beta", "Beta", "number"],
  ["max_drawdown_pct", "Max. Drawdown [%]", "number"],
  ["avg_drawdown_pct", "Avg. Drawdown [%]", "number"],
  ["max_drawdown_duration_s", "Max. Drawdown Duration", "duration"],
  ["avg_drawdown_duration_s", "Avg. Drawdown Duration", "duration"],
  ["trades", "# Trades", "count"],
  ["win_rate_pct", "Win Rate [%]", "number"],
  ["best_trade_pct", "Best Trade [%]", "number"],
  ["worst_trade_pct", "Worst Trade [%]", "number"],
  ["avg_trade_pct", "Avg. Trade [%]", "number"],
  ["max_trade_duration_s", "Max. Trade Duration", "duration"],
  ["avg_trade_duration_s", "Avg. Trade Duration", "duration"],
  ["profit_factor", "Profit Factor", "number"],
  ["expectancy_pct", "Expectancy [%]", "number"],
  ["sqn", "SQN", "number"],
  ["kelly_criterion", "Kelly Criterion", "number"],
];

const KNOWN = new Map(STATS.map(([key, label, kind]) => [key, { label, kind }]));

// Where a higher value is the better one (a drawdown is negative: the higher, the shallower).
const HIGHER_IS_BETTER = new Set([
  "equity_final",
  "return_pct",
  "return_ann_pct",
  "cagr_pct",
  "sharpe_ratio",
  "sortino_ratio",
  "calmar_ratio",
  "alpha_pct",
  "max_drawdown_pct",
  "avg_drawdown_pct",
  "win_rate_pct",
  "avg_trade_pct",
  "profit_factor",
  "expectancy_pct",
  "sqn",
]);

/** "Return [%]" for return_pct; an unknown statistic (added to the API later) by its name. */
export const statLabel = (key) => KNOWN.get(key)?.label || key.replaceAll("_", " ");

/** A statistic's value as shown: two decimals for numbers, money for amounts, NO_VALUE for null. */
export function statText(key, value) {
  if (value === null || value === undefined || value === "") return NO_VALUE;
  const kind = KNOWN.get(key)?.kind || (typeof value === "number" ? "number" : "text");
  if (kind === "time") return utcTime(value);
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value); // "inf", a date...
  if (kind === "duration") return duration(value);
  if (kind === "money") return money(value);
  if (kind === "count") return count(value);
  return fixed2(value);
}

/** The statistics of a backtest to show, in order: the known ones, then any others the API sent. */
export function statKeys(stats) {
  const others = Object.keys(stats || {}).filter((key) => !KNOWN.has(key));
  return [...STATS.map(([key]) => key), ...others];
}

/** Whether comparing `key` across backtests has a winner (the highest value). */
export const ranksHigher = (key) => HIGHER_IS_BETTER.has(key);
