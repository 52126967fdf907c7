// CSAT in the timeline (docs/csat.md): which message is a survey, its answer, its feedback or
// its thanks (from GET /conversations/{id}/csat and csat.answered), how each reads, and a
// line for a survey that was skipped or answered on the public page (which has no message).
import { h } from "../dom.js";
import { formatDateTime, formatTime, t } from "../i18n.js";

const TAP = /^csat:([0-9a-f-]{36}):([1-5])$/;

/** The survey id and score a tap on a survey's choice carries (csat:<id>:<score>), or null. */
export function tapOf(message) {
  const c = message.content || {};
  const value = message.type === "interactive" ? c.id : message.type === "button" ? c.payload : null;
  const m = typeof value === "string" && TAP.exec(value);
  return m ? { surveyId: m[1], score: Number(m[2]) } : null;
}

const sameTime = (a, b) => !!a && !!b && Date.parse(a) === Date.parse(b);

/**
 * What a message is to the conversation's surveys (Map id -> survey): {role, score?} with role
 * survey, thanks, answer, ignored (a tap after the first answer) or feedback; null otherwise.
 */
export function csatRole(message, surveys) {
  const c = message.content || {};
  if (c.csat_survey_id) return { role: "survey" };
  if (c.csat_thanks_survey_id) return { role: "thanks" };
  if (message.direction !== "inbound") return null;
  for (const s of surveys.values()) {
    if (s.answer_message_id === message.id) return { role: "answer", score: s.score };
    if (message.type === "text" && sameTime(s.feedback_at, message.created_at)) return { role: "feedback" };
  }
  const tap = tapOf(message);
  const survey = tap && surveys.get(tap.surveyId);
  if (!survey) return null; // another conversation's survey: an ordinary message
  // Taken before its csat.answered arrives; a survey answered (expired) already keeps its score.
  return { role: survey.status === "pending" || survey.status === "sent" ? "answer" : "ignored", score: tap.score };
}

/** Whether a survey needs a line of its own: skipped, or answered on the page. */
export const csatLine = (s) => s.status === "skipped" || (s.status === "answered" && s.answered_via === "page");
export const csatAt = (s) => (s.status === "answered" ? s.responded_at : s.created_at);

/** How far a survey got: a state from an HTTP answer never takes a later one back. */
export const progress = (s) => (s.status === "answered" ? 2 : s.status === "skipped" || s.status === "failed" ? 1 : 0) + (s.feedback_at ? 1 : 0);

export function stars(score) {
  return h("span", { class: "csat-stars", "aria-hidden": "true" }, "★".repeat(score), h("span", { class: "csat-off" }, "★".repeat(5 - score)));
}

const rated = (score) => h("p", { class: "csat-score" }, stars(score), " ", h("span", {}, t("csat.rated", { score })));

/** The bubble's content for a message with a CSAT role; `plain` draws it as any message. */
export function csatBody(message, csat, plain) {
  switch (csat.role) {
    case "survey":
      return [h("p", { class: "csat-tag" }, t("csat.surveySent")), plain(message)];
    case "thanks":
      return [h("p", { class: "csat-tag" }, t("csat.thanks")), plain(message)];
    case "answer":
      return [rated(csat.score)];
    case "ignored":
      return [h("p", { class: "csat-score muted" }, t("csat.ignored", { score: csat.score }))];
    default: // feedback
      return [h("p", { class: "text" }, h("strong", {}, t("csat.feedback")), " ", message.content?.preview ?? message.content?.text ?? "")];
  }
}

function reason(code) {
  const key = `csat.skip.${code}`;
  const text = t(key);
  return text === key ? code : text;
}

/** A skipped survey ("No survey: …") or an answer given on the survey page. */
export function renderCsatLine(s) {
  const at = csatAt(s);
  const time = h("time", { datetime: at, title: formatDateTime(at) }, formatTime(at));
  if (s.status === "skipped") {
    return h("div", { class: "system-line csat-line", id: `csat-${s.id}`, role: "note" }, h("span", {}, t("csat.skipped", { reason: reason(s.skip_reason) })), time);
  }
  return h("div", { class: "csat-page", id: `csat-${s.id}`, role: "note" },
    h("p", { class: "csat-tag" }, t("csat.onPage")), rated(s.score),
    s.feedback ? h("p", { class: "text" }, h("strong", {}, t("csat.feedback")), " ", s.feedback) : null, time);
}
