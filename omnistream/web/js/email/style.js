// The email views' stylesheet (js/email/email.css), added to the page once, when the first
// email module loads: it is not part of app.css, which the inbox loads up front.
const HREF = "/app/js/email/email.css";

if (!document.querySelector(`link[href="${HREF}"]`)) {
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href: HREF }));
}

export const STYLESHEET = HREF;
