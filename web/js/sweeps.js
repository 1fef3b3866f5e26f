// Parameter sweeps: the list (newest first, with each running sweep's blocks counted from the
// stream's SweepProgressed events), and the selected one's heat map over two swept parameters and
// its ranking, by a statistic the user picks. Refreshed by the sweep events of the stream.

import { api, currentKey, statusSuffix } from "./api.js";
import { ranksHigher, statLabel, statText } from "./backtest-stats.js";
import { byId, countLoad, h } from "./dom.js";
import { utcTime } from "./format.js";
import { cell, numberCell, renderRows } from "./table.js";
import { debounced, latestOnly } from "./timing.js";

const RELOAD_MS = 300;
const RANKED = 20; // rows of the ranking shown
// The statistics a sweep can be ranked and mapped by (the API's RANK_STATS), most used first.
const STATISTICS = [
  "sharpe_ratio",
  "return_pct",
  "sortino_ratio",
  "calmar_ratio",
  "cagr_pct",
  "max_drawdown_pct",
  "win_rate_pct",
  "profit_factor",
  "sqn",
  "trades",
  "exposure_time_pct",
  "volatility_ann_pct",
];

const el = {
  section: byId("sweeps"),
  message: byId("sweeps-message"),
  count: byId("sweeps-count"),
  list: byId("sweep-list").tBodies[0],
  detail: byId("sweep-detail"),
  title: byId("sweep-title"),
  x: byId("sweep-x"),
  y: byId("sweep-y"),
  stat: byId("sweep-stat"),
  mapNote: byId("sweep-map-note"),
  heatmap: byId("sweep-heatmap"),
  ranking: byId("sweep-ranking").tBodies[0],
};

let sweeps = [];
const progress = new Map(); // sweep_id -> { blocks, seen: Set of block numbers }
let shown = null; // the selected sweep's job
const reads = latestOnly();
const detailReads = latestOnly();

const bestText = (job) => {
  const best = job.outcome?.best?.[0];
  if (!best) return "";
  return Object.entries(best.values)
    .map(([name, value]) => `${name}=${value}`)
    .join(", ");
};

function statusText(job) {
  const running = progress.get(job.sweep_id);
  if (job.status === "running" && running) return `running, ${running.seen.size}/${running.blocks} blocks`;
  return job.status;
}

function strategyCell(job) {
  const button = h("button", {
    type: "button",
    className: "link",
    text: job.strategy_name,
    title: `Show this sweep (${job.sweep_id})`,
    dataset: { selectSweep: job.sweep_id },
  });
  return h("td", {}, button);
}

const COLUMNS = [
  { header: "Strategy", cell: strategyCell },
  { header: "Status", cell: (job) => cell(statusText(job), { exact: job.error || undefined }) },
  { header: "Symbols", cell: (job) => cell(job.request.symbols.join(", ")) },
  { header: "Backtests", num: true, cell: (job) => numberCell(String(job.combinations.length * job.request.symbols.length)) },
  { header: "Best", cell: (job) => cell(bestText(job)) },
  {
    header: "Mean",
    num: true,
    cell: (job) => {
      const mean = job.outcome?.best?.[0]?.mean ?? null;
      return numberCell(statText(job.request.sweep.rank_by, mean), mean ?? undefined);
    },
  },
  { header: "Submitted", cell: (job) => cell(utcTime(job.submitted_at)) },
];

function renderList() {
  renderRows(el.list, sweeps, COLUMNS, {
    data: (job) => ({ sweepId: job.sweep_id, status: job.status }),
    empty: "No sweeps yet: POST /v1/sweeps, or `trading sweep run`.",
  });
  el.count.textContent = sweeps.length ? String(sweeps.length) : "";
}

function say(text) {
  el.message.textContent = text || "";
  el.message.hidden = !text;
}

export async function loadSweeps() {
  if (!currentKey()) return;
  const read = reads.begin();
  try {
    const found = await api("/v1/sweeps?limit=50");
    if (!read()) return;
    sweeps = found;
    say("");
    renderList();
  } catch (error) {
    if (read()) say(`Could not list the sweeps${statusSuffix(error)}`);
  } finally {
    if (read()) countLoad(el.section);
  }
}

// ---- the selected sweep: its heat map and ranking ---------------------------------------------

function options(select, values, chosen) {
  select.replaceChildren(...values.map((value) => h("option", { value, text: statLabel(value), selected: value === chosen })));
}

function paramOptions(select, names, chosen) {
  select.replaceChildren(...names.map((name) => h("option", { value: name, text: name, selected: name === chosen })));
}

async function select(sweepId) {
  const read = detailReads.begin();
  try {
    const job = await api(`/v1/sweeps/${encodeURIComponent(sweepId)}`);
    if (!read()) return;
    shown = job;
    const names = Object.keys(job.combinations[0] || {});
    paramOptions(el.x, names, names[0]);
    paramOptions(el.y, names, names[1] ?? names[0]);
    options(el.stat, STATISTICS.includes(job.request.sweep.rank_by) ? STATISTICS : [job.request.sweep.rank_by, ...STATISTICS], job.request.sweep.rank_by);
    el.title.textContent = `${job.strategy_name} · ${job.request.symbols.join(", ")} · ${job.sweep_id}`;
    el.detail.hidden = false;
    await showResults(read);
  } catch (error) {
    if (read()) {
      say(`Could not read the sweep${statusSuffix(error)}`);
      countLoad(el.detail);
    }
  }
}

