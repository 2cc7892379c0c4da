// The web app's shell and identity views: language, navigation, sign-in (with TOTP), profile and
// roles, two-step verification, device keys; the operator's views load from operator.js on demand.
import * as deviceKeys from "/devicekeys.js";
import { DEFAULT_LANGUAGE, LANGUAGES, translate } from "/i18n.js";

const LANGUAGE_KEY = "xinyi.lang";
const AREAS = ["home", "fund", "voting", "reports", "inbox", "voice", "onboarding", "operator"];
const SIX_DIGITS = /^[0-9]{6}$/;

// Tokens live only in this module's scope: not in storage, not on window, so a script injected
// into the page cannot simply read them back.
let session = null;
let language = DEFAULT_LANGUAGE;
// The last message in the live region, kept as a key so a language switch re-translates it.
let feedback = null;
// Views that render text of their own (the operator's) re-render on a language switch.
const languageListeners = [];
let operatorViews = null;
const areaViews = {
  home: null, fund: null, voting: null, voice: null, onboarding: null, reports: null, inbox: null,
};

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
  for (const listener of languageListeners) listener();
}

function say(kind, key, params = {}) {
  feedback = { kind, key, params };
  renderFeedback();
}

function sayText(kind, text) {
  feedback = { kind, text };
  renderFeedback();
}

/** "5 分钟" / "5 minutes": a wait in the largest whole unit, rounded up. */
function waitWords(seconds) {
  const units = [["hour", 3600], ["minute", 60], ["second", 1]];
  for (const [unit, size] of units) {
    if (seconds >= size || unit === "second") {
      const n = Math.max(1, Math.ceil(seconds / size));
      return n === 1 ? t(`wait.${unit}`) : t(`wait.${unit}s`, { n });
    }
  }
  return "";
}

function renderFeedback() {
  const region = $("feedback");
  if (!feedback) {
    region.textContent = "";
    region.className = "feedback";
    return;
  }
  const params = { ...feedback.params };
  if (params.seconds !== undefined) params.wait = waitWords(params.seconds);
  region.textContent = feedback.text ?? t(feedback.key, params);
  region.className = `feedback ${feedback.kind}`;
}

function isOperator() {
  return Boolean(session?.me?.roles?.some((grant) => grant.role === "operator"));
}

function currentArea() {
  // "#/voting/<estate>/ballots/<id>": the first segment is the area.
  const name = location.hash.replace(/^#\/?/, "").split("/")[0];
  if (name === "operator" && !isOperator()) return "home";
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
  $("view-operator").hidden = area !== "operator";
  $("view-fund").hidden = area !== "fund";
  $("view-voting").hidden = area !== "voting";
  $("view-voice").hidden = area !== "voice";
  $("view-onboarding").hidden = area !== "onboarding";
  $("view-reports").hidden = area !== "reports";
  $("view-inbox").hidden = area !== "inbox";
  $("view-area").hidden = [
    "home", "operator", "fund", "voting", "voice", "onboarding", "reports", "inbox",
  ].includes(area);
  if (area === "operator") {
    showOperatorViews();
  } else if (area === "home") {
    if (session?.me || areaViews.home) showAreaViews("home");
  } else if (area in AREA_MODULES) {
    showAreaViews(area);
  } else if (area !== "home") {
    $("area-heading").textContent = t(`nav.${area}`);
    $("area-text").textContent = t(`area.${area}`);
  }
}

function headingOf(area) {
  if (area === "home") return $("home-heading");
  if (area === "fund") return $("fund-heading");
  if (area === "voting") return $("voting-heading");
  if (area === "voice") return $("voice-heading");
  if (area === "onboarding") return $("onboarding-heading");
  if (area === "reports") return $("reports-heading");
  if (area === "inbox") return $("inbox-heading");
  return area === "operator" ? $("operator-heading") : $("area-heading");
}

// The link the person followed ("#/voting/<estate>/ballots/<id>"), until its area has opened
// the item it names; kept across a sign-in, so a link opened signed out still leads there.
let followedLink = location.hash;

/** The parts of the followed link after the area and the estate, once, for `area`'s view. */
function takeLink(area) {
  const parts = followedLink.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] !== area || parts.length < 3) return null;
  followedLink = "";
  return parts.slice(2);
}

