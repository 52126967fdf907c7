// The HTTP API: bearer token, one silent refresh-and-retry on 401, problem+json errors.
import * as session from "./session.js";

/** An error answer (RFC 9457 problem+json): status, type, detail, errors[], retryAfter. */
export class ApiError extends Error {
  constructor(status, body, response) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.type = this.body.type || "";
    this.detail = this.body.detail || this.message;
    this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
    const header = response?.headers.get("Retry-After");
    this.retryAfter = Number(this.body.retry_after ?? header ?? 0) || null;
  }

  /** The route does not exist on this server (a feature not installed yet). */
  get noRoute() {
    return this.status === 404 && this.detail === "no such route";
  }
}

export class NetworkError extends Error {}

function url(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method, path, options, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form; // FormData: the browser sets the multipart boundary
  }
  try {
    return await fetch(url(path, options.query), { method, headers, body, signal: options.signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new NetworkError(error.message);
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { detail: response.statusText };
  }
  return new ApiError(response.status, body, response);
}

/**
 * api("GET", "/api/v1/conversations", {query: {...}}) -> parsed JSON (null for 204).
 * options: json, form (FormData), query, signal, blob (answer as a Blob).
 */
export async function api(method, path, options = {}) {
  let token = await session.validAccess();
  let response = await send(method, path, options, token);
  if (response.status === 401) {
    token = await session.refresh(token); // throws SessionEnded when refused
    response = await send(method, path, options, token);
    if (response.status === 401) {
      session.end("expired");
      throw new session.SessionEnded("expired");
    }
  }
  if (!response.ok) throw await errorOf(response);
  if (options.blob) return response.blob();
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, query, options = {}) => api("GET", path, { ...options, query });
export const post = (path, json, options = {}) => api("POST", path, { ...options, json });
export const patch = (path, json) => api("PATCH", path, { json });
export const put = (path, json) => api("PUT", path, { json });
export const del = (path) => api("DELETE", path);

const probes = new Map();
/** Whether the server has this API (a missing route answers 404 "no such route"); a role
 * the API refuses (403) counts as not having it. Probed once per page load. */
export function hasApi(path) {
  if (!probes.has(path)) {
    probes.set(
      path,
      get(path, { limit: 1 }).then(
        () => true,
        (error) => !(error.noRoute || error.status === 403 || error.status === 405),
      ),
    );
  }
  return probes.get(path);
}

/** Every page of a keyset-paginated list (for short lists such as divisions). */
export async function all(path, query = {}, max = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < max; i++) {
    const page = await get(path, { ...query, limit: 200, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

// Files of conversations need the bearer token, so they are fetched as blobs and shown
// through object URLs (kept while the page lives; a file is fetched once).
const blobs = new Map();
export function mediaUrl(path) {
  if (!blobs.has(path)) {
    const promise = api("GET", path, { blob: true }).then((blob) => URL.createObjectURL(blob));
    promise.catch(() => blobs.delete(path));
    blobs.set(path, promise);
  }
  return blobs.get(path);
}
