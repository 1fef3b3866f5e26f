// A form's problems: the API's 422 errors (or those found before asking it) in the form's error
// box, and each reason again under the field it names (`data-field` on the field's wrapper).

import { h } from "./dom.js";

/**
 * `form`'s error helpers: `show(lead, detail, problems)` and `clear()`. `box` is the form's error
 * box; `idPrefix` names the lines put under the fields; `fieldPath(path)` maps a problem's field
 * path to the form's own (the default keeps it).
 */
export function formErrors(form, box, { idPrefix, fieldPath = (path) => path }) {
  let count = 0;

  function clear() {
    box.hidden = true;
    box.replaceChildren();
    for (const line of form.querySelectorAll(".field-error")) line.remove();
    for (const input of form.querySelectorAll("[aria-invalid]")) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  /** The element of the form a problem's field path belongs to: `params.n1` exactly, `symbols.0`
   * under `symbols`, `params` on the parameters' fieldset. */
  function fieldElement(path) {
    const parts = fieldPath(String(path || "")).split(".");
    for (let n = parts.length; n > 0; n -= 1) {
      const wanted = parts.slice(0, n).join(".");
      const found = [...form.querySelectorAll("[data-field]")].find((node) => node.dataset.field === wanted);
      if (found) return found;
    }
    return null;
  }

  /** "Could not ... (422 Validation failed): detail", each problem as "field: reason", and each
   * reason again under the field it names; the first such field gets the focus. */
  function show(lead, detail, problems) {
    clear();
    const items = problems.map((p) => h("li", { text: p.field ? `${p.field}: ${p.reason}` : p.reason }));
    box.replaceChildren(
      h("strong", { text: lead }),
      detail ? ` ${detail}` : "",
      ...(items.length ? [h("ul", {}, ...items)] : []),
    );
    box.hidden = false;
    for (const problem of problems) {
      const field = fieldElement(problem.field);
      if (!field) continue;
      const id = `${idPrefix}-${(count += 1)}`;
      const line = h("p", { id, className: "field-error", text: problem.reason, dataset: { errorFor: problem.field } });
      const input = field.querySelector("input, select");
      if (field.tagName === "FIELDSET") field.querySelector("legend").after(line);
      else field.append(line);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", id);
      }
    }
    const first = form.querySelector("[aria-invalid='true']");
    if (first) first.focus();
  }

  return { show, clear };
}
