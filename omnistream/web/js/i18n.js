// Languages (English, Bahasa Indonesia) and dates in the agent's time zone, through Intl.
import { STRINGS } from "./strings.js";

const LANG_KEY = "omnistream.lang";
const TZ_KEY = "omnistream.tz";
export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "id", name: "Bahasa Indonesia" },
];

function initialLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && STRINGS[saved]) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("id") ? "id" : "en";
}

let current = initialLang();
const listeners = new Set();

export const lang = () => current;

export function setLang(code) {
  if (!STRINGS[code] || code === current) return;
  current = code;
  localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code;
  formatters.clear();
  for (const fn of listeners) fn(code);
}

/** Called when the language or time zone changes (views re-render). */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** A lazily loaded page's own sentences ({en: {...}, id: {...}}), added to the app's. */
export function addStrings(bundle) {
  for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], bundle[code]);
}

/** t("nav.inbox"), t("inbox.unread", {n: 3}): {name} placeholders are filled in. */
export function t(key, vars) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// Time zone ---------------------------------------------------------------------------------

export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function timeZone() {
  return localStorage.getItem(TZ_KEY) || browserZone();
}

export function setTimeZone(zone) {
  if (!zone || zone === browserZone()) localStorage.removeItem(TZ_KEY);
  else localStorage.setItem(TZ_KEY, zone);
  formatters.clear();
  for (const fn of listeners) fn(current);
}

export function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [browserZone(), "UTC"];
  }
}

// Formatting --------------------------------------------------------------------------------

const formatters = new Map();
function formatter(name, options) {
  const key = `${name}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(current, { timeZone: timeZone(), ...options });
    formatters.set(key, f);
  }
  return f;
}

const asDate = (value) => (value instanceof Date ? value : new Date(value));

/** YYYY-MM-DD of the date in the agent's zone (for day separators). */
export function dayKey(value) {
  const f = formatters.get("daykey") ?? new Intl.DateTimeFormat("en-CA", {
    timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit",
  });
  formatters.set("daykey", f);
  return f.format(asDate(value));
}

export const formatTime = (v) => formatter("time", { hour: "2-digit", minute: "2-digit" }).format(asDate(v));

export const formatDateTime = (v) =>
  formatter("datetime", { dateStyle: "medium", timeStyle: "short" }).format(asDate(v));

export const formatDate = (v) => formatter("date", { dateStyle: "medium" }).format(asDate(v));

/** "Today", "Yesterday" or the full date, for a day separator. */
export function formatDay(value) {
  const key = dayKey(value);
  const now = Date.now();
  if (key === dayKey(now)) return t("time.today");
  if (key === dayKey(now - 86400000)) return t("time.yesterday");
  return formatter("day", { weekday: "long", day: "numeric", month: "long", year: "numeric" })
    .format(asDate(value));
}

/** Compact, for the list: "now", "5 min", the time today, "Yesterday", a weekday, a date. */
export function formatRelative(value) {
  const date = asDate(value);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (seconds < 45) return t("time.now");
  if (seconds < 3600) {
    const rtf = new Intl.RelativeTimeFormat(current, { style: "narrow", numeric: "auto" });
    return rtf.format(-Math.max(1, Math.round(seconds / 60)), "minute");
  }
  const key = dayKey(date);
  if (key === dayKey(Date.now())) return formatTime(date);
  if (key === dayKey(Date.now() - 86400000)) return t("time.yesterday");
  if (seconds < 6 * 86400) return formatter("weekday", { weekday: "short" }).format(date);
  return formatter("short", { day: "numeric", month: "short" }).format(date);
}

document.documentElement.lang = current;

/** Minutes the zone is ahead of UTC at instant `ms`. */
function zoneOffset(zone, ms) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((wall - ms) / 60000);
}

/** "2026-03-01T09:30" read in the agent's time zone -> an ISO 8601 instant (UTC). */
export function zonedToIso(local, zone = timeZone()) {
  const [date, time = "00:00"] = local.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, hh, mm);
  let ms = wall - zoneOffset(zone, wall) * 60000;
  ms = wall - zoneOffset(zone, ms) * 60000; // across a DST change the first guess is off
  return new Date(ms).toISOString();
}

/** An instant as "YYYY-MM-DDTHH:MM" in the agent's zone (for datetime-local inputs). */
export function isoToZoned(value, zone = timeZone()) {
  const ms = asDate(value).getTime();
  return new Date(ms + zoneOffset(zone, ms) * 60000).toISOString().slice(0, 16);
}
