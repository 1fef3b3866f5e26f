// What the current key may do, from GET /v1/me (its id and role).

import { api, hasStatus } from "./api.js";

const RANK = { viewer: 0, trader: 1, admin: 2 };

let known = null; // { key, answer: Promise<{ allowed, reason, detail }> }

/**
 * Whether the key has the trader role, which running and deleting backtests and managing alerts
 * need: `{ allowed, reason, detail }`; when refused, `reason` completes "Deleting backtests …"
 * ("needs the trader role (this key has viewer)"). Asked once per key; an answer that cannot be
 * had (the API unreachable) allows, and the action itself then reports what the API says.
 */
export function traderWrites(key) {
  if (known?.key !== key) {
    known = { key, answer: ask(key) };
  }
  return known.answer;
}

async function ask(key) {
  try {
    const me = await api("/v1/me", { key });
    if ((RANK[me.role] ?? 0) >= RANK.trader) return { allowed: true, reason: null, detail: null };
    const reason = `needs the trader role (this key has ${me.role})`;
    return { allowed: false, reason, detail: `key ${me.key_id} has ${me.role}` };
  } catch (error) {
    if (hasStatus(error, 401)) throw error; // the key itself is refused: whoever asked says so
    return { allowed: true, reason: null, detail: null };
  }
}

/** Whether the key is an admin's, which may have every account's events (false when unknown). */
export async function seesAll(key) {
  try {
    return (await api("/v1/me", { key })).role === "admin";
  } catch {
    return false;
  }
}

/** The answer for a 403: the API says "… needs the trader role; key abc has viewer". */
export function refused(error) {
  const role = /\bhas (\w+)\s*$/.exec(error.detail || "")?.[1];
  const reason = `needs the trader role${role ? ` (this key has ${role})` : ""}`;
  return { allowed: false, reason, detail: error.detail || "" };
}

/** Forgets what was learnt (the key changed, or an action was refused after all). */
export function forgetAccess() {
  known = null;
}
