// @ts-check
// Sign-in: shown when the server answers 401. The key is kept in sessionStorage (this tab
// only) and sent as X-Wax-Key.

import { h, replace } from "../dom.js";
import { getKey, read, setKey } from "../api.js";

export function renderSignIn(ctx, error, done) {
  const hadKey = Boolean(getKey());
  const message = h("p", { class: "notice notice-error", role: "alert", hidden: !hadKey }, hadKey ? "That key was not accepted: " + error.message : "");
  const input = h("input", {
    id: "api-key",
    name: "key",
    type: "password",
    required: true,
    autocomplete: "current-password",
    spellcheck: "false",
    placeholder: "wax_sk_…",
    "data-testid": "api-key-input",
  });
  const button = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "sign-in" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin",
      "aria-labelledby": "signin-title",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        button.disabled = true;
        setKey(key);
        try {
          await read("agents/");
          done();
        } catch (e) {
          setKey("");
          message.hidden = false;
          message.textContent = e.status === 401 || e.status === 403 ? "That key was not accepted. Check it and try again." : "Could not check the key: " + e.message;
          button.disabled = false;
          input.focus();
        }
      },
    },
    h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
    h("p", null, "This control plane needs an API key. Create one on the server with ", h("code", null, "waxell-observe keys create"), "."),
    h("p", { class: "muted small" }, "The key is kept for this browser tab only and sent with each request as X-Wax-Key."),
    message,
    h("label", { for: "api-key", class: "field-label" }, "API key"),
    input,
    button,
  );
  if (hadKey) setKey("");
  replace(ctx.main, h("div", { class: "signin-wrap" }, form));
  ctx.setTitle("Sign in");
  input.focus();
}
