// The centre pane: one conversation's header and actions, its timeline (messages, notes and
// system lines merged by time, with day separators; older messages load on scroll up), the
// composer, and live updates from events. CSAT surveys (csat.js) mark their messages and
// follow csat.answered. Opened at a search hit, it loads the messages around the hit
// instead of the newest, marks the hit, and loads newer messages on request. Each piece of
// state has one render path: a bubble is drawn again from its message, the header from the
// conversation (with its contact).
import { agentName, app, divisionName, reportError } from "../app.js";
import { del, get, post } from "../api.js";
import { fill, h } from "../dom.js";
import { describe, toast } from "../forms.js";
import { dayKey, formatDay, t } from "../i18n.js";
import { CHANNEL_NAMES, channelIcon, icon } from "../icons.js";
import * as actions from "./actions.js";
import { Composer } from "./composer.js";
import { csatAt, csatLine, csatRole, progress, renderCsatLine, tapOf } from "./csat.js";
import { contactLabel, initials } from "./list.js";
import { campaignTag, movesForward, renderMessage, renderNote, renderSystem, systemEntry } from "./message.js";
import { loadScheduled, renderScheduledFailure, ScheduledSection } from "./scheduled.js";
import { slaBadge } from "./sla.js";
import { canSee, newer } from "./visibility.js";

const PAGE = 50;

export class Thread {
  constructor({ onToggleContact, onGone, onChange }) {
    this.onToggleContact = onToggleContact;
    this.onGone = onGone;
    this.onChange = onChange; // the server's answer to an action or read mark (list updates)
    this.conversation = null;
    this.entries = new Map(); // key -> {key, kind, at (ms), data}
    this.scheduled = new ScheduledSection(); // the pending scheduled messages, after the rest
    this.surveys = new Map(); // the conversation's CSAT surveys by id
    this.cursor = null;
    this.newerCursor = null; // set while opened at a search hit, before the newest messages
    this.hitKey = null; // "message:<id>" or "note:<id>" of that hit
    this.loadingOlder = false;
    this.composer = new Composer({
      onSent: (message) => (this.newerCursor ? this.open(this.conversation.id) : this.addMessage(message)),
      onNote: (note) => this.addEntry("note", note),
    });
    this.el = this.render();
    this.showEmpty();
  }

  destroy() {
    clearTimeout(this.surveyTimer);
    this.composer.destroy();
    this.observer?.disconnect();
  }

