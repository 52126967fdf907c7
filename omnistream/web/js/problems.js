// The server's problem+json errors in the agent's language. The server writes English; in
// English its own sentence (more specific) is shown, in another language a sentence for the
// problem `type` (docs/errors.md), or the server's text when the type is not known here.
import { lang, t } from "./i18n.js";

const PREFIX = "urn:omnistream:problem:";
// type -> sentence; {detail} keeps what only the server knows (e.g. Meta's reason).
const PROBLEMS = {
  "bad-request": "problem.badRequest",
  "malformed-json": "problem.malformedJson",
  unauthorized: "problem.unauthorized",
  "not-found": "problem.notFound",
  "method-not-allowed": "problem.methodNotAllowed",
  conflict: "problem.conflict",
  "payload-too-large": "problem.tooLarge",
  "unsupported-media-type": "problem.mediaType",
  validation: "problem.validation",
  "too-many-requests": "problem.tooMany",
  "window-closed": "problem.windowClosed",
  "graph-error": "problem.graph",
  "not-ready": "problem.notReady",
  internal: "problem.internal",
};

/** A field error ({field, message, type?, min_length?, max_length?}) in the agent's language:
 * the generic pydantic ones are translated, anything else is the server's message. */
export function fieldMessage(item) {
  if (lang() === "en" || !item.type) return item.message;
  switch (item.type) {
    case "missing":
      return t("field.required");
    case "string_too_short":
      return item.min_length > 1 ? t("field.tooShort", { n: item.min_length }) : t("field.required");
    case "string_too_long":
      return t("field.tooLong", { n: item.max_length });
    case "too_long":
      return t("field.tooMany", { n: item.max_length });
    case "missing_target":
      return t("field.transferTarget");
    case "media_link":
      return t("field.httpsLink");
    case "media_link_executable":
      return t("field.executableLink");
    case "value_error":
      return /valid email address/i.test(item.message) ? t("field.email") : item.message;
    default:
      return item.message;
  }
}

/** The sentence for an ApiError. */
export function problemText(error) {
  const key = error.type.startsWith(PREFIX) && PROBLEMS[error.type.slice(PREFIX.length)];
  if (lang() === "en" || !key) return error.detail;
  if (key === "problem.validation" && error.errors.length) {
    const names = [...new Set(error.errors.map((e) => e.field).filter(Boolean))];
    return t("problem.validationFields", { fields: names.join(", ") });
  }
  return t(key, { detail: error.detail });
}
