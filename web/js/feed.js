// The live feed: every event of the platform as one line, newest first, coloured by the context
// it comes from (market data, trading, analytics, scanning).

import { byId, h } from "./dom.js";
import { clockTime, listOf, price, span } from "./format.js";

const FEED_LIMIT = 200;

const CONTEXT_OF = [
  [/^(BarsIngested|SymbolRegistered)$/, "market_data"],
  [/^(Order|Position|Trade|Account)/, "trading"],
  [/^(Indicators|SignalGenerated)/, "analytics"],
  [/^(Scan|SignalDetected)/, "scanning"],
];

const el = { feed: byId("feed"), empty: byId("feed-empty") };

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
        const at = p.price ? `@ ${price(p.price, p.symbol)}` : "";
        return [p.side, p.qty || p.notional, p.symbol, p.type, status, at, p.reason].filter(Boolean).join(" ");
      }
      const scalars = Object.entries(p).filter(([, v]) => v === null || typeof v !== "object");
      return scalars.length ? scalars.slice(0, 5).map(([k, v]) => `${k}=${v}`).join(" · ") : event.event_type;
    }
  }
}

export function addToFeed(event) {
  const at = new Date(event.occurred_at);
  const context = CONTEXT_OF.find(([pattern]) => pattern.test(event.event_type))?.[1] || "other";
  const summary = summarize(event);
  const li = h(
    "li",
    { className: "fresh", dataset: { type: event.event_type } },
    h(
      "div",
      { className: "meta" },
      h("span", { className: "type", text: event.event_type, dataset: { context } }),
      h("time", {
        dateTime: event.occurred_at,
        title: event.occurred_at,
        text: Number.isNaN(at.getTime()) ? "" : clockTime(at),
      }),
    ),
    h("div", { className: "summary", text: summary, title: summary }),
  );
  el.feed.prepend(li);
  while (el.feed.children.length > FEED_LIMIT) el.feed.lastElementChild.remove();
  el.empty.hidden = true;
}

export function init() {
  byId("feed-clear").addEventListener("click", () => {
    el.feed.replaceChildren();
    el.empty.hidden = false;
  });
}
