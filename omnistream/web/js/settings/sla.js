// Settings › SLA policies (admins, sla.manage; docs/sla.md): the policies with their targets
// and business hours, create / edit / delete, and the business-hours editor (time zone, 24/7,
// intervals per weekday, holidays, public holidays filled from GET /sla/holidays). The list
// follows sla_policy.* events. Inputs are named after the API's fields, so its field errors
// (business_hours.weekly.mon.0.end …) land next to them.
import { loadDirectory } from "../app.js";
import { del, get, patch, post } from "../api.js";
import { fill, h, uid } from "../dom.js";
import { describe, field, formDialog, showErrors, toast } from "../forms.js";
import { lang, t } from "../i18n.js";
import { CHANNEL_NAMES } from "../icons.js";
import { span } from "../inbox/sla.js";
import { pageHeader, table } from "./common.js";

const BASE = "/api/v1/sla/policies";
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ZONES = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Asia/Singapore", "Asia/Kuala_Lumpur", "Asia/Bangkok",
  "Asia/Manila", "Asia/Ho_Chi_Minh", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Kolkata", "Asia/Dubai", "Australia/Sydney",
  "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"];
const OFFICE = { timezone: "Asia/Jakarta", always: false, holidays: [],
  weekly: Object.fromEntries(DAYS.slice(0, 6).map((d) => [d, [{ start: "08:00", end: "17:00" }]])) };

// 2024-01-01 was a Monday: the weekday names in the page's language.
const dayName = (d) => new Intl.DateTimeFormat(lang(), { weekday: "short", timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + DAYS.indexOf(d)));

function hoursSummary(bh) {
  const runs = [];
  for (const d of DAYS) {
    const key = (bh.weekly[d] || []).map((i) => `${i.start}–${i.end}`).join(", ");
    const last = runs.at(-1);
    if (last && last.key === key) last.to = d;
    else runs.push({ from: d, to: d, key });
  }
  const week = bh.always ? t("sla.always") : runs.filter((r) => r.key)
    .map((r) => `${dayName(r.from)}${r.to !== r.from ? `–${dayName(r.to)}` : ""} ${r.key}`).join("; ");
  return [week, bh.timezone, bh.holidays.length ? t("sla.holidayCount", { n: bh.holidays.length }) : null].filter(Boolean).join(" · ");
}

