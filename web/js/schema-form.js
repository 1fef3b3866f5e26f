// Form fields built from a JSON Schema object (a strategy's parameters, as pydantic describes
// them): one labelled input per property, filled with its default, read back as JSON values. The
// API stays the judge of what is valid: the inputs carry the bounds as hints only, and its 422
// names the field (`params.n1`) that the error goes next to.

import { h } from "./dom.js";

/** The property's own type, enum and bounds; `anyOf: [{type: "number"}, {type: "null"}]` is a
 * nullable number. */
function describe(property) {
  const variants = property.anyOf || property.oneOf || [property];
  const main = variants.find((v) => v.type && v.type !== "null") || variants[0] || {};
  const nullable = variants.some((v) => v.type === "null") || property.type === "null";
  return { ...main, ...property, type: main.type || "string", nullable, enum: property.enum || main.enum };
}

/** min and max attributes: they bound the spinner's steps (the form does not block on them). */
function bounds(spec) {
  const attrs = {};
  const low = spec.minimum ?? spec.exclusiveMinimum;
  const high = spec.maximum ?? spec.exclusiveMaximum;
  if (low !== undefined) attrs.min = String(low);
  if (high !== undefined) attrs.max = String(high);
  return attrs;
}

function inputFor(name, spec, value, id) {
  const common = { id, name, dataset: { param: name, type: spec.type } };
  if (spec.enum) {
    const options = spec.enum.map((option) => h("option", { value: String(option), text: String(option) }));
    if (spec.nullable) options.unshift(h("option", { value: "", text: "none" }));
    const select = h("select", common, ...options);
    select.value = value === null || value === undefined ? "" : String(value);
    return select;
  }
  if (spec.type === "boolean") {
    return h("input", { ...common, type: "checkbox", checked: Boolean(value) });
  }
  if (spec.type === "integer" || spec.type === "number") {
    return h("input", {
      ...common,
      type: "number",
      inputMode: spec.type === "integer" ? "numeric" : "decimal",
      step: spec.type === "integer" ? "1" : "any",
      value: value === null || value === undefined ? "" : String(value),
      placeholder: spec.nullable ? "none" : "",
      attrs: bounds(spec),
    });
  }
  return h("input", {
    ...common,
    type: "text",
    value: value === null || value === undefined ? "" : String(value),
    maxLength: spec.maxLength,
    placeholder: spec.nullable ? "none" : "",
    spellcheck: false,
    autocomplete: "off",
  });
}

/** "1 – 10000", "> 0, ≤ 1": the bounds a number field takes, for its hint. */
function rangeHint(spec) {
  const parts = [];
  if (spec.minimum !== undefined) parts.push(`≥ ${spec.minimum}`);
  if (spec.exclusiveMinimum !== undefined) parts.push(`> ${spec.exclusiveMinimum}`);
  if (spec.maximum !== undefined) parts.push(`≤ ${spec.maximum}`);
  if (spec.exclusiveMaximum !== undefined) parts.push(`< ${spec.exclusiveMaximum}`);
  return parts.join(", ");
}

/**
 * The fields of `schema`'s properties, each in a `.field[data-field="{prefix}.{name}"]` with its
 * label, input, hint and error line. `values` overrides the schema's defaults (a saved strategy's
 * own settings). Returns the field elements and `read()`, which answers the values entered as JSON:
 * numbers as numbers (an empty optional field is left out, so the strategy's own value applies);
 * with `onlyChanged`, only the values that differ from those the fields started with.
 */
export function schemaFields(schema, options = {}) {
  const { values = {}, prefix = "params", idPrefix = "param", onlyChanged = false } = options;
  const specs = Object.entries(schema?.properties || {}).map(([name, property]) => [name, describe(property)]);
  const fields = specs.map(([name, spec]) => {
    const id = `${idPrefix}-${name}`;
    const value = name in values ? values[name] : spec.default;
    const input = inputFor(name, spec, value, id);
    const hint = [spec.description, spec.type === "integer" || spec.type === "number" ? rangeHint(spec) : ""]
      .filter(Boolean)
      .join(" · ");
    const label = h("label", { htmlFor: id, text: spec.title || name });
    const field = h(
      "div",
      { className: `field${spec.type === "boolean" ? " field-check" : ""}`, dataset: { field: `${prefix}.${name}` } },
      label,
      input,
    );
    if (hint) field.append(h("small", { className: "hint", text: hint }));
    return field;
  });

  /** `{ params, problems }`: the values entered, and the fields that hold no number where one belongs. */
  function read() {
    const params = {};
    const problems = [];
    specs.forEach(([name, spec], index) => {
      const input = fields[index].querySelector("[data-param]");
      if (spec.type === "boolean" && !spec.enum) {
        params[name] = input.checked;
        return;
      }
      if (input.validity?.badInput) {
        problems.push({ field: `${prefix}.${name}`, reason: "enter a number" });
        return;
      }
      const text = input.value.trim();
      if (text === "") return; // the default applies (or the API says the field is required)
      if (spec.enum) params[name] = spec.enum.find((option) => String(option) === text) ?? text;
      else if (spec.type === "integer" || spec.type === "number") params[name] = Number(text);
      else params[name] = text;
    });
    if (onlyChanged) {
      for (const [name, spec] of specs) {
        const initial = name in values ? values[name] : spec.default;
        if (name in params && params[name] === initial) delete params[name];
      }
    }
    return { params, problems };
  }

  return { fields, read };
}
