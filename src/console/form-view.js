/**
 * Draws a FormModel (form-model.js) as accessible inputs, reads them back, and shows 422 issues
 * beside their fields: enum → select, boolean → checkbox, integer → number with min/max,
 * array of strings → an editable list (add/remove rows, at most maxItems), string → text with
 * maxlength; the description as help text, the constraints (pattern…) as a hint.
 */
import { h, replace } from "./element.js";
import { constraintHints, fieldErrors } from "./form-model.js";

/**
 * @typedef {import("./form-model.js").FormModel} FormModel
 * @typedef {import("./form-model.js").FieldModel} FieldModel
 * @typedef {import("./form-model.js").FormValues} FormValues
 * @typedef {import("./form-model.js").Issue} Issue
 *
 * @typedef {object} FieldView
 * @property {HTMLElement} element
 * @property {() => import("./form-model.js").FieldValue} read
 * @property {(messages: string[], items: Map<number, string[]>) => void} showErrors
 * @property {() => HTMLElement | null} focusTarget
 *
 * @typedef {object} FormView
 * @property {HTMLElement} element
 * @property {() => FormValues} read
 * @property {(issues: readonly Issue[]) => string[]} showIssues  returns the issues that fit no field
 * @property {() => void} clearErrors
 */

/**
 * @param {FormModel} model
 * @param {string} idPrefix unique per form, so labels and descriptions point at the right inputs
 * @returns {FormView}
 */
export function renderForm(model, idPrefix) {
  /** @type {Map<string, FieldView>} */
  const views = new Map();
  const element = h("div", { class: "fields" });
  for (const field of model.fields) {
    const view = renderField(field, `${idPrefix}-${field.name}`);
    views.set(field.name, view);
    element.append(view.element);
  }
  if (model.fields.length === 0) element.append(h("p", { class: "muted" }, "This command takes no arguments."));
  if (model.unsupported.length > 0) {
    element.append(h("p", { class: "notice" }, `Not shown (unsupported schema): ${model.unsupported.join(", ")}`));
  }
  const clearErrors = () => {
    for (const view of views.values()) view.showErrors([], new Map());
  };
  return {
    element,
    read: () => Object.fromEntries([...views].map(([name, view]) => [name, view.read()])),
    clearErrors,
    showIssues(issues) {
      clearErrors();
      const placed = fieldErrors(model, issues);
      let first = true;
      for (const [name, errors] of placed.byField) {
        const view = views.get(name);
        if (!view) continue;
        view.showErrors(errors.messages, errors.items);
        if (first) view.focusTarget()?.focus();
        first = false;
      }
      return placed.general;
    },
  };
}

/**
 * @param {FieldModel} field
 * @param {string} id
 * @returns {FieldView}
 */
function renderField(field, id) {
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  const hints = constraintHints(field);
  const errorBox = h("div", { class: "field-error", id: errorId, role: "alert", hidden: true });
  const describedBy = [field.description || hints.length ? helpId : null, errorId].filter(Boolean).join(" ");
  const help =
    field.description || hints.length
      ? h("div", { class: "help", id: helpId }, field.description ? h("span", {}, field.description) : null, hints.length ? h("span", { class: "hint" }, hints.join(" · ")) : null)
      : null;
  const label = (/** @type {string} */ forId) =>
    h("label", { for: forId, class: "field-label" }, h("span", { class: "field-name" }, field.name), field.required ? h("span", { class: "required", title: "required" }, " *") : null);

  /** @param {string[]} messages */
  const setErrorText = (messages) => {
    replace(errorBox, ...messages.map((m) => h("div", {}, m)));
    errorBox.hidden = messages.length === 0;
  };

  if (field.kind === "array") return renderArrayField(field, id, { label, help, errorBox, describedBy, setErrorText });

  /** @type {HTMLInputElement | HTMLSelectElement} */
  let input;
  if (field.kind === "enum") {
    input = h("select", { id, name: field.name, required: field.required, "aria-describedby": describedBy }, field.required ? null : h("option", { value: "" }, "—"), ...(field.options ?? []).map((o) => h("option", { value: o }, o)));
  } else if (field.kind === "boolean") {
    input = h("input", { id, name: field.name, type: "checkbox", "aria-describedby": describedBy });
  } else if (field.kind === "integer") {
    input = h("input", { id, name: field.name, type: "number", step: 1, inputmode: "numeric", min: field.minimum, max: field.maximum, required: field.required, "aria-describedby": describedBy });
  } else {
    input = h("input", { id, name: field.name, type: "text", spellcheck: "false", autocomplete: "off", maxlength: field.maxLength, required: field.required, "aria-describedby": describedBy });
  }
  const checkbox = field.kind === "boolean";
  const element = h("div", { class: `field field-${field.kind}`, "data-field": field.name }, checkbox ? h("div", { class: "checkbox-row" }, input, label(id)) : [label(id), input], help, errorBox);
  return {
    element,
    read: () => (input instanceof HTMLInputElement && input.type === "checkbox" ? input.checked : input.value),
    focusTarget: () => input,
    showErrors(messages, items) {
      const all = [...messages, ...[...items.values()].flat()];
      setErrorText(all);
      input.setAttribute("aria-invalid", all.length ? "true" : "false");
      element.classList.toggle("has-error", all.length > 0);
    },
  };
}

