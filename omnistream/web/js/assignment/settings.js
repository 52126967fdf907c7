// Settings › Assignment (admins): automatic assignment switched on per division and for the
// conversations without one, and each agent's capacity in all and per channel.
// docs/inbox.md#automatic-assignment. Every control is a native checkbox, number field or
// button: reachable and usable with the keyboard alone.
import "./strings.js";
import { get, put } from "../api.js";
import { h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { t } from "../i18n.js";
import { CHANNEL_NAMES } from "../icons.js";
import { pageHeader, table } from "../settings/common.js";

const URL = "/api/v1/assignment";
const HREF = "/app/js/assignment/assignment.css";
if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}
const CHANNELS = ["whatsapp", "instagram", "email", "messenger"];

function checkbox(label, checked, onchange) {
  const input = h("input", { type: "checkbox", "aria-label": label, onchange });
  input.checked = checked;
  return input;
}

export function render(container) {
  const switches = h("div", { class: "assignment-switches" });
  const capacities = h("div", { class: "assignment-capacities" });
  const status = h("p", { class: "muted", role: "status" });

  async function save(body, input) {
    input.disabled = true;
    try {
      await put(`${URL}/settings`, body);
      toast(t("assignment.saved"));
    } catch (error) {
      input.checked = !input.checked; // as it was: nothing was saved
      toast(describe(error), "error");
    } finally {
      input.disabled = false;
    }
  }

  function renderSwitches(settings) {
    const global = checkbox(t("assignment.global"), settings.global_enabled, () =>
      save({ global_enabled: global.checked }, global));
    const rows = settings.divisions.map((d) => {
      const input = checkbox(t("assignment.onNamed", { name: d.name }), d.enabled, () =>
        save({ divisions: [{ division_id: d.division_id, enabled: input.checked }] }, input));
      return [d.name, input];
    });
    switches.replaceChildren(
      h("h2", {}, t("assignment.switches")),
      h("label", { class: "check" }, global, " ", t("assignment.global")),
      rows.length
        ? table(t("assignment.switches"), [t("assignment.division"), t("assignment.on")], rows)
        : h("p", { class: "muted" }, t("assignment.noDivisions")),
    );
  }

  function capacityRow(agent) {
    const total = h("input", {
      type: "number", min: 0, max: 1000, required: true, value: agent.capacity, class: "capacity",
      "aria-label": t("assignment.capacityNamed", { name: agent.name }),
    });
    const perChannel = CHANNELS.map((channel) =>
      h("input", {
        type: "number", min: 0, max: 1000, value: agent.channels[channel] ?? "", class: "capacity",
        dataset: { channel },
        "aria-label": t("assignment.channelNamed", { name: agent.name, channel: CHANNEL_NAMES[channel] }),
      }));
    const button = h("button", { type: "button", class: "link", "aria-label": t("assignment.saveNamed", { name: agent.name }) }, t("action.save"));
    button.addEventListener("click", async () => {
      const channels = {};
      for (const input of perChannel) if (input.value !== "") channels[input.dataset.channel] = Number(input.value);
      button.disabled = true;
      try {
        await put(`${URL}/agents/${agent.agent_id}`, { capacity: Number(total.value), channels });
        toast(t("assignment.saved"));
      } catch (error) {
        toast(describe(error), "error");
      } finally {
        button.disabled = false;
      }
    });
    return [
      agent.name,
      t(`assignment.presence.${agent.presence}`),
      String(agent.open),
      total,
      ...perChannel,
      button,
    ];
  }

  function renderCapacities(list) {
    capacities.replaceChildren(
      h("h2", {}, t("assignment.capacities")),
      h("p", { class: "muted" }, t("assignment.capacityIntro")),
      table(
        t("assignment.capacities"),
        [t("assignment.agent"), t("assignment.presence"), t("assignment.open"), t("assignment.capacity"),
          ...CHANNELS.map((c) => CHANNEL_NAMES[c]), ""],
        list.items.map(capacityRow),
      ),
    );
  }

  async function load() {
    status.textContent = t("state.loading");
    try {
      const [settings, list] = await Promise.all([get(`${URL}/settings`), get(`${URL}/agents`)]);
      renderSwitches(settings);
      renderCapacities(list);
      status.textContent = "";
    } catch (error) {
      status.textContent = describe(error);
    }
  }

  container.append(pageHeader(t("settings.assignment")), h("p", { class: "muted" }, t("assignment.intro")), status, switches, capacities);
  load();
  return { destroy() {} };
}
