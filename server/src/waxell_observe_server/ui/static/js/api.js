// @ts-check
// Talking to the read API. The key (when the server needs one) lives in sessionStorage
// and travels as X-Wax-Key on every request.

const KEY_STORAGE = "waxell.key";
export const READ_BASE = "/api/v1/read/";
export const UI_BASE = "/api/v1/ui/";
export const ADMIN_BASE = "/api/v1/admin/";

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(detail || "request failed with HTTP " + status);
    this.name = new.target.name;
    this.status = status;
    this.path = path;
  }
}

export class AuthError extends ApiError {}

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch (e) {
    return "";
  }
}

export function setKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch (e) {
    /* storage disabled: the key lasts until reload */
  }
}

/** Build "path?a=1&b=2" from an object, skipping empty values; arrays repeat the key. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) for (const item of v) q.append(k, String(item));
    else q.append(k, String(v));
  }
  const text = q.toString();
  return text ? path + "?" + text : path;
}

function detailText(body) {
  if (!body) return "";
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) {
    return body.detail
      .map((d) => ((d.loc || []).filter((x) => x !== "query").join(".") + ": " + (d.msg || "")).trim())
      .join("; ");
  }
  return "";
}

/**
 * GET a JSON document; throws AuthError on 401/403 and ApiError on other failures.
 * @param {string} url
 * @param {{signal?: AbortSignal}} [options]
 */
export async function getJson(url, { signal } = {}) {
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers["X-Wax-Key"] = key;
  let response;
  try {
    response = await fetch(url, { headers, signal, cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached (" + (e && e.message ? e.message : "network error") + ")", url);
  }
  let body = null;
  const text = await response.text();
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (e) {
      body = null;
    }
  }
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, detailText(body) || "a valid API key is required", url);
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailText(body) || "HTTP " + response.status, url);
  }
  if (body === null) throw new ApiError(response.status, "the server answered something that is not JSON", url);
  return body;
}

/**
 * POST a JSON body and read the JSON reply; the same errors as getJson (AuthError on 401/403).
 * @param {string} url
 * @param {any} body
 */
export async function postJson(url, body) {
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  const key = getKey();
  if (key) headers["X-Wax-Key"] = key;
  let response;
  try {
    response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "the server cannot be reached (" + (e && e.message ? e.message : "network error") + ")", url);
  }
  let reply = null;
  try {
    reply = JSON.parse((await response.text()) || "null");
  } catch (e) {
    reply = null;
  }
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, detailText(reply) || "a valid API key is required", url);
  }
  if (!response.ok) throw new ApiError(response.status, detailText(reply) || "HTTP " + response.status, url);
  return reply;
}

/** POST to the admin API (answering approvals, ...). */
export function admin(path, body) {
  return postJson(ADMIN_BASE + path, body);
}

export function read(path, params, opts) {
  return getJson(withQuery(READ_BASE + path, params), opts);
}

export function ui(path, params, opts) {
  return getJson(withQuery(UI_BASE + path, params), opts);
}

/** Context windows of models, cached for the page's lifetime: {model: {context_window, provider, known}}. */
const modelCache = new Map();
export async function modelInfo(models) {
  const missing = [...new Set(models)].filter((m) => m && !modelCache.has(m));
  for (let i = 0; i < missing.length; i += 100) {
    const reply = await ui("models/", { model: missing.slice(i, i + 100) });
    for (const info of reply.models || []) modelCache.set(info.model, info);
  }
  const out = {};
  for (const m of models) if (modelCache.has(m)) out[m] = modelCache.get(m);
  return out;
}
