/**
 * Authentication: HMAC-SHA256 over "key:account:tsUs:nonce" with the key's secret. The server
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

  /** Checks a proof for `account` at server time `nowUs`; records its nonce when it passes. */
  verify(p: Partial<LoginProof>, account: number, nowUs: number): AuthResult {
    if (typeof p.key !== "string" || !Number.isSafeInteger(p.ts) || typeof p.nonce !== "string" || p.nonce.length > 64 || !(p.sig instanceof Uint8Array)) {
      return { ok: false, why: "key, ts, nonce and sig are required" };
    }
    const k = this.keys.get(p.key);
    if (k === undefined) return { ok: false, why: "unknown key" };
    if (k.account !== account) return { ok: false, why: "this key is not for that account" };
    if (Math.abs(nowUs - p.ts!) > this.skewUsMax) return { ok: false, why: "timestamp outside the accepted window" };
    const want = sign(p.key, k.secret, account, p.ts!, p.nonce);
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
