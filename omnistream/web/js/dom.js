// Tiny DOM helpers: elements are built with h(), text always goes in as text (never HTML).

/**
 * h("button", {class: "primary", onclick, "aria-label": "Send"}, "Send")
 * props: class, text, dataset (object), style (object), on<event> (function), any attribute;
 * true / false / null attribute values add or leave out boolean attributes.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "style") Object.assign(el.style, value);
      else if (key.startsWith("on") && typeof value === "function") {
        el.addEventListener(key.slice(2), value);
      } else if (key === "value" && "value" in el) el.value = value;
      else if (key === "checked" || key === "selected" || key === "disabled") el[key] = !!value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

let ids = 0;
export const uid = (prefix = "id") => `${prefix}-${++ids}`;

/** An SVG element from trusted markup constants (icons). */
export function svg(markup, label) {
  const wrap = document.createElement("span");
  wrap.className = "icon";
  wrap.innerHTML = markup; // our own constant icons only, never data
  if (label) {
    wrap.setAttribute("role", "img");
    wrap.setAttribute("aria-label", label);
  } else {
    wrap.setAttribute("aria-hidden", "true");
  }
  return wrap;
}

/** A native <dialog> that removes itself when closed; Esc closes it (browser default). */
export function dialog({ title, body, actions = [], onclose, wide = false }) {
  const titleId = uid("dlg");
  const el = h(
    "dialog",
    { class: wide ? "dialog wide" : "dialog", "aria-labelledby": titleId },
    h("h2", { id: titleId, text: title }),
    body,
    actions.length ? h("div", { class: "dialog-actions" }, actions) : null,
  );
  el.addEventListener("close", () => {
    el.remove();
    onclose?.();
  });
  document.body.append(el);
  el.showModal();
  return el;
}

/** Debounce: run fn once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** True when a key press happens in a field that takes text (shortcuts stay out of it). */
export function typing(event) {
  const t = event.target;
  if (!(t instanceof HTMLElement)) return false;
  return t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName);
}

/** Throttle: run fn at most once every `ms` (the last call of a burst runs at its end). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = 0;
  return (...args) => {
    const wait = last + ms - Date.now();
    clearTimeout(timer);
    if (wait <= 0) {
      last = Date.now();
      fn(...args);
    } else {
      timer = setTimeout(() => {
        last = Date.now();
        fn(...args);
      }, wait);
    }
  };
}
