// Campaigns (admins and supervisors): broadcast a WhatsApp template to an audience.
// #/campaigns the list, #/campaigns/new the wizard, #/campaigns/<id> a campaign,
// #/campaigns/<id>/edit[/<step>] the wizard on a draft or scheduled one (where the new
// wizard's address moves once its draft is saved), #/campaigns/opt-outs the numbers that
// never get a campaign. Each page's module is loaded when first opened.
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";

const PAGES = {
  list: () => import("./list.js"),
  wizard: () => import("./wizard.js"),
  detail: () => import("./detail.js"),
  optOuts: () => import("./optouts.js"),
};

function pageOf(parts) {
  if (!parts.length) return { name: "list", key: "list" };
  if (parts[0] === "opt-outs") return { name: "optOuts", key: "optOuts" };
  if (parts[0] === "new") return { name: "wizard", key: "new", id: null };
  if (parts[1] === "edit") return { name: "wizard", key: `edit/${parts[0]}`, id: parts[0], step: parts[2] };
  return { name: "detail", key: `detail/${parts[0]}`, id: parts[0] };
}

export function mount(container, app) {
  const tab = (href, key, label) => h("a", { href, class: "tab", dataset: { tab: key } }, label);
  const tabs = h("nav", { class: "tabs page-tabs", "aria-label": t("campaigns.sections") },
    tab("#/campaigns", "list", t("nav.campaigns")),
    tab("#/campaigns/opt-outs", "optOuts", t("campaigns.optOuts")));
  const content = h("div", { class: "campaign-page" });
  container.append(h("div", { class: "campaigns" }, tabs, content));
  let current = null; // {key, view}

  return {
    async route(parts) {
      const page = pageOf(parts);
      for (const a of tabs.querySelectorAll("a")) {
        if (a.dataset.tab === (page.name === "optOuts" ? "optOuts" : "list")) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      if (current?.key === page.key) return;
      current?.view?.destroy?.();
      const entry = { key: page.key, view: null };
      current = entry;
      fill(content, h("p", { class: "muted" }, t("state.loading")));
      const module = await PAGES[page.name]();
      if (current !== entry) return; // another page was chosen meanwhile
      fill(content);
      document.title = `${t(page.name === "optOuts" ? "campaigns.optOuts" : "nav.campaigns")} · OmniStream`;
      // The wizard moves its address to its draft's (no hashchange): this page is that one now.
      const saved = (id) => { entry.key = `edit/${id}`; };
      entry.view = module.render(content, app, page.id, { step: page.step, saved });
    },
    destroy() {
      current?.view?.destroy?.();
      document.title = "OmniStream";
    },
  };
}
