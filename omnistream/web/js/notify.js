// New-message alerts for the agent's own conversations: an optional short sound (made with
// Web Audio, no file) and an optional browser notification. Both are off by default.
import { t } from "./i18n.js";

const SOUND = "omnistream.sound";
const DESKTOP = "omnistream.desktop";

export const soundOn = () => localStorage.getItem(SOUND) === "1";
export const desktopOn = () =>
  localStorage.getItem(DESKTOP) === "1" && "Notification" in window &&
  Notification.permission === "granted";

export function setSound(on) {
  localStorage.setItem(SOUND, on ? "1" : "0");
  if (on) chime();
}

/** Asks for the browser's permission; resolves to whether notifications are on. */
export async function setDesktop(on) {
  if (!on || !("Notification" in window)) {
    localStorage.setItem(DESKTOP, "0");
    return false;
  }
  const permission =
    Notification.permission === "default"
      ? await Notification.requestPermission()
      : Notification.permission;
  localStorage.setItem(DESKTOP, permission === "granted" ? "1" : "0");
  return permission === "granted";
}

let audio = null;
export function chime() {
  try {
    audio ??= new AudioContext();
    const now = audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.12, 1320]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.15, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.3);
    }
  } catch {
    // No audio (autoplay policy before any click): stay silent.
  }
}

/** A new customer message in one of my conversations. */
export function newMessage({ title, body, onClick }) {
  if (soundOn()) chime();
  if (desktopOn() && document.visibilityState !== "visible") {
    const note = new Notification(title || t("notify.newMessage"), {
      body: body || "",
      tag: "omnistream-message",
    });
    note.onclick = () => {
      window.focus();
      onClick?.();
      note.close();
    };
  }
}
