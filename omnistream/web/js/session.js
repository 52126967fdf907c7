// The sign-in session: tokens in localStorage (shared by the agent's tabs), silent refresh
// before the access token expires, one refresh at a time across requests and tabs.
//
// The refresh token rotates on every use and a reused one ends the session, so two
// refreshes must never race: within a tab they share one promise, across tabs they take
// the "omnistream-refresh" Web Lock and the loser adopts the tokens the winner stored.

const ACCESS = "omnistream.access";
const REFRESH = "omnistream.refresh";
const EXPIRES = "omnistream.expires"; // ms since epoch
const EARLY_MS = 60_000; // refresh this long before expiry

const listeners = { change: new Set(), end: new Set() };
let pending = null; // the in-flight refresh of this tab
let timer = 0;

export class SessionEnded extends Error {}

export const accessToken = () => localStorage.getItem(ACCESS);
export const signedIn = () => !!localStorage.getItem(REFRESH);

/** fn(token) after every new access token (the WebSocket re-authenticates with it). */
export function onTokenChange(fn) {
  listeners.change.add(fn);
  return () => listeners.change.delete(fn);
}

/** fn(reason) when the session ends (sign-out here or in another tab, refused refresh). */
export function onSessionEnd(fn) {
  listeners.end.add(fn);
  return () => listeners.end.delete(fn);
}

export function store(pair) {
  localStorage.setItem(ACCESS, pair.access_token);
  localStorage.setItem(REFRESH, pair.refresh_token);
  localStorage.setItem(EXPIRES, String(Date.now() + pair.expires_in * 1000));
  schedule();
  for (const fn of listeners.change) fn(pair.access_token);
}

function clear() {
  clearTimeout(timer);
  for (const key of [ACCESS, REFRESH, EXPIRES]) localStorage.removeItem(key);
}

/** Ends the session locally (after a refused refresh, or a sign-out). */
export function end(reason) {
  const had = signedIn();
  clear();
  if (had || reason) for (const fn of listeners.end) fn(reason);
}

async function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

async function refreshNow(staleAccess) {
  const token = localStorage.getItem(REFRESH);
  if (!token) throw new SessionEnded("expired");
  // Another tab (or an earlier refresh) already renewed what the caller found stale.
  if (staleAccess !== undefined && accessToken() && accessToken() !== staleAccess && fresh()) {
    return accessToken();
  }
  const response = await post("/api/v1/auth/refresh", { refresh_token: token });
  if (response.status === 401 || response.status === 422) {
    if (localStorage.getItem(REFRESH) !== token) return accessToken(); // another tab won
    end("expired");
    throw new SessionEnded("expired");
  }
  if (!response.ok) throw new Error(`refresh failed: HTTP ${response.status}`);
  const pair = await response.json();
  store(pair);
  return pair.access_token;
}

const fresh = () => Number(localStorage.getItem(EXPIRES) || 0) - Date.now() > 5_000;

/**
 * A new access token. `staleAccess`: the token a request was refused with; when the stored
 * one already differs, it is returned without calling the server.
 */
export function refresh(staleAccess) {
  if (!pending) {
    const run = () => refreshNow(staleAccess);
    const locked = navigator.locks?.request
      ? navigator.locks.request("omnistream-refresh", run)
      : run();
    pending = locked.finally(() => {
      pending = null;
    });
  }
  return pending;
}

/** A usable access token, refreshing first if it is about to expire. */
export async function validAccess() {
  if (!signedIn()) throw new SessionEnded("expired");
  if (accessToken() && fresh()) return accessToken();
  return refresh(accessToken());
}

function schedule() {
  clearTimeout(timer);
  const expires = Number(localStorage.getItem(EXPIRES) || 0);
  if (!expires) return;
  const wait = Math.max(2_000, expires - Date.now() - EARLY_MS);
  timer = setTimeout(() => {
    refresh(accessToken()).catch(() => {
      // A network error: try again shortly; a refused refresh has already ended it.
      if (signedIn()) timer = setTimeout(schedule, 5_000);
    });
  }, wait);
}

export async function login(email, password) {
  const response = await post("/api/v1/auth/login", { email, password });
  if (!response.ok) return response;
  store(await response.json());
  return response;
}

export async function logout() {
  const token = accessToken();
  end(null);
  if (token) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    }).catch(() => {});
  }
}

// Other tabs: a sign-out there ends this tab's session too; new tokens re-arm the timer.
window.addEventListener("storage", (event) => {
  if (event.key === REFRESH && event.oldValue && !event.newValue) end(null);
  else if (event.key === ACCESS && event.newValue) {
    schedule();
    for (const fn of listeners.change) fn(event.newValue);
  }
});
// Timers sleep with a suspended laptop: check again when the page comes back.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && signedIn() && !fresh()) {
    refresh(accessToken()).catch(() => {});
  }
});

if (signedIn()) schedule();
