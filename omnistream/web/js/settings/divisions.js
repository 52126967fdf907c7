// Settings › Divisions: list; admins create, rename, delete, and manage members.
import { loadDirectory } from "../app.js";
import { all, del, patch, post, put } from "../api.js";
import { debounce, fill, h } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader, pager, table } from "./common.js";

export function render(container, app) {
  const manage = app.can("divisions.manage");
  const search = h("input", { type: "search", "aria-label": t("divisions.search"), placeholder: t("divisions.search") });
  const body = h("div", {});
  const members = h("div", { class: "members-panel" });
  const list = pager({
    path: "/api/v1/divisions",
    query: () => ({ q: search.value.trim() }),
    into: body,
    render: (items) =>
      table(t("settings.divisions"), [t("divisions.name"), t("divisions.description"), t("divisions.members"), ""],
        items.map((d) => [
          h("span", { class: "strong" }, d.name),
          d.description || "—",
          String(d.member_count ?? ""),
          h("span", { class: "row-actions" },
            h("button", { type: "button", class: "link", "aria-label": t("divisions.membersOf", { name: d.name }), onclick: () => showMembers(d) }, t("divisions.members")),
            manage ? h("button", { type: "button", class: "link", "aria-label": t("divisions.editNamed", { name: d.name }), onclick: () => edit(d) }, t("action.edit")) : null,
            manage ? h("button", { type: "button", class: "link danger", "aria-label": t("divisions.deleteNamed", { name: d.name }), onclick: () => remove(d) }, t("action.delete")) : null),
        ])),
  });
  search.addEventListener("input", debounce(() => list.reload(), 300));
  const changed = () => {
    loadDirectory(true).catch(() => {});
    list.reload();
  };

  const form = (d = {}) => [
    field({ label: t("divisions.name"), name: "name", value: d.name, required: true }),
    field({ label: t("divisions.description"), name: "description", type: "textarea", value: d.description }),
  ];
  const create = () =>
    formDialog({
      title: t("divisions.new"),
      submitLabel: t("divisions.create"),
      fields: form(),
      onSubmit: (f) => post("/api/v1/divisions", { name: f.elements.name.value.trim(), description: f.elements.description.value.trim() }),
      onDone: (d) => {
        toast(t("divisions.created", { name: d.name }));
        changed();
      },
    });
  const edit = (d) =>
    formDialog({
      title: t("divisions.editNamed", { name: d.name }),
      submitLabel: t("action.save"),
      fields: form(d),
      onSubmit: (f) => patch(`/api/v1/divisions/${d.id}`, { name: f.elements.name.value.trim(), description: f.elements.description.value.trim() }),
      onDone: changed,
    });
  const remove = async (d) => {
    if (!confirm(t("divisions.confirmDelete", { name: d.name }))) return;
    try {
      await del(`/api/v1/divisions/${d.id}`);
      fill(members);
      changed();
    } catch (error) {
      toast(describe(error), "error");
    }
  };

  async function showMembers(division) {
    fill(members, h("p", { class: "muted" }, t("state.loading")));
    let people;
    let agents = [];
    try {
      people = await all(`/api/v1/divisions/${division.id}/members`);
      if (manage) agents = await all("/api/v1/agents", { is_active: true });
    } catch (error) {
      fill(members, h("p", { class: "form-error" }, describe(error)));
      return;
    }
    const ids = new Set(people.map((p) => p.id ?? p.agent_id));
    const pick = h("select", { "aria-label": t("divisions.addMember") },
      h("option", { value: "" }, t("divisions.chooseAgent")),
      agents.filter((a) => !ids.has(a.id)).map((a) => h("option", { value: a.id }, `${a.name} (${a.email})`)));
    const add = async () => {
      if (!pick.value) return;
      try {
        await put(`/api/v1/divisions/${division.id}/members/${pick.value}`);
        changed();
        showMembers(division);
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    const drop = async (person) => {
      try {
        await del(`/api/v1/divisions/${division.id}/members/${person.id ?? person.agent_id}`);
        changed();
        showMembers(division);
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    fill(
      members,
      h("h2", {}, t("divisions.membersOf", { name: division.name })),
      table(t("divisions.membersOf", { name: division.name }), [t("agents.name"), t("agents.email"), t("agents.role"), ""],
        people.map((p) => [p.name, p.email || "", t(`role.${p.role}`), manage ? h("button", { type: "button", class: "link danger", "aria-label": t("divisions.removeNamed", { name: p.name }), onclick: () => drop(p) }, t("divisions.remove")) : ""])),
      manage ? h("div", { class: "toolbar" }, pick, h("button", { type: "button", onclick: add }, t("divisions.addMember"))) : null,
    );
  }

  container.append(
    pageHeader(t("settings.divisions"), manage ? h("button", { type: "button", class: "primary", onclick: create }, t("divisions.new")) : null),
    h("div", { class: "toolbar" }, search),
    body,
    members,
  );
  list.reload();
  return { destroy() {} };
}
