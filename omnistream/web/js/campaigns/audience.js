// The wizard's audience step: a CSV file (PUT multipart) or the contacts matching a filter,
// with their live count (POST /campaigns/audience-count). Either answers an AudienceReport:
// its counts and the rejected rows (line, reason, message, value) are shown.
import { ApiError, all, api, post, put } from "../api.js";
import { debounce, fill, h, uid } from "../dom.js";
import { describe, field, showErrors, submit } from "../forms.js";
import { lang, t } from "../i18n.js";
import { BASE, kv } from "./shared.js";

// The server explains a rejected row in English; other languages say it by its reason.
const rejectMessage = (r) => (lang() === "en" ? r.message : t(`campaigns.rejectMsg.${r.reason}`, { column: r.column || "" }));

/** The counts of an upload or selection and its first rejected rows. */
export function reportView(report) {
  const shown = report.rejected.length;
  return h("section", { class: "audience-report", "aria-label": t("campaigns.report") },
    h("h3", {}, t("campaigns.report")),
    h("dl", { class: "details counts" },
      kv(report.source === "csv" ? t("campaigns.rowsRead") : t("campaigns.contactsMatched"), String(report.rows)),
      kv(t("campaigns.accepted"), String(report.accepted), "ok-text"),
      kv(t("campaigns.duplicates"), String(report.duplicates)),
      kv(t("campaigns.rejected"), String(report.rejected_count), report.rejected_count ? "bad-text" : null)),
    shown
      ? h("div", {},
        h("h4", {}, t("campaigns.rejectedRows")),
        report.rejected_count > shown ? h("p", { class: "muted small" }, t("campaigns.rejectedFirst", { shown, total: report.rejected_count })) : null,
        h("table", { class: "data rejected" },
          h("caption", { class: "sr-only" }, t("campaigns.rejectedRows")),
          h("thead", {}, h("tr", {}, [t("campaigns.line"), t("campaigns.reason"), t("campaigns.message"), t("campaigns.value")].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, report.rejected.map((r) => h("tr", {},
            h("td", {}, String(r.line)),
            h("td", {}, t(`campaigns.reject.${r.reason}`)),
            h("td", {}, rejectMessage(r)),
            h("td", {}, r.value === null ? "—" : h("code", {}, r.column ? `${r.column}: ${r.value}` : r.value)))))))
      : null);
}

/** The filter's fields as ContactsFilter (empty ones left out). */
function filterOf(form) {
  const out = {};
  const q = form.elements.q.value.trim();
  if (q) out.q = q;
  if (form.elements.division_id.value) out.division_id = form.elements.division_id.value;
  const days = form.elements.inbound_within_days.value.trim();
  if (days) out.inbound_within_days = Number(days);
  return out;
}

/**
 * The step's body. `campaign` has an id (the draft exists); onReport(report) runs after an
 * audience is recorded.
 */
export function audienceStep(campaign, onReport) {
  const result = h("div", {});
  const show = (report) => {
    fill(result, reportView(report));
    onReport(report);
  };

  // A CSV file.
  const csv = h("form", { class: "form", novalidate: true },
    field({ label: t("campaigns.csvFile"), name: "file", type: "file", required: true, hint: t("campaigns.csvHint"), attrs: { accept: ".csv,text/csv" } }),
    field({ label: t("campaigns.phoneColumn"), name: "phone_column", hint: t("campaigns.phoneColumnHint") }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("campaigns.upload"))));
  csv.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = csv.elements.file.files[0];
    if (!file) {
      return showErrors(csv, new ApiError(422, { errors: [{ field: "file", message: t("campaigns.chooseFile"), type: "choose_file" }] }));
    }
    const report = await submit(csv, () => {
      const form = new FormData();
      form.append("file", file, file.name);
      const column = csv.elements.phone_column.value.trim();
      if (column) form.append("phone_column", column);
      return api("PUT", `${BASE}/${campaign.id}/audience/csv`, { form });
    });
    if (report) show(report);
  });

  // Contacts matching a filter, counted as the filter changes.
  const counted = h("p", { class: "audience-count", role: "status", "aria-live": "polite" });
  const contacts = h("form", { class: "form", novalidate: true },
    field({ label: t("campaigns.contactSearch"), name: "q", type: "search", hint: t("campaigns.contactSearchHint") }),
    field({ label: t("campaigns.hadDivision"), name: "division_id", type: "select", options: [{ value: "", label: t("campaigns.anyDivision") }] }),
    field({ label: t("campaigns.wroteWithin"), name: "inbound_within_days", type: "number", attrs: { min: 1, max: 3650 } }),
    counted,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("campaigns.useContacts"))));
  all("/api/v1/divisions").then((divisions) => {
    contacts.elements.division_id.append(...divisions.map((d) => h("option", { value: d.id }, d.name)));
  }, () => {});
  let latest = 0;
  const count = debounce(async () => {
    const mine = ++latest;
    try {
      const out = await post(`${BASE}/audience-count`, filterOf(contacts));
      if (mine !== latest) return;
      counted.textContent = out.opted_out
        ? t("campaigns.matchingOptedOut", { n: out.count, opted: out.opted_out })
        : t("campaigns.matching", { n: out.count });
    } catch (error) {
      if (mine === latest) counted.textContent = describe(error);
    }
  }, 300);
  contacts.addEventListener("input", count);
  contacts.addEventListener("change", count);
  contacts.addEventListener("submit", async (event) => {
    event.preventDefault();
    const report = await submit(contacts, () => put(`${BASE}/${campaign.id}/audience/contacts`, filterOf(contacts)));
    if (report) show(report);
  });

  // Which of the two.
  const name = uid("src");
  const choice = (value, label, checked) => {
    const id = uid("r");
    return h("label", { class: "check", for: id }, h("input", { type: "radio", id, name, value, checked }), label);
  };
  const fromContacts = campaign.audience_source === "contacts";
  const radios = h("fieldset", { class: "checks inline-checks" },
    h("legend", {}, t("campaigns.audienceSource")),
    choice("csv", t("campaigns.fromCsv"), !fromContacts),
    choice("contacts", t("campaigns.fromContacts"), fromContacts));
  const pick = () => {
    const source = radios.querySelector("input:checked").value;
    csv.hidden = source !== "csv";
    contacts.hidden = source !== "contacts";
    if (source === "contacts" && !counted.textContent) count();
  };
  radios.addEventListener("change", pick);
  pick();
  const current = campaign.counts.total
    ? h("p", { class: "notice-ok" }, t("campaigns.currentAudience", { n: campaign.counts.total }))
    : null;
  return h("div", { class: "audience-step" }, current, radios, csv, contacts, result);
}
