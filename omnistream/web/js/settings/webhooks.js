// Settings › Webhooks (admins): outgoing webhook endpoints, their one-time signing secrets,
// test events and the delivery log. Endpoints change live (webhook.* events, admins only);
// deliveries have no event on purpose, so the open log reads itself again every few seconds.
import { all, del, get, patch, post } from "../api.js";
import { dialog, fill, h, uid } from "../dom.js";
import { describe, field, formDialog, toast } from "../forms.js";
import { formatDateTime, isoToZoned, t, timeZone, zonedToIso } from "../i18n.js";
import { pageHeader, table } from "./common.js";

const BASE = "/api/v1/webhooks";
const POLL_MS = 3000;
const PAGE = 50;
const STATUS_CLASS = { pending: "warn", success: "ok", failed: "bad" };

let eventTypes = null; // the subscribable types, read once
const loadEventTypes = () => (eventTypes ??= get(`${BASE}/event-types`).catch((error) => {
  eventTypes = null;
  throw error;
}));

const statusPill = (status) => h("span", { class: `pill ${STATUS_CLASS[status] || "off"}` }, t(`webhooks.status.${status}`));
const kv = (label, value, cls) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", { class: cls }, value));
const time = (v) => (v ? h("time", { datetime: v }, formatDateTime(v)) : "—");

function eventChoices(types, chosen) {
  const everything = chosen.includes("*");
  const legend = uid("lg");
  const allBox = h("input", { type: "checkbox", id: uid("ev"), name: "events.all", checked: everything });
  const boxes = types.map((type) => h("input", { type: "checkbox", id: uid("ev"), name: "event", value: type, checked: chosen.includes(type), disabled: everything }));
  allBox.addEventListener("change", () => boxes.forEach((b) => (b.disabled = allBox.checked)));
  return h("fieldset", { class: "field checks", dataset: { field: "events" }, "aria-labelledby": legend },
    h("legend", { id: legend }, t("webhooks.events")),
    h("label", { class: "check strong", for: allBox.id }, allBox, t("webhooks.allEvents")),
    h("div", { class: "event-choices" }, boxes.map((b) => h("label", { class: "check", for: b.id }, b, h("code", {}, b.value)))));
}

/** The endpoint's fields from the form; an empty concurrency keeps the server's value. */
function payload(form) {
  const out = {
    url: form.elements.url.value.trim(),
    description: form.elements.description.value.trim(),
    events: form.elements["events.all"].checked ? ["*"] : [...form.querySelectorAll("input[name=event]:checked")].map((b) => b.value),
  };
  const concurrency = form.elements.max_concurrency.value.trim();
  if (concurrency) out.max_concurrency = Number(concurrency);
  return out;
}

/** The signing secret, shown this once, with Copy (select the text when the clipboard is refused). */
function showSecret(webhook, rotated) {
  const id = uid("sec");
  const input = h("input", { id, type: "text", readonly: true, value: webhook.secret, class: "secret", spellcheck: "false", autocomplete: "off" });
  const said = h("p", { class: "muted small", role: "status" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(webhook.secret);
      said.textContent = t("webhooks.copied");
    } catch {
      input.focus();
      input.select();
      said.textContent = t("webhooks.copyByHand");
    }
  };
  const done = h("button", { type: "button", class: "primary" }, t("webhooks.secretDone"));
  const el = dialog({
    title: t(rotated ? "webhooks.newSecretTitle" : "webhooks.secretTitle"),
    wide: true,
    body: h("div", { class: "form" },
      h("p", { class: "notice", role: "alert" }, t("webhooks.secretOnce")),
      rotated && webhook.previous_secret_valid_until ? h("p", {}, t("webhooks.oldSecretValid", { time: formatDateTime(webhook.previous_secret_valid_until) })) : null,
      h("div", { class: "field" }, h("label", { for: id }, t("webhooks.secret")),
        h("div", { class: "secret-row" }, input, h("button", { type: "button", onclick: copy }, t("webhooks.copy")))),
      said),
    actions: [done],
  });
  done.addEventListener("click", () => el.close());
  input.select();
}

