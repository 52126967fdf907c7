// Search across messages, notes and contacts (GET /api/v1/search, docs/search.md): a box at
// the top of the list pane; while results show they take the list's place. A result opens
// its conversation at the hit (thread.js loads the messages around it and marks it).
import { reportError } from "../app.js";
import { get } from "../api.js";
import { fill, h } from "../dom.js";
import { describe } from "../forms.js";
import { formatDateTime, formatRelative, t } from "../i18n.js";
import { channelIcon, icon } from "../icons.js";
import { contactLabel, initials } from "./list.js";

const PAGE = 20;
const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };

/**
 * The API's snippet (escaped text with <mark> around matches) as DOM nodes, built without
 * innerHTML: only <mark> becomes an element, everything else stays text.
 */
export function snippetNodes(snippet) {
  const nodes = [];
  let marked = false;
  for (const part of snippet.split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) {
      const text = part.replace(/&(amp|lt|gt|quot|#x27);/g, (entity) => ENTITIES[entity]);
      nodes.push(marked ? h("mark", {}, text) : document.createTextNode(text));
    }
  }
  return nodes;
}

export class SearchPanel {
  constructor({ onOpen, onToggle }) {
    this.onOpen = onOpen; // (result) => open its conversation at the hit
    this.onToggle = onToggle; // (showing) => the list hides or shows again
    this.q = "";
    this.cursor = null;
    this.generation = 0;
    this.el = this.render();
  }

  render() {
    this.input = h("input", {
      type: "search",
      id: "message-search",
      placeholder: t("search.placeholder"),
      "aria-label": t("search.label"),
      maxlength: "200",
      enterkeyhint: "search",
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.showing) {
        event.preventDefault();
        this.close();
      }
    });
    const form = h(
      "form",
      { class: "search-form", role: "search", onsubmit: (event) => (event.preventDefault(), this.run()) },
      h("div", { class: "search-wrap" }, icon("search"), this.input),
    );
    this.status = h("p", { class: "search-status muted", role: "status" });
    this.list = h("ul", { class: "search-results", "aria-label": t("search.results") });
    this.more = h("button", { type: "button", class: "link", hidden: true, onclick: () => this.load() }, t("search.more"));
    this.closeButton = h("button", { type: "button", class: "link small", onclick: () => this.close() }, t("search.close"));
    this.results = h(
      "div",
      { class: "search-scroll", hidden: true },
      h("div", { class: "search-head" }, h("strong", {}, t("search.results")), this.closeButton),
      this.list,
      this.status,
      this.more,
    );
    return h("div", { class: "search-panel" }, form, this.results);
  }

  get showing() {
    return !this.results.hidden;
  }

  run() {
    const q = this.input.value.trim();
    if (!q) {
      this.close();
      return;
    }
    this.q = q;
    this.cursor = null;
    this.generation += 1;
    fill(this.list);
    this.results.hidden = false;
    this.onToggle(true);
    this.load();
  }

  close() {
    this.generation += 1;
    this.results.hidden = true;
    this.input.value = "";
    fill(this.list);
    this.onToggle(false);
  }

  async load() {
    const generation = this.generation;
    this.more.hidden = true;
    this.status.textContent = t("state.loading");
    let page;
    try {
      page = await get("/api/v1/search", { q: this.q, limit: PAGE, cursor: this.cursor || undefined });
    } catch (error) {
      if (generation !== this.generation) return;
      this.status.textContent = describe(error);
      if (!error.status || error.status >= 500) reportError(error);
      return;
    }
    if (generation !== this.generation) return;
    for (const result of page.items) this.list.append(this.row(result));
    this.cursor = page.next_cursor;
    this.more.hidden = !this.cursor;
    this.status.textContent = this.list.children.length ? "" : t("search.none");
  }

  row(result) {
    const { conversation: c, hit } = result;
    const when = hit.kind === "contact" ? c.last_message_at : hit.created_at;
    const open = () => this.onOpen(result);
    return h(
      "li",
      { class: "search-row", dataset: { conversation: c.id, hit: hit.id, kind: hit.kind } },
      h(
        "button",
        { type: "button", class: "search-hit-button", onclick: open },
        h("div", { class: "avatar", "aria-hidden": "true" }, initials(c.contact?.name), channelIcon(c.channel)),
        h(
          "div",
          { class: "conv-main" },
          h(
            "div",
            { class: "conv-top" },
            h("span", { class: "conv-name" }, contactLabel(c.contact)),
            h("time", { class: "conv-time", datetime: when, title: formatDateTime(when) }, formatRelative(when)),
          ),
          h("p", { class: "search-snippet" }, h("span", { class: `search-kind kind-${hit.kind}` }, t(`search.kind.${hit.kind}`)), " ", snippetNodes(hit.snippet)),
        ),
      ),
    );
  }
}
