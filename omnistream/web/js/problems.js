// The server's problem+json errors in the agent's language. The server writes English; in
// English its own sentence (more specific) is shown, in another language a sentence for the
// problem `type` (docs/errors.md), or the server's text when the type is not known here.
// A field error's stable `type` (and the limits next to it) picks the translated phrase.
import { formatDateTime, lang, t } from "./i18n.js";

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

const WHOLE_NUMBER = () => t("field.wholeNumber");
const NUMBER = () => t("field.number");
const YES_NO = () => t("field.boolean");
const ID = () => t("field.id");
const DATE_TIME = () => t("field.dateTime");
const LINK = () => t("field.link");
const ONE_OF = (e) => (Array.isArray(e.allowed) ? t("field.oneOf", { values: e.allowed.join(", ") }) : null);
// field error type (pydantic's, or the server's own: docs/errors.md) -> phrase.
const FIELD_PHRASES = {
  missing: () => t("field.required"),
  string_too_short: (e) => (e.min_length > 1 ? t("field.tooShort", { n: e.min_length }) : t("field.required")),
  string_too_long: (e) => t("field.tooLong", { n: e.max_length }),
  too_short: (e) => t("field.tooFew", { n: e.min_length }),
  too_long: (e) => t("field.tooMany", { n: e.max_length }),
  missing_target: () => t("field.transferTarget"),
  cannot_see: (e) => t("field.cannotSee", { name: e.name }),
  unknown_agent: () => t("field.unknownAgent"),
  email: () => t("field.email"),
  phone: (e) => (e.example ? t("field.phoneExample", { example: e.example }) : t("field.phone")),
  url_scheme: LINK,
  url_parsing: LINK,
  url_type: LINK,
  enum: ONE_OF,
  literal_error: ONE_OF,
  int_type: WHOLE_NUMBER,
  int_parsing: WHOLE_NUMBER,
  int_from_float: WHOLE_NUMBER,
  float_type: NUMBER,
  float_parsing: NUMBER,
  bool_type: YES_NO,
  bool_parsing: YES_NO,
  greater_than_equal: (e) => t("field.atLeast", { n: e.ge }),
  less_than_equal: (e) => t("field.atMost", { n: e.le }),
  uuid_type: ID,
  uuid_parsing: ID,
  datetime_type: DATE_TIME,
  datetime_parsing: DATE_TIME,
  datetime_from_date_parsing: DATE_TIME,
  timezone_aware: () => t("field.timeZone"),
  string_nul: () => t("field.nul"),
  extra_forbidden: () => t("field.unknown"),
  in_the_past: (e) => (e.at ? t("field.inThePast", { time: formatDateTime(e.at) }) : null),
  too_far_ahead: () => t("field.tooFarAhead"),
  media_link: () => t("field.httpsLink"),
  media_link_executable: () => t("field.executableLink"),
  taken: () => t("field.taken"),
  not_set: () => t("field.notSet"),
  // Outgoing webhooks (webhooks/service.py, schemas.py): which rule a URL broke only the
  // server's text says, so it is kept in brackets.
  webhook_url: (e) => t("field.webhookUrl", { detail: e.message }),
  webhook_url_unresolved: () => t("field.webhookUrlUnresolved"),
  webhook_url_private: () => t("field.webhookUrlPrivate"),
  webhook_event: (e) => t("field.webhookEvent", { detail: e.message }),
  webhook_event_repeated: () => t("field.webhookEventRepeated"),
  // Campaigns: a campaign's template, and an audience CSV file refused as a whole (field
  // `file`, campaigns/audience_csv.py).
  template_not_approved: () => t("field.templateNotApproved"),
  // A campaign's variables (field `variables.<name>`, campaigns/content.py): the variable,
  // the template's variables, the column read and the audience's columns.
  variable_missing: (e) => sentence(t("field.variableMissing", { variable: variableLabel(e) })),
  variable_unknown: (e) => (Array.isArray(e.variables)
    ? t(e.variables.length ? "field.variableUnknownTakes" : "field.variableUnknownNone",
      { variable: variableLabel(e), variables: e.variables.map(variableShort).join(", ") })
    : t("field.variableUnknown", { variable: variableLabel(e) })),
  variable_column: (e) => (e.column
    ? sentence(t("field.variableColumnNamed", { variable: variableLabel(e), column: e.column, columns: (e.columns || []).join(", ") }))
    : t("field.variableColumn")),
  not_utf8: (e) => (e.line ? t("field.csvNotUtf8Line", { line: e.line }) : t("field.csvNotUtf8")),
  binary: () => t("field.csvBinary"),
  malformed: (e) => t("field.csvMalformed", { line: e.line ?? "?" }),
  empty_file: () => t("field.csvEmpty"),
  no_header: () => t("field.csvNoHeader"),
  no_rows: () => t("field.csvNoRows"),
  too_many_rows: (e) => t("field.csvTooManyRows", { n: e.max_rows }),
  too_many_columns: (e) => t("field.csvTooManyColumns", { n: e.max_columns }),
  duplicate_column: (e) => t("field.csvDuplicateColumn", { columns: (e.columns || []).join(", ") }),
  no_phone_column: () => t("field.csvNoPhoneColumn"),
  missing_variable_column: (e) => t("field.csvMissingColumn", { columns: (e.columns || []).join(", ") }),
};
// Said here in every language: only the browser knows the agent's time zone.
const IN_THE_BROWSER = new Set(["in_the_past"]);