export function render(container, app) {
  const hooks = new Map(); // id -> endpoint, as last read or announced
  const gone = new Set(); // deleted while a read was under way
  const built = new Map(); // id -> {w, el}: a card is built again only when its endpoint changed
  const body = h("div", { class: "cards" });
  const logSlot = h("div", {});
  let log = null; // the open delivery log

  function keep(w) {
    const known = hooks.get(w.id);
    if (!gone.has(w.id) && (!known || Date.parse(known.updated_at) <= Date.parse(w.updated_at))) hooks.set(w.id, w);
  }

  function draw() {
    const list = [...hooks.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    for (const id of built.keys()) if (!hooks.has(id)) built.delete(id);
    if (!list.length) return fill(body, h("p", { class: "muted" }, t("webhooks.none")));
    list.forEach((w, i) => {
      let b = built.get(w.id);
      if (b?.w !== w) built.set(w.id, (b = { w, el: card(w) }));
      if (body.children[i] !== b.el) body.insertBefore(b.el, body.children[i] || null);
    });
    while (body.children.length > list.length) body.lastElementChild.remove();
  }

  async function reload() {
    try {
      const items = await all(BASE);
      hooks.clear();
      gone.clear();
      items.forEach(keep);
      draw();
    } catch (error) {
      fill(body, h("p", { class: "form-error" }, describe(error)));
    }
  }

  const act = (fn) => async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      toast(describe(error), "error");
    }
  };
  const apply = (w) => {
    keep(w);
    draw();
  };

  function card(w) {
    const auto = !w.is_active && w.disabled_reason === "failing";
    const state = w.is_active ? ["ok", "webhooks.active"] : auto ? ["bad", "webhooks.autoDisabled"] : ["off", "webhooks.disabled"];
    const btn = (label, onclick, cls) => h("button", { type: "button", class: cls, onclick }, t(label));
    return h("article", { class: "card webhook", dataset: { id: w.id }, "aria-label": w.url },
      h("header", { class: "card-head" }, h("h2", {}, w.url), h("span", { class: `pill ${state[0]}` }, t(state[1]))),
      w.description ? h("p", {}, w.description) : null,
      auto ? h("p", { class: "bad-text", role: "note" }, t("webhooks.autoDisabledNote", { time: formatDateTime(w.disabled_at) })) : null,
      h("dl", { class: "details" },
        kv(t("webhooks.events"), w.events.includes("*") ? t("webhooks.allEvents") : w.events.join(", ")),
        kv(t("webhooks.pending"), String(w.pending)),
        kv(t("webhooks.failed24h"), String(w.failed_24h), w.failed_24h ? "bad-text" : null),
        kv(t("webhooks.concurrency"), String(w.max_concurrency)),
        w.is_active && w.failing_since ? kv(t("webhooks.failingSince"), time(w.failing_since), "bad-text") : null,
        w.previous_secret_valid_until ? kv(t("webhooks.oldSecretUntil"), time(w.previous_secret_valid_until)) : null),
      h("div", { class: "card-actions" },
        btn("webhooks.deliveries", () => openLog(w.id)),
        w.is_active ? btn("webhooks.test", act(() => sendTest(w))) : null,
        btn("action.edit", () => edit(w)),
        btn(w.is_active ? "webhooks.disable" : "webhooks.enable", act(() => toggle(w))),
        btn("webhooks.rotate", act(() => rotate(w))),
        btn("action.delete", act(() => remove(w)), "danger")));
  }

  async function form(w) {
    const types = await loadEventTypes();
    return [
      field({ label: t("webhooks.url"), name: "url", type: "url", value: w?.url, required: true, hint: t("webhooks.urlHint"), attrs: { autocomplete: "off" } }),
      field({ label: t("webhooks.description"), name: "description", type: "textarea", value: w?.description }),
      eventChoices(types, w?.events || ["*"]),
      field({ label: t("webhooks.concurrency"), name: "max_concurrency", type: "number", value: w?.max_concurrency, hint: t("webhooks.concurrencyHint"), attrs: { min: 1, max: 32 } }),
    ];
  }

  const create = act(async () => {
    formDialog({
      title: t("webhooks.new"),
      submitLabel: t("webhooks.create"),
      wide: true,
      fields: await form(null),
      onSubmit: (f) => post(BASE, payload(f)),
      onDone: (created) => {
        const { secret: _, ...plain } = created;
        apply(plain);
        showSecret(created, false);
      },
    });
  });

  const edit = act(async (w) => {
    formDialog({
      title: t("webhooks.editNamed", { url: w.url }),
      submitLabel: t("action.save"),
      wide: true,
      fields: await form(w),
      onSubmit: (f) => patch(`${BASE}/${w.id}`, payload(f)),
      onDone: (saved) => {
        apply(saved);
        toast(t("state.saved"));
      },
    });
  });

  async function toggle(w) {
    if (w.is_active && !confirm(t("webhooks.confirmDisable", { url: w.url }))) return;
    apply(await patch(`${BASE}/${w.id}`, { is_active: !w.is_active }));
    log?.refresh();
  }

  async function rotate(w) {
    if (!confirm(t("webhooks.confirmRotate", { url: w.url }))) return;
    const rotated = await post(`${BASE}/${w.id}/rotate-secret`);
    const { secret: _, ...plain } = rotated;
    apply(plain);
    showSecret(rotated, true);
  }

  async function sendTest(w) {
    await post(`${BASE}/${w.id}/test`);
    toast(t("webhooks.testSent"));
    openLog(w.id);
  }

  async function remove(w) {
    if (!confirm(t("webhooks.confirmDelete", { url: w.url }))) return;
    await del(`${BASE}/${w.id}`);
    hooks.delete(w.id);
    gone.add(w.id);
    draw();
    if (log?.id === w.id) closeLog();
  }

  function openLog(id) {
    if (log?.id === id) return log.refresh();
    log?.stop();
    log = deliveryLog(id);
    fill(logSlot, log.el);
    log.el.scrollIntoView({ block: "nearest" });
  }

  function closeLog() {
    log?.stop();
    log = null;
    fill(logSlot);
  }

  function deliveryLog(id) {
    let items = [];
    let cursor = null;
    let seq = 0; // the latest read wins
    let reading = 0;
    const url = () => hooks.get(id)?.url || "";
    const heading = h("h2", {}, t("webhooks.logOf", { url: url() }));
    const status = h("select", { "aria-label": t("webhooks.statusFilter") },
      ["", "pending", "success", "failed"].map((s) => h("option", { value: s }, s ? t(`webhooks.status.${s}`) : t("webhooks.anyStatus"))));
    const since = h("input", { type: "datetime-local", value: isoToZoned(new Date(Date.now() - 864e5)), "aria-label": t("webhooks.since", { zone: timeZone() }) });
    const rows = h("div", {});
    const more = h("button", { type: "button", class: "ghost", hidden: true }, t("action.loadMore"));
    const said = h("p", { class: "muted", role: "status" });

    // reset: the first page; more: the next; neither (the poll): as many as are shown, anew.
    async function load(how) {
      if (how === "poll" && reading) return;
      const mine = ++seq;
      reading += 1;
      const limit = how === "poll" ? Math.min(200, Math.max(PAGE, items.length)) : PAGE;
      try {
        const [page, endpoint] = await Promise.all([
          get(`${BASE}/${id}/deliveries`, { status: status.value, limit, cursor: how === "more" ? cursor : null }),
          how === "more" ? null : get(`${BASE}/${id}`), // its pending and failed counts move too
        ]);
        if (mine !== seq) return;
        items = how === "more" ? items.concat(page.items) : page.items;
        cursor = page.next_cursor;
        said.textContent = "";
        if (endpoint) apply(endpoint);
      } catch (error) {
        if (mine === seq) said.textContent = describe(error);
        return;
      } finally {
        reading -= 1;
      }
      heading.textContent = t("webhooks.logOf", { url: url() });
      more.hidden = !cursor;
      fill(rows, table(t("webhooks.deliveries"),
        [t("webhooks.when"), t("webhooks.eventType"), t("webhooks.statusFilter"), t("webhooks.attempts"), t("webhooks.lastResult"), ""],
        items.map((d) => [
          time(d.created_at),
          h("code", {}, d.event_type),
          h("span", {}, statusPill(d.status), d.status === "pending" && d.next_retry_at ? h("span", { class: "muted small" }, ` ${t("webhooks.nextTry", { time: formatDateTime(d.next_retry_at) })}`) : null),
          String(d.attempts),
          h("span", {}, d.last_status ? h("span", { class: d.last_status < 300 ? "" : "bad-text" }, `HTTP ${d.last_status} `) : null,
            d.last_error ? h("span", { class: "bad-text" }, d.last_error) : null,
            d.last_attempt_at ? h("span", { class: "muted small" }, ` · ${formatDateTime(d.last_attempt_at)}`) : null),
          h("button", { type: "button", class: "link", onclick: () => openDelivery(d) }, t("webhooks.details")),
        ])));
    }

    async function openDelivery(d) {
      let x;
      try {
        x = await get(`${BASE}/${id}/deliveries/${d.id}`);
      } catch (error) {
        return toast(describe(error), "error");
      }
      const close = h("button", { type: "button", class: "ghost" }, t("action.close"));
      const again = x.status === "pending" ? null : h("button", { type: "button", class: "primary" }, t("webhooks.redeliver"));
      const el = dialog({
        title: t("webhooks.deliveryTitle", { type: x.event_type }),
        wide: true,
        body: h("div", { class: "delivery" },
          h("dl", { class: "details" },
            kv(t("webhooks.statusFilter"), statusPill(x.status)),
            kv(t("webhooks.eventId"), h("code", {}, x.event_id)),
            kv(t("webhooks.when"), time(x.created_at)),
            kv(t("webhooks.attempts"), String(x.attempts)),
            x.next_retry_at ? kv(t("webhooks.nextRetry"), time(x.next_retry_at)) : null,
            x.completed_at ? kv(t("webhooks.completed"), time(x.completed_at)) : null),
          h("h3", {}, t("webhooks.attemptLog")),
          table(t("webhooks.attemptLog"), [t("webhooks.when"), t("webhooks.duration"), t("webhooks.statusCode"), t("webhooks.response"), t("webhooks.error")],
            x.attempt_log.map((a) => [
              time(a.attempted_at),
              `${a.duration_ms} ms`,
              a.status_code === null ? "—" : String(a.status_code),
              a.response_body ? h("pre", { class: "excerpt" }, a.response_body) : "",
              a.error ? h("span", { class: "bad-text" }, a.error) : "",
            ])),
          h("h3", {}, t("webhooks.payload")),
          h("pre", { class: "excerpt payload" }, JSON.stringify(x.payload, null, 2))),
        actions: [close, again],
      });
      close.addEventListener("click", () => el.close());
      again?.addEventListener("click", act(async () => {
        await post(`${BASE}/${id}/deliveries/${x.id}/redeliver`);
        el.close();
        toast(t("webhooks.redelivered"));
        load("reset");
      }));
    }

    const redeliverFailed = act(async () => {
      if (!since.value) return since.focus();
      const out = await post(`${BASE}/${id}/redeliver-failed`, { since: zonedToIso(since.value) });
      toast(t("webhooks.redeliveredN", { n: out.redelivered }));
      load("reset");
    });

    status.addEventListener("change", () => load("reset"));
    more.addEventListener("click", () => load("more"));
    const el = h("section", { class: "delivery-log", "aria-label": t("webhooks.deliveries") },
      h("div", { class: "page-head" }, heading, h("div", { class: "page-actions" }, h("button", { type: "button", class: "ghost", onclick: closeLog }, t("action.close")))),
      h("div", { class: "toolbar" }, status,
        h("label", { class: "inline" }, t("webhooks.failedSince"), " ", since),
        h("button", { type: "button", onclick: redeliverFailed }, t("webhooks.redeliverFailed"))),
      rows, said, more);
    // Only while the page is seen: a hidden tab does not keep reading.
    const timer = setInterval(() => document.visibilityState === "visible" && el.isConnected && load("poll"), POLL_MS);
    load("reset");
    return { id, el, refresh: () => load("reset"), stop: () => clearInterval(timer) };
  }

  const off = app.live.on((event) => {
    if (event.type === "reload") return reload();
    const w = event.data?.webhook;
    if (!event.type?.startsWith("webhook.") || !w) return;
    if (event.type === "webhook.deleted") {
      hooks.delete(w.id);
      gone.add(w.id);
      if (log?.id === w.id) closeLog();
    } else keep(w);
    draw();
    if (log?.id === w.id) log.refresh(); // disabling fails its pending deliveries
  });

  container.append(
    pageHeader(t("settings.webhooks"), h("button", { type: "button", class: "primary", onclick: create }, t("webhooks.new"))),
    h("p", { class: "muted" }, t("webhooks.intro")),
    body, logSlot);
  app.live.firstReady.then(reload); // read after the socket is ready: no change falls between
  return {
    destroy() {
      off();
      log?.stop();
    },
  };
}