function onNavigate() {
  // Signed out, a person goes home to sign in: the link they came by still waits.
  if (session || currentArea() !== "home") followedLink = location.hash;
  // A message about the last action would read as one about the new view.
  feedback = null;
  renderFeedback();
  // A link naming an estate ("#/voting/<estate>/ballots/<id>") shows that estate.
  const named = hashEstate();
  if (named && named !== session?.estateId && session?.estates.some((e) => e.estate_id === named)) {
    chooseEstate(named, { quiet: true });
  }
  renderArea();
  // Move focus to the new view's heading so keyboard and screen-reader users land on it.
  headingOf(currentArea()).focus();
}

// --- talking to the gateway -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(`HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** The server's sentence as the service wrote it, for recognising a refusal: `detail` is
   * worded in the reader's language, `detail_en` keeps the English when they differ. */
  get sentence() {
    const { detail_en: english, detail } = this.problem ?? {};
    if (typeof english === "string") return english;
    return typeof detail === "string" ? detail : "";
  }
}

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or null. */
function retryAfterSeconds(header) {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? null : Math.max(1, Math.ceil((when - Date.now()) / 1000));
}

async function api(method, path, { body, raw, contentType, token, extraHeaders, blob } = {}) {
  const headers = { "Accept": "application/json, application/problem+json", ...extraHeaders };
  headers["Accept-Language"] = language === "en" ? "en" : "zh-CN, zh;q=0.9";
  let payloadBody;
  if (raw !== undefined) {
    headers["Content-Type"] = contentType;
    payloadBody = raw;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payloadBody = JSON.stringify(body);
  }
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: payloadBody,
    cache: "no-store",
    credentials: "same-origin",
  });
  // A file (a voucher) comes back as a Blob; a refusal is problem+json as always.
  if (blob && response.ok) return response.blob();
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    throw new ApiError(
      response.status, payload, retryAfterSeconds(response.headers.get("Retry-After")));
  }
  return payload;
}

