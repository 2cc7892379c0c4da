// The web app's shell: language, navigation, sign-in and sign-out against the gateway's API.
import { DEFAULT_LANGUAGE, LANGUAGES, translate } from "/i18n.js";

const LANGUAGE_KEY = "xinyi.lang";
const AREAS = ["home", "fund", "voting", "reports", "inbox"];

// Tokens live only in this module's scope: not in storage, not on window, so a script injected
// into the page cannot simply read them back.
let session = null;
let language = DEFAULT_LANGUAGE;
// The last message in the live region, kept as a key so a language switch re-translates it.
let feedback = null;

const $ = (id) => document.getElementById(id);
const t = (key, params) => translate(language, key, params);

function storedLanguage() {
  try {
    const value = localStorage.getItem(LANGUAGE_KEY);
    return LANGUAGES.includes(value) ? value : DEFAULT_LANGUAGE;
  } catch {
    return DEFAULT_LANGUAGE;
  }
}

function setLanguage(lang, { remember }) {
  language = lang;
  if (remember) {
    try {
      localStorage.setItem(LANGUAGE_KEY, lang);
    } catch {
      // Storage may be disabled (private mode); the choice then lasts for this page only.
    }
  }
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of document.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  for (const el of document.querySelectorAll("[data-i18n-lang]")) {
    el.lang = t(el.dataset.i18nLang);
  }
  renderArea();
  renderSession();
  renderFeedback();
}

function say(kind, key, params = {}) {
  feedback = { kind, key, params };
  renderFeedback();
}

function sayText(kind, text) {
  feedback = { kind, text };
  renderFeedback();
}

function renderFeedback() {
  const region = $("feedback");
  if (!feedback) {
    region.textContent = "";
    region.className = "feedback";
    return;
  }
  region.textContent = feedback.text ?? t(feedback.key, feedback.params);
  region.className = `feedback ${feedback.kind}`;
}

function currentArea() {
  const name = location.hash.replace(/^#\/?/, "");
  return AREAS.includes(name) ? name : "home";
}

function renderArea() {
  const area = currentArea();
  for (const link of document.querySelectorAll("#site-nav a[data-area]")) {
    if (link.dataset.area === area) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  $("view-home").hidden = area !== "home";
  $("view-area").hidden = area === "home";
  if (area !== "home") {
    $("area-heading").textContent = t(`nav.${area}`);
    $("area-text").textContent = t(`area.${area}`);
  }
}

function onNavigate() {
  // A message about the last action would read as one about the new view.
  feedback = null;
  renderFeedback();
  renderArea();
  // Move focus to the new view's heading so keyboard and screen-reader users land on it.
  const heading = currentArea() === "home" ? $("home-heading") : $("area-heading");
  heading.focus();
}

function roleLabel(role) {
  const key = `role.${role}`;
  const label = t(key);
  return label === key ? role : label;
}

function scopeLabel(grant) {
  if (grant.estate_id) return t("scope.estate", { id: grant.estate_id });
  if (grant.community_id) return t("scope.community", { id: grant.community_id });
  return t("scope.platform");
}

function renderSession() {
  const signedIn = session?.me != null;
  $("login-panel").hidden = signedIn;
  $("session-panel").hidden = !signedIn;
  const roles = $("session-roles");
  roles.replaceChildren();
  if (!signedIn) {
    $("session-user").textContent = "";
    return;
  }
  const me = session.me;
  $("session-user").textContent = t("session.signedIn", {
    name: me.display_name || me.username,
  });
  const grants = Array.isArray(me.roles) ? me.roles : [];
  if (grants.length === 0) {
    const item = document.createElement("li");
    item.textContent = t("session.noRoles");
    roles.append(item);
  }
  for (const grant of grants) {
    const item = document.createElement("li");
    item.dataset.role = grant.role;
    const name = document.createElement("span");
    name.className = "role-name";
    name.textContent = roleLabel(grant.role);
    const scope = document.createElement("span");
    scope.className = "role-scope";
    scope.textContent = scopeLabel(grant);
    item.append(name, " ", scope);
    roles.append(item);
  }
}

class ApiError extends Error {
  constructor(status, problem) {
    super(`HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, { body, token } = {}) {
  const headers = { "Accept": "application/json, application/problem+json" };
  headers["Accept-Language"] = language === "en" ? "en" : "zh-CN, zh;q=0.9";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "same-origin",
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

// A server's `detail` is shown only when it reads like a sentence for people, never a trace.
function plainDetail(problem) {
  const detail = problem && typeof problem.detail === "string" ? problem.detail.trim() : "";
  if (!detail || detail.length > 300) return null;
  if (/traceback|exception|File "|\n\s+at |<[a-z]/i.test(detail)) return null;
  return detail.replace(/\s+/g, " ");
}

function reportError(error, { unauthorizedKey }) {
  if (!(error instanceof ApiError)) {
    say("error", "error.network");
    return;
  }
  if (error.status === 401) {
    say("error", unauthorizedKey);
  } else if (error.status === 429) {
    say("error", "error.rateLimited");
  } else if (error.status >= 500) {
    say("error", "error.server");
  } else {
    const detail = plainDetail(error.problem);
    if (detail) sayText("error", detail);
    else say("error", "error.generic");
  }
}

function setBusy(busy) {
  const button = $("login-submit");
  button.disabled = busy;
  button.dataset.i18n = busy ? "login.busy" : "login.submit";
  button.textContent = t(button.dataset.i18n);
  $("login-form").setAttribute("aria-busy", String(busy));
}

async function onLogin(event) {
  event.preventDefault();
  const username = $("login-username");
  const password = $("login-password");
  const missing = [username, password].filter((input) => input.value.trim() === "");
  for (const input of [username, password]) {
    input.setAttribute("aria-invalid", String(missing.includes(input)));
  }
  if (missing.length > 0) {
    say("error", "error.missingFields");
    missing[0].focus();
    return;
  }
  setBusy(true);
  try {
    const tokens = await api("POST", "/api/v1/auth/token", {
      body: { username: username.value.trim(), password: password.value },
    });
    session = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      me: null,
    };
    try {
      session.me = await api("GET", "/api/v1/me", { token: session.accessToken });
    } catch (error) {
      session = null;
      throw error;
    }
    password.value = "";
    for (const input of [username, password]) input.removeAttribute("aria-invalid");
    renderSession();
    say("success", "feedback.signedIn");
    $("logout-button").focus();
  } catch (error) {
    password.value = "";
    reportError(error, { unauthorizedKey: "error.badCredentials" });
    password.focus();
  } finally {
    setBusy(false);
  }
}

async function onLogout() {
  const ending = session;
  // Whatever the server answers, the tokens are gone here first.
  session = null;
  if (ending) {
    try {
      await api("POST", "/api/v1/auth/logout", {
        body: { refresh_token: ending.refreshToken },
        token: ending.accessToken,
      });
    } catch {
      // Signed out locally either way; the refresh token also expires on its own.
    }
  }
  renderSession();
  say("info", "feedback.signedOut");
  $("login-username").focus();
}

function start() {
  setLanguage(storedLanguage(), { remember: false });
  $("lang-toggle").addEventListener("click", () => {
    setLanguage(language === "en" ? "zh-CN" : "en", { remember: true });
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout-button").addEventListener("click", onLogout);
  window.addEventListener("hashchange", onNavigate);
}

start();
