// Keys: the API key the dashboard uses, where it is kept, and the dialog that asks for it.

import { api, currentKey, hasStatus } from "./api.js";
import { byId } from "./dom.js";

const KEY_STORAGE = "trading.apiKey";

const el = {
  changeKey: byId("change-key"),
  dialog: byId("key-dialog"),
  form: byId("key-form"),
  input: byId("key-input"),
  error: byId("key-error"),
  forget: byId("key-forget"),
  submit: byId("key-submit"),
};

// ---- storage (it can throw: private modes, disabled storage) ------------------------------

function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function storeKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // The key then lives for this page only; nothing else to do.
  }
}

/** `?key=` is accepted once: stored, then removed so it does not stay in history or bookmarks. */
function takeKeyFromUrl() {
  const url = new URL(location.href);
  const key = url.searchParams.get("key");
  if (!key) return null;
  url.searchParams.delete("key");
  history.replaceState(history.state, "", url);
  return key.trim() || null;
}

/** The key to start with: from the URL (then stored), else the stored one; null if none. */
export function initialKey() {
  const fromUrl = takeKeyFromUrl();
  if (fromUrl) storeKey(fromUrl);
  return fromUrl || readKey();
}

// ---- the dialog ---------------------------------------------------------------------------

export function openKeyDialog(message = "") {
  el.error.textContent = message;
  el.error.hidden = !message;
  el.input.value = "";
  if (!el.dialog.open) el.dialog.showModal();
  el.input.focus();
}

/**
 * `onKey(key)`: a key the API accepted was entered (it is stored already).
 * `onForget()`: the stored key was forgotten.
 */
export function init({ onKey, onForget }) {
  el.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = el.input.value.trim();
    if (!key) return;
    el.submit.disabled = true;
    try {
      await api("/v1/symbols?limit=1", { key }); // proves the key before anything else uses it
    } catch (error) {
      el.error.textContent = hasStatus(error, 401, 403)
        ? `That key was refused: ${error.detail}`
        : `Could not check the key: ${error.detail || error.message}`;
      el.error.hidden = false;
      return;
    } finally {
      el.submit.disabled = false;
    }
    storeKey(key);
    el.dialog.close();
    onKey(key);
  });
  el.forget.addEventListener("click", () => {
    storeKey(null);
    onForget();
    openKeyDialog();
  });
  el.dialog.addEventListener("cancel", (event) => {
    if (!currentKey()) event.preventDefault(); // nothing works without a key
  });
  el.changeKey.addEventListener("click", () => openKeyDialog());
}
