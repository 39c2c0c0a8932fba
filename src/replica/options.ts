/** How a replica is configured (src/config's replicaDefaults and replicas[] become these). */
import type { SystemClock } from "../clock/clock.js";
import type { EngineOptions } from "../engine/index.js";
import type { Logger } from "pino";
import type { Authenticator } from "../protocol/auth.js";
import type { InstrumentSpec } from "../protocol/reference.js";

/**
 * STATUS cadence, ms. Each STATUS is a system call on the replica and a wake-up of the sequencer;
 * at a few thousand orders a second, one per applied batch was one per order. Lag, checkpoint
 * hashes and /stats on the sequencer are then this much older at most.
 */
export const STATUS_INTERVAL_MS_DEFAULT = 5;
/** The longest STATUS interval a configuration may ask for, ms: the sequencer's lag view stays under a second old. */
export const STATUS_INTERVAL_MS_MAX = 1000;

/**
 * The STATUS interval a replica runs with, ms: the configured one, or 0 (one per turn) under a
 * sequencer that acks on replicas (`ack: replicas`), whose acks wait on those STATUS frames.
 */
export function statusIntervalFor(ackMode: string, configuredMs: number): number {
  return ackMode === "replicas" ? 0 : configuredMs;
}

export interface ReplicaOptions {
  readonly id: string;
  /** The sequencer's /replicate URL; with standbys, every sequencer node's, tried in turn until the leader answers. */
  readonly sequencerUrl: string | readonly string[];
  readonly host: string;
  /** Port of this replica's feed endpoint; 0 picks a free one. */
  readonly port: number;
  readonly dataDir: string;
  /** The engine's instruments, with the scales their reference data (INSTRUMENTS, /v1/instruments) states prices and quantities in. */
  readonly instruments: readonly InstrumentSpec[];
  /** Must be the same on every replica: part of the state machine's definition. */
  readonly engine?: EngineOptions;
  readonly snapshotEverySeq: number;
  readonly hashEverySeq: number;
  /** Execution reports kept for clients resuming from a seq. */
  readonly reportRingMax: number;
  /** Trades kept per instrument for GET /v1/trades (since this replica started); default TRADES_RECENT_MAX_DEFAULT (src/protocol/rest.ts). */
  readonly tradesRecentMax?: number;
  /** A feed subscriber with more than this buffered is disconnected (slow consumer). */
  readonly feedBufferBytesMax: number;
  /** Clock probes to the sequencer, one per this many ms. */
  readonly probeIntervalMs: number;
  /**
   * At most one STATUS (progress) to the sequencer per this many ms, ms; 0: one per event-loop
   * turn that applied something. Default STATUS_INTERVAL_MS_DEFAULT. A sequencer that acks on
   * replicas (`ack: replicas`) waits on STATUS, so those replicas are started with 0 (src/cli/nodes.ts).
   */
  readonly statusIntervalMs?: number;
  /** A sequencer link on which nothing arrives (not even a PONG) this long is cut and the next URL tried; default 2,000 ms. */
  readonly silenceMsMax?: number;
  /** A feed connection that has sent no valid request (HELLO, SUB_BOOK, SUB_REPORTS) this long after opening is closed. */
  readonly loginDeadlineMs?: number;
  /** Feed connections waiting for their first valid request at once; one more is closed on open. */
  readonly unauthenticatedMax?: number;
  /** This node's clock (a SystemClock, possibly with injected offset and drift). */
  readonly clock?: SystemClock;
  /**
   * Drills only: also record the true one-way time, from the machine's real clock, assuming the
   * sequencer's clock is not skewed (the drills keep it true). Meaningless in production.
   */
  readonly drillTruth?: boolean;
  /** The account that may read a book's export for a move (GET /v1/move/{instrument}) when authentication is on: the sequencer's operatorAccount. */
  readonly operatorAccount?: number;
  /** When set, execution reports are served only to a feed connection logged in (HELLO) as that account. */
  readonly auth?: Authenticator;
  /** This replica's key, proving itself to the sequencer on SUBSCRIBE. */
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  readonly log: Logger;
}
