// The Reports page's choices live in its address, "#/reports?preset=last30&group=week&channel=…",
// so a reload, a bookmark or a shared link opens the same report. A preset is kept as its
// name (tomorrow "last 7 days" means tomorrow's week), a custom range as from/to; tz only
// when the address names one (otherwise the agent's zone of the moment is used).
import { timeZone } from "../i18n.js";

export const PRESETS = ["last7", "last30", "last90", "thisMonth", "lastMonth", "custom"];
export const GROUPS = ["day", "week", "month"];
export const FILTERS = ["channel", "division_id", "agent_id", "account_id"];
export const CHANNELS = ["whatsapp", "messenger", "instagram", "email"];
export const MAX_DAYS = 400; // the API's limit (reports/periods.py), checked here to say it in the agent's language

const DAY = 86_400_000;
const ISO = /^\d{4}-\d{2}-\d{2}$/;
const ms = (date) => Date.parse(`${date}T00:00:00Z`);
const iso = (time) => new Date(time).toISOString().slice(0, 10);
export const addDays = (date, n) => iso(ms(date) + n * DAY);
export const daysBetween = (from, to) => Math.round((ms(to) - ms(from)) / DAY) + 1;
const validDate = (v) => ISO.test(v || "") && !Number.isNaN(ms(v)) && iso(ms(v)) === v;

/** Today's date (YYYY-MM-DD) in `zone`: the reports' days are that zone's. */
export function today(zone) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  } catch {
    return iso(Date.now()); // an unknown zone: the server says so (422 naming tz)
  }
}

/** The dates a preset stands for on `day` (inclusive). */
export function presetRange(preset, day) {
  const first = `${day.slice(0, 8)}01`;
  switch (preset) {
    case "last7": return { from: addDays(day, -6), to: day };
    case "last90": return { from: addDays(day, -89), to: day };
    case "thisMonth": return { from: first, to: day };
    case "lastMonth": {
      const end = addDays(first, -1);
      return { from: `${end.slice(0, 8)}01`, to: end };
    }
    default: return { from: addDays(day, -29), to: day };
  }
}

/** The state the address asks for: {preset, from, to, tz, tzGiven, group, channel, ...}. */
export function readState(hash = location.hash) {
  const query = new URLSearchParams(hash.split("?")[1] || "");
  const given = query.get("tz");
  const tz = given || timeZone();
  const from = query.get("from");
  const to = query.get("to");
  let preset = query.get("preset");
  if (!PRESETS.includes(preset)) preset = validDate(from) || validDate(to) ? "custom" : "last30";
  const state = { preset, tz, tzGiven: !!given, group: GROUPS.includes(query.get("group")) ? query.get("group") : "day" };
  const day = today(tz);
  if (preset === "custom") {
    state.to = validDate(to) ? to : day;
    state.from = validDate(from) ? from : addDays(state.to, -29);
  } else {
    Object.assign(state, presetRange(preset, day));
  }
  for (const key of FILTERS) state[key] = query.get(key) || "";
  if (state.channel && !CHANNELS.includes(state.channel)) state.channel = "";
  return state;
}

/** The address of a state (what readState reads back). */
export function hashOf(state) {
  const query = new URLSearchParams();
  if (state.preset === "custom") {
    query.set("from", state.from);
    query.set("to", state.to);
  } else {
    query.set("preset", state.preset);
  }
  query.set("group", state.group);
  if (state.tzGiven) query.set("tz", state.tz);
  for (const key of FILTERS) if (state[key]) query.set(key, state[key]);
  return `#/reports?${query}`;
}

/** The API's query for a state. */
export const apiQuery = (state) => {
  const query = { from: state.from, to: state.to, tz: state.tz, group: state.group };
  for (const key of FILTERS) query[key] = state[key];
  return query;
};

/** Why a custom range cannot be asked for (an i18n key), or null. */
export function rangeProblem(state) {
  if (state.from > state.to) return "reports.error.order";
  if (daysBetween(state.from, state.to) > MAX_DAYS) return "reports.error.tooLong";
  return null;
}
