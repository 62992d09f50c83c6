// @ts-check
// The hash route: "#/path?query". Pages read it with currentRoute() and change their query
// with setParams(), which re-renders the page in place (no new history entry unless push).

/** @type {(options?: {keepFocus?: boolean}) => void} */
let rerender = () => {};

/** Called by the shell with its render function. */
export function setRenderer(fn) {
  rerender = fn;
}

/** The current route: {path, params (URLSearchParams)}. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, "") || "/runs";
  const q = raw.indexOf("?");
  return { path: q >= 0 ? raw.slice(0, q) : raw, params: new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "") };
}

/** Replace the query of the current route with `params` (empty values dropped). */
export function setParams(params, { push = false } = {}) {
  const { path } = currentRoute();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const text = q.toString();
  const hash = "#" + path + (text ? "?" + text : "");
  if (hash === location.hash) return;
  if (push) {
    location.hash = hash; // hashchange re-renders
  } else {
    history.replaceState(null, "", hash);
    rerender({ keepFocus: true });
  }
}
