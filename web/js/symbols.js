// Market data: the list of registered symbols, with the timeframes each one has bars in.

import { api, readPages } from "./api.js";
import { byId, h } from "./dom.js";
import { learnTickSize } from "./format.js";
import { showError } from "./notices.js";
import { state, storedTimeframes } from "./state.js";
import { debounced } from "./timing.js";

const SYMBOL_PAGE_LIMIT = 1000;
const MAX_SYMBOL_PAGES = 100;

const el = {
  filter: byId("symbol-filter"),
  list: byId("symbol-list"),
  count: byId("symbol-count"),
};

export async function loadSymbols() {
  const listings = await readPages(
    async (after) => {
      const query = new URLSearchParams({ limit: String(SYMBOL_PAGE_LIMIT) });
      if (after) query.set("after", after);
      const body = await api(`/v1/symbols?${query}`);
      return [body.items, body.next_cursor];
    },
    MAX_SYMBOL_PAGES,
  );
  state.symbols = new Map(listings.map((listing) => [listing.symbol, listing]));
  for (const listing of listings) learnTickSize(listing.symbol, listing.tick_size); // prices show its decimals
  renderSymbols();
}

const scheduleReload = debounced(
  () => loadSymbols().catch((error) => showError(error, "Could not list symbols")),
  500,
);

export function clearSymbols() {
  state.symbols.clear();
  renderSymbols();
}

function symbolItem(listing) {
  return h(
    "li",
    {
      tabIndex: 0,
      title: [listing.symbol, listing.name, listing.exchange].filter(Boolean).join(" · "),
      dataset: { symbol: listing.symbol },
      attrs: { role: "option", "aria-selected": String(listing.symbol === state.symbol) },
    },
    h("span", { className: "sym", text: listing.symbol }),
    h("span", { className: "tfs", text: storedTimeframes(listing).join(" ") || "no bars" }),
  );
}

function renderSymbols() {
  const needle = el.filter.value.trim().toUpperCase();
  const matches = [...state.symbols.values()].filter(
    (s) =>
      !needle ||
      s.symbol.includes(needle) ||
      (s.name || "").toUpperCase().includes(needle) ||
      (s.tags || []).some((tag) => tag.toUpperCase() === needle),
  );
  const items = matches.map(symbolItem);
  if (!items.length) {
    const text = state.symbols.size ? "No symbol matches the filter." : "No symbols registered yet.";
    items.push(h("li", { className: "none", text }));
  }
  el.list.replaceChildren(...items);
  el.count.textContent =
    matches.length === state.symbols.size ? String(state.symbols.size) : `${matches.length} / ${state.symbols.size}`;
}

/** Marks the charted symbol in the list, scrolled into view. */
export function markSelected() {
  for (const li of el.list.querySelectorAll("li[data-symbol]")) {
    const selected = li.dataset.symbol === state.symbol;
    li.setAttribute("aria-selected", String(selected));
    if (selected) keepInView(li);
  }
}

/** Scrolls the list (not the page) so a symbol chosen from the URL or the keyboard is visible. */
function keepInView(li) {
  const list = el.list;
  const top = li.offsetTop;
  if (top < list.scrollTop || top + li.offsetHeight > list.scrollTop + list.clientHeight) {
    list.scrollTop = top - (list.clientHeight - li.offsetHeight) / 2;
  }
}

/** The list shows which timeframes each symbol holds: it is read again only when that can change,
 * as reading thousands of symbols on every ingestion would be wasteful. */
export function onMarketEvent(event) {
  const newTimeframe =
    event.event_type === "BarsIngested" &&
    (event.payload.symbols || []).some((s) => !state.symbols.get(s.symbol)?.coverage?.[event.payload.timeframe]);
  if (event.event_type === "SymbolRegistered" || newTimeframe) scheduleReload();
}

/** After a drop of the stream: events were missed. */
export const resync = scheduleReload;

/** `onPick(symbol)`: a symbol was chosen by click or keyboard. */
export function init({ onPick }) {
  el.filter.addEventListener("input", renderSymbols);
  el.filter.addEventListener("keydown", (event) => {
    const first = el.list.querySelector("li[data-symbol]");
    if (event.key === "Enter" && first) onPick(first.dataset.symbol);
    if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    }
  });
  el.list.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-symbol]");
    if (li) onPick(li.dataset.symbol);
  });
  el.list.addEventListener("keydown", (event) => {
    const li = event.target.closest("li[data-symbol]");
    if (!li) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onPick(li.dataset.symbol);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = event.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
      (next || li).focus();
    }
  });
}
