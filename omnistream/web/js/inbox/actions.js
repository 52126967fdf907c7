// What an agent does with a conversation: take, assign / unassign, transfer (agent and/or
// division, with a reason), resolve / reopen. Dialogs show the server's field errors.
import { app, loadDirectory } from "../app.js";
import { post } from "../api.js";
import { h } from "../dom.js";
import { field, formDialog, toast } from "../forms.js";
import { t } from "../i18n.js";

const base = (conversation) => `/api/v1/conversations/${conversation.id}`;
// "Name · Online" once the presence module is loaded (docs/inbox.md#availability).
const withPresence = (agent, text) => app.presenceLabel?.(agent, text) ?? text;

export const take = (conversation) => post(`${base(conversation)}/take`);

export const setStatus = (conversation, resolved) =>
  post(`${base(conversation)}/${resolved ? "resolve" : "reopen"}`);

/** Assign to a colleague of the conversation's division (or back to the pool). */
export async function assignDialog(conversation, onDone) {
  const directory = await loadDirectory();
  const agents = directory.agents.filter(
    (a) => app.me.role === "admin" || conversation.division_id === null || a.division_ids.includes(conversation.division_id),
  );
  formDialog({
    title: t("actions.assign"),
    submitLabel: t("actions.assign"),
    fields: field({
      label: t("actions.assignTo"),
      name: "agent_id",
      type: "select",
      value: conversation.assigned_agent_id || "",
      options: [
        { value: "", label: t("actions.nobody") },
        ...agents.map((a) => ({ value: a.id, label: withPresence(a, a.id === app.me.id ? `${a.name} (${t("actions.me")})` : a.name) })),
      ],
    }),
    onSubmit: (form) => {
      const agentId = form.elements.agent_id.value;
      return agentId
        ? post(`${base(conversation)}/assign`, { agent_id: agentId })
        : post(`${base(conversation)}/unassign`);
    },
    onDone,
  });
}

/** Transfer to another agent and/or division, with a reason. */
export async function transferDialog(conversation, onDone) {
  const directory = await loadDirectory();
  const divisionField = field({
    label: t("actions.toDivision"),
    name: "division_id",
    type: "select",
    value: "",
    options: [
      { value: "", label: t("actions.keepDivision") },
      ...directory.divisions
        .filter((d) => d.id !== conversation.division_id)
        .map((d) => ({ value: d.id, label: d.name })),
    ],
  });
  const agentField = field({ label: t("actions.toAgent"), name: "agent_id", type: "select", options: [] });
  const divisionSelect = divisionField.querySelector("select");
  const agentSelect = agentField.querySelector("select");
  const fillAgents = () => {
    const target = divisionSelect.value || conversation.division_id;
    const people = directory.agents.filter(
      (a) =>
        a.id !== conversation.assigned_agent_id &&
        (target === null || a.division_ids.includes(target) || app.me.role === "admin"),
    );
    agentSelect.replaceChildren(
      h("option", { value: "" }, divisionSelect.value ? t("actions.divisionPool") : t("actions.chooseAgent")),
      ...people.map((a) => h("option", { value: a.id }, withPresence(a, a.name))),
    );
  };
  divisionSelect.addEventListener("change", fillAgents);
  fillAgents();
  formDialog({
    title: t("actions.transfer"),
    submitLabel: t("actions.transfer"),
    fields: [
      divisionField,
      agentField,
      // Required by the API (blank is refused with a 422 on `reason`, shown under this field).
      field({ label: t("actions.reason"), name: "reason", type: "textarea", required: true, attrs: { maxlength: 1000 } }),
    ],
    onSubmit: (form) => {
      const body = { reason: form.elements.reason.value.trim() };
      if (agentSelect.value) body.agent_id = agentSelect.value;
      if (divisionSelect.value) body.division_id = divisionSelect.value;
      return post(`${base(conversation)}/transfer`, body);
    },
    onDone: (result) => {
      toast(t("actions.transferred"));
      onDone?.(result.conversation);
    },
  });
}
