// The composer of an email conversation (composer.js loads this when one opens): a subject
// for a new thread, CC addresses (checked here, the server's 422 shown on the field) and up
// to ten attachments, sent as ONE message {type: text, text, subject?, cc?, attachment_ids}.
// It changes only this composer instance; off() gives the ordinary composer back.
import { api } from "../api.js";
import { h, uid } from "../dom.js";
import { describe } from "../forms.js";
import { t } from "../i18n.js";
import { icon } from "../icons.js";
import { fieldMessage } from "../problems.js";
import "./strings.js";
import "./style.js";

export const MAX_FILES = 10;
const ADDRESS = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;

/** "a@x.id, b@y.id; c@z.id" -> [addresses], and the first that is not one (or null). */
export function addresses(text) {
  const list = text.split(/[,;\s]+/).map((a) => a.trim()).filter(Boolean);
  return { list, bad: list.find((a) => !ADDRESS.test(a)) || null };
}

function input(name, label, placeholder) {
  const id = uid("f");
  const control = h("input", { id, name, type: "text", placeholder, autocomplete: "off", maxlength: name === "subject" ? 998 : 4000 });
  const wrap = h("div", { class: `field email-field email-${name}`, dataset: { field: name } }, h("label", { for: id }, label), control);
  return { wrap, control };
}

function fieldError(wrap, message) {
  const id = uid("err");
  wrap.append(h("p", { class: "field-error", id }, message));
  const control = wrap.querySelector("input");
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", id);
}

function clearFieldErrors(box) {
  for (const el of box.querySelectorAll(".field-error")) el.remove();
  for (const el of box.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

export function enhance(composer, conversation) {
  if (composer.conversation?.id !== conversation.id || composer.email) return;
  const subject = input("subject", t("email.newSubject"), t("email.subjectPlaceholder"));
  const cc = input("cc", t("email.cc"), t("email.ccPlaceholder"));
  const box = h("div", { class: "email-compose" }, subject.wrap, cc.wrap);
  composer.text.before(box);
  let files = []; // uploaded media (MediaOut), in the order attached
  const proto = Object.getPrototypeOf(composer);
  const fileInput = composer.file;
  fileInput.multiple = true;

  const chips = () => {
    composer.chips.replaceChildren(
      ...files.map((media) =>
        h("span", { class: "chip" }, icon("file"), media.filename,
          h("button", { type: "button", class: "icon-button small", "aria-label": `${t("composer.removeAttachment")}: ${media.filename}`, onclick: () => {
            files = files.filter((m) => m !== media);
            chips();
          } }, icon("close"))),
      ),
    );
  };

  const overrides = {
    // Every chosen file, one after another; a send meanwhile waits for all of them.
    upload() {
      const chosen = [...fileInput.files];
      fileInput.value = "";
      if (!chosen.length || !composer.conversation) return;
      const previous = composer.uploading || Promise.resolve();
      composer.uploading = previous.then(() => uploadAll(chosen)).finally(() => {
        composer.uploading = null;
      });
    },
    setAttachment(attachment) {
      if (attachment.media) files.push(attachment.media);
      chips();
    },
    clearAttachment() {
      files = [];
      chips();
    },
    reset() {
      proto.reset.call(composer);
      subject.control.value = "";
      cc.control.value = "";
      clearFieldErrors(box);
    },
    body() {
      clearFieldErrors(box);
      const text = composer.text.value.trim();
      const { list, bad } = addresses(cc.control.value);
      if (bad) {
        fieldError(cc.wrap, t("email.badAddress", { address: bad }));
        cc.control.focus();
        return null;
      }
      if (!text && !files.length) return null;
      const body = { type: "text", text };
      const title = subject.control.value.trim();
      if (title) body.subject = title;
      if (list.length) body.cc = list;
      if (files.length) body.attachment_ids = files.map((m) => m.id);
      return body;
    },
    // The server's field errors (subject, cc.N, attachment_ids) next to their fields too.
    run(action) {
      return proto.run.call(composer, async () => {
        try {
          await action();
        } catch (error) {
          for (const item of error?.errors || []) {
            const name = String(item.field || "").split(".")[0];
            if (name === "subject" || name === "cc") fieldError(name === "cc" ? cc.wrap : subject.wrap, fieldMessage(item));
          }
          throw error;
        }
      });
    },
  };

  async function uploadAll(chosen) {
    const conversationId = composer.conversation.id;
    composer.error.textContent = "";
    for (const file of chosen) {
      if (files.length >= MAX_FILES) {
        composer.error.textContent = t("email.tooManyFiles", { n: MAX_FILES });
        return;
      }
      const busy = h("span", { class: "chip busy" }, icon("file"), file.name, " ", h("span", { class: "muted" }, t("composer.uploading")));
      composer.chips.append(busy);
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        const media = await api("POST", `/api/v1/conversations/${conversationId}/uploads`, { form });
        if (composer.conversation?.id !== conversationId) return;
        files.push(media);
      } catch (error) {
        if (composer.conversation?.id !== conversationId) return;
        composer.error.textContent = `${file.name}: ${describe(error)}`;
      } finally {
        busy.remove();
        if (composer.conversation?.id === conversationId) chips();
      }
    }
  }

  Object.assign(composer, overrides);
  composer.email = {
    off() {
      for (const name of Object.keys(overrides)) delete composer[name];
      fileInput.multiple = false;
      box.remove();
      composer.email = null;
    },
  };
}
