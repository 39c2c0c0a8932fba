/**
 * Token buckets for the gateway's rate limits: `ratePerS` tokens a second up to `burst`; each
 * command takes one. Time comes from the caller (monotonic ms), so the bucket is trivially
 * testable and reads no clock itself.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(private readonly ratePerS: number, private readonly burst: number, nowMs: number) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  /** Takes a token if one is there. */
  take(nowMs: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.lastMs) * this.ratePerS) / 1000);
    this.lastMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

import { DEFAULT_LOGIN_LIMITS, type LoginLimits } from "../util/login-gate.js";

export interface GatewayLimits extends LoginLimits {
  /** Commands per second and burst, per connection. */
  readonly connectionRatePerS: number;
  readonly connectionBurst: number;
  /** Commands per second and burst, per account, across all its connections. */
  readonly accountRatePerS: number;
  readonly accountBurst: number;
  /** Commands sequenced and waiting for their durability (journal fsync, K replicas) before the ack; one more is refused (OVERLOADED). */
  readonly pendingAcksMax: number;
  /** Logged-in trading connections at once; one more is refused at HELLO (OVERLOADED). Connections waiting to log in are capped separately. */
  readonly connectionsMax: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  connectionRatePerS: 50_000, connectionBurst: 5_000, accountRatePerS: 100_000, accountBurst: 10_000, connectionsMax: 1_000, pendingAcksMax: 1_000_000, ...DEFAULT_LOGIN_LIMITS,
};
