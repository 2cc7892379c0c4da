// Checks an entry's proof in the browser, trusting nothing the server says about it: the entry's
// hash, its inclusion under the period's Merkle root (RFC 6962 / RFC 9162), and the signatures on
// the period head. Repeats services/ledger/verify_entry.py, so both can be read side by side.

const encoder = new TextEncoder();

function compareCodePoints(a, b) {
  // Python sorts keys by code point; JavaScript's default sort compares UTF-16 units instead.
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const diff = left[i].codePointAt(0) - right[i].codePointAt(0);
    if (diff !== 0) return diff;
  }
  return left.length - right.length;
}

/** The text of Python's json.dumps(value, ensure_ascii=False, sort_keys=True,
 * separators=(",", ":")) for JSON of objects, arrays, strings, integers, booleans and null. */
export function canonicalText(value) {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      // Only integers are ever hashed; beyond 2^53 a browser cannot hold them exactly.
      if (!Number.isSafeInteger(value)) throw new RangeError(`not an exact integer: ${value}`);
      return String(value);
    case "string":
      // JSON.stringify escapes exactly what Python does with ensure_ascii=False: the quote, the
      // backslash and the control characters below U+0020, with the same short and \u00xx forms.
      return JSON.stringify(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(canonicalText).join(",")}]`;
      return `{${Object.keys(value).sort(compareCodePoints)
        .map((key) => `${JSON.stringify(key)}:${canonicalText(value[key])}`).join(",")}}`;
    default:
      throw new TypeError(`cannot be hashed: ${typeof value}`);
  }
}

export function canonicalBytes(value) {
  return encoder.encode(canonicalText(value));
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function toHex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text)) {
    throw new TypeError("not hexadecimal");
  }
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function base64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** RFC 9162 2.1.3.2: the root an audit path leads to from an entry hash, or null. */
export async function rootFromPath(entryHash, index, size, path) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size
    || path.some((p) => p.length !== 32)) {
    return null;
  }
  // Shifts on Numbers, not 32-bit ints: trees never get near 2^53 leaves.
  const half = (n) => Math.floor(n / 2);
  let fn = index;
  let sn = size - 1;
  let r = await sha256(concat(Uint8Array.of(0), entryHash));
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : null;
}

/** RFC 7638 thumbprint: the key id Xinyi gives a device key. */
export async function thumbprint(jwk) {
  const members = jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : ["crv", "kty", "x"];
  const required = {};
  for (const m of members) {
    if (typeof jwk[m] !== "string") throw new TypeError(`the key lacks ${m}`);
    required[m] = jwk[m];
  }
  return base64url(await sha256(encoder.encode(canonicalText(required))));
}

async function signatureHolds(jwk, message, signature) {
  if (jwk.kty === "EC" && jwk.crv === "P-256" && signature.length === 64) {
    const key = await crypto.subtle.importKey(
      "jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
      { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, message);
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    const key = await crypto.subtle.importKey(
      "jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }
  return false;
}

/**
 * Every check of one proof, in order, as {check, ok, params}: `check` names the sentence to show
 * (the caller words it), `params` fills it. Never throws: a malformed proof fails its checks.
 */
export async function verifyProof(proof, { estateId } = {}) {
  const results = [];
  const add = (check, ok, params = {}) => results.push({ check, ok: Boolean(ok), params });
  const entry = proof?.entry;
  const head = proof?.head;
  if (!entry || typeof entry !== "object" || !head || typeof head !== "object") {
    add("malformed", false);
    return results;
  }
  let claimed = null;
  try {
    claimed = fromHex(proof.entry_hash);
    const actual = await sha256(canonicalBytes(entry));
    add("entryHash", claimed.length === 32 && equal(actual, claimed));
  } catch {
    add("entryHash", false);
  }
  add("sameEstate", !estateId || head.estate_id === estateId);
  add("samePeriod", head.period === entry.period, { period: head.period ?? "?" });
  const size = proof.tree_size;
  add("treeSize", size === head.entry_count, { size, count: head.entry_count });
  try {
    const path = (proof.audit_path ?? []).map(fromHex);
    const root = claimed && await rootFromPath(claimed, proof.leaf_index, size, path);
    const expected = fromHex(head.merkle_root);
    add("inclusion", root !== null && root !== undefined && equal(root, expected), {
      index: Number(proof.leaf_index) + 1, size,
    });
  } catch {
    add("inclusion", false, { index: Number(proof.leaf_index) + 1, size });
  }
  let message = null;
  try {
    message = canonicalBytes(head);
  } catch {
    message = null;
  }
  const signatures = Array.isArray(proof.signatures) ? proof.signatures : [];
  for (const sig of signatures) {
    const params = { role: sig?.role, key: sig?.key_id ?? "?" };
    try {
      const holds = message !== null
        && await thumbprint(sig.public_jwk) === sig.key_id
        && await signatureHolds(sig.public_jwk, message, fromBase64url(sig.signature));
      add(`signature.${sig.role === "company" ? "company" : "committee"}`, holds, params);
    } catch {
      add(`signature.${sig?.role === "company" ? "company" : "committee"}`, false, params);
    }
  }
  const roles = new Set(signatures.map((s) => s?.role));
  add("bothSigned", roles.has("company") && roles.has("committee"), {
    missing: ["company", "committee"].filter((r) => !roles.has(r)),
  });
  return results;
}