const sentence = (text) => (text ? text[0].toUpperCase() + text.slice(1) : text);

/** A campaign variable's name as the wizard shows it: "{{discount}}", "header", "button 1". */
const variableShort = (name) => {
  if (name === "header") return t("field.varHeaderShort");
  if (name.startsWith("button.")) return t("field.varButtonShort", { n: Number(name.slice(7)) + 1 });
  return `{{${name}}}`;
};
/** In a sentence: "variable {{discount}}", "the header's variable", "button 1's parameter". */
function variableLabel(e) {
  const name = e.variable ?? (e.field || "").replace(/^variables\./, "");
  if (name === "header") return t("field.varHeader");
  if (name.startsWith("button.")) return t("field.varButton", { n: Number(name.slice(7)) + 1 });
  return t("field.varBody", { name: `{{${name}}}` });
}

/** A field error ({field, message, type?, min_length?, max_length?, ...}) in the agent's
 * language: a known type by its phrase, anything else as the server said it. */
export function fieldMessage(item) {
  const phrase = FIELD_PHRASES[item.type];
  const own = lang() !== "en" || IN_THE_BROWSER.has(item.type);
  return (own && phrase && phrase(item)) || sentence(item.message);
}

/** "field: message" for each error, as one line (a toast, a form's top). */
export function fieldsText(errors) {
  return errors
    .map((e) => (e.field && e.field !== "body" ? `${e.field}: ${fieldMessage(e)}` : fieldMessage(e)))
    .join("; ");
}

/** The sentence for an ApiError. */
export function problemText(error) {
  const slug = error.type.startsWith(PREFIX) ? error.type.slice(PREFIX.length) : "";
  if (slug === "validation" && error.errors.length) return fieldsText(error.errors);
  const key = PROBLEMS[slug];
  if (lang() === "en" || !key) return error.detail;
  const refused = error.body?.declared_type;
  const kinds = error.body?.allowed_kinds;
  if (slug === "unsupported-media-type" && refused && Array.isArray(kinds)) {
    return t("problem.mediaTypeNamed", { type: refused, allowed: kindsText(kinds) });
  }
  return t(key, { detail: error.detail });
}

/** ["images", "pdf", "application/zip"] -> "gambar, PDF dan application/zip". */
function kindsText(kinds) {
  const words = kinds.map((k) => {
    const key = `upload.kind.${k}`;
    const word = t(key);
    return word === key ? k : word;
  });
  if (words.length < 2) return words.join("");
  return `${words.slice(0, -1).join(", ")} ${t("upload.and")} ${words.at(-1)}`;
}
