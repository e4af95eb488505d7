// The console's shell: login, navigation, and a hash router over the pages.

import { ApiError, auth, forget, whoami } from "./api.js";
import { fill, h } from "./dom.js";
import * as agentsPage from "./pages/agents.js";
import * as overviewPage from "./pages/overview.js";
import * as sessionPage from "./pages/session.js";
import * as sessionsPage from "./pages/sessions.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signOut = document.getElementById("signout");
const status = document.getElementById("status");

let identity = null;
let cleanup = null;

/** Say something to the user (and to screen readers). */
export function notify(text, kind = "info") {
  status.className = `status ${kind}`;
  status.textContent = text;
  if (text) {
    clearTimeout(notify.timer);
    notify.timer = setTimeout(() => {
      status.textContent = "";
      status.className = "status";
    }, 6000);
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

const PAGES = {
  overview: overviewPage,
  agents: agentsPage,
  sessions: sessionsPage,
};

function pageFor(parts) {
  if (parts[0] === "sessions" && parts.length === 3) {
    return { page: sessionPage, section: "sessions", args: { agentId: parts[1], sessionId: parts[2] } };
  }
  const section = PAGES[parts[0]] ? parts[0] : "overview";
  return { page: PAGES[section], section, args: {} };
}

async function show() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  if (!identity || (identity.auth_required && !identity.authenticated)) {
    login();
    return;
  }
  const { parts, query } = parseHash();
  const { page, section, args } = pageFor(parts);
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  fill(main, h("p", { class: "muted", role: "status" }, "Loading…"));
  try {
    cleanup = await page.render(main, { ...args, query, identity });
  } catch (error) {
    failed(error);
  }
  const heading = main.querySelector("h1");
  if (heading && document.activeElement === document.body) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

/** A page that could not load: the API's reason, or the login screen for a key gone bad. */
export function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    auth.key = null;
    identity = { ...identity, authenticated: false };
    login("The API key was refused: sign in again.");
    return;
  }
  fill(
    main,
    h("h1", {}, "Something went wrong"),
    h("p", { class: "error", role: "alert" }, error.message || String(error)),
    h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")),
  );
}

function shell() {
  const dev = identity && !identity.auth_required;
  nav.hidden = !identity || (identity.auth_required && !identity.authenticated);
  who.textContent = identity && identity.authenticated && identity.principal ? identity.principal : "";
  if (dev) who.append(h("span", { class: "badge" }, "dev mode: no key needed"));
  signOut.hidden = dev || !auth.key;
}

function login(message = "") {
  shell();
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "api-key-help",
  });
  const error = h("p", { class: "error", role: "alert", id: "login-error" }, message);
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to the sessions console"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h(
      "p",
      { class: "muted", id: "api-key-help" },
      "A key from the service's [auth] api_keys. It is kept in this browser tab only, " +
        "and sent to this service as the API's Authorization header.",
    ),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    try {
      const answer = await whoami(key);
      if (!answer.authenticated) {
        error.textContent = "That key is not valid for this service.";
        input.focus();
        return;
      }
      auth.key = key;
      identity = answer;
      forget();
      shell();
      await show();
    } catch (e) {
      error.textContent = `Could not reach the service: ${e.message}`;
    }
  });
  fill(main, form);
  input.focus();
}

signOut.addEventListener("click", () => {
  auth.key = null;
  identity = { ...identity, authenticated: false, principal: null };
  forget();
  location.hash = "#/overview";
  login("Signed out.");
});

window.addEventListener("hashchange", show);
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // the hash is the router's
  main.focus();
});

async function start() {
  try {
    identity = await whoami();
  } catch (error) {
    fill(main, h("p", { class: "error", role: "alert" }, `The service did not answer: ${error.message}`));
    return;
  }
  if (identity.auth_required && !identity.authenticated) auth.key = null;
  shell();
  await show();
}

start();