async function showResults(read = detailReads.begin()) {
  const job = shown;
  if (!job) return;
  const stat = el.stat.value;
  el.detail.dataset.sweepId = job.sweep_id;
  el.detail.dataset.stat = stat;
  try {
    if (job.status !== "completed") {
      el.mapNote.textContent = `This sweep is ${job.status}${job.error ? `: ${job.error}` : ""}; its results show once it completes.`;
      el.heatmap.replaceChildren();
      el.ranking.replaceChildren();
      return;
    }
    const names = Object.keys(job.combinations[0] || {});
    const id = encodeURIComponent(job.sweep_id);
    const ranking = api(`/v1/sweeps/${id}/ranking?rank_by=${stat}&limit=${RANKED}`);
    if (names.length >= 2 && el.x.value !== el.y.value) {
      const query = `x=${encodeURIComponent(el.x.value)}&y=${encodeURIComponent(el.y.value)}&rank_by=${stat}`;
      const heat = await api(`/v1/sweeps/${id}/heatmap?${query}`);
      if (!read()) return;
      renderHeatmap(heat);
      el.mapNote.textContent = names.length > 2 ? "Each cell: the best of the combinations that vary the other parameters." : "";
    } else {
      el.heatmap.replaceChildren();
      el.mapNote.textContent = names.length >= 2 ? "Pick two different parameters." : "A heat map needs two swept parameters: the ranking below has them all.";
    }
    const rows = await ranking;
    if (!read()) return;
    renderRanking(rows, stat);
  } catch (error) {
    if (read()) el.mapNote.textContent = `Could not read the results${statusSuffix(error)}`;
  } finally {
    if (read()) countLoad(el.detail);
  }
}

/** A cell's colour: its place between the map's lowest and highest value (better is greener for
 * statistics where higher is better, otherwise a neutral blue scale). */
function shade(value, low, high, stat) {
  if (value === null) return "";
  const t = high > low ? (value - low) / (high - low) : 0.5;
  if (ranksHigher(stat)) return `hsl(${Math.round(t * 120)} 55% 42% / 0.75)`;
  return `hsl(210 60% ${Math.round(85 - t * 45)}% / 0.85)`;
}

function renderHeatmap(heat) {
  const values = heat.values.flat().filter((v) => v !== null);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const corner = h("th", { attrs: { scope: "col" }, text: `${heat.y} \\ ${heat.x}` });
  const header = h("tr", {}, corner, ...heat.x_values.map((x) => h("th", { className: "num", attrs: { scope: "col" }, text: String(x) })));
  const rows = heat.y_values.map((y, j) =>
    h(
      "tr",
      {},
      h("th", { className: "num", attrs: { scope: "row" }, text: String(y) }),
      ...heat.x_values.map((x, i) => {
        const value = heat.values[j][i];
        const td = h("td", {
          className: value === null ? "num none" : "num",
          text: statText(heat.rank_by, value),
          title: value === null ? "no valid combination" : `${heat.x}=${x}, ${heat.y}=${y}: ${value}`,
          dataset: { x: String(x), y: String(y), value: value === null ? "" : String(value) },
        });
        td.style.background = shade(value, low, high, heat.rank_by);
        return td;
      }),
    ),
  );
  el.heatmap.replaceChildren(h("thead", {}, header), h("tbody", {}, ...rows));
}

function renderRanking(rows, stat) {
  const columns = [
    { cell: (r) => numberCell(String(r.rank)) },
    { cell: (r) => cell(Object.entries(r.values).map(([n, v]) => `${n}=${v}`).join(", ")) },
    { cell: (r) => numberCell(statText(stat, r.mean), r.mean ?? undefined) },
    { cell: (r) => numberCell(statText(stat, r.median), r.median ?? undefined) },
    { cell: (r) => numberCell(String(r.symbols)) },
  ];
  renderRows(el.ranking, rows, columns, { data: (r) => ({ rank: String(r.rank) }), empty: "No combination." });
}

// ---- the stream -------------------------------------------------------------------------------

const scheduleReload = debounced(loadSweeps, RELOAD_MS);

export function onEvent(event) {
  if (!/^Sweep/.test(event.event_type)) return;
  const payload = event.payload || {};
  if (event.event_type === "SweepProgressed") {
    const known = progress.get(payload.sweep_id) || { blocks: payload.blocks, seen: new Set() };
    known.seen.add(payload.block);
    progress.set(payload.sweep_id, known);
    renderList();
    return;
  }
  if (event.event_type !== "SweepRequested") progress.delete(payload.sweep_id);
  scheduleReload();
  if (shown && payload.sweep_id === shown.sweep_id && event.event_type !== "SweepRequested") select(shown.sweep_id);
}

export const resync = scheduleReload;

export function clearSweeps() {
  sweeps = [];
  shown = null;
  progress.clear();
  renderList();
  el.detail.hidden = true;
}

export function init() {
  el.list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-select-sweep]");
    if (button) select(button.dataset.selectSweep);
  });
  for (const control of [el.x, el.y, el.stat]) control.addEventListener("change", () => showResults());
  renderList();
}
