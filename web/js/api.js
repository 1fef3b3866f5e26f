// The API client: every request carries the session's key; failures become ApiError carrying the
// problem+json `title`, `detail` and `errors`.

import { meta } from "./dom.js";

const API_BASE = meta("trading-api").replace(/\/+$/, "");

let sessionKey = null;

/** The key every request carries unless told otherwise (null: none yet). */
export const currentKey = () => sessionKey;
export function setKey(key) {
  sessionKey = key;
}

export class ApiError extends Error {
  constructor(status, title, detail, errors = []) {
    super(detail);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

/** Whether `error` is the API answering with one of these HTTP statuses. */
export const hasStatus = (error, ...statuses) => error instanceof ApiError && statuses.includes(error.status);

/** " (404 Not Found)" for an API answer, "" for any other failure. */
export const statusSuffix = (error) =>
  error instanceof ApiError && error.status ? ` (${error.status} ${error.title})` : "";

/** Call the API (GET unless told) and return the JSON body; `body`, if given, is sent as JSON. */
export async function api(path, { key = sessionKey, method = "GET", body } = {}) {
  const headers = { "x-api-key": key || "", accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(API_BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "Cannot reach the API", `${error.message || error} (is the server running?)`);
  }
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const answer = isJson ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      answer?.title || `HTTP ${response.status}`,
      answer?.detail || response.statusText || "the request failed",
      Array.isArray(answer?.errors) ? answer.errors : [],
    );
  }
  return answer;
}

/**
 * Follows a paginated listing from `cursor`: `readPage(cursor)` answers `[items, nextCursor]`, and
 * reading stops at an empty cursor or after `maxPages` pages (bounding the work even if the API
 * kept paginating). A null starting cursor still reads the first page.
 */
export async function readPages(readPage, maxPages, cursor = null) {
  const items = [];
  for (let page = 0; page < maxPages; page += 1) {
    const [found, next] = await readPage(cursor);
    items.push(...found);
    cursor = next;
    if (!cursor) break;
  }
  return items;
}
