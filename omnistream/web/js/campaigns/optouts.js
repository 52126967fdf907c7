// Campaigns › Opt-outs: numbers that never get a campaign (added here or by the API, by a
// customer's stop keyword, or when Meta reports 131050); add one, remove one. The list is
// read again on every opt-out event (campaign_opt_out.*), at most once per LIVE_MS.
import { del, post } from "../api.js";
import { h } from "../dom.js";
import { field, submit } from "../forms.js";
import { t } from "../i18n.js";
import { pageHeader, pager, table } from "../settings/common.js";
import { OPT_OUTS, act, time } from "./shared.js";

const LIVE_MS = 500;

export function render(container, app) {
  const body = h("div", {});
  const list = pager({
    path: OPT_OUTS,
    into: body,
    render: (items) => table(t("campaigns.optOuts"),
      [t("campaigns.phone"), t("campaigns.reason"), t("campaigns.note"), t("campaigns.addedAt"), ""],
      items.map((x) => [
        h("span", { class: "strong" }, x.phone),
        t(`campaigns.optOutReason.${x.reason}`),
        x.note || "",
        time(x.created_at),
        h("button", { type: "button", class: "link danger", onclick: act(async () => {
          if (!confirm(t("campaigns.confirmRemoveOptOut", { phone: x.phone }))) return;
          await del(`${OPT_OUTS}/${encodeURIComponent(x.phone)}`);
          list.reload();
        }) }, t("campaigns.removeOptOut")),
      ])),
  });
  const form = h("form", { class: "form inline-form", novalidate: true, "aria-label": t("campaigns.addOptOut") },
    field({ label: t("campaigns.phone"), name: "phone", type: "tel", required: true, attrs: { autocomplete: "off" } }),
    field({ label: t("campaigns.note"), name: "note" }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("campaigns.addOptOut"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const added = await submit(form, () => post(OPT_OUTS, { phone: form.elements.phone.value.trim(), note: form.elements.note.value.trim() }));
    if (!added) return;
    form.reset();
    list.reload();
  });
  container.append(pageHeader(t("campaigns.optOuts")), h("p", { class: "muted" }, t("campaigns.optOutsIntro")), form, body);
  let timer = 0;
  const off = app.live.on((event) => {
    if (event.type !== "reload" && !event.type.startsWith("campaign_opt_out.")) return;
    if (!timer) timer = setTimeout(() => { timer = 0; list.reload(); }, LIVE_MS);
  });
  app.live.firstReady.then(() => list.reload()); // read after the socket is ready: no change falls between
  return { destroy() { off(); clearTimeout(timer); } };
}
