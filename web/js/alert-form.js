// The "New alert" form: a name, a topic, the source of its events (an account, a scanner or a
// deployment, suggested from the API's lists) and a target (a URL, a Slack or Discord webhook, an
// e-mail address). It posts the alert and puts the API's 422 errors next to the fields they
// name; a URL alert's signing key, in the creation's answer only, is shown once.

import { api, currentKey, hasStatus, statusSuffix } from "./api.js";
import { byId, h } from "./dom.js";
import { formErrors } from "./form-errors.js";
import { showError } from "./notices.js";

const MAX_SOURCE_OPTIONS = 200;

// Where each topic's events come from: the hint under the field and the listing suggesting ids.
const SOURCES = {
  account: { hint: "the account's id", path: "/v1/accounts", id: (a) => a.account_id, label: (a) => a.currency },
  scanner: { hint: "the scanner's id (scn_…)", path: "/v1/scanners", id: (s) => s.scanner_id, label: (s) => s.name },
  deployment: {
    hint: "the live deployment's id",
    path: "/v1/deployments",
    id: (d) => d.deployment_id,
    label: (d) => d.strategy_name || d.name || "",
  },
};
const SOURCE_OF_TOPIC = {
  fills: "account",
  rejected_orders: "account",
  account_halted: "account",
  signals: "scanner",
  deployment_paused: "deployment",
};

const el = {
  form: byId("alert-form"),
  name: byId("alert-name"),
  topic: byId("alert-topic"),
  source: byId("alert-source"),
  sourceOptions: byId("alert-source-options"),
  sourceHint: byId("alert-source-hint"),
  kind: byId("alert-kind"),
  urlField: byId("alert-url-field"),
  url: byId("alert-url"),
  addressField: byId("alert-address-field"),
  address: byId("alert-address"),
  rateLimit: byId("alert-rate-limit"),
  errors: byId("alert-form-errors"),
  create: byId("alert-create"),
  progress: byId("alert-create-status"),
  issued: byId("alert-issued"),
  issuedName: byId("alert-issued-name"),
  signingKey: byId("alert-signing-key"),
  copy: byId("alert-copy"),
  copyStatus: byId("alert-copy-status"),
  done: byId("alert-issued-done"),
};

// The API names a target's fields after its kind (`target.url.url`, `target.email.address`): the
// form has one URL field for the three URL kinds.
const errors = formErrors(el.form, el.errors, {
  idPrefix: "alert-error",
  fieldPath: (path) => path.replace(/^target\.(url|slack|discord|email)(?=\.)/, "target"),
});

let busy = false;
let sources = { key: null, lists: new Map() }; // per key: source kind -> Promise<[{ id, label }]>
let callbacks = { onCreated() {}, onRefused() {} };

// ---- the source's suggestions -------------------------------------------------------------

function sourceList(kind) {
  const key = currentKey();
  if (sources.key !== key) sources = { key, lists: new Map() };
  if (!sources.lists.has(kind)) {
    const { path, id, label } = SOURCES[kind];
    const listed = api(path)
      .then((items) => (Array.isArray(items) ? items : []).map((item) => ({ id: id(item), label: label(item) })))
      .catch(() => []); // suggestions only: the API judges the id typed
    sources.lists.set(kind, listed);
  }
  return sources.lists.get(kind);
}

async function suggestSources() {
  const kind = SOURCE_OF_TOPIC[el.topic.value] || "account";
  el.sourceHint.textContent = SOURCES[kind].hint;
  const found = await sourceList(kind);
  if (kind !== (SOURCE_OF_TOPIC[el.topic.value] || "account")) return; // the topic changed meanwhile
  el.sourceOptions.replaceChildren(
    ...found.slice(0, MAX_SOURCE_OPTIONS).map((s) => h("option", { value: s.id, label: s.label ? String(s.label) : undefined })),
  );
}

// ---- the target's field -------------------------------------------------------------------

function showTargetField() {
  const email = el.kind.value === "email";
  el.urlField.hidden = email;
  el.addressField.hidden = !email;
  el.url.placeholder = {
    slack: "https://hooks.slack.com/services/…",
    discord: "https://discord.com/api/webhooks/…",
  }[el.kind.value] || "https://example.com/hooks/fills";
}

// ---- creating -----------------------------------------------------------------------------

function readForm() {
  const kind = el.kind.value;
  const target = kind === "email" ? { kind, address: el.address.value.trim() } : { kind, url: el.url.value.trim() };
  const body = { name: el.name.value.trim(), topic: el.topic.value, source_id: el.source.value.trim(), target };
  const rate = el.rateLimit.value.trim();
  if (rate !== "") body.rate_limit = Number(rate); // empty: the default (30 a minute)
  return body;
}

function setBusy(running, text = "") {
  busy = running;
  el.create.disabled = running;
  el.create.textContent = running ? "Creating…" : "Create alert";
  el.progress.textContent = text;
}

async function submit(event) {
  event.preventDefault();
  if (busy) return;
  errors.clear();
  hideIssued();
  setBusy(true, "Creating…");
  let alert;
  try {
    alert = await api("/v1/alerts", { method: "POST", body: readForm() });
  } catch (error) {
    setBusy(false);
    if (hasStatus(error, 401)) {
      showError(error, "Could not create the alert");
      return;
    }
    errors.show(`Could not create the alert${statusSuffix(error)}:`, error.detail || error.message, error.errors || []);
    if (hasStatus(error, 403)) callbacks.onRefused(error);
    return;
  }
  setBusy(false, `Created ${alert.name}.`);
  if (alert.signing_key) showIssued(alert);
  el.name.value = "";
  el.url.value = "";
  el.address.value = "";
  const { signing_key: _shownOnce, ...listed } = alert; // the list keeps no secret
  callbacks.onCreated(listed);
}

// ---- the signing key, once ----------------------------------------------------------------

function showIssued(alert) {
  el.issuedName.textContent = alert.name;
  el.signingKey.textContent = alert.signing_key;
  el.copyStatus.textContent = "";
  el.issued.hidden = false;
  el.signingKey.focus();
}

function hideIssued() {
  el.issued.hidden = true;
  el.signingKey.textContent = ""; // not kept in the page longer than needed
  el.issuedName.textContent = "";
  el.copyStatus.textContent = "";
}

async function copyKey() {
  try {
    await navigator.clipboard.writeText(el.signingKey.textContent);
    el.copyStatus.textContent = "Copied.";
  } catch {
    el.copyStatus.textContent = "Could not copy: select the key and copy it.";
    getSelection()?.selectAllChildren(el.signingKey);
  }
}

// ---- the key ------------------------------------------------------------------------------

/** The form is shown to a key that may create alerts: its source suggestions are read. */
export const onShown = suggestSources;

/** Forgets what was typed and the key shown (the key is gone). */
export function clearForm() {
  sources = { key: null, lists: new Map() };
  el.sourceOptions.replaceChildren();
  el.form.reset();
  showTargetField();
  errors.clear();
  hideIssued();
  setBusy(false);
}

/** `onCreated(alert)`: created (201). `onRefused(error)`: the API refused the key the role (a 403). */
export function init(handlers) {
  callbacks = handlers;
  el.form.noValidate = true; // the API judges; its errors go next to the fields
  el.form.addEventListener("submit", submit);
  el.topic.addEventListener("change", suggestSources);
  el.kind.addEventListener("change", showTargetField);
  el.copy.addEventListener("click", copyKey);
  el.done.addEventListener("click", hideIssued);
  el.sourceHint.textContent = SOURCES.account.hint;
  showTargetField();
}
