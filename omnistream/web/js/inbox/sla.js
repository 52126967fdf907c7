// A conversation's SLA state from its sla_due_at (docs/sla.md): time left, due soon (within
// 30 minutes, the API's sla=due_soon), breached / overdue. Badges keep their due time and
// target in data-*: one shared clock (inbox.js) paints them all again; no per-row timers.
import { h } from "../dom.js";
import { formatDateTime, t } from "../i18n.js";

export const DUE_SOON_MS = 30 * 60_000;
const TARGETS = ["first_response", "next_response", "resolution"];

/** Which target sla_due_at is: the earliest one not met yet. */
export function slaTarget(c) {
  const at = Date.parse(c.sla_due_at);
  return TARGETS.find((x) => c[`sla_${x}_due_at`] && Date.parse(c[`sla_${x}_due_at`]) === at) || "resolution";
}

/** "ok", "soon" or "breached"; null without a running clock. */
export function slaKind(c, now = Date.now()) {
  if (!c?.sla_due_at || c.status !== "open") return null;
  const left = Date.parse(c.sla_due_at) - now;
  return left <= 0 ? "breached" : left <= DUE_SOON_MS ? "soon" : "ok";
}

/** Whole minutes as "2 d 3 h", "1 h 5 m", "12 m". */
export function span(minutes) {
  const d = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const parts = d ? [t("sla.d", { n: d }), hours && t("sla.h", { n: hours })] : [hours && t("sla.h", { n: hours }), (m || !hours) && t("sla.m", { n: m })];
  return parts.filter(Boolean).join(" ");
}

function paint(el) {
  const left = Date.parse(el.dataset.due) - Date.now();
  const kind = left <= 0 ? "breached" : left <= DUE_SOON_MS ? "soon" : "ok";
  const late = Math.floor(-left / 60_000);
  const text = kind !== "breached" ? t("sla.left", { time: span(Math.ceil(left / 60_000)) })
    : late < 1 ? t("sla.breached") : t("sla.overdue", { time: span(late) });
  const what = t(`sla.target.${el.dataset.target}`);
  el.className = `sla-badge sla-${kind}`;
  el.dataset.state = kind;
  el.textContent = el.dataset.long ? `${what}: ${text}` : text;
  const missed = el.dataset.missed ? ` · ${t("sla.missed", { targets: el.dataset.missed })}` : "";
  el.title = `${what} · ${t("sla.dueAt", { time: formatDateTime(el.dataset.due) })}${missed}`;
}

/** The badge of an open conversation with a due time (else null); `long` names the target. */
export function slaBadge(c, { long = false } = {}) {
  if (!slaKind(c)) return null;
  const missed = (c.sla_breached || []).map((x) => t(`sla.target.${x}`)).join(", ");
  const data = { due: c.sla_due_at, target: slaTarget(c) };
  if (long) data.long = "1";
  if (missed) data.missed = missed;
  const el = h("span", { dataset: data });
  paint(el);
  return el;
}

/** The shared clock's tick: every badge under root shows the time as it is now. */
export function refreshBadges(root) {
  for (const el of root.querySelectorAll(".sla-badge[data-due]")) paint(el);
}

/** A toast's sentence for sla.warning / sla.breached. */
export function alertText(type, data, contact) {
  const target = t(`sla.target.${data.target}`);
  if (type === "sla.breached") return t("sla.alertBreached", { target, contact });
  const minutes = Math.max(1, Math.ceil((Date.parse(data.due_at) - Date.now()) / 60_000));
  return t("sla.alertWarning", { target, time: span(minutes), contact });
}
