// Settings › Contact attributes (admins): the custom fields contacts can have; create (key,
// label, type text / number / date / list with its options), edit (a type change or a
// removed option is refused by the API while contacts hold such values: its message says so)
// and delete after a confirmation (the value goes from every contact). docs/contacts.md.
import "./strings.js";
import { del, get, patch, post } from "../api.js";
import { h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader, table } from "../settings/common.js";

const BASE = "/api/v1/contact-attributes";
const TYPES = ["text", "number", "date", "list"];

export function render(container) {
  const body = h("div", {});
  async function reload() {
    try {
      const items = await get(BASE);
      body.replaceChildren(table(t("contacts.attr.title"),
        [t("contacts.attr.label"), t("contacts.attr.key"), t("contacts.attr.type"), t("contacts.attr.options"), ""],
        items.map((a) => [a.label, h("code", {}, a.key), t(`contacts.attr.type.${a.type}`), a.options.join(", ") || "—",
          h("span", { class: "row-actions" },
            h("button", { type: "button", class: "link", "aria-label": t("contacts.attr.editNamed", { name: a.label }), onclick: () => edit(a) }, t("action.edit")),
            h("button", { type: "button", class: "link danger", "aria-label": t("contacts.attr.deleteNamed", { name: a.label }), onclick: () => remove(a) }, t("action.delete")))])));
    } catch (error) {
      body.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  }
  const fields = (a) => [
    a ? null : field({ label: t("contacts.attr.key"), name: "key", required: true, hint: t("contacts.attr.keyHint"), attrs: { maxlength: 40, pattern: "[a-z][a-z0-9_]*" } }),
    field({ label: t("contacts.attr.label"), name: "label", value: a?.label, required: true, attrs: { maxlength: 100 } }),
    field({ label: t("contacts.attr.type"), name: "type", type: "select", value: a?.type || "text", options: TYPES.map((x) => ({ value: x, label: t(`contacts.attr.type.${x}`) })) }),
    field({ label: t("contacts.attr.options"), name: "options", type: "textarea", value: (a?.options || []).join("\n") }),
  ];
  const valuesOf = (f) => {
    const type = f.elements.type.value;
    const options = type === "list" ? f.elements.options.value.split("\n").map((o) => o.trim()).filter(Boolean) : [];
    return { label: f.elements.label.value.trim(), type, options, ...(f.elements.key ? { key: f.elements.key.value.trim() } : {}) };
  };
  const create = () => formDialog({
    title: t("contacts.attr.new"), submitLabel: t("action.save"), fields: fields(null),
    onSubmit: (f) => post(BASE, valuesOf(f)), onDone: () => reload(),
  });
  const edit = (a) => formDialog({
    title: t("contacts.attr.editNamed", { name: a.label }), submitLabel: t("action.save"), fields: fields(a),
    onSubmit: (f) => patch(`${BASE}/${a.id}`, valuesOf(f)), onDone: () => reload(),
  });
  const remove = async (a) => {
    if (!confirm(t("contacts.attr.confirmDelete", { name: a.label }))) return;
    try {
      await del(`${BASE}/${a.id}`);
      reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  };
  container.append(
    pageHeader(t("contacts.attr.title"), h("button", { type: "button", class: "primary", onclick: create }, t("contacts.attr.new"))),
    h("p", { class: "muted" }, t("contacts.attr.intro")),
    body,
  );
  reload();
  return { destroy() {} };
}
