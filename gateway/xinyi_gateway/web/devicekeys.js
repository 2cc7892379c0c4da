// This device's signing key: ECDSA P-256 made by WebCrypto, kept in IndexedDB, never exported.
//
// The private key is generated non-extractable, so neither this app nor a script injected into it
// can read its bytes; the browser only lets it sign. IndexedDB stores the CryptoKey object itself,
// so the key survives reloads of this origin. The server only ever sees the public key.

const DB_NAME = "xinyi-device-keys";
const STORE = "keys";
const RECORD = "device";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING = { name: "ECDSA", hash: "SHA-256" };

let pending = null;

/** Whether this browser can hold a device key here (WebCrypto needs a secure context). */
export function supported() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto?.subtle && globalThis.indexedDB);
}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

async function stored() {
  const record = await withStore("readonly", (store) => store.get(RECORD));
  return record?.privateKey && record?.publicKey ? record : null;
}


/** This device's key pair, made and stored on first use. */
export function ensureKeyPair() {
  // One generation at a time, so two quick calls cannot each store a different key.
  pending ??= (async () => {
    const found = await stored();
    if (found) return found;
    const pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
    const record = {
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
      createdAt: new Date().toISOString(),
    };
    await withStore("readwrite", (store) => store.put(record, RECORD));
    return record;
  })().finally(() => {
    pending = null;
  });
  return pending;
}

async function jwkOf(publicKey) {
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", publicKey);
  return { kty, crv, x, y };
}

/** The public half as a JWK with only the members that define the key (made if need be). */
export async function publicJwk() {
  return jwkOf((await ensureKeyPair()).publicKey);
}

/** The public JWK of the key this device already holds, or null; never makes one. */
export async function storedPublicJwk() {
  const record = await stored();
  return record ? jwkOf(record.publicKey) : null;
}

/** An ECDSA P-256 / SHA-256 signature of `bytes`, as 64 bytes r‖s (IEEE P1363, as in JWS ES256). */
export async function sign(bytes) {
  const { privateKey } = await ensureKeyPair();
  return new Uint8Array(await crypto.subtle.sign(SIGNING, privateKey, bytes));
}

/** Drops this device's key pair (after it was revoked), so the next use makes a new one. */
export async function forgetKeyPair() {
  await withStore("readwrite", (store) => store.delete(RECORD));
}
