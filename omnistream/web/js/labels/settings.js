// Settings › Labels (admins): the labels agents put on conversations; create, edit (name,
// colour with the browser's colour picker, description) and delete after a confirmation
// (it leaves every conversation). docs/inbox.md#labels.
import { del, patch, post } from "../api.js";
import { h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader, pager, table } from "../settings/common.js";
import { chip } from "./labels.js";

export function render(container) {
  const body = h("div", {});
  const list = pager({
    path: "/api/v1/labels",
    into: body,
    render: (items) =>
      table(t("settings.labels"), [t("labels.name"), t("labels.description"), ""],
        items.map((l) => [
          chip(l),
          l.description || "—",
          h("span", { class: "row-actions" },
            h("button", { type: "button", class: "link", "aria-label": t("labels.editNamed", { name: l.name }), onclick: () => edit(l) }, t("action.edit")),
            h("button", { type: "button", class: "link danger", "aria-label": t("labels.deleteNamed", { name: l.name }), onclick: () => remove(l) }, t("action.delete"))),
        ])),
  });

  const fields = (l = {}) => [
    field({ label: t("labels.name"), name: "name", value: l.name, required: true, attrs: { maxlength: 50 } }),
    field({ label: t("labels.colour"), name: "colour", type: "color", value: l.colour || "#1d6fb8" }),
    field({ label: t("labels.description"), name: "description", type: "textarea", value: l.description, attrs: { maxlength: 500 } }),
  ];
  const valuesOf = (f) => ({
    name: f.elements.name.value.trim(),
    colour: f.elements.colour.value,
    description: f.elements.description.value.trim(),
  });
  const create = () =>
    formDialog({
      title: t("labels.new"),
      submitLabel: t("labels.create"),
      fields: fields(),
      onSubmit: (f) => post("/api/v1/labels", valuesOf(f)),
      onDone: (l) => {
        toast(t("labels.created", { name: l.name }));
        list.reload();
      },
    });
  const edit = (l) =>
    formDialog({
      title: t("labels.editNamed", { name: l.name }),
      submitLabel: t("action.save"),
      fields: fields(l),
      onSubmit: (f) => patch(`/api/v1/labels/${l.id}`, valuesOf(f)),
      onDone: () => list.reload(),
    });
  const remove = async (l) => {
    if (!confirm(t("labels.confirmDelete", { name: l.name }))) return;
    try {
      await del(`/api/v1/labels/${l.id}`);
      list.reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  };

  container.append(
    pageHeader(t("settings.labels"), h("button", { type: "button", class: "primary", onclick: create }, t("labels.new"))),
    h("p", { class: "muted" }, t("labels.intro")),
    body,
  );
  list.reload();
  return { destroy() {} };
}
