// DOM helpers shared by every part of the dashboard.

export const byId = (id) => document.getElementById(id);

/** The content of `<meta name=...>`, trimmed; "" when the page has none. */
export const meta = (name) => (document.querySelector(`meta[name="${name}"]`)?.content || "").trim();

/**
 * A new element: `h("td", { className: "num", title: "1.5", dataset: { symbol }, attrs: { role } }, ...children)`.
 * `text` sets the text; other props are set as properties, except those left undefined or null.
 */
export function h(tag, { text, dataset, attrs, ...props } = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value !== undefined && value !== null) node[name] = value;
  }
  if (text !== undefined) node.textContent = text;
  Object.assign(node.dataset, dataset);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Counts the finished reads of a part of the page in its `data-loads`, for whoever waits on it (the browser tests). */
export function countLoad(element) {
  element.dataset.loads = String(Number(element.dataset.loads || 0) + 1);
}
