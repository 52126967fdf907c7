// The Reports page's toolbar: range (presets or custom dates), grouping and the filters.
// Every change is handed to onChange as a new state (which goes into the address); the
// choices of division, agent and account arrive later (fill), as their lists load.
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { CHANNEL_NAMES } from "../icons.js";
import { CHANNELS, GROUPS, PRESETS, presetRange, rangeProblem, today } from "./state.js";

function labelled(text, control, extra = {}) {
  return h("label", { class: "rf", ...extra }, h("span", { class: "rf-label" }, text), control);
}

function options(select, list, all, chosen) {
  const known = list.some((o) => o.value === chosen);
  fill(
    select,
    h("option", { value: "" }, all),
    // A choice from the address not (yet) in the list stays chosen, named by its id.
    chosen && !known ? h("option", { value: chosen, selected: true }, chosen) : null,
    ...list.map((o) => h("option", { value: o.value, selected: o.value === chosen }, o.label)),
  );
}

/**
 * filters(state, {division, agent, account}: whether each filter is offered, onChange)
 * -> {el, fill(name, [{value, label}]), hide(name)}
 */
export function filters(state, offered, onChange) {
  const next = (changes) => onChange({ ...state, ...changes });
  const preset = h("select", { name: "preset" }, PRESETS.map((p) => h("option", { value: p, selected: p === state.preset }, t(`reports.preset.${p}`))));
  const from = h("input", { type: "date", name: "from", value: state.from, required: true });
  const to = h("input", { type: "date", name: "to", value: state.to, required: true });
  const said = h("p", { class: "rf-problem", role: "alert" });
  const custom = h("div", { class: "rf-custom", hidden: state.preset !== "custom" },
    labelled(t("reports.from"), from), labelled(t("reports.to"), to));

  preset.addEventListener("change", () => {
    if (preset.value === "custom") {
      custom.hidden = false; // keep the dates shown until the agent changes them
      next({ preset: "custom", from: state.from, to: state.to });
    } else {
      next({ preset: preset.value, ...presetRange(preset.value, today(state.tz)) });
    }
  });
  const dates = () => {
    if (!from.value || !to.value) return;
    const problem = rangeProblem({ from: from.value, to: to.value });
    said.textContent = problem ? t(problem) : "";
    from.toggleAttribute("aria-invalid", !!problem);
    to.toggleAttribute("aria-invalid", !!problem);
    if (!problem) next({ preset: "custom", from: from.value, to: to.value });
  };
  from.addEventListener("change", dates);
  to.addEventListener("change", dates);

  const group = h("select", { name: "group" }, GROUPS.map((g) => h("option", { value: g, selected: g === state.group }, t(`reports.group.${g}`))));
  group.addEventListener("change", () => next({ group: group.value }));

  const selects = {};
  const pick = (name, all) => {
    const select = h("select", { name });
    options(select, [], all, state[name]);
    select.addEventListener("change", () => next({ [name]: select.value }));
    selects[name] = { select, all };
    return select;
  };
  const channel = pick("channel", t("reports.all.channel"));
  options(channel, CHANNELS.map((c) => ({ value: c, label: CHANNEL_NAMES[c] })), t("reports.all.channel"), state.channel);

  const wrappers = {
    division_id: offered.division ? labelled(t("reports.filter.division"), pick("division_id", t("reports.all.division"))) : null,
    agent_id: offered.agent ? labelled(t("reports.filter.agent"), pick("agent_id", t("reports.all.agent"))) : null,
    account_id: offered.account ? labelled(t("reports.filter.account"), pick("account_id", t("reports.all.account"))) : null,
  };
  const el = h("div", { class: "reports-filters", role: "group", "aria-label": t("reports.filters") },
    labelled(t("reports.range"), preset), custom,
    labelled(t("reports.groupBy"), group),
    labelled(t("reports.filter.channel"), channel),
    wrappers.division_id, wrappers.agent_id, wrappers.account_id, said);

  return {
    el,
    fill(name, list) {
      if (selects[name]) options(selects[name].select, list, selects[name].all, state[name]);
    },
    /** A filter whose list the agent may not read (kept when the address names it). */
    hide(name) {
      if (wrappers[name] && !state[name]) wrappers[name].hidden = true;
    },
  };
}
