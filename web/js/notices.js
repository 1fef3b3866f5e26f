// Messages to the user: the connection status in the top bar and the error banner.

import { hasStatus, statusSuffix, ApiError } from "./api.js";
import { byId, h } from "./dom.js";

const el = {
  status: byId("status"),
  statusText: byId("status-text"),
  banner: byId("banner"),
  bannerTitle: byId("banner-title"),
  bannerDetail: byId("banner-detail"),
  bannerErrors: byId("banner-errors"),
};

let keyRefused = () => {}; // what to do when the API refuses the key (a 401)

export function init({ onKeyRefused }) {
  keyRefused = onKeyRefused;
  byId("banner-close").addEventListener("click", hideError);
}

export function setStatus(stateName, text) {
  el.status.dataset.state = stateName;
  el.statusText.textContent = text;
}

function describeProblem(problem) {
  const where = [problem.row != null ? `row ${problem.row}` : "", problem.field || ""].filter(Boolean).join(", ");
  return where ? `${where}: ${problem.reason}` : problem.reason;
}

/** The banner: `what` failed, and why (the API's detail and up to five of its errors). */
export function showError(error, what) {
  if (hasStatus(error, 401)) {
    keyRefused(error);
    return;
  }
  el.bannerTitle.textContent = `${what}${statusSuffix(error)}:`;
  el.bannerDetail.textContent = error instanceof ApiError ? error.detail : String(error.message || error);
  el.bannerErrors.replaceChildren(
    ...(error.errors || []).slice(0, 5).map((problem) => h("li", { text: describeProblem(problem) })),
  );
  el.banner.hidden = false;
  console.warn(what, error); // shown in the banner; logged for whoever has the console open
}

export function hideError() {
  el.banner.hidden = true;
}
