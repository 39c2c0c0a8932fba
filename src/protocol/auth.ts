/**
 * Authentication: HMAC-SHA256 over "key:account:tsUs:nonce" with the key's secret (a login),
 * or over that string followed by ":METHOD:PATH" (an HTTP request, below). The server
 * accepts a login once: the timestamp must be within `skewUsMax` of its clock and the nonce
 * must not have been seen in that window (replay protection; nonces are kept only as long as
 * their timestamp could still pass, so memory stays bounded). Secrets come from environment
 * variables or files named in the configuration and are never logged.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";

export interface KeySpec {
  readonly keyId: string;
  /** The account this key trades and reads reports for; 0 for replica keys. */
  readonly account: number;
  readonly secretEnv?: string;
  readonly secretFile?: string;
}

export interface LoginProof {
  readonly key: string;
  readonly ts: number;
  readonly nonce: string;
  readonly sig: Uint8Array;
}

const NONCES_MAX = 1_000_000;

export function sign(keyId: string, secret: string, account: number, tsUs: number, nonce: string): Buffer {
  return createHmac("sha256", secret).update(`${keyId}:${account}:${tsUs}:${nonce}`).digest();
}

/**
 * What an HTTP request signs: the login string, then its method and path (without the query).
 * Binding the method and path means a signature taken from a REST read can never log in to
 * /trade (another node, with its own nonce memory) and a captured login never reads over HTTP.
 * A request's nonce is base64url (REQUEST_NONCE), so it cannot smuggle a ":" into the string.
 */
export function signRequest(keyId: string, secret: string, account: number, tsUs: number, nonce: string, method: string, path: string): Buffer {
  return createHmac("sha256", secret).update(`${keyId}:${account}:${tsUs}:${nonce}:${method}:${path}`).digest();
}

/** A request nonce: 1–64 base64url characters (prove() makes 16). */
export const REQUEST_NONCE = /^[A-Za-z0-9_-]{1,64}$/;

/** A fresh proof for one HTTP request by `account`: `method` upper case ("GET"), `path` as sent, without the query. */
export function proveRequest(keyId: string, secret: string, account: number, nowUs: number, method: string, path: string): LoginProof {
  const nonce = randomBytes(12).toString("base64url");
  return { key: keyId, ts: nowUs, nonce, sig: signRequest(keyId, secret, account, nowUs, nonce, method, path) };
}

/** A fresh proof for `account`, to put in HELLO or SUBSCRIBE. */
export function prove(keyId: string, secret: string, account: number, nowUs: number): LoginProof {
  const nonce = randomBytes(12).toString("base64url");
  return { key: keyId, ts: nowUs, nonce, sig: sign(keyId, secret, account, nowUs, nonce) };
}

export function loadSecret(k: KeySpec): string {
  const s = k.secretEnv !== undefined ? process.env[k.secretEnv] : k.secretFile !== undefined ? readFileSync(k.secretFile, "utf8").trim() : undefined;
  if (s === undefined || s.length < 16) throw new Error(`key ${k.keyId}: no secret of at least 16 characters in ${k.secretEnv !== undefined ? `$${k.secretEnv}` : (k.secretFile ?? "(nowhere)")}`);
  return s;
}

export type AuthResult = { ok: true; account: number } | { ok: false; why: string };

export class Authenticator {
  private readonly keys = new Map<string, { account: number; secret: string }>();
  private readonly seen = new Map<string, number>();

  constructor(keys: readonly KeySpec[], private readonly skewUsMax: number) {
    for (const k of keys) this.keys.set(k.keyId, { account: k.account, secret: loadSecret(k) });
  }

  /** Checks a login proof for `account` at server time `nowUs`; records its nonce when it passes. */
  verify(p: Partial<LoginProof>, account: number, nowUs: number): AuthResult {
    return this.check(p, account, nowUs, (secret, key, ts, nonce) => sign(key, secret, account, ts, nonce));
  }

  /** Checks the proof of one HTTP request (signRequest) like a login: same keys, window and nonce memory. */
  verifyRequest(p: Partial<LoginProof>, account: number, nowUs: number, method: string, path: string): AuthResult {
    if (typeof p.nonce === "string" && !REQUEST_NONCE.test(p.nonce)) return { ok: false, why: "the nonce must be 1 to 64 base64url characters (A-Z a-z 0-9 _ -)" };
    return this.check(p, account, nowUs, (secret, key, ts, nonce) => signRequest(key, secret, account, ts, nonce, method, path));
  }

  private check(p: Partial<LoginProof>, account: number, nowUs: number, expected: (secret: string, key: string, ts: number, nonce: string) => Buffer): AuthResult {
    if (typeof p.key !== "string" || !Number.isSafeInteger(p.ts) || typeof p.nonce !== "string" || p.nonce.length > 64 || !(p.sig instanceof Uint8Array)) {
      return { ok: false, why: "key, ts, nonce and sig are required" };
    }
    const k = this.keys.get(p.key);
    if (k === undefined) return { ok: false, why: "unknown key" };
    if (k.account !== account) return { ok: false, why: "this key is not for that account" };
    if (Math.abs(nowUs - p.ts!) > this.skewUsMax) return { ok: false, why: "timestamp outside the accepted window" };
    const want = expected(k.secret, p.key, p.ts!, p.nonce);
    if (p.sig.length !== want.length || !timingSafeEqual(p.sig, want)) return { ok: false, why: "bad signature" };
    this.forgetOld(nowUs);
    const id = `${p.key}:${p.nonce}`;
    if (this.seen.has(id)) return { ok: false, why: "nonce already used" };
    if (this.seen.size >= NONCES_MAX) return { ok: false, why: "too many logins in the window; retry later" };
    this.seen.set(id, p.ts!);
    return { ok: true, account };
  }

  private forgetOld(nowUs: number): void {
    for (const [id, ts] of this.seen) {
      if (ts >= nowUs - this.skewUsMax) break; // insertion order ≈ time order
      this.seen.delete(id);
    }
  }
}
