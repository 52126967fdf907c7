// The sign-in page: clear errors for wrong credentials, deactivated accounts and the
// lockout (with the minutes left from Retry-After, counting down).
import { fill, h } from "./dom.js";
import { clearErrors, field } from "./forms.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import * as session from "./session.js";

let countdown = 0;

export function renderLogin(root, { reason, onSignedIn }) {
  clearInterval(countdown);
  const message = h("div", { class: "login-message", role: "alert", "aria-live": "assertive" });
  if (reason === "expired") message.append(h("p", { class: "notice" }, t("login.expired")));
  const submitButton = h("button", { type: "submit", class: "primary wide" }, t("login.submit"));
  const form = h(
    "form",
    { class: "login-form", novalidate: true, "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("login.title")),
    h("p", { class: "muted" }, t("login.subtitle")),
    message,
    field({ label: t("login.email"), name: "email", type: "email", required: true, attrs: { autocomplete: "username", autofocus: true } }),
    field({ label: t("login.password"), name: "password", type: "password", required: true, attrs: { autocomplete: "current-password" } }),
    submitButton,
  );
  const languages = h(
    "select",
    { "aria-label": t("shell.language"), class: "lang-select" },
    LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === lang() }, l.name)),
  );
  languages.addEventListener("change", () => setLang(languages.value));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    clearInterval(countdown);
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email || !password) {
      fill(message, h("p", { class: "error" }, t("login.missing")));
      return;
    }
    submitButton.disabled = true;
    fill(message);
    let response;
    try {
      response = await session.login(email, password);
    } catch {
      fill(message, h("p", { class: "error" }, t("error.network")));
      submitButton.disabled = false;
      return;
    }
    submitButton.disabled = false;
    if (response.ok) {
      onSignedIn();
      return;
    }
    let body = {};
    try {
      body = await response.json();
    } catch {
      // not JSON: the generic message below
    }
    if (response.status === 429) {
      let seconds = Number(body.retry_after || response.headers.get("Retry-After") || 60);
      const line = h("p", { class: "error locked" });
      // Said in whole minutes, rounded up (as the server does); counted down by the second.
      const tick = () => {
        if (seconds <= 0) {
          clearInterval(countdown);
          line.textContent = t("login.unlocked");
          return;
        }
        const minutes = Math.ceil(seconds / 60);
        line.textContent = minutes === 1 ? t("login.lockedMinute") : t("login.locked", { minutes });
        seconds -= 1;
      };
      tick();
      countdown = setInterval(tick, 1000);
      fill(message, line);
    } else if (response.status === 401) {
      const deactivated = /deactivated/.test(body.detail || "");
      fill(message, h("p", { class: "error" }, t(deactivated ? "login.deactivated" : "login.wrong")));
      form.elements.password.select();
    } else {
      fill(message, h("p", { class: "error" }, body.detail || t("error.unexpected")));
    }
  });

  fill(
    root,
    h(
      "main",
      { class: "login-page", id: "main" },
      h("div", { class: "login-card" }, h("div", { class: "brand big" }, h("span", { class: "logo", "aria-hidden": "true" }), "OmniStream"), form),
      h("div", { class: "login-footer" }, languages),
    ),
  );
  root.removeAttribute("aria-busy");
  form.elements.email.focus();
}