/** Signs this page out without asking the server (the session is already gone there). */
function dropSession() {
  session = null;
  // Replaced, not assigned: a hashchange would clear the message about why the session ended.
  if (location.hash.replace(/^#\/?/, "") === "operator") history.replaceState(null, "", "#/");
  renderSession();
  renderArea();
  renderEstateSwitch();
  // The inbox's live stream ends with the session; the home page forgets the person.
  areaViews.inbox?.then((views) => views.refresh());
  areaViews.home?.then((views) => views.refresh());
}

class SessionExpired extends Error {}

/** A call as the signed-in user; an expired access token is renewed once with the refresh token. */
async function call(method, path, options = {}) {
  if (!session) throw new SessionExpired();
  const current = session;
  try {
    return await api(method, path, { ...options, token: current.accessToken });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  try {
    const tokens = await api("POST", "/api/v1/auth/refresh", {
      body: { refresh_token: current.refreshToken },
    });
    current.accessToken = tokens.access_token;
    current.refreshToken = tokens.refresh_token;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 400)) {
      if (session === current) dropSession();
      throw new SessionExpired();
    }
    throw error;
  }
  return api(method, path, { ...options, token: current.accessToken });
}

// A server's `detail` is shown only when it reads like a sentence for people, never a trace.
function plainDetail(problem) {
  const detail = problem && typeof problem.detail === "string" ? problem.detail.trim() : "";
  if (!detail || detail.length > 300) return null;
  if (/traceback|exception|File "|\n\s+at |<[a-z]/i.test(detail)) return null;
  return detail.replace(/\s+/g, " ");
}

/** Puts an error in the live region in plain words, with what to do next. */
function reportError(error, { unauthorizedKey = "error.sessionExpired", statusKeys = {} } = {}) {
  if (error instanceof SessionExpired) {
    say("error", "error.sessionExpired");
    return;
  }
  if (!(error instanceof ApiError)) {
    if (error?.name === "TypeError") say("error", "error.network");
    else say("error", "error.generic");
    return;
  }
  const { status, problem } = error;
  if (statusKeys[status]) {
    say("error", statusKeys[status]);
  } else if (status === 401) {
    say("error", unauthorizedKey);
  } else if (status === 429) {
    if (error.retryAfter != null) say("error", "error.retryAfter", { seconds: error.retryAfter });
    else say("error", "error.rateLimited");
  } else if (status >= 500) {
    say("error", "error.server");
  } else if (status === 413) {
    say("error", "error.tooLarge");
  } else {
    const detail = plainDetail(problem);
    // A Chinese reader is told in Chinese what to do, with the service's words (in Chinese:
    // the gateway words a refusal in the language the app asks for) as the particular reason.
    if (detail && language !== "en") {
      say("error", status === 403 ? "error.forbiddenBecause" : "error.refusedBecause", { detail });
    } else if (detail) sayText("error", detail);
    else if (status === 403) say("error", "error.forbidden");
    else if (status === 404) say("error", "error.notFound");
    else if (status === 409) say("error", "error.conflict");
    else say("error", "error.generic");
  }
}

/** Marks missing required inputs; says which one and focuses it. True when all are filled. */
function requireFilled(inputs) {
  let first = null;
  for (const input of inputs) {
    const missing = input.value.trim() === "" && !(input.type === "file" && input.files.length);
    input.setAttribute("aria-invalid", String(missing));
    if (missing && !first) first = input;
  }
  if (!first) return true;
  const label = document.querySelector(`label[for="${first.id}"]`);
  say("error", "error.missing", { field: label ? label.textContent : first.name });
  first.focus();
  return false;
}

async function busy(button, action) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

// --- signing in and out -----------------------------------------------------------------------

function roleLabel(role) {
  const key = `role.${role}`;
  const label = t(key);
  return label === key ? role : label;
}

function scopeLabel(grant) {
  if (grant.estate_id) {
    const name = session?.estateNames.get(grant.estate_id) ?? grant.estate_id;
    return t("scope.estate", { name });
  }
  if (grant.community_id) return t("scope.community", { id: grant.community_id });
  if (grant.company_id) return t("scope.company", { id: grant.company_id });
  return t("scope.platform");
}

function renderSession() {
  const signedIn = session?.me != null;
  $("login-panel").hidden = signedIn;
  for (const id of ["session-panel", "totp-panel", "keys-panel"]) $(id).hidden = !signedIn;
  $("nav-operator").hidden = !isOperator();
  $("nav-onboarding").hidden = !signedIn;
  const roles = $("session-roles");
  roles.replaceChildren();
  if (!signedIn) {
    $("session-user").textContent = "";
    for (const id of ["profile-username", "profile-phone", "profile-totp"]) {
      $(id).textContent = "";
    }
    $("key-list").replaceChildren();
    resetTotpForm();
    return;
  }
  const me = session.me;
  $("session-user").textContent = t("session.signedIn", {
    name: me.display_name || me.username,
  });
  $("profile-username").textContent = me.username;
  $("profile-phone").textContent = me.phone || t("profile.noPhone");
  $("profile-totp").textContent = t(me.totp_enrolled ? "profile.totpOn" : "profile.totpOff");
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
  renderTotp();
  renderKeys();
}

/** Looks up the names of the estates the user's roles are in; ids stay shown where it fails. */
async function loadEstateNames() {
  const current = session;
  const ids = [...new Set(current.me.roles.map((g) => g.estate_id).filter(Boolean))];
  await Promise.all(ids.map(async (id) => {
    try {
      const estate = await call("GET", `/api/v1/estates/${encodeURIComponent(id)}`);
      if (estate?.name) current.estateNames.set(id, estate.name);
    } catch {
      // A role may point at an estate this user cannot read; its id is shown instead.
    }
  }));
  if (session === current) renderSession();
}

function setLoginBusy(isBusy) {
  const button = $("login-submit");
  button.disabled = isBusy;
  button.dataset.i18n = isBusy ? "login.busy" : "login.submit";
  button.textContent = t(button.dataset.i18n);
  $("login-form").setAttribute("aria-busy", String(isBusy));
}

function showTotpStep(show) {
  $("login-totp-field").hidden = !show;
  if (!show) {
    $("login-totp").value = "";
    $("login-totp").removeAttribute("aria-invalid");
  }
}

function isTotpProblem(error) {
  const code = error?.problem?.code;
  return error instanceof ApiError && error.status === 401 && typeof code === "string"
    && code.startsWith("totp");
}

async function onLogin(event) {
  event.preventDefault();
  const username = $("login-username");
  const password = $("login-password");
  const totp = $("login-totp");
  const askingTotp = !$("login-totp-field").hidden;
  const missing = [username, password].filter((input) => input.value.trim() === "");
  for (const input of [username, password]) {
    input.setAttribute("aria-invalid", String(missing.includes(input)));
  }
  if (missing.length > 0) {
    say("error", "error.missingFields");
    missing[0].focus();
    return;
  }
  const body = { username: username.value.trim(), password: password.value };
  if (askingTotp) {
    const code = totp.value.replace(/\s+/g, "");
    const valid = SIX_DIGITS.test(code);
    totp.setAttribute("aria-invalid", String(!valid));
    if (!valid) {
      say("error", "error.totpFormat");
      totp.focus();
      return;
    }
    body.totp = code;
  }
  setLoginBusy(true);
  try {
    const tokens = await api("POST", "/api/v1/auth/token", { body });
    session = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      me: null,
      estateNames: new Map(),
      // The estates the person may switch between, and the one every area shows.
      estates: [],
      estateId: null,
      keys: null,
      thisDeviceJwk: null,
    };
    try {
      session.me = await call("GET", "/api/v1/me");
    } catch (error) {
      session = null;
      throw error;
    }
    await loadEstates();
    password.value = "";
    showTotpStep(false);
    for (const input of [username, password]) input.removeAttribute("aria-invalid");
    // The home page's account panels wait for its list of what needs the person, above them;
    // for two seconds at most, should the list be slow in coming.
    $("view-home").classList.add("settling");
    setTimeout(() => $("view-home").classList.remove("settling"), 2000);
    renderSession();
    renderArea();
    say("success", "feedback.signedIn");
    $("logout-button").focus();
    // A link to an item followed before signing in (from a mail, say) is where they were going.
    const going = followedLink.replace(/^#\/?/, "").split("/");
    if (going.length >= 3 && going[0] !== currentArea()) location.hash = followedLink;
    loadEstateNames();
    loadKeys();
    // The inbox loads now: its unread badge shows on every page, kept live by its stream.
    showAreaViews("inbox");
  } catch (error) {
    if (isTotpProblem(error)) {
      // The password was right; only the second step is missing or wrong, so keep it.
      showTotpStep(true);
      totp.value = "";
      if (askingTotp) {
        totp.setAttribute("aria-invalid", "true");
        say("error", "error.badTotp");
      } else {
        say("info", "feedback.totpNeeded");
      }
      totp.focus();
      return;
    }
    password.value = "";
    showTotpStep(false);
    reportError(error, { unauthorizedKey: "error.badCredentials" });
    password.focus();
  } finally {
    setLoginBusy(false);
  }
}

async function onLogout() {
  const ending = session;
  // Whatever the server answers, the tokens are gone here first.
  dropSession();
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
  say("info", "feedback.signedOut");
  $("login-username").focus();
}

// --- two-step verification (TOTP) -----------------------------------------------------------

let enrolment = null;

function renderTotp() {
  const enrolled = Boolean(session?.me?.totp_enrolled);
  $("totp-status").textContent = t(enrolled ? "totp.on" : "totp.off");
  $("totp-start").hidden = enrolled || enrolment !== null;
  $("totp-form").hidden = enrolled || enrolment === null;
  if (enrolment) {
    $("totp-qr").alt = t("totp.qrAlt", { name: session.me.username });
  }
}

function resetTotpForm() {
  enrolment = null;
  $("totp-qr").removeAttribute("src");
  $("totp-secret").textContent = "";
  $("totp-code").value = "";
  $("totp-code").removeAttribute("aria-invalid");
  $("totp-start").hidden = false;
  $("totp-form").hidden = true;
}

async function onTotpBegin() {
  const button = $("totp-begin");
  await busy(button, async () => {
    try {
      const [reply, { default: qrcode }] = await Promise.all([
        call("POST", "/api/v1/me/totp"),
        import("/vendor/qrcode.js"),
      ]);
      const qr = qrcode(0, "M");
      qr.addData(reply.otpauth_uri);
      qr.make();
      enrolment = { secret: reply.secret };
      // Whole pixels per module (and the 4-module quiet zone), so no scaling blurs the code.
      const cell = Math.max(2, Math.floor(240 / (qr.getModuleCount() + 8)));
      const image = $("totp-qr");
      image.src = qr.createDataURL(cell, cell * 4);
      image.width = image.height = (qr.getModuleCount() + 8) * cell;
      // Groups of four are easier to copy by hand; authenticator apps ignore the spaces.
      $("totp-secret").textContent = reply.secret.replace(/(.{4})(?=.)/g, "$1 ");
      renderTotp();
      say("info", "feedback.totpStarted");
      $("totp-code").focus();
    } catch (error) {
      reportError(error);
    }
  });
}

async function onTotpConfirm(event) {
  event.preventDefault();
  const input = $("totp-code");
  const code = input.value.replace(/\s+/g, "");
  const valid = SIX_DIGITS.test(code);
  input.setAttribute("aria-invalid", String(!valid));
  if (!valid) {
    say("error", "error.totpFormat");
    input.focus();
    return;
  }
  await busy($("totp-confirm"), async () => {
    try {
      await call("POST", "/api/v1/me/totp/confirm", { body: { code } });
      session.me.totp_enrolled = true;
      resetTotpForm();
      renderSession();
      say("success", "feedback.totpEnrolled");
      $("totp-heading").focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        input.value = "";
        input.setAttribute("aria-invalid", "true");
        say("error", "error.badCode");
        input.focus();
      } else {
        reportError(error);
      }
    }
  });
}

function onTotpCancel() {
  resetTotpForm();
  renderTotp();
  say("info", "feedback.totpCancelled");
  $("totp-begin").focus();
}

// --- device keys ------------------------------------------------------------------------------

function sameKey(jwkText, jwk) {
  if (!jwk) return false;
  try {
    const other = typeof jwkText === "string" ? JSON.parse(jwkText) : jwkText;
    return other.crv === jwk.crv && other.x === jwk.x && other.y === jwk.y;
  } catch {
    return false;
  }
}

function thisDeviceKey() {
  const keys = session?.keys ?? [];
  return keys.find((k) => !k.revoked_at && sameKey(k.public_jwk, session.thisDeviceJwk)) ?? null;
}

function renderKeys() {
  const supported = deviceKeys.supported();
  $("keys-unsupported").hidden = supported;
  const list = $("key-list");
  list.replaceChildren();
  const keys = session?.keys;
  const registered = thisDeviceKey() !== null;
  $("keys-this-device").hidden = !registered;
  $("key-form").hidden = !supported || registered || keys == null;
  if (!keys) return;
  if (!$("key-label").value) $("key-label").value = t("keys.defaultLabel");
  if (keys.length === 0) {
    const item = document.createElement("li");
    item.className = "empty";
    item.textContent = t("keys.none");
    list.append(item);
  }
  for (const key of keys) {
    const item = document.createElement("li");
    item.dataset.keyId = key.key_id;
    const name = document.createElement("span");
    name.className = "item-name";
    name.textContent = key.label;
    item.append(name);
    if (!key.revoked_at && sameKey(key.public_jwk, session.thisDeviceJwk)) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("keys.thisDevice");
      item.append(" ", badge);
    }
    const meta = document.createElement("span");
    meta.className = "item-meta";
    meta.textContent = key.revoked_at
      ? t("keys.revokedAt", { date: formatDate(key.revoked_at) })
      : t("keys.created", { date: formatDate(key.created_at) });
    item.append(meta);
    if (key.revoked_at) {
      item.classList.add("revoked");
    } else {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "button small";
      revoke.textContent = t("keys.revoke");
      revoke.setAttribute("aria-label", t("keys.revokeLabel", { label: key.label }));
      revoke.addEventListener("click", () => onRevokeKey(key, revoke));
      item.append(revoke);
    }
    list.append(item);
  }
}