/** The business-hours editor; value() gives the API's JSON. */
function hoursEditor(bh) {
  const zones = uid("zones");
  const zone = field({ label: t("sla.timezone"), name: "business_hours.timezone", value: bh.timezone, attrs: { list: zones, autocomplete: "off" } });
  zone.append(h("datalist", { id: zones }, ZONES.map((z) => h("option", { value: z }))));
  const always = field({ label: t("sla.always"), name: "business_hours.always", type: "checkbox", value: bh.always });
  const days = new Map(); // day -> its intervals' container
  const interval = (d, i) => {
    const time = (part) => h("span", { class: "field", dataset: { field: `${part}` } },
      h("input", { type: "time", value: i[part.split(".").at(-1)] || "", "aria-label": `${dayName(d)} ${t(part.endsWith("start") ? "sla.start" : "sla.end")}` }));
    const row = h("div", { class: "sla-interval" });
    const redo = () => renumber(d);
    row.append(time("start"), "–", time("end"), h("button", { type: "button", class: "ghost", "aria-label": t("sla.removeInterval"), onclick: () => { row.remove(); redo(); } }, "×"));
    return row;
  };
  // Each interval is named by its place (business_hours.weekly.mon.0) as the API counts it.
  function renumber(d) {
    const box = days.get(d);
    const rows = [...box.querySelectorAll(".sla-interval")];
    rows.forEach((row, n) => {
      row.dataset.field = `business_hours.weekly.${d}.${n}`;
      row.classList.add("field");
      for (const [k, part] of [[0, "start"], [1, "end"]]) row.querySelectorAll("[data-field]")[k].dataset.field = `business_hours.weekly.${d}.${n}.${part}`;
    });
    box.querySelector(".sla-closed").hidden = rows.length > 0;
  }
  const add = (d, i) => {
    days.get(d).querySelector(".sla-intervals").append(interval(d, i));
    renumber(d);
  };
  const week = h("div", { class: "sla-week", dataset: { field: "business_hours.weekly" } }, DAYS.map((d) => {
    const box = h("div", { class: "sla-day", dataset: { day: d } },
      h("span", { class: "sla-dayname" }, dayName(d)),
      h("div", { class: "sla-intervals" }),
      h("span", { class: "muted sla-closed" }, t("sla.closed")),
      h("button", { type: "button", class: "ghost", onclick: () => add(d, { start: "08:00", end: "17:00" }) }, t("sla.addInterval")));
    days.set(d, box);
    return box;
  }));
  const times = (d) => [...days.get(d).querySelectorAll(".sla-interval")].map((row) => {
    const [start, end] = row.querySelectorAll("input");
    return { start: start.value, end: end.value };
  });
  const copy = h("button", { type: "button", onclick: () => {
    const monday = times("mon");
    for (const d of DAYS.slice(1)) {
      days.get(d).querySelector(".sla-intervals").replaceChildren();
      for (const i of monday) add(d, i);
      renumber(d);
    }
  } }, t("sla.copyMonday"));
  // Holidays: dates as chips, added by hand or from a country's calendar.
  const dates = new Set(bh.holidays);
  const chips = h("div", { class: "sla-holidays" });
  const drawDates = () => fill(chips, [...dates].sort().map((x) => h("span", { class: "chip", dataset: { date: x } }, x,
    h("button", { type: "button", class: "ghost", "aria-label": t("sla.removeHoliday", { date: x }), onclick: () => { dates.delete(x); drawDates(); } }, "×"))),
    dates.size ? null : h("span", { class: "muted" }, t("sla.noHolidays")));
  const day = h("input", { type: "date", "aria-label": t("sla.holidayDate") });
  const country = field({ label: t("sla.country"), name: "country", value: "ID", attrs: { maxlength: 3, size: 4 } });
  const year = field({ label: t("sla.year"), name: "year", type: "number", value: new Date().getFullYear(), attrs: { min: 2000, max: 2100 } });
  const said = h("span", { class: "muted", role: "status" });
  const fillPublic = async (event) => {
    const form = event.target.form;
    try {
      const found = await get("/api/v1/sla/holidays", { country: country.querySelector("input").value.trim(), year: year.querySelector("input").value });
      for (const x of found) dates.add(x.date);
      drawDates();
      said.textContent = t("sla.filled", { n: found.length });
    } catch (error) {
      showErrors(form, error);
    }
  };
  drawDates();
  const el = h("fieldset", { class: "group sla-hours", dataset: { field: "business_hours" } },
    h("legend", {}, t("sla.hours")), zone, always, week, h("div", { class: "toolbar" }, copy),
    h("fieldset", { class: "group", dataset: { field: "business_hours.holidays" } }, h("legend", {}, t("sla.holidays")), chips,
      h("div", { class: "toolbar" }, day, h("button", { type: "button", onclick: () => { if (day.value) dates.add(day.value); day.value = ""; drawDates(); } }, t("sla.addHoliday"))),
      h("div", { class: "toolbar sla-fill" }, country, year, h("button", { type: "button", onclick: fillPublic }, t("sla.fillPublic")), said)));
  for (const d of DAYS) for (const i of bh.weekly[d] || []) add(d, i);
  for (const d of DAYS) renumber(d);
  return {
    el,
    value: () => ({
      timezone: zone.querySelector("input").value.trim(),
      always: always.querySelector("input").checked,
      weekly: Object.fromEntries(DAYS.map((d) => [d, times(d)])),
      holidays: [...dates].sort(),
    }),
  };
}

