/**
 * Connections that have not logged in yet, on any endpoint: each must log in (HELLO on /trade
 * and /feed, an accepted SUBSCRIBE on /replicate) within `loginDeadlineMs`, and at most
 * `unauthenticatedMax` may wait at once. The cap is separate from the cap on logged-in
 * connections, so strangers holding sockets open can never use up the slots of traders. When
 * it is reached, the connection that has waited longest is closed to make room: a stranger
 * opening sockets in a loop cannot keep a trader who logs in promptly from connecting.
 */
import type uWS from "uWebSockets.js";

export interface LoginLimits {
  /** A connection that has not logged in this long after opening is closed. */
  readonly loginDeadlineMs: number;
  /** Connections waiting to log in at once, per endpoint; one more closes the one that has waited longest. */
  readonly unauthenticatedMax: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { loginDeadlineMs: 3_000, unauthenticatedMax: 256 };

/** WebSocket close codes a client sees for these two cases (docs/protocol.md). */
export const CloseCode = {
  /** The login deadline passed. */
  LOGIN_DEADLINE: 4002,
  /** Too many connections were waiting to log in: this one, the longest waiting, made room. */
  TOO_MANY_PENDING: 4013,
  /** The node is stopping. */
  GOING_AWAY: 1001,
} as const;

/** How often the deadline is checked, as a share of the deadline (closing is at most this late). */
const SWEEPS_PER_DEADLINE = 4;
const SWEEP_MS_MIN = 10;

type Socket = uWS.WebSocket<unknown>;

export class LoginGate {
  /** Waiting connections → deadline (performance.now() ms); insertion order is deadline order. */
  private readonly waiting = new Map<Socket, number>();
  private timer: NodeJS.Timeout | null = null;
  /** Closed to make room for a newer connection, and closed at their deadline. */
  evicted = 0;
  expired = 0;

  constructor(private readonly limits: LoginLimits, private readonly what: string) {}

  get size(): number {
    return this.waiting.size;
  }

  /** On open: the connection waits for its login; if too many wait, the longest waiting is closed. */
  admit(ws: uWS.WebSocket<never> | Socket): void {
    if (this.waiting.size >= this.limits.unauthenticatedMax) {
      const oldest = this.waiting.keys().next().value!;
      this.waiting.delete(oldest);
      this.evicted++;
      oldest.end(CloseCode.TOO_MANY_PENDING, `${this.what}: too many connections waiting to log in; log in sooner after connecting`);
    }
    this.waiting.set(ws as Socket, performance.now() + this.limits.loginDeadlineMs);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), Math.max(SWEEP_MS_MIN, Math.floor(this.limits.loginDeadlineMs / SWEEPS_PER_DEADLINE)));
      this.timer.unref();
    }
  }

  /** The connection logged in (or closed): it no longer waits. */
  done(ws: uWS.WebSocket<never> | Socket): void {
    this.waiting.delete(ws as Socket);
    if (this.waiting.size === 0) this.stop();
  }

  waits(ws: uWS.WebSocket<never> | Socket): boolean {
    return this.waiting.has(ws as Socket);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    const now = performance.now();
    for (const [ws, due] of this.waiting) {
      if (due > now) break;
      this.waiting.delete(ws);
      this.expired++;
      ws.end(CloseCode.LOGIN_DEADLINE, `${this.what}: log in within ${this.limits.loginDeadlineMs} ms of connecting`);
    }
    if (this.waiting.size === 0) this.stop();
  }
}
