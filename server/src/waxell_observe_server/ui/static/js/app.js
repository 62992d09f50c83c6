// @ts-check
// The dashboard shell: hash routing, the sign-in flow and page lifecycle.
//
// Routes: #/runs, #/runs/<id>?tab=..., #/sessions, #/sessions/<id>, #/users, #/users/<id>,
// #/costs, #/policies, #/approvals, #/prompts, #/prompts/<name>, #/datasets, #/datasets/<name>,
// #/experiments, #/experiments/<ref>, #/experiments/compare?a=&b=. Each page is render(ctx) -> Promise;
// ctx carries the route, the main element and `alive()`, which turns false once the user navigates
// away, so late replies never paint over a newer page. Pages register cleanups (timers) with ctx.onLeave.

import { h, replace } from "./dom.js";
import { ApiError, AuthError, getKey, setKey } from "./api.js";
import { errorBox } from "./components.js";
import { currentRoute, setRenderer } from "./router.js";
import { renderRuns } from "./pages/runs.js";
import { renderRun } from "./pages/run.js";
import { renderSessions, renderSession } from "./pages/sessions.js";
import { renderUsers, renderUser } from "./pages/users.js";
import { renderCosts } from "./pages/costs.js";
import { renderPolicies } from "./pages/policies.js";
import { renderApprovals } from "./pages/approvals.js";
import { renderLlmConfig } from "./pages/llm_config.js";
import { renderPrompts, renderPrompt } from "./pages/prompts.js";
import { renderDatasets, renderDataset } from "./pages/datasets.js";
import { renderExperiments, renderExperiment, renderComparison } from "./pages/experiments.js";
import { renderSignIn } from "./pages/signin.js";

const ROUTES = [
  { pattern: /^\/runs\/?$/, nav: "runs", render: renderRuns, title: "Runs" },
  { pattern: /^\/runs\/([^/]+)\/?$/, nav: "runs", render: renderRun, title: "Run" },
  { pattern: /^\/sessions\/?$/, nav: "sessions", render: renderSessions, title: "Sessions" },
  { pattern: /^\/sessions\/([^/]+)\/?$/, nav: "sessions", render: renderSession, title: "Session" },
  { pattern: /^\/users\/?$/, nav: "users", render: renderUsers, title: "Users" },
  { pattern: /^\/users\/([^/]+)\/?$/, nav: "users", render: renderUser, title: "User" },
  { pattern: /^\/costs\/?$/, nav: "costs", render: renderCosts, title: "Costs" },
  { pattern: /^\/policies\/?$/, nav: "policies", render: renderPolicies, title: "Policies" },
  { pattern: /^\/approvals\/?$/, nav: "approvals", render: renderApprovals, title: "Approvals" },
  { pattern: /^\/llm-config\/?$/, nav: "llm-config", render: renderLlmConfig, title: "LLM configuration" },
  { pattern: /^\/prompts\/?$/, nav: "prompts", render: renderPrompts, title: "Prompts" },
  { pattern: /^\/prompts\/([^/]+)\/?$/, nav: "prompts", render: renderPrompt, title: "Prompt" },
  { pattern: /^\/datasets\/?$/, nav: "datasets", render: renderDatasets, title: "Datasets" },
  { pattern: /^\/datasets\/([^/]+)\/?$/, nav: "datasets", render: renderDataset, title: "Dataset" },
  { pattern: /^\/experiments\/?$/, nav: "experiments", render: renderExperiments, title: "Experiments" },
  { pattern: /^\/experiments\/compare\/?$/, nav: "experiments", render: renderComparison, title: "Compare experiments" },
  { pattern: /^\/experiments\/([^/]+)\/?$/, nav: "experiments", render: renderExperiment, title: "Experiment" },
];

let generation = 0;
let leaveHandlers = [];

function renderSessionBox() {
  const box = document.getElementById("session-box");
  if (!box) return;
  if (getKey()) {
    replace(
      box,
      h("span", { class: "key-hint", title: "Signed in with an API key (kept for this browser tab only)" }, "🔑 key"),
      h("button", { type: "button", class: "btn btn-small", "data-testid": "sign-out", onclick: () => { setKey(""); route(); } }, "Sign out"),
    );
  } else {
    replace(box);
  }
}

function markNav(nav) {
  for (const a of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-nav]"))) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

export async function route({ keepFocus = false } = {}) {
  generation += 1;
  const mine = generation;
  for (const fn of leaveHandlers) {
    try {
      fn();
    } catch (e) {
      console.error(e);
    }
  }
  leaveHandlers = [];
  const main = /** @type {HTMLElement} */ (document.getElementById("main"));
  if (["", "#", "#/"].includes(location.hash)) history.replaceState(null, "", "#/runs"); // the home page
  const { path, params } = currentRoute();
  renderSessionBox();
  const match = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
  if (!match) {
    markNav("");
    replace(main, h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Not found")), h("p", null, "There is no page at ", h("code", null, path), ". ", h("a", { href: "#/runs" }, "Go to runs"), "."));
    document.title = "Not found · waxell observe";
    main.dataset.rendered = location.hash;
    return;
  }
  markNav(match.r.nav);
  const ctx = {
    main,
    path,
    params,
    args: /** @type {RegExpMatchArray} */ (match.m).slice(1).map((x) => decodeURIComponent(x)),
    alive: () => mine === generation,
    onLeave: (fn) => leaveHandlers.push(fn),
    setTitle: (title) => {
      document.title = title + " · waxell observe";
    },
    keepFocus,
  };
  ctx.setTitle(match.r.title);
  delete main.dataset.rendered;
  try {
    await match.r.render(ctx);
    if (ctx.alive()) main.dataset.rendered = location.hash; // the page for this address is complete
    if (!keepFocus && ctx.alive()) {
      const heading = main.querySelector("h1");
      // a new page: move the focus to its heading (screen readers announce it; Tab continues there)
      if (heading) heading.focus({ preventScroll: true });
    }
  } catch (error) {
    if (!ctx.alive()) return;
    if (error instanceof AuthError) {
      renderSignIn(ctx, error, () => route());
    } else {
      if (!(error instanceof ApiError)) console.error(error); // a bug, not an answer of the server
      replace(main, h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, match.r.title)), errorBox(error));
    }
    main.dataset.rendered = location.hash;
  }
}

function boot() {
  const skip = document.getElementById("skip-link");
  if (skip) {
    skip.addEventListener("click", (event) => {
      event.preventDefault();
      document.getElementById("main")?.focus();
    });
  }
  setRenderer(route);
  window.addEventListener("hashchange", () => route());
  route();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
