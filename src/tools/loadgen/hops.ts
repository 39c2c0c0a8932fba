/**
 * Lockstep's order→fill broken into hops, for each filled taker (the orders order→fill counts):
 *
 *   1. client → sequencer      record tsUs − the client's send          machine clock (both ends)
 *   2. sequencer queueing      BATCH ts − record tsUs                   sequencer clock (both ends)
 *   3. sequencer → replica     replica receipt − BATCH ts               two clocks: raw, and minus the skew estimate
 *   4. replica receipt → send  receipt → its reports handed to sockets  replica clock (both ends)
 *   5. replica → client        derived: (client receipt − tsUs) − (2 + 3 + 4)
 *
 * Hops 1 and "sequencer → client" (client receipt − tsUs, hops 2 to 5 together) are measured per
 * order here: the client knows its send and receipt times and each order's seq (from its ACK),
 * and the sequencer's journal, read after the run, gives each seq's tsUs. The client's times are
 * on the machine's real-time clock (SystemClock: every process on one machine anchors to it
 * within about a microsecond). Hops 2 to 4 come from the replica's own histograms (one sample
 * per record, every record of the measured window: GET /hops read before it and after, subtracted). Hop 5 would need a send stamp in each REPORT, a wire change, so it
 * is derived, at the median and the mean only: percentiles of a difference are not differences
 * of percentiles, and the tail of a derived hop would be made up.
 */
import { anchorNow } from "../../clock/clock.js";
import { Journal } from "../../journal/journal.js";
import { SignedLatency, signedSummaryBetween, summaryBetween, type LatencySummary } from "../../metrics/latency.js";
import { decodeRecord } from "../../protocol/record.js";
import type { ReplicaHopSnapshots, ReplicaLatencyStats } from "../../replica/replica.js";
import type { LoadResult } from "./client.js";

/** One hop's figures, µs; a derived hop has no tail (null). */
export interface Hop { p50: number; p99: number | null; p999: number | null; max: number | null; mean: number; count: number }

export interface Hops {
  client_to_sequencer_us: Hop;
  sequencer_queue_us: Hop;
  sequencer_to_replica_raw_us: Hop;
  sequencer_to_replica_compensated_us: Hop;
  replica_receipt_to_send_us: Hop;
  /** Derived (see above): p50 and mean only. */
  replica_to_client_us: Hop;
  /** Measured per order: hops 2 to 5 together. */
  sequencer_to_client_us: Hop;
}

export const hopOf = (s: LatencySummary): Hop => ({ p50: s.p50, p99: s.p99, p999: s.p999, max: s.max, mean: s.mean, count: s.count });

/**
 * Converts nowNs() readings to real-time µs, anchored now (not at this process's start): called
 * just after the sequencer started, so its stamps and these readings share an anchoring moment
 * within a second or so and advance with the same monotonic clock after it. Anchored a minute
 * apart (this process's anchor, taken before the floor's run), one CI run saw half its
 * sequencer → client times below zero, as a step of the real clock between the two would do.
 */
export function wallClockOfNs(): (ns: number) => number {
  const a = anchorNow();
  return (x) => a.us + (x - Number(a.ns)) / 1000;
}

/** Seq → tsUs of every record in a journal directory (read once the sequencer has stopped). */
export function journalStamps(dir: string): Map<number, number> {
  const j = Journal.open({ dir, segmentBytesMax: Number.MAX_SAFE_INTEGER, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  const tsOf = new Map<number, number>();
  try {
    for (const rec of j.records()) {
      const r = decodeRecord(rec.payload);
      tsOf.set(r.seq, r.tsUs);
    }
  } finally {
    j.close();
  }
  return tsOf;
}

/** A replica's histograms that the hops read. */
export type ReplicaHopStats = Pick<ReplicaLatencyStats, "one_way_raw_us" | "one_way_compensated_us" | "sequencer_queue_us" | "link_raw_us" | "link_compensated_us" | "receipt_to_send_us">;

/**
 * What a replica recorded between two of its GET /hops readings: the measured window alone, not
 * the maker's book or anything else before it (a batch of that book's hundred records, applied
 * cold, is enough to set a hop's p99 over a few thousand records).
 */
export function hopsBetween(before: ReplicaHopSnapshots, after: ReplicaHopSnapshots): ReplicaHopStats {
  return {
    one_way_raw_us: signedSummaryBetween(before.one_way_raw, after.one_way_raw),
    one_way_compensated_us: signedSummaryBetween(before.one_way_compensated, after.one_way_compensated),
    sequencer_queue_us: summaryBetween(before.sequencer_queue, after.sequencer_queue),
    link_raw_us: signedSummaryBetween(before.link_raw, after.link_raw),
    link_compensated_us: signedSummaryBetween(before.link_compensated, after.link_compensated),
    receipt_to_send_us: summaryBetween(before.receipt_to_send, after.receipt_to_send),
  };
}

/** The breakdown: client-side hops from the load's per-order times, the rest from the replica the client read. */
export function lockstepHops(r: LoadResult, tsOf: ReadonlyMap<number, number>, wallUs: (ns: number) => number, replica: ReplicaHopStats): Hops {
  const toSequencer = new SignedLatency();
  const sequencerToClient = new SignedLatency();
  for (let i = r.measuredFrom; i < r.fillNs.length; i++) {
    const ts = r.fillNs[i]! > 0 ? tsOf.get(r.seqOf[i]!) : undefined;
    if (ts === undefined) continue;
    toSequencer.record(ts - wallUs(r.sentNs[i]!));
    sequencerToClient.record(wallUs(r.fillNs[i]!) - ts);
  }
  const s2c = sequencerToClient.summary();
  const inside = [replica.sequencer_queue_us, replica.link_compensated_us, replica.receipt_to_send_us];
  const residual = (k: "p50" | "mean"): number => Math.max(0, s2c[k] - inside.reduce((a, h) => a + h[k], 0));
  return {
    client_to_sequencer_us: hopOf(toSequencer.summary()),
    sequencer_queue_us: hopOf(replica.sequencer_queue_us),
    sequencer_to_replica_raw_us: hopOf(replica.link_raw_us),
    sequencer_to_replica_compensated_us: hopOf(replica.link_compensated_us),
    replica_receipt_to_send_us: hopOf(replica.receipt_to_send_us),
    replica_to_client_us: { p50: residual("p50"), p99: null, p999: null, max: null, mean: residual("mean"), count: s2c.count },
    sequencer_to_client_us: hopOf(s2c),
  };
}
