// Live events over /api/v1/ws (docs/events.md): auth frame, resume after a reconnect so no
// event is lost or repeated, re-auth on every token refresh, back-off on failures.
import * as session from "./session.js";

const PING_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;

export class Live {
  constructor() {
    this.ws = null;
    this.lastSeq = null; // highest seq applied; null until the first "ready"
    this.handlers = new Set();
    this.statusHandlers = new Set();
    this.status = "offline";
    this.attempt = 0;
    this.stopped = true;
    // Resolves at the first "ready": state loaded over HTTP after it misses no event.
    this.firstReady = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.offToken = session.onTokenChange((token) => this.reauth(token));
    this.onOnline = () => this.ws === null && !this.stopped && this.connect();
    window.addEventListener("online", this.onOnline);
  }

  /** fn(event) for each event envelope, in seq order; fn({type: "reload"}) after a gap. */
  on(fn) {
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  /** fn(status): "connecting", "live", "reconnecting", "offline". */
  onStatus(fn) {
    this.statusHandlers.add(fn);
    fn(this.status);
    return () => this.statusHandlers.delete(fn);
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const fn of this.statusHandlers) fn(status);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopPing();
    this.offToken();
    window.removeEventListener("online", this.onOnline);
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
    this.setStatus("offline");
  }

  async connect() {
    if (this.stopped) return;
    this.setStatus(this.attempt ? "reconnecting" : "connecting");
    let token;
    try {
      token = await session.validAccess();
    } catch (error) {
      if (error instanceof session.SessionEnded) return;
      return this.retry();
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", access_token: token }));
      // Resume right after auth; a fresh client pings so live events start at once.
      ws.send(JSON.stringify(
        this.lastSeq === null ? { type: "ping" } : { type: "resume", after_seq: this.lastSeq },
      ));
      this.startPing();
    };
    ws.onmessage = (message) => this.frame(JSON.parse(message.data));
    ws.onclose = (event) => this.closed(ws, event);
  }

  frame(frame) {
    this.gotPong();
    switch (frame.type) {
      case "ready":
        this.attempt = 0;
        if (this.lastSeq === null) this.lastSeq = frame.seq;
        this.setStatus("live");
        this.resolveReady();
        break;
      case "event":
        if (this.lastSeq !== null && frame.event.seq <= this.lastSeq) return; // never twice
        this.lastSeq = frame.event.seq;
        this.emit(frame.event);
        break;
      case "resume_gap":
        this.emit({ type: "reload" }); // events were purged: reload state over HTTP
        break;
      default:
        break; // pong, resumed, auth_ok
    }
  }

  emit(event) {
    for (const fn of this.handlers) {
      try {
        fn(event);
      } catch (error) {
        console.error("live event handler failed", error);
      }
    }
  }

  async closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.stopPing();
    if (this.stopped || event.code === 4403) {
      this.setStatus("offline");
      return;
    }
    if (event.code === 4401) {
      try {
        await session.refresh(session.accessToken());
      } catch (error) {
        if (error instanceof session.SessionEnded) return;
      }
    }
    this.retry();
  }

  retry() {
    this.setStatus("reconnecting");
    const delay = Math.min(15_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.attempt === 1 ? 200 : delay);
  }

  reauth(token) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "auth", access_token: token }));
    }
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (this.ws?.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: "ping" }));
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.ws?.close(4000, "no pong"), PONG_TIMEOUT_MS);
    }, PING_MS);
  }

  gotPong() {
    clearTimeout(this.pongTimer);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
