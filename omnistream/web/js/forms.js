// Labelled form fields, and the server's problem+json field errors shown next to them.
import { ApiError, NetworkError } from "./api.js";
import { dialog, h, uid } from "./dom.js";
import { t } from "./i18n.js";
import { fieldMessage, problemText } from "./problems.js";
import { SessionEnded } from "./session.js";

/**
 * field({label, name, type, value, options, required, hint, attrs}) -> .field wrapper.
 * `name` is the API's field name (e.g. "credentials.base_url"): errors naming it land here.
 */
export function field({ label, name, type = "text", value, options, required, hint, attrs = {} }) {
  const id = uid("f");
  let control;
  if (type === "select") {
    control = h(
      "select",
      { id, name, required, ...attrs },
      options.map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)),
    );
  } else if (type === "textarea") {
    control = h("textarea", { id, name, required, rows: 3, ...attrs });
    control.value = value ?? "";
  } else if (type === "checkbox") {
    control = h("input", { id, name, type, checked: !!value, ...attrs });
    return h(
      "div",
      { class: "field checkbox", dataset: { field: name } },
      control,
      h("label", { for: id }, label),
      hint ? h("p", { class: "hint" }, hint) : null,
    );
  } else {
    control = h("input", { id, name, type, value: value ?? "", required, ...attrs });
  }
  return h(
    "div",
    { class: "field", dataset: { field: name } },
    h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    control,
    hint ? h("p", { class: "hint" }, hint) : null,
  );
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error, .form-error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

/** The closest wrapper for an API field name: exact, else its parent ("a.b.c" -> "a.b"). */
function wrapperFor(form, name) {
  let key = name;
  while (key) {
    const el = [...form.querySelectorAll("[data-field]")].find((f) => f.dataset.field === key);
    if (el) return el;
    key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
  }
  return null;
}

/** A readable sentence for any error (network, session, problem+json). */
export function describe(error) {
  if (error instanceof NetworkError) return t("error.network");
  if (error instanceof SessionEnded) return t("login.expired");
  if (error instanceof ApiError) {
    if (error.status === 403) return t("error.forbidden");
    return problemText(error);
  }
  return String(error?.message || error);
}

/** Shows an error on a form: each named field next to its input, the rest on top. */
export function showErrors(form, error) {
  clearErrors(form);
  const loose = [];
  const errors = error instanceof ApiError ? error.errors : [];
  for (const item of errors) {
    const wrapper = item.field ? wrapperFor(form, item.field) : null;
    const message = fieldMessage(item);
    if (!wrapper) {
      loose.push(item.field && item.field !== "body" ? `${item.field}: ${message}` : message);
      continue;
    }
    const id = uid("err");
    const text = wrapper.dataset.field === item.field ? message : `${item.field}: ${message}`;
    wrapper.append(h("p", { class: "field-error", id }, text));
    const control = wrapper.querySelector("input, select, textarea");
    if (control) {
      control.setAttribute("aria-invalid", "true");
      const before = control.getAttribute("aria-describedby");
      control.setAttribute("aria-describedby", before ? `${before} ${id}` : id);
    }
  }
  if (!errors.length || loose.length) {
    const message = errors.length ? loose.join("; ") : describe(error);
    form.prepend(h("p", { class: "form-error", role: "alert" }, message));
  }
  const first = form.querySelector("[aria-invalid]");
  first?.focus();
}

/** Runs `action` for a submitted form: busy state, errors shown, resolves to its result. */
export async function submit(form, action) {
  const buttons = [...form.querySelectorAll("button[type=submit]")];
  clearErrors(form);
  for (const b of buttons) b.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (error) {
    if (error instanceof SessionEnded) throw error;
    showErrors(form, error);
    return undefined;
  } finally {
    for (const b of buttons) b.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

/** Form values by name (checkboxes as booleans, empty strings kept). */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === "checkbox" ? el.checked : el.value;
  }
  return out;
}

/** A transient message at the bottom of the screen (role=status, read by screen readers). */
export function toast(message, kind = "info") {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const el = h("div", { class: `toast ${kind}` }, message);
  region.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

/**
 * A modal form: `fields` inside, Cancel and a submit button. onSubmit(form) runs with the
 * busy state; a result other than undefined closes the dialog, an error stays on the form.
 */
export function formDialog({ title, fields, submitLabel, onSubmit, onDone, wide = false }) {
  const cancel = h("button", { type: "button", class: "ghost" }, t("action.cancel"));
  const form = h(
    "form",
    { class: "form", novalidate: true },
    fields,
    h("div", { class: "dialog-actions" }, cancel, h("button", { type: "submit", class: "primary" }, submitLabel)),
  );
  const el = dialog({ title, body: form, wide });
  cancel.addEventListener("click", () => el.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await submit(form, () => onSubmit(form));
    if (result !== undefined) {
      el.close();
      onDone?.(result);
    }
  });
  form.querySelector("input, select, textarea")?.focus();
  return { el, form };
}
