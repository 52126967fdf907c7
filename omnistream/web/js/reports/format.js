// Numbers, durations, dates and changes as the Reports page shows them, in the agent's
// language. Report dates are local dates of the report's zone (YYYY-MM-DD): they are
// formatted as UTC calendar dates so no zone shifts them by a day.
import { lang, t } from "../i18n.js";

export const NONE = "—";

export const number = (n) => (n === null || n === undefined ? NONE : new Intl.NumberFormat(lang()).format(n));

export const percent = (n) =>
  n === null || n === undefined ? NONE : `${new Intl.NumberFormat(lang(), { maximumFractionDigits: 1 }).format(n)}%`;

export const score = (n) =>
  n === null || n === undefined ? NONE : new Intl.NumberFormat(lang(), { minimumFractionDigits: 1, maximumFractionDigits: 2 }).format(n);

/** Seconds as people say them: "45 s", "12 min", "1 h 05 min", "2 d 3 h"; "—" for null. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return NONE;
  const s = Math.round(seconds);
  if (s < 60) return t("reports.dur.s", { n: s });
  const minutes = Math.round(s / 60);
  if (minutes < 60) return t("reports.dur.min", { n: minutes });
  if (minutes < 24 * 60) {
    return t("reports.dur.h", { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
  }
  const hours = Math.round(minutes / 60);
  return t("reports.dur.d", { d: Math.floor(hours / 24), h: hours % 24 });
}

const formats = new Map();
function dateFormat(key, options) {
  const id = `${lang()}:${key}`;
  if (!formats.has(id)) formats.set(id, new Intl.DateTimeFormat(lang(), { timeZone: "UTC", ...options }));
  return formats.get(id);
}
const asDate = (day) => new Date(`${day}T00:00:00Z`);

/** "3 Nov 2026". */
export const longDate = (day) => dateFormat("long", { day: "numeric", month: "short", year: "numeric" }).format(asDate(day));

/** A period's label on an axis or in a table: "3 Nov" (day, week: its first day), "Nov 2026". */
export function periodLabel(day, group) {
  if (group === "month") return dateFormat("month", { month: "short", year: "numeric" }).format(asDate(day));
  return dateFormat("short", { day: "numeric", month: "short" }).format(asDate(day));
}

/** The full name of a period for tables and tooltips ("Week of 2 Nov 2026"). */
export function periodName(day, group) {
  if (group === "week") return t("reports.weekOf", { date: longDate(day) });
  if (group === "month") return dateFormat("monthLong", { month: "long", year: "numeric" }).format(asDate(day));
  return dateFormat("day", { weekday: "short", day: "numeric", month: "short", year: "numeric" }).format(asDate(day));
}

/** Monday-first weekday names (the heatmap's rows), short or long. */
export function weekdays(style = "short") {
  const f = dateFormat(`wd-${style}`, { weekday: style });
  return Array.from({ length: 7 }, (_, i) => f.format(new Date(Date.UTC(2024, 0, 1 + i)))); // 1 Jan 2024: a Monday
}

export const hourLabel = (hour) => String(hour).padStart(2, "0");

/**
 * The change from the previous period: {trend: "up"|"down"|"flat"|"none", text, good}.
 * `points`: a change of a percentage (SLA compliance) is said in points, not percent of it.
 * `lowerIsBetter`: durations and failures (their rise is bad news).
 */
export function change(current, previous, { points = false, lowerIsBetter = false } = {}) {
  if (current === null || current === undefined || previous === null || previous === undefined) {
    return { trend: "none", text: NONE, good: null };
  }
  const delta = points ? current - previous : previous === 0 ? null : ((current - previous) / previous) * 100;
  if (delta === null) return { trend: "none", text: NONE, good: null };
  const rounded = Math.round(Math.abs(delta) * 10) / 10;
  if (rounded === 0) return { trend: "flat", text: points ? t("reports.points", { n: 0 }) : "0%", good: null };
  const trend = delta > 0 ? "up" : "down";
  const amount = new Intl.NumberFormat(lang(), { maximumFractionDigits: Math.abs(delta) < 10 ? 1 : 0 }).format(rounded);
  return {
    trend,
    text: points ? t("reports.points", { n: amount }) : `${amount}%`,
    good: (trend === "up") !== lowerIsBetter,
  };
}
