// Pieces the settings pages share: a page header, tables, "load more" paging.
import { get } from "../api.js";
import { h } from "../dom.js";
import { describe } from "../forms.js";
import { t } from "../i18n.js";

export function pageHeader(title, ...actions) {
  return h("div", { class: "page-head" }, h("h1", {}, title), h("div", { class: "page-actions" }, actions));
}

/** A table with a caption for screen readers; rows are arrays of cells (nodes or text). */
export function table(caption, headers, rows) {
  return h(
    "table",
    { class: "data" },
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))) : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, t("state.empty")))),
  );
}

/**
 * A keyset-paginated list: load(query) fills `into` with rowsOf(items) and a "Load more"
 * button while there is a next page.
 */
export function pager({ path, query = () => ({}), render, into }) {
  let items = [];
  let cursor = null;
  const more = h("button", { type: "button", class: "ghost" }, t("action.loadMore"));
  const status = h("p", { class: "muted", role: "status" });
  async function load(reset) {
    if (reset) {
      items = [];
      cursor = null;
    }
    status.textContent = t("state.loading");
    try {
      const page = await get(path, { ...query(), limit: 50, cursor });
      items = items.concat(page.items);
      cursor = page.next_cursor;
      status.textContent = "";
    } catch (error) {
      status.textContent = describe(error);
      return;
    }
    more.hidden = !cursor;
    into.replaceChildren(render(items), status, more);
  }
  more.addEventListener("click", () => load(false));
  return { reload: () => load(true), items: () => items };
}
