// Settings › Quick replies: everyone sees the ones they may use and pins favourites;
// admins and supervisors create, edit and delete (supervisors: their divisions' only).
import { all, del, patch, post, put } from "../api.js";
import { debounce, h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

export function render(container, app) {
  const manage = app.can("quick_replies.manage");
  const search = h("input", { type: "search", "aria-label": t("qr.search"), placeholder: t("qr.search") });
  const body = h("div", {});
  let divisions = app.me.divisions;
  const list = pager({
    path: "/api/v1/quick-replies",
    query: () => ({ q: search.value.trim() }),
    into: body,
    render: (items) =>
      table(t("settings.quickReplies"), ["", t("qr.title"), t("qr.body"), t("qr.division"), ""],
        items.map((r) => [
          h("button", {
            type: "button",
            class: "link star",
            "aria-pressed": String(r.is_favorite),
            "aria-label": t("qr.favorite", { title: r.title }),
            onclick: () => favorite(r),
          }, r.is_favorite ? "★" : "☆"),
          h("span", { class: "strong" }, r.title),
          h("span", { class: "muted" }, r.body.length > 120 ? `${r.body.slice(0, 119)}…` : r.body, r.media_url ? ` 📎 ${r.media_type}` : ""),
          r.division_name || t("qr.everyone"),
          r.can_manage
            ? h("span", { class: "row-actions" },
                h("button", { type: "button", class: "link", "aria-label": t("qr.editNamed", { title: r.title }), onclick: () => edit(r) }, t("action.edit")),
                h("button", { type: "button", class: "link danger", "aria-label": t("qr.deleteNamed", { title: r.title }), onclick: () => remove(r) }, t("action.delete")))
            : "",
        ])),
  });
  search.addEventListener("input", debounce(() => list.reload(), 300));

  async function favorite(reply) {
    try {
      if (reply.is_favorite) await del(`/api/v1/quick-replies/${reply.id}/favorite`);
      else await put(`/api/v1/quick-replies/${reply.id}/favorite`);
      list.reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  const fields = (reply = {}) => [
    field({ label: t("qr.title"), name: "title", value: reply.title, required: true, hint: t("qr.titleHint") }),
    field({ label: t("qr.body"), name: "body", type: "textarea", value: reply.body, required: true, hint: t("qr.placeholders") }),
    field({ label: t("qr.mediaUrl"), name: "media_url", type: "url", value: reply.media_url || "", hint: t("qr.mediaHint") }),
    field({
      label: t("qr.division"),
      name: "division_id",
      type: "select",
      value: reply.division_id || (app.me.role === "admin" ? "" : divisions[0]?.id || ""),
      options: [
        ...(app.me.role === "admin" ? [{ value: "", label: t("qr.everyone") }] : []),
        ...divisions.map((d) => ({ value: d.id, label: d.name })),
      ],
    }),
  ];
  const payload = (form) => ({
    title: form.elements.title.value.trim(),
    body: form.elements.body.value.trim(),
    media_url: form.elements.media_url.value.trim() || null,
    division_id: form.elements.division_id.value || null,
  });
  const create = () =>
    formDialog({
      title: t("qr.new"),
      submitLabel: t("qr.create"),
      fields: fields(),
      onSubmit: (form) => post("/api/v1/quick-replies", payload(form)),
      onDone: () => list.reload(),
    });
  const edit = (reply) =>
    formDialog({
      title: t("qr.editNamed", { title: reply.title }),
      submitLabel: t("action.save"),
      fields: fields(reply),
      onSubmit: (form) => patch(`/api/v1/quick-replies/${reply.id}`, payload(form)),
      onDone: () => list.reload(),
    });
  async function remove(reply) {
    if (!confirm(t("qr.confirmDelete", { title: reply.title }))) return;
    try {
      await del(`/api/v1/quick-replies/${reply.id}`);
      list.reload();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  container.append(
    pageHeader(t("settings.quickReplies"), manage ? h("button", { type: "button", class: "primary", onclick: create }, t("qr.new")) : null),
    h("div", { class: "toolbar" }, search),
    body,
  );
  if (app.me.role === "admin") {
    all("/api/v1/divisions").then((d) => { divisions = d; }, () => {}).finally(() => list.reload());
  } else list.reload();
  return { destroy() {} };
}
