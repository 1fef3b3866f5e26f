// The chart library, served by the runner from node_modules at /vendor next to the page, and the
// look every chart of the dashboard shares.

const CHART_LIBRARY = new URL("../vendor/lightweight-charts.standalone.production.mjs", import.meta.url).href;

export const COLORS = {
  panel: "#161c24",
  text: "#8593a3",
  grid: "rgba(38, 49, 64, 0.55)",
  border: "#263140",
  up: "#26a69a",
  down: "#ef5350",
  upVolume: "rgba(38, 166, 154, 0.5)",
  downVolume: "rgba(239, 83, 80, 0.5)",
  buy: "#4c9aff", // fill and entry markers: distinct from the candles' green and red
  sell: "#f0b429",
};

let loading = null;

/** The library's module (imported once); a failure says where it should have come from. */
export function chartLibrary() {
  loading ||= import(CHART_LIBRARY).catch((error) => {
    loading = null; // the next chart tries again
    throw new Error(`the chart library did not load from /vendor (run \`make run\` to install it): ${error.message}`);
  });
  return loading;
}

/** The options of a dashboard chart (dark panel, grid, UTC time axis), with `overrides` on top. */
export function chartOptions(lib, { timeScale = {}, ...overrides } = {}) {
  const { ColorType, CrosshairMode } = lib;
  return {
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
      maxBarSpacing: 40,
      ...timeScale,
    },
    ...overrides,
  };
}
