/**
 * A command's argument form, derived from the JSON Schema (2020-12) that GET /v1/commands
 * publishes for it (SPEC §5, §6). Pure: no DOM, so it is unit-tested under Bun.
 *
 *   schema  → formModel()      → fields (what to draw)
 *   values  → argsFromValues() → the `args` object to POST, with JSON types (integers as numbers)
 *   422     → fieldErrors()    → each issue placed on its field (by its JSON Pointer)
 *
 * The server's validation is the only authority (STYLE: validation is not written twice): the
 * form converts what the inputs hold into typed values and shows the schema's constraints as
 * input attributes and hints; anything else is the server's 422, shown beside its field.
 */

/**
 * @typedef {"enum" | "boolean" | "integer" | "string" | "array"} FieldKind
 *
 * @typedef {object} FieldModel
 * @property {string} name         the property name (the key in `args`)
 * @property {FieldKind} kind
 * @property {boolean} required
 * @property {string | null} description
 * @property {string[]} [options]   enum: the allowed values
 * @property {number} [minimum]     integer bounds
 * @property {number} [maximum]
 * @property {string} [pattern]     string (or each array item): the schema's pattern, shown as a hint
 * @property {number} [maxLength]   string (or each array item)
 * @property {boolean} [noLeadingDash] the schema refuses a leading "-"
 * @property {number} [minItems]    array bounds
 * @property {number} [maxItems]
 *
 * @typedef {object} FormModel
 * @property {FieldModel[]} fields
 * @property {string[]} unsupported  properties the form cannot draw (named, so the page can say so)
 *
 * @typedef {string | boolean | string[]} FieldValue   what an input holds
 * @typedef {Record<string, FieldValue>} FormValues
 *
 * @typedef {{ path: string, message: string }} Issue
 * @typedef {{ messages: string[], items: Map<number, string[]> }} FieldErrors
 * @typedef {{ byField: Map<string, FieldErrors>, general: string[] }} PlacedErrors
 */

/** @param {unknown} value @returns {value is Record<string, any>} */
const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** @param {Record<string, any>} schema */
const refusesLeadingDash = (schema) => isObject(schema.not) && schema.not.pattern === "^-";

/**
 * @param {Record<string, any>} schema
 * @returns {Pick<FieldModel, "pattern" | "maxLength" | "noLeadingDash">}
 */
function stringConstraints(schema) {
  /** @type {Pick<FieldModel, "pattern" | "maxLength" | "noLeadingDash">} */
  const out = {};
  if (typeof schema.pattern === "string") out.pattern = schema.pattern;
  if (Number.isInteger(schema.maxLength)) out.maxLength = schema.maxLength;
  if (refusesLeadingDash(schema)) out.noLeadingDash = true;
  return out;
}

/**
 * @param {string} name
 * @param {unknown} schema
 * @param {boolean} required
 * @returns {FieldModel | null}
 */
function fieldOf(name, schema, required) {
  if (!isObject(schema)) return null;
  const description = typeof schema.description === "string" ? schema.description : null;
  const base = { name, required, description };
  if (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === "string")) {
    return { ...base, kind: "enum", options: [...schema.enum] };
  }
  switch (schema.type) {
    case "boolean":
      return { ...base, kind: "boolean" };
    case "integer": {
      /** @type {FieldModel} */
      const field = { ...base, kind: "integer" };
      if (Number.isSafeInteger(schema.minimum)) field.minimum = schema.minimum;
      if (Number.isSafeInteger(schema.maximum)) field.maximum = schema.maximum;
      return field;
    }
    case "string":
      return { ...base, kind: "string", ...stringConstraints(schema) };
    case "array": {
      if (!isObject(schema.items) || schema.items.type !== "string") return null;
      /** @type {FieldModel} */
      const field = { ...base, kind: "array", ...stringConstraints(schema.items) };
      if (Number.isInteger(schema.minItems)) field.minItems = schema.minItems;
      if (Number.isInteger(schema.maxItems)) field.maxItems = schema.maxItems;
      return field;
    }
    default:
      return null;
  }
}

/**
 * The fields of an `args` schema, in the schema's property order.
 * @param {unknown} schema
 * @returns {FormModel}
 */