/**
 * @param {FieldModel} field
 * @param {string} id
 * @param {{ label: (forId: string) => HTMLElement, help: HTMLElement | null, errorBox: HTMLElement, describedBy: string, setErrorText: (m: string[]) => void }} parts
 * @returns {FieldView}
 */
function renderArrayField(field, id, { label, help, errorBox, describedBy, setErrorText }) {
  const list = h("ol", { class: "array-rows", id: `${id}-rows` });
  const max = field.maxItems ?? Infinity;
  const addButton = h("button", { type: "button", class: "small", onclick: () => addRow("", true) }, "+ Add item");
  let counter = 0;
  const rows = () => /** @type {HTMLLIElement[]} */ ([...list.children]);
  const refresh = () => {
    const all = rows();
    addButton.disabled = all.length >= max;
    all.forEach((row, i) => {
      const input = row.querySelector("input");
      input?.setAttribute("aria-label", `${field.name} item ${i + 1}`);
      const remove = row.querySelector("button");
      if (remove) {
        remove.setAttribute("aria-label", `Remove ${field.name} item ${i + 1}`);
        remove.disabled = all.length === 1;
      }
    });
  };
  /** @param {string} value @param {boolean} focus */
  const addRow = (value, focus) => {
    if (rows().length >= max) return;
    const input = h("input", { type: "text", id: counter === 0 ? id : `${id}-${counter}`, spellcheck: "false", autocomplete: "off", maxlength: field.maxLength, value, "aria-describedby": describedBy });
    counter++;
    const row = h("li", { class: "array-row" }, input, h("button", { type: "button", class: "small ghost", onclick: () => { row.remove(); refresh(); rows()[0]?.querySelector("input")?.focus(); } }, "Remove"), h("div", { class: "item-error", hidden: true }));
    list.append(row);
    refresh();
    if (focus) input.focus();
  };
  addRow("", false);
  const element = h("div", { class: "field field-array", "data-field": field.name }, label(id), list, addButton, help, errorBox);
  return {
    element,
    read: () => rows().map((row) => row.querySelector("input")?.value ?? ""),
    focusTarget: () => list.querySelector("[aria-invalid=true]") ?? list.querySelector("input"),
    showErrors(messages, items) {
      setErrorText(messages);
      // The server's index counts the items sent: empty rows are not sent (argsFromValues).
      const sent = rows().filter((row) => (row.querySelector("input")?.value ?? "") !== "");
      for (const row of rows()) {
        const box = /** @type {HTMLElement} */ (row.querySelector(".item-error"));
        replace(box);
        box.hidden = true;
        row.querySelector("input")?.setAttribute("aria-invalid", "false");
      }
      for (const [index, itemMessages] of items) {
        const row = sent[index];
        if (!row) {
          setErrorText([...messages, ...itemMessages.map((m) => `item ${index + 1}: ${m}`)]);
          continue;
        }
        const box = /** @type {HTMLElement} */ (row.querySelector(".item-error"));
        replace(box, itemMessages.join("; "));
        box.hidden = false;
        row.querySelector("input")?.setAttribute("aria-invalid", "true");
      }
      element.classList.toggle("has-error", messages.length > 0 || items.size > 0);
    },
  };
}