async function loadKeys() {
  const current = session;
  try {
    const [reply, jwk] = await Promise.all([
      call("GET", "/api/v1/me/device-keys"),
      deviceKeys.supported() ? deviceKeys.storedPublicJwk().catch(() => null) : null,
    ]);
    if (session !== current) return;
    current.keys = Array.isArray(reply?.keys) ? reply.keys : [];
    current.thisDeviceJwk = jwk;
    renderKeys();
  } catch (error) {
    if (session === current) reportError(error);
  }
}

async function onRegisterKey(event) {
  event.preventDefault();
  const label = $("key-label");
  if (!requireFilled([label])) return;
  await busy($("key-register"), async () => {
    let jwk;
    try {
      jwk = await deviceKeys.publicJwk();
    } catch {
      say("error", "error.keyFailed");
      return;
    }
    try {
      await call("POST", "/api/v1/me/device-keys", {
        body: { public_jwk: jwk, label: label.value.trim() },
      });
      session.thisDeviceJwk = jwk;
      await loadKeys();
      say("success", "feedback.keyRegistered");
      $("keys-heading").focus();
    } catch (error) {
      reportError(error);
    }
  });
}

async function onRevokeKey(key, button) {
  await busy(button, async () => {
    try {
      await call("DELETE", `/api/v1/me/device-keys/${encodeURIComponent(key.key_id)}`);
      if (sameKey(key.public_jwk, session.thisDeviceJwk)) {
        // A revoked key must never sign again; the next registration makes a fresh one.
        await deviceKeys.forgetKeyPair().catch(() => {});
        session.thisDeviceJwk = null;
      }
      await loadKeys();
      say("success", "feedback.keyRevoked", { label: key.label });
      $("keys-heading").focus();
    } catch (error) {
      reportError(error);
    }
  });
}