export function formModel(schema) {
  /** @type {FormModel} */
  const model = { fields: [], unsupported: [] };
  if (!isObject(schema) || !isObject(schema.properties)) return model;
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  for (const [name, property] of Object.entries(schema.properties)) {
    const field = fieldOf(name, property, required.has(name));
    if (field) model.fields.push(field);
    else model.unsupported.push(name);
  }
  return model;
}

/**
 * A short human hint for a field's constraints ("1 to 20", "at most 64 characters", the pattern).
 * @param {FieldModel} field
 * @returns {string[]}
 */
export function constraintHints(field) {
  /** @type {string[]} */
  const hints = [];
  if (field.kind === "integer") {
    if (field.minimum !== undefined && field.maximum !== undefined) hints.push(`integer from ${field.minimum} to ${field.maximum}`);
    else if (field.minimum !== undefined) hints.push(`integer, at least ${field.minimum}`);
    else if (field.maximum !== undefined) hints.push(`integer, at most ${field.maximum}`);
    else hints.push("integer");
  }
  if (field.kind === "array") {
    if (field.minItems !== undefined && field.maxItems !== undefined) hints.push(`${field.minItems} to ${field.maxItems} items`);
    else if (field.maxItems !== undefined) hints.push(`at most ${field.maxItems} items`);
  }
  if (field.maxLength !== undefined) hints.push(`at most ${field.maxLength} characters${field.kind === "array" ? " each" : ""}`);
  if (field.noLeadingDash) hints.push("may not start with -");
  if (field.pattern !== undefined) hints.push(`pattern ${field.pattern}`);
  return hints;
}

/** An integer as typed: digits with an optional sign, nothing else (no "1e3", no "0x10"). */
const INTEGER_TEXT = /^[+-]?\d+$/;

/**
 * The `args` object for a POST: integers become numbers, booleans stay booleans, empty optional
 * inputs are left out, empty array rows are dropped. A value that cannot be typed (text in an
 * integer field) is sent as typed so the server's 422 names it beside its field.
 * @param {FormModel} model
 * @param {FormValues} values
 * @returns {Record<string, string | number | boolean | string[]>}
 */
export function argsFromValues(model, values) {
  /** @type {Record<string, string | number | boolean | string[]>} */
  const args = {};
  for (const field of model.fields) {
    const value = values[field.name];
    switch (field.kind) {
      case "boolean":
        args[field.name] = value === true;
        break;
      case "integer": {
        const text = typeof value === "string" ? value.trim() : "";
        if (text === "") {
          if (field.required) args[field.name] = "";
          break;
        }
        const n = Number(text);
        args[field.name] = INTEGER_TEXT.test(text) && Number.isSafeInteger(n) ? n : text;
        break;
      }
      case "array": {
        const items = Array.isArray(value) ? value.filter((item) => item !== "") : [];
        if (items.length > 0 || field.required) args[field.name] = items;
        break;
      }
      default: {
        const text = typeof value === "string" ? value : "";
        if (text !== "" || field.required) args[field.name] = text;
      }
    }
  }
  return args;
}

/**
 * RFC 6901: "/args/names/1" → ["args", "names", "1"].
 * @param {string} pointer
 * @returns {string[] | null} null when it is not a JSON Pointer
 */
export function parsePointer(pointer) {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return null;
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/**
 * Places each 422 issue on its field (and array item), by its JSON Pointer from the request body
 * root ("/args/<name>[/<index>]"). Issues that name no field of this form stay `general`.
 * @param {FormModel} model
 * @param {readonly Issue[]} issues
 * @returns {PlacedErrors}
 */
export function fieldErrors(model, issues) {
  const names = new Set(model.fields.map((f) => f.name));
  /** @type {PlacedErrors} */
  const placed = { byField: new Map(), general: [] };
  for (const issue of issues) {
    const tokens = typeof issue.path === "string" ? parsePointer(issue.path) : null;
    const name = tokens && tokens[0] === "args" ? tokens[1] : undefined;
    if (name === undefined || !names.has(name)) {
      placed.general.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
      continue;
    }
    let errors = placed.byField.get(name);
    if (!errors) {
      errors = { messages: [], items: new Map() };
      placed.byField.set(name, errors);
    }
    const index = tokens && tokens.length > 2 && /^\d+$/.test(tokens[2] ?? "") ? Number(tokens[2]) : null;
    if (index === null) errors.messages.push(issue.message);
    else errors.items.set(index, [...(errors.items.get(index) ?? []), issue.message]);
  }
  return placed;
}
