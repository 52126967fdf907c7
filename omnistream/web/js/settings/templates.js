// Settings › Templates: the WhatsApp templates synced from Meta, their status and text;
// admins pull them from Meta now.
import { get, post } from "../api.js";
import { debounce, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { formatDateTime, t } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

const STATUS_CLASS = { APPROVED: "ok", PENDING: "warn", REJECTED: "bad", PAUSED: "warn", DISABLED: "bad" };

export function render(container, app) {
  const search = h("input", { type: "search", "aria-label": t("templates.search"), placeholder: t("templates.search") });
  const status = h("select", { "aria-label": t("tpl.status") }, h("option", { value: "" }, t("tpl.anyStatus")),
    Object.keys(STATUS_CLASS).map((s) => h("option", { value: s }, s)));
  const body = h("div", {});
  const list = pager({
    path: "/api/v1/templates",
    query: () => ({ q: search.value.trim(), status: status.value }),
    into: body,
    render: (items) =>
      table(t("settings.templates"), [t("tpl.name"), t("tpl.language"), t("tpl.category"), t("tpl.status"), t("tpl.body"), t("tpl.synced")],
        items.map((x) => [
          h("span", { class: "strong" }, x.name),
          x.language,
          x.category,
          h("span", { class: `pill ${STATUS_CLASS[x.status] || "off"}`, title: x.status_reason || "" }, x.status),
          h("span", { class: "muted" }, x.body_text),
          formatDateTime(x.synced_at),
        ])),
  });
  search.addEventListener("input", debounce(() => list.reload(), 300));
  status.addEventListener("change", () => list.reload());
  const actions = h("div", { class: "page-actions" });
  container.append(pageHeader(t("settings.templates"), actions), h("div", { class: "toolbar" }, search, status), body);
  if (app.can("templates.sync") && app.can("integrations.manage")) {
    get("/api/v1/integrations", { channel: "whatsapp", limit: 200 }).then((page) => {
      for (const integration of page.items) {
        const button = h("button", { type: "button" }, t("tpl.syncNamed", { name: integration.name }));
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            const out = await post(`/api/v1/integrations/${integration.id}/templates/sync`);
            toast(t("integrations.synced", { total: out.total, added: out.added, updated: out.updated }));
            list.reload();
          } catch (error) {
            toast(describe(error), "error");
          } finally {
            button.disabled = false;
          }
        });
        actions.append(button);
      }
    }, () => {});
  }
  list.reload();
  return { destroy() {} };
}
