// Settings › Agents: list and search; admins create agents, change role, active state,
// divisions and passwords. The server's field errors appear next to the fields.
import { loadDirectory } from "../app.js";
import { all, del, get, patch, post, put } from "../api.js";
import { debounce, h, uid } from "../dom.js";
import { field, formDialog, toast } from "../forms.js";
import { formatRelative, t } from "../i18n.js";
import { dot } from "../presence/presence.js";
import { pageHeader, pager, table } from "./common.js";

const ROLES = ["agent", "supervisor", "admin"];

function divisionChoices(divisions, chosen) {
  const legend = uid("lg");
  return h(
    "fieldset",
    { class: "field checks", dataset: { field: "divisions" }, "aria-labelledby": legend },
    h("legend", { id: legend }, t("agents.divisions")),
    divisions.length
      ? divisions.map((d) => {
          const id = uid("div");
          return h("label", { class: "check", for: id }, h("input", { type: "checkbox", id, name: "division", value: d.id, checked: chosen.has(d.id) }), d.name);
        })
      : h("p", { class: "muted small" }, t("agents.noDivisions")),
  );
}

const chosenDivisions = (form) =>
  new Set([...form.querySelectorAll("input[name=division]:checked")].map((i) => i.value));

async function syncDivisions(agentId, before, after) {
  for (const id of after) if (!before.has(id)) await put(`/api/v1/divisions/${id}/members/${agentId}`);
  for (const id of before) if (!after.has(id)) await del(`/api/v1/divisions/${id}/members/${agentId}`);
}

export function render(container, app) {
  const manage = app.can("agents.manage");
  const search = h("input", { type: "search", "aria-label": t("agents.search"), placeholder: t("agents.search") });
  const role = h("select", { "aria-label": t("agents.role") }, h("option", { value: "" }, t("agents.anyRole")), ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const active = h("select", { "aria-label": t("agents.status") },
    h("option", { value: "" }, t("agents.anyStatus")), h("option", { value: "true" }, t("agents.active")), h("option", { value: "false" }, t("agents.inactive")));
  const body = h("div", {});
  let divisions = [];
  // The dialogs list the divisions: they wait for them (a quick click came before them).
  const divisionsLoaded = all("/api/v1/divisions").then((d) => { divisions = d; }, () => {});
  const list = pager({
    path: "/api/v1/agents",
    query: () => ({ q: search.value.trim(), role: role.value, is_active: active.value }),
    into: body,
    render: (items) =>
      table(t("settings.agents"), [t("agents.name"), t("agents.email"), t("agents.role"), t("agents.divisions"), t("agents.status"), t("agents.lastSeen"), ""],
        items.map((a) => [
          h("span", { class: "strong" }, dot(a.id, a.presence), a.name),
          a.email,
          h("span", { class: `role-badge role-${a.role}` }, t(`role.${a.role}`)),
          (app.directory?.agent(a.id)?.division_ids || []).map((id) => divisions.find((d) => d.id === id)?.name).filter(Boolean).join(", "),
          h("span", { class: a.is_active ? "pill ok" : "pill off" }, t(a.is_active ? "agents.active" : "agents.inactive")),
          a.last_seen_at ? formatRelative(a.last_seen_at) : "—",
          manage ? h("button", { type: "button", class: "link", "aria-label": t("agents.editNamed", { name: a.name }), onclick: () => edit(a) }, t("action.edit")) : "",
        ])),
  });
  const refresh = async () => {
    await loadDirectory(true).catch(() => {});
    list.reload();
  };
  for (const el of [role, active]) el.addEventListener("change", () => list.reload());
  search.addEventListener("input", debounce(() => list.reload(), 300));

  const create = async () => {
    await divisionsLoaded;
    formDialog({
      title: t("agents.new"),
      submitLabel: t("agents.create"),
      fields: [
        field({ label: t("agents.name"), name: "name", required: true }),
        field({ label: t("agents.email"), name: "email", type: "email", required: true, attrs: { autocomplete: "off" } }),
        field({ label: t("agents.role"), name: "role", type: "select", value: "agent", options: ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })) }),
        field({ label: t("agents.password"), name: "password", type: "password", required: true, hint: t("agents.passwordHint"), attrs: { autocomplete: "new-password" } }),
        divisionChoices(divisions, new Set()),
      ],
      onSubmit: async (form) => {
        const v = (n) => form.elements[n].value;
        const agent = await post("/api/v1/agents", { name: v("name").trim(), email: v("email").trim(), role: v("role"), password: v("password") });
        await syncDivisions(agent.id, new Set(), chosenDivisions(form));
        return agent;
      },
      onDone: (agent) => {
        toast(t("agents.created", { name: agent.name }));
        refresh();
      },
    });
  };

  const edit = async (agent) => {
    await divisionsLoaded;
    const current = new Set((await get(`/api/v1/agents/${agent.id}/divisions`)).map((d) => d.id));
    formDialog({
      title: t("agents.editNamed", { name: agent.name }),
      submitLabel: t("action.save"),
      fields: [
        h("p", { class: "muted" }, agent.email),
        field({ label: t("agents.name"), name: "name", value: agent.name, required: true }),
        field({ label: t("agents.role"), name: "role", type: "select", value: agent.role, options: ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })) }),
        field({ label: t("agents.isActive"), name: "is_active", type: "checkbox", value: agent.is_active }),
        divisionChoices(divisions, current),
        field({ label: t("agents.newPassword"), name: "password", type: "password", hint: t("agents.newPasswordHint"), attrs: { autocomplete: "new-password" } }),
      ],
      onSubmit: async (form) => {
        const changes = {};
        const name = form.elements.name.value.trim();
        if (name !== agent.name) changes.name = name;
        if (form.elements.role.value !== agent.role) changes.role = form.elements.role.value;
        if (form.elements.is_active.checked !== agent.is_active) changes.is_active = form.elements.is_active.checked;
        let updated = agent;
        if (Object.keys(changes).length) updated = await patch(`/api/v1/agents/${agent.id}`, changes);
        const password = form.elements.password.value;
        if (password) await post(`/api/v1/agents/${agent.id}/password`, { password });
        await syncDivisions(agent.id, current, chosenDivisions(form));
        return updated;
      },
      onDone: () => {
        toast(t("state.saved"));
        refresh();
      },
    });
  };

  container.append(
    pageHeader(t("settings.agents"), manage ? h("button", { type: "button", class: "primary", onclick: create }, t("agents.new")) : null),
    h("div", { class: "toolbar" }, search, role, active),
    body,
  );
  Promise.all([divisionsLoaded, loadDirectory().catch(() => {})]).then(() => list.reload());
  return { destroy() {} };
}
