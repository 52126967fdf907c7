// A report's CSV, fetched with the bearer token (a plain link cannot send it) and saved
// under the name the server gives in Content-Disposition ("omnistream-messages-2026-11-01-
// to-2026-11-03.csv"). api.js answers blobs without headers, hence this small fetch of its own,
// with the same one refresh-and-retry on 401.
import { ApiError, NetworkError } from "../api.js";
import { h } from "../dom.js";
import * as session from "../session.js";

function filenameOf(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : fallback;
}

async function fetchCsv(url, token) {
  try {
    return await fetch(url, { headers: { Accept: "text/csv", Authorization: `Bearer ${token}` } });
  } catch (error) {
    throw new NetworkError(error.message);
  }
}

/** Downloads GET `path`?`query` as a file; throws ApiError / NetworkError like api(). */
export async function downloadCsv(path, query, fallback) {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v));
  const url = `${path}?${params}`;
  let token = await session.validAccess();
  let response = await fetchCsv(url, token);
  if (response.status === 401) {
    token = await session.refresh(token); // throws SessionEnded when refused
    response = await fetchCsv(url, token);
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = { detail: response.statusText };
    }
    throw new ApiError(response.status, body, response);
  }
  const name = filenameOf(response, fallback);
  const href = URL.createObjectURL(await response.blob());
  const link = h("a", { href, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return name;
}
