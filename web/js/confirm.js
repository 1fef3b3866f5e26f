// Destructive actions ask twice: the first press arms the row's button ("Confirm"), a second
// press within a few seconds acts, and the button disarms by itself otherwise.

import { h } from "./dom.js";

const CONFIRM_MS = 4000; // a button pressed once waits this long for the second press

/**
 * The armed button of a list: `press(id)` answers true when it confirms (the second press), false
 * when it only armed; `isArmed(id)` tells the row's renderer. `onChange()` re-renders the list
 * (armed, or disarmed by the timer).
 */
export function twoPress(onChange) {
  let armed = null; // { id, timer }
  return {
    isArmed: (id) => armed?.id === id,
    press(id) {
      if (armed?.id === id) {
        clearTimeout(armed.timer);
        armed = null;
        return true;
      }
      if (armed) clearTimeout(armed.timer);
      armed = {
        id,
        timer: setTimeout(() => {
          armed = null;
          onChange();
        }, CONFIRM_MS),
      };
      onChange();
      return false;
    },
  };
}

/** A row's Delete button: "Delete", then "Confirm" once armed, "Deleting…" while the request runs;
 * `why` (it may not) disables it and becomes its tooltip. */
export function deleteButton({ armed, busy, why = "", label, dataset }) {
  return h("button", {
    type: "button",
    className: `small danger${armed ? " armed" : ""}`,
    text: busy ? "Deleting…" : armed ? "Confirm" : "Delete",
    disabled: busy || Boolean(why),
    title: why || (armed ? "Press again to delete it for good" : ""),
    dataset,
    attrs: { "aria-label": label },
  });
}
