// Timing helpers: bursts of events coalesced into one reload, and answers that arrive too late.

/** `fn` once `ms` after the last of a burst of calls. */
export function debounced(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/**
 * Guards a read against the answers of earlier ones: `const current = reads.begin()`, then, after each
 * await, `if (!current()) return;`. `reads.invalidate()` turns away every read still on its way.
 */
export function latestOnly() {
  let latest = 0;
  return {
    begin() {
      const mine = ++latest;
      return () => mine === latest;
    },
    invalidate() {
      latest += 1;
    },
  };
}
