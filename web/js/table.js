// Data tables: a panel with a heading, a count and a table, built from its columns; and the rows,
// drawn by the same columns. A column: { header, cell(item) -> <td>, num (right-aligned), hidden
// (a header for screen readers only) }.

import { h } from "./dom.js";

/** A table cell; `exact` (the value as received) becomes its tooltip. */
export function cell(text, { className, exact } = {}) {
  return h("td", { text, className: className || undefined, title: exact ?? undefined });
}

export const numberCell = (text, exact, sign = "") => cell(text, { className: `num ${sign}`.trim(), exact });

/** The symbol as a button that opens its chart. */
export function symbolCell(symbol) {
  const title = `Show ${symbol} on the chart`;
  return h("td", {}, h("button", { type: "button", className: "link", title, text: symbol, dataset: { selectSymbol: symbol } }));
}

function headerCell({ header, num, hidden }) {
  const label = hidden ? h("span", { className: "visually-hidden", text: header }) : header;
  return h("th", { className: num ? "num" : undefined, attrs: { scope: "col" } }, label);
}

/**
 * `<section class="panel">` with `<h3 id="{name}-heading">`, a count `#{name}-count`, and
 * `<table id="{tableId}" class="data-table">`. Returns the section, the table's body and the count.
 */
export function tablePanel({ name, tableId = name, heading, columns }) {
  const body = h("tbody");
  const count = h("span", { id: `${name}-count`, className: "muted" });
  const section = h(
    "section",
    { className: "panel", attrs: { "aria-labelledby": `${name}-heading` } },
    h("div", { className: "panel-head" }, h("h3", { id: `${name}-heading`, text: heading }), count),
    h(
      "div",
      { className: "table-wrap" },
      h(
        "table",
        { id: tableId, className: "data-table" },
        h("thead", {}, h("tr", {}, ...columns.map(headerCell))),
        body,
      ),
    ),
  );
  return { section, body, count };
}

/** One row per item (its `data-*` from `data(item)`), or a row saying `empty`. */
export function renderRows(body, items, columns, { data, empty }) {
  const rows = items.map((item) => h("tr", { dataset: data(item) }, ...columns.map((column) => column.cell(item))));
  const none = () => h("tr", { className: "none" }, h("td", { colSpan: columns.length, text: empty }));
  body.replaceChildren(...(rows.length ? rows : [none()]));
}