// --- the operator's views -----------------------------------------------------------------------

function showOperatorViews() {
  if (operatorViews) {
    operatorViews.then((views) => views.refresh());
    return;
  }
  operatorViews = import("/operator.js").then((module) => module.mount({
    call,
    say,
    reportError,
    requireFilled,
    busy,
    t,
    ApiError,
    onLanguage: (listener) => languageListeners.push(listener),
  }));
  operatorViews.catch(() => {
    operatorViews = null;
    say("error", "error.network");
  });
}

// --- the estate in view: one choice, followed by every area ----------------------------------

const ESTATE_KEY = "xinyi.estate.";

function hashEstate() {
  const segment = location.hash.replace(/^#\/?/, "").split("/")[1] ?? "";
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(segment)
    ? segment.toLowerCase() : null;
}

function storedEstate(userId) {
  try {
    return localStorage.getItem(ESTATE_KEY + userId);
  } catch {
    return null;
  }
}

/** The estates the person can switch between, and the one to show first: the link's, the one
 *  chosen last time, the first of their estate roles, or the first they may read. */
async function loadEstates() {
  const current = session;
  let listed = [];
  try {
    listed = (await call("GET", "/api/v1/estates?limit=100"))?.estates ?? [];
  } catch {
    // Without the list the areas still find an estate of their own; the switcher stays hidden.
  }
  if (session !== current) return;
  const mine = current.me.roles.map((g) => g.estate_id).filter(Boolean);
  // The operator reads every estate; the switcher offers only those it has a role in.
  current.estates = isOperator() ? listed.filter((e) => mine.includes(e.estate_id)) : listed;
  for (const e of current.estates) current.estateNames.set(e.estate_id, e.name);
  const ids = current.estates.map((e) => e.estate_id);
  current.estateId = [hashEstate(), storedEstate(current.me.user_id), ...mine, ids[0]]
    .find((id) => id && ids.includes(id)) ?? null;
  renderEstateSwitch();
}

function renderEstateSwitch() {
  const estates = session?.estates ?? [];
  const select = $("estate-switch");
  $("estate-bar").hidden = estates.length < 2;
  select.replaceChildren(...estates.map((e) => new Option(e.name, e.estate_id)));
  if (session?.estateId) select.value = session.estateId;
}

/** Shows `estateId` in every area: the open one now, the others when they next open. */
function chooseEstate(estateId, { quiet = false } = {}) {
  if (!session || session.estateId === estateId) return;
  session.estateId = estateId;
  try {
    localStorage.setItem(ESTATE_KEY + session.me.user_id, estateId);
  } catch {
    // Private browsing: the choice lasts this visit.
  }
  renderEstateSwitch();
  if (!quiet) {
    renderArea();
    say("info", "estate.switched", { name: session.estateNames.get(estateId) ?? estateId });
  }
}

// --- the areas' views, each a module loaded the first time its area opens --------------------
// home: home.js (what needs the person now, and what came since their last visit);
// fund: ledger.js; voting: voting.js (the owners' assembly); voice: voice.js (owners' voice);
// onboarding: onboarding.js (an estate's way into the trust model, and its trust contract);
// reports: disclosure.js (公示: the monthly report, its flags, KPIs and the dashboards);
// inbox: inbox.js (消息: the messages, the unread badge, notification settings).

const AREA_MODULES = {
  home: "/home.js", fund: "/ledger.js", voting: "/voting.js", voice: "/voice.js",
  onboarding: "/onboarding.js",
  reports: "/disclosure.js", inbox: "/inbox.js",
};

function showAreaViews(area) {
  if (areaViews[area]) {
    areaViews[area].then((views) => views.refresh());
    return;
  }
  const loading = import(AREA_MODULES[area]).then((module) => {
    const views = module.mount({
      call, say, reportError, requireFilled, busy, t, ApiError,
      session: () => session,
      estate: () => session?.estateId ?? null,
      estates: () => session?.estates ?? [],
      setEstate: (id) => chooseEstate(id),
      takeLink,
      onLanguage: (listener) => languageListeners.push(listener),
    });
    views.refresh();
    return views;
  });
  areaViews[area] = loading;
  loading.catch(() => {
    if (area === "home") $("view-home").classList.remove("settling");
    areaViews[area] = null;
    say("error", "error.network");
  });
}

function start() {
  setLanguage(storedLanguage(), { remember: false });
  $("lang-toggle").addEventListener("click", () => {
    setLanguage(language === "en" ? "zh-CN" : "en", { remember: true });
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout-button").addEventListener("click", onLogout);
  $("totp-begin").addEventListener("click", onTotpBegin);
  $("totp-form").addEventListener("submit", onTotpConfirm);
  $("totp-cancel").addEventListener("click", onTotpCancel);
  $("key-form").addEventListener("submit", onRegisterKey);
  $("estate-switch").addEventListener("change", (event) => chooseEstate(event.target.value));
  window.addEventListener("hashchange", onNavigate);
}

start();