export function render(container, app) {
  const policies = new Map();
  const gone = new Set();
  const body = h("div", {});

  function keep(p) {
    const known = policies.get(p.id);
    if (!gone.has(p.id) && (!known || Date.parse(known.updated_at) <= Date.parse(p.updated_at))) policies.set(p.id, p);
  }

  function draw() {
    const list = [...policies.values()].sort((a, b) => b.priority - a.priority || (b.division_id ? 1 : 0) - (a.division_id ? 1 : 0) || a.name.localeCompare(b.name));
    const minutes = (m) => (m ? span(m) : t("sla.untracked"));
    fill(body, table(t("settings.sla"),
      [t("sla.name"), t("sla.channel"), t("sla.division"), t("sla.first"), t("sla.next"), t("sla.resolution"), t("sla.hours"), ""],
      list.map((p) => [
        h("strong", { class: "sla-name" }, p.name),
        p.channel ? CHANNEL_NAMES[p.channel] : t("sla.any"),
        p.division_id ? p.division_name : t("sla.any"),
        minutes(p.first_response_minutes), minutes(p.next_response_minutes), minutes(p.resolution_minutes),
        h("span", { class: "small" }, hoursSummary(p.business_hours)),
        h("span", { class: "toolbar" },
          h("button", { type: "button", onclick: () => edit(p) }, t("action.edit")),
          h("button", { type: "button", class: "danger", onclick: () => remove(p) }, t("action.delete"))),
      ])));
    for (const [i, tr] of [...body.querySelectorAll("tbody tr")].entries()) if (list[i]) tr.dataset.id = list[i].id;
  }

  async function reload() {
    try {
      const items = await get(BASE);
      policies.clear();
      gone.clear();
      items.forEach(keep);
      draw();
    } catch (error) {
      fill(body, h("p", { class: "form-error" }, describe(error)));
    }
  }

  async function open(p) {
    const directory = await loadDirectory().catch(() => ({ divisions: [] }));
    const hours = hoursEditor(p?.business_hours || OFFICE);
    const num = (label, name, value, hint) => field({ label, name, type: "number", value, hint, attrs: { min: 1 } });
    formDialog({
      title: p ? t("sla.editNamed", { name: p.name }) : t("sla.new"),
      submitLabel: p ? t("action.save") : t("sla.create"),
      wide: true,
      fields: [
        field({ label: t("sla.name"), name: "name", value: p?.name, required: true }),
        h("div", { class: "sla-pair" },
          field({ label: t("sla.channel"), name: "channel", type: "select", value: p?.channel || "", options: [{ value: "", label: t("sla.any") }, ...Object.entries(CHANNEL_NAMES).map(([value, label]) => ({ value, label }))] }),
          field({ label: t("sla.division"), name: "division_id", type: "select", value: p?.division_id || "", options: [{ value: "", label: t("sla.any") }, ...directory.divisions.map((d) => ({ value: d.id, label: d.name }))] })),
        h("div", { class: "sla-pair" },
          num(t("sla.first"), "first_response_minutes", p?.first_response_minutes, t("sla.minutesHint")),
          num(t("sla.next"), "next_response_minutes", p?.next_response_minutes, t("sla.nextHint")),
          num(t("sla.resolution"), "resolution_minutes", p?.resolution_minutes, t("sla.minutesHint")),
          num(t("sla.warning"), "warning_percent", p?.warning_percent ?? 80, t("sla.warningHint"))),
        hours.el,
      ],
      onSubmit: (form) => {
        const v = (name) => form.elements[name].value.trim();
        const n = (name) => (v(name) === "" ? null : Number(v(name)));
        const body = {
          name: v("name"), channel: v("channel") || null, division_id: v("division_id") || null,
          first_response_minutes: n("first_response_minutes"), next_response_minutes: n("next_response_minutes"),
          resolution_minutes: n("resolution_minutes"), warning_percent: n("warning_percent"), business_hours: hours.value(),
        };
        return p ? patch(`${BASE}/${p.id}`, body) : post(BASE, body);
      },
      onDone: (saved) => {
        keep(saved);
        draw();
        toast(t("state.saved"));
      },
    });
  }
  const edit = (p) => open(p).catch((error) => toast(describe(error), "error"));

  async function remove(p) {
    if (!confirm(t("sla.confirmDelete", { name: p.name }))) return;
    try {
      await del(`${BASE}/${p.id}`);
      policies.delete(p.id);
      gone.add(p.id);
      draw();
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  const off = app.live.on((event) => {
    if (event.type === "reload") return reload();
    if (!event.type?.startsWith("sla_policy.")) return;
    if (event.type === "sla_policy.deleted") {
      policies.delete(event.data.policy_id);
      gone.add(event.data.policy_id);
    } else keep(event.data.policy);
    draw();
  });

  container.append(
    pageHeader(t("settings.sla"), h("button", { type: "button", class: "primary", onclick: () => edit(null) }, t("sla.new"))),
    h("p", { class: "muted" }, t("sla.intro")),
    body);
  app.live.firstReady.then(reload); // read after the socket is ready: no change falls between
  return { destroy: off };
}
