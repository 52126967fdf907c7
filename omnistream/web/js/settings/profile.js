// Settings › My profile: who I am, my password, and my preferences (language, time zone,
// sound and browser notifications for new messages in my conversations).
import { post, put } from "../api.js";
import { h } from "../dom.js";
import { describe, field, submit, toast } from "../forms.js";
import { LANGUAGES, browserZone, lang, setLang, setTimeZone, t, timeZone, zones } from "../i18n.js";
import * as notify from "../notify.js";
import { pageHeader } from "./common.js";

export function render(container, app) {
  const me = app.me;
  const password = h(
    "form",
    { class: "form narrow", novalidate: true, "aria-labelledby": "pw-title" },
    h("h2", { id: "pw-title" }, t("profile.password")),
    field({ label: t("profile.current"), name: "current_password", type: "password", required: true, attrs: { autocomplete: "current-password" } }),
    field({ label: t("profile.new"), name: "new_password", type: "password", required: true, hint: t("agents.passwordHint"), attrs: { autocomplete: "new-password" } }),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("profile.change"))),
  );
  password.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await submit(password, async () => {
      await post("/api/v1/auth/password", {
        current_password: password.elements.current_password.value,
        new_password: password.elements.new_password.value,
      });
      return true;
    });
    if (done) {
      password.reset();
      toast(t("profile.changed"));
    }
  });

  const language = h("select", { id: "pref-lang" }, LANGUAGES.map((l) => h("option", { value: l.code, selected: l.code === lang() }, l.name)));
  language.addEventListener("change", () => setLang(language.value));
  const zone = h("select", { id: "pref-tz" }, zones().map((z) => h("option", { value: z, selected: z === timeZone() }, z === browserZone() ? `${z} (${t("profile.browserZone")})` : z)));
  zone.addEventListener("change", () => {
    setTimeZone(zone.value);
    // The server's copy: a snooze "tomorrow 09:00" from elsewhere (the API) is 09:00 here.
    put("/api/v1/auth/me/timezone", { timezone: zone.value }).catch((error) => toast(describe(error), "error"));
  });
  const sound = h("input", { type: "checkbox", id: "pref-sound", checked: notify.soundOn() });
  sound.addEventListener("change", () => notify.setSound(sound.checked));
  const desktop = h("input", { type: "checkbox", id: "pref-desktop", checked: notify.desktopOn() });
  desktop.addEventListener("change", async () => {
    desktop.checked = await notify.setDesktop(desktop.checked);
    if (!desktop.checked && "Notification" in window && Notification.permission === "denied") {
      toast(t("profile.desktopDenied"), "error");
    }
  });

  container.append(
    pageHeader(t("settings.profile")),
    h("dl", { class: "details profile" },
      h("div", { class: "kv" }, h("dt", {}, t("agents.name")), h("dd", {}, me.name)),
      h("div", { class: "kv" }, h("dt", {}, t("agents.email")), h("dd", {}, me.email)),
      h("div", { class: "kv" }, h("dt", {}, t("agents.role")), h("dd", {}, t(`role.${me.role}`))),
      h("div", { class: "kv" }, h("dt", {}, t("agents.divisions")), h("dd", {}, me.divisions.map((d) => d.name).join(", ") || "—"))),
    h("section", { class: "prefs", "aria-labelledby": "prefs-title" },
      h("h2", { id: "prefs-title" }, t("profile.preferences")),
      h("div", { class: "field" }, h("label", { for: "pref-lang" }, t("shell.language")), language),
      h("div", { class: "field" }, h("label", { for: "pref-tz" }, t("profile.timeZone")), zone),
      h("div", { class: "field checkbox" }, sound, h("label", { for: "pref-sound" }, t("profile.sound"))),
      h("div", { class: "field checkbox" }, desktop, h("label", { for: "pref-desktop" }, t("profile.desktop")))),
    password,
  );
  return { destroy() {} };
}