  render() {
    this.head = h("header", { class: "thread-head" });
    this.timeline = h("div", { class: "timeline", role: "log", "aria-live": "polite", "aria-label": t("thread.timeline"), tabindex: "0" });
    this.topSentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
    this.observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && this.loadOlder(),
      { root: this.timeline, rootMargin: "200px" },
    );
    this.body = h("div", { class: "thread-body" }, this.timeline, this.composer.el);
    return h("section", { class: "pane thread-pane", "aria-label": t("thread.label") }, this.head, this.body);
  }

  showEmpty() {
    this.conversation = null;
    this.openId = null;
    this.el.classList.add("empty");
    fill(this.head);
    fill(this.timeline, h("div", { class: "empty-state" }, h("p", {}, t("thread.none")), h("p", { class: "muted" }, t("thread.shortcutsHint"))));
    this.composer.el.hidden = true;
  }

  // Loading --------------------------------------------------------------------------------------

  /** The messages page to show first: the newest, or those around a search hit. */
  async firstMessages(id, hit) {
    const base = `/api/v1/conversations/${id}/messages`;
    if (!hit?.message_cursor) return [await get(base, { limit: PAGE }), null];
    const half = PAGE / 2;
    const [older, newer, own] = await Promise.all([
      get(base, { limit: half, cursor: hit.message_cursor }),
      get(base, { limit: half, cursor: hit.message_cursor, order: "asc" }),
      hit.kind === "message" ? get(`/api/v1/messages/${hit.id}`) : null,
    ]);
    const items = [...older.items, ...(own ? [own] : []), ...newer.items];
    return [{ items, next_cursor: older.next_cursor }, newer.next_cursor];
  }

  async open(id, { hit = null } = {}) {
    this.openId = id;
    this.early = []; // events about it that arrive while it loads, applied after
    this.el.classList.remove("empty");
    this.entries.clear();
    this.surveys.clear();
    clearTimeout(this.surveyTimer);
    this.scheduled.reset();
    this.cursor = null;
    this.newerCursor = null;
    this.hitKey = hit ? `${hit.kind}:${hit.id}` : null; // stays marked when drawn again
    fill(this.head, h("p", { class: "muted" }, t("state.loading")));
    fill(this.timeline);
    this.composer.el.hidden = true;
    let conversation, messages, newerCursor, notes, history, scheduled, surveys;
    try {
      [conversation, [messages, newerCursor], notes, history, scheduled, surveys] = await Promise.all([
        get(`/api/v1/conversations/${id}`),
        this.firstMessages(id, hit),
        get(`/api/v1/conversations/${id}/notes`, { limit: 200 }),
        get(`/api/v1/conversations/${id}/history`).catch(() => []),
        loadScheduled(id).catch(() => ({ pending: [], failed: [] })),
        get(`/api/v1/conversations/${id}/csat`).catch(() => []),
      ]);
    } catch (error) {
      if (this.openId !== id) return;
      this.openId = null;
      fill(this.head);
      fill(this.timeline, h("div", { class: "empty-state", role: "alert" }, error.status === 404 ? t("thread.notFound") : describe(error)));
      if (error.status !== 404) reportError(error);
      return;
    }
    if (conversation.channel === "email") await import("../email/view.js").catch(reportError);
    if (this.openId !== id) return;
    this.conversation = conversation;
    for (const m of messages.items) this.put("message", m);
    for (const n of notes.items) this.put("note", n);
    for (const entry of history) this.put("system", entry);
    for (const item of scheduled.failed) this.put("scheduled", item);
    for (const item of scheduled.pending) this.scheduled.apply(item);
    for (const survey of surveys) this.keepSurvey(survey);
    this.cursor = messages.next_cursor;
    this.newerCursor = newerCursor;
    this.renderHead();
    this.renderTimeline();
    this.composer.el.hidden = false;
    this.composer.setConversation(conversation);
    const target = this.hitKey && this.entries.get(this.hitKey)?.el;
    if (target) this.showHit(target);
    else this.scrollToEnd();
    this.observer.disconnect();
    this.observer.observe(this.topSentinel);
    for (const event of this.early.splice(0)) this.applyEvent(event);
    if (this.conversation.unread_count > 0) this.markRead();
  }

  async loadOlder() {
    if (!this.cursor || this.loadingOlder || !this.conversation) return;
    const id = this.conversation.id;
    this.loadingOlder = true;
    try {
      const page = await get(`/api/v1/conversations/${id}/messages`, { limit: PAGE, cursor: this.cursor });
      if (this.conversation?.id !== id) return;
      for (const m of page.items) this.put("message", m);
      this.cursor = page.next_cursor;
      const fromBottom = this.timeline.scrollHeight - this.timeline.scrollTop;
      this.renderTimeline();
      this.timeline.scrollTop = this.timeline.scrollHeight - fromBottom;
    } catch (error) {
      reportError(error);
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Scrolls a search hit into the middle of the timeline and marks it. */
  showHit(el) {
    el.scrollIntoView({ block: "center" });
    el.focus({ preventScroll: true });
  }

  /** Opened at a search hit: the next page of newer messages, below. */
  async loadNewer() {
    if (!this.newerCursor || this.loadingNewer || !this.conversation) return;
    const id = this.conversation.id;
    this.loadingNewer = true;
    try {
      const page = await get(`/api/v1/conversations/${id}/messages`, { limit: PAGE, cursor: this.newerCursor, order: "asc" });
      if (this.conversation?.id !== id) return;
      for (const m of page.items) this.put("message", m);
      this.newerCursor = page.next_cursor;
      const top = this.timeline.scrollTop;
      this.renderTimeline();
      this.timeline.scrollTop = top;
    } catch (error) {
      reportError(error);
    } finally {
      this.loadingNewer = false;
    }
  }

  markRead = (() => {
    let timer = 0;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!this.conversation || !app.can("conversations.work")) return;
        post(`/api/v1/conversations/${this.conversation.id}/read`).then(this.onChange, () => {});
      }, 300);
    };
  })();

  // Header and actions -----------------------------------------------------------------------

  renderHead() {
    const c = this.conversation;
    const work = app.can("conversations.work");
    const resolved = c.status === "resolved";
    const run = (fn) => async () => {
      try {
        const updated = await fn();
        if (updated) {
          this.onChange(updated);
          this.updateConversation(updated);
        }
      } catch (error) {
        toast(describe(error), "error");
      }
    };
    const assignee = c.assigned_agent_id
      ? c.assigned_agent_id === app.me.id ? t("inbox.assignedToMe") : agentName(c.assigned_agent_id) || c.assigned_agent_name || t("inbox.assigned")
      : t("inbox.unassigned");
    const buttons = work
      ? [
          c.assigned_agent_id === null ? h("button", { type: "button", class: "primary", onclick: run(() => actions.take(c)) }, t("actions.take")) : null,
          h("button", { type: "button", onclick: () => actions.assignDialog(c, (u) => this.changed(u)) }, t("actions.assign")),
          h("button", { type: "button", onclick: () => actions.transferDialog(c, (u) => this.changed(u)) }, t("actions.transfer")),
          h("button", { type: "button", class: resolved ? "" : "success", onclick: run(() => actions.setStatus(c, !resolved)) }, t(resolved ? "actions.reopen" : "actions.resolve")),
        ]
      : [];
    buttons.unshift(this.headExtra?.(c), this.headSnooze?.(c));
    document.title = `${contactLabel(c.contact)} · OmniStream`;
    fill(
      this.head,
      h("div", { class: "avatar", "aria-hidden": "true" }, initials(c.contact?.name), channelIcon(c.channel)),
      h(
        "div",
        { class: "who" },
        h("h2", { class: "thread-title" }, contactLabel(c.contact)),
        h(
          "p",
          { class: "thread-sub muted" },
          CHANNEL_NAMES[c.channel], " · ",
          h("span", { class: `status-badge status-${c.status}` }, t(`status.${c.status}`)), " · ",
          h("span", { class: "assignee" }, this.presence?.(c.assigned_agent_id), assignee),
          c.division_id ? ` · ${divisionName(c.division_id) || ""}` : "",
          slaBadge(c, { long: true }),
          campaignTag(c, this.entries.values()),
        ),
        this.headLabels?.(c),
      ),
      h("div", { class: "thread-actions", role: "toolbar", "aria-label": t("thread.actions") },
        buttons,
        h("button", { type: "button", class: "icon-button", "aria-label": t("contact.toggle"), title: t("contact.toggle"), onclick: () => this.onToggleContact() }, icon("panel")),
      ),
    );
  }

  changed(conversation) {
    this.onChange(conversation);
    this.updateConversation(conversation);
  }

  /** The open conversation changed (an action's answer or an event). */
  updateConversation(conversation) {
    if (!this.conversation || conversation.id !== this.conversation.id) return;
    if (!newer(conversation, this.conversation)) return;
    const merged = { ...this.conversation, ...conversation, contact: this.conversation.contact };
    if (merged.assigned_agent_id !== this.conversation.assigned_agent_id) {
      merged.assigned_agent_name = agentName(merged.assigned_agent_id);
    }
    this.conversation = merged;
    if (!canSee(app.me, merged)) {
      this.onGone(merged);
      return;
    }
    this.renderHead();
    this.composer.setConversation(merged);
  }

  /** A contact changed (edited here or elsewhere, or another contact merged into it). */
  applyContact(contact) {
    const c = this.conversation;
    if (!c || (c.contact_id !== contact.id && c.contact_id !== contact.merged_contact_id)) return;
    const known = c.contact_id === contact.id ? c.contact : null;
    if (known?.updated_at && !newer(contact, known)) return;
    this.conversation = { ...c, contact_id: contact.id, contact: { ...c.contact, ...contact } };
    this.renderHead();
  }

  /** The contact was deleted, and its conversations with it. */
  contactDeleted(contact) {
    if (this.conversation?.contact_id === contact.id) this.onGone(this.conversation);
  }

  // Timeline -----------------------------------------------------------------------------------

  /**
   * Records an entry's new state. Live events arrive in seq order, so the last one is the
   * truth and always applies (a retry takes a failed message back to pending); an HTTP
   * answer, which may race the events, only moves a message forward.
   */
  put(kind, data, { live = false } = {}) {
    const key = `${kind}:${data.id}`;
    const known = this.entries.get(key);
    if (kind === "message" && known && !live && !movesForward(data, known.data)) return null;
    if (kind === "system" && !known) {
      // The same change from the history and from its live event: same action and time.
      const at = Date.parse(data.created_at);
      for (const e of this.entries.values()) {
        if (e.kind === "system" && e.data.action === data.action && Math.abs(e.at - at) < 1000) return null;
      }
    }
    const at = Date.parse(kind === "scheduled" ? data.processed_at : kind === "csat" ? csatAt(data) : data.created_at);
    const entry = { key, kind, at, data };
    this.entries.set(key, entry);
    return entry;
  }

  sorted() {
    const all = [...this.entries.values()].sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1));
    if (!this.cursor && !this.newerCursor) return all;
    // Older (or, opened at a search hit, newer) messages are not loaded yet: notes and
    // system lines beyond them wait too.
    const times = all.filter((e) => e.kind === "message").map((e) => e.at);
    const oldest = this.cursor ? Math.min(...times) : -Infinity;
    const newest = this.newerCursor ? Math.max(...times) : Infinity;
    return all.filter((e) => e.at >= oldest && e.at <= newest);
  }

  element(entry) {
    const el = this.draw(entry);
    if (entry.key === this.hitKey) {
      el.classList.add("search-hit"); // the search hit it was opened at, marked whenever drawn
      el.setAttribute("tabindex", "-1");
    }
    return el;
  }

  draw(entry) {
    if (entry.kind === "message") {
      return renderMessage(entry.data, {
        onRetry: app.can("messages.send") ? (m) => this.retry(m) : null,
        csat: csatRole(entry.data, this.surveys),
        email: this.conversation?.channel === "email",
      });
    }
    if (entry.kind === "note") {
      const mine = entry.data.agent_id === app.me.id || app.me.role === "admin";
      return renderNote(entry.data, { onDelete: mine && app.can("conversations.work") ? (n) => this.deleteNote(n) : null });
    }
    if (entry.kind === "scheduled") return renderScheduledFailure(entry.data);
    if (entry.kind === "csat") return renderCsatLine(entry.data);
    return renderSystem(entry.data);
  }

  renderTimeline() {
    const nodes = [this.topSentinel];
    if (this.cursor) nodes.push(h("p", { class: "muted center small" }, t("thread.older")));
    let day = null;
    for (const entry of this.sorted()) {
      const key = dayKey(entry.at);
      if (key !== day) {
        day = key;
        nodes.push(h("div", { class: "day-separator", role: "separator" }, h("span", {}, formatDay(entry.at))));
      }
      entry.el = this.element(entry);
      nodes.push(entry.el);
    }
    if (this.newerCursor) {
      nodes.push(
        h("div", { class: "center newer-messages" },
          h("button", { type: "button", class: "link", onclick: () => this.loadNewer() }, t("thread.newer")), " · ",
          h("button", { type: "button", class: "link", onclick: () => this.open(this.conversation.id) }, t("thread.latest"))),
      );
    }
    fill(this.timeline, nodes, this.scheduled.el);
  }

  atBottom() {
    return this.timeline.scrollHeight - this.timeline.scrollTop - this.timeline.clientHeight < 80;
  }

  scrollToEnd() {
    this.timeline.scrollTop = this.timeline.scrollHeight;
  }

  /** Adds or updates an entry; appends in place when it is the newest, else re-renders. */
  addEntry(kind, data, { live = false } = {}) {
    if (!this.conversation) return;
    const stick = this.atBottom();
    const known = this.entries.get(`${kind}:${data.id}`);
    const entry = this.put(kind, data, { live });
    if (!entry) return;
    if (data.content?.campaign_id && !known) this.renderHead(); // the header names the campaign
    if (known?.el?.isConnected) {
      entry.el = this.element(entry);
      known.el.replaceWith(entry.el);
    } else {
      const all = this.sorted();
      if (all.at(-1) === entry) {
        const previous = all.at(-2);
        // Before the scheduled section, which stays last.
        if (!previous || dayKey(previous.at) !== dayKey(entry.at)) {
          this.scheduled.el.before(h("div", { class: "day-separator", role: "separator" }, h("span", {}, formatDay(entry.at))));
        }
        entry.el = this.element(entry);
        this.scheduled.el.before(entry.el);
      } else {
        this.renderTimeline();
      }
    }
    if (stick || kind !== "message" || data.direction === "outbound") this.scrollToEnd();
  }

  addMessage(message, { live = false } = {}) {
    this.addEntry("message", message, { live });
  }

  async retry(message) {
    const key = `message:${message.id}`;
    const failed = this.entries.get(key)?.data;
    try {
      const answer = await post(`/api/v1/messages/${message.id}/retry`);
      // The answer is newer than the failed state it retried, unless an event came since.
      this.addMessage(answer, { live: this.entries.get(key)?.data === failed });
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  async deleteNote(note) {
    if (!confirm(t("note.confirmDelete"))) return;
    try {
      await del(`/api/v1/conversations/${note.conversation_id}/notes/${note.id}`);
      this.removeNote(note.id);
    } catch (error) {
      toast(describe(error), "error");
    }
  }

  removeNote(id) {
    const entry = this.entries.get(`note:${id}`);
    if (!entry) return;
    this.entries.delete(entry.key);
    this.renderTimeline();
  }

  // CSAT surveys --------------------------------------------------------------------------------

  /** Records a survey's state (a later one is never taken back); its line if it has one. */
  keepSurvey(survey) {
    const known = this.surveys.get(survey.id);
    if (known && progress(survey) < progress(known)) return false;
    this.surveys.set(survey.id, survey);
    if (csatLine(survey)) this.put("csat", survey);
    return true;
  }

  /** A survey's new state: its line, and the messages it gives a meaning drawn again. */
  applySurvey(survey) {
    if (!this.conversation || !this.keepSurvey(survey)) return;
    if (csatLine(survey)) this.addEntry("csat", survey);
    for (const entry of this.entries.values()) {
      const m = entry.data;
      if (entry.kind !== "message" || !entry.el?.isConnected) continue;
      if (m.id === survey.answer_message_id || tapOf(m)?.surveyId === survey.id ||
          Date.parse(m.created_at) === Date.parse(survey.feedback_at)) {
        const el = this.element(entry);
        entry.el.replaceWith(el);
        entry.el = el;
      }
    }
  }

  /** Reads the surveys again (a survey message came, or a resolve may have skipped one). */
  async refreshSurveys() {
    const id = this.conversation?.id;
    if (!id) return;
    const surveys = await get(`/api/v1/conversations/${id}/csat`).catch(() => []);
    if (this.conversation?.id === id) for (const s of surveys) this.applySurvey(s);
  }

  // Live events ----------------------------------------------------------------------------------

  /** A scheduled message's new state: pending ones in their section, failed ones a line. */
  applyScheduled(item, { live = false } = {}) {
    const stick = this.atBottom();
    this.scheduled.apply(item, { live });
    if (item.status === "failed") this.addEntry("scheduled", item, { live });
    else if (stick) this.scrollToEnd();
  }

  applyEvent(event) {
    const data = event.data || {};
    const conversationId = data.conversation?.id || data.message?.conversation_id ||
      data.note?.conversation_id || data.scheduled_message?.conversation_id || data.survey?.conversation_id;
    if (!conversationId) return;
    if (conversationId === this.openId && this.conversation?.id !== this.openId) {
      this.early.push(event); // still loading
      return;
    }
    if (conversationId !== this.conversation?.id) return;
    switch (event.type) {
      case "message.created":
        if (this.newerCursor) break; // below the messages loaded around a search hit: "newer" reads it
        if (data.message.content?.csat_survey_id && !this.surveys.has(data.message.content.csat_survey_id)) {
          this.refreshSurveys();
        }
        this.addMessage(data.message, { live: true });
        if (data.message.direction === "inbound" && document.visibilityState === "visible") this.markRead();
        break;
      case "message.updated":
        // One not loaded (older than the loaded pages) is read fresh when scrolled to.
        if (this.entries.has(`message:${data.message.id}`)) this.addMessage(data.message, { live: true });
        break;
      case "note.created":
        this.addEntry("note", data.note);
        break;
      case "note.deleted":
        this.removeNote(data.note.id);
        break;
      case "csat.answered":
        this.applySurvey(data.survey);
        break;
      case "conversation.resolved":
        // A survey is decided about a second after the resolve; a skipped one has no event.
        clearTimeout(this.surveyTimer);
        this.surveyTimer = setTimeout(() => this.refreshSurveys(), 3000);
        break;
      default:
        if (event.type.startsWith("scheduled_message.")) this.applyScheduled(data.scheduled_message, { live: true });
        break;
    }
    if (data.conversation) {
      const line = systemEntry(event);
      if (line) this.addEntry("system", line);
      this.updateConversation(data.conversation);
    }
  }

  focusReply(mode) {
    if (this.conversation) this.composer.focus(mode);
  }
}
