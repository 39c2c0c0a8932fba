/** What a replica measures and reports: its latency histograms and the shape of its /stats. */
import type { LatencySummary, RecorderSnapshot, SignedSnapshot } from "../metrics/latency.js";
import { LatencyRecorder, SignedLatency } from "../metrics/latency.js";
import type { VerifiedBatch } from "../replication/subscriber.js";

/** Histograms this replica records, µs. */
export class ReplicaLatency {
  /** Receive time on our clock − the sequencer's stamp on its clock: true one-way + clock offset. */
  readonly oneWayRaw = new SignedLatency();
  /** Raw one-way minus the estimated offset. */
  readonly oneWayCompensated = new SignedLatency();
  /** Drills only: real one-way time on the machine's shared clock. */
  readonly oneWayTrue = new SignedLatency();
  readonly apply = new LatencyRecorder();
  readonly offset = new SignedLatency();
  readonly offsetBound = new LatencyRecorder();
  /**
   * The hops of a record from its sequencing to its reports leaving (`bench e2e` breaks order→fill
   * down with them), one sample per record. Sequencer queueing: the BATCH frame's send stamp − the
   * record's sequencing stamp, both on the sequencer's clock (journal, group commit, ack policy,
   * batching). Link: receipt on our clock − the BATCH send stamp on the sequencer's (raw), and
   * minus the estimated offset (compensated). Receipt to send: the batch's receipt → its reports
   * handed to the sockets, both on our clock (decode, chain check, apply, publish, flush).
   */
  readonly sequencerQueue = new LatencyRecorder();
  readonly linkRaw = new SignedLatency();
  readonly linkCompensated = new SignedLatency();
  readonly receiptToSend = new LatencyRecorder();
  /** The send stamp of the batch being applied, for sequencerQueue. */
  private batchTsUs = 0;

  /** A batch arrived: its link time, counted once per record it carries. */
  batchReceived(b: VerifiedBatch, offsetUs: number | null): void {
    const link = b.receivedUs - b.ts;
    this.linkRaw.recordMany(link, b.recs.length);
    if (offsetUs !== null) this.linkCompensated.recordMany(link - offsetUs, b.recs.length);
    this.batchTsUs = b.ts;
  }

  /** A record of that batch: how long it waited in the sequencer before the batch left. */
  recordQueued(tsUs: number): void {
    this.sequencerQueue.record(this.batchTsUs - tsUs);
  }

  /** That batch's reports are handed to the sockets. */
  batchSent(b: VerifiedBatch, nowUs: number): void {
    this.receiptToSend.recordMany(nowUs - b.receivedUs, b.recs.length);
  }

  /** The hop and one-way histograms as they stand, encoded (GET /hops): two of them, subtracted, give a window's (benches). */
  hopSnapshots(seq: number): ReplicaHopSnapshots {
    return {
      seq, one_way_raw: this.oneWayRaw.snapshot(), one_way_compensated: this.oneWayCompensated.snapshot(),
      sequencer_queue: this.sequencerQueue.snapshot(), link_raw: this.linkRaw.snapshot(), link_compensated: this.linkCompensated.snapshot(), receipt_to_send: this.receiptToSend.snapshot(),
    };
  }

  rotate(): void {
    this.oneWayRaw.rotate();
    this.oneWayCompensated.rotate();
    this.oneWayTrue.rotate();
    this.apply.rotate();
    this.offset.rotate();
    this.offsetBound.rotate();
    this.sequencerQueue.rotate();
    this.linkRaw.rotate();
    this.linkCompensated.rotate();
    this.receiptToSend.rotate();
  }
}

/** Where and why this replica stopped applying the log. */
export interface Halt { readonly seq: number; readonly reason: string; readonly message: string }

/** One set of this replica's latency histograms, µs (`one_way_true_us` in drills only). */
export type ReplicaLatencyStats = Record<"one_way_raw_us" | "one_way_compensated_us" | "apply_us" | "offset_us" | "offset_bound_us"
  | "sequencer_queue_us" | "link_raw_us" | "link_compensated_us" | "receipt_to_send_us", LatencySummary> & { one_way_true_us?: LatencySummary };

/** What a replica's GET /hops returns: its seq, and the cumulative one-way and hop histograms as of it, encoded. */
export interface ReplicaHopSnapshots {
  readonly seq: number;
  readonly one_way_raw: SignedSnapshot; readonly one_way_compensated: SignedSnapshot;
  readonly sequencer_queue: RecorderSnapshot; readonly link_raw: SignedSnapshot; readonly link_compensated: SignedSnapshot; readonly receipt_to_send: RecorderSnapshot;
}

/** What a replica's /stats returns (the launcher, dashboard, drills and benches read it). */
export interface ReplicaStats {
  role: "replica"; id: string; seq: number; epoch: number; hash: string;
  skew: { offset_us: number; bound_us: number; drift_ppm: number; samples: number } | null;
  clock_injected_error_us?: number;
  latency: ReplicaLatencyStats; latency_last_second: ReplicaLatencyStats;
  gaps: number; stale_epoch_batches: number; snapshot_corruptions: number;
  /** Batches applied, and STATUS frames sent for them (one per event-loop turn, not per batch). */
  batches: number; statuses: number;
  /** Connections to a sequencer cut because nothing arrived within the silence deadline. */
  link_silences: number;
  checkpoint: { seq: number; hash: string }; forked: string | null; halted: Halt | null;
  subscribers: number; last_record_ts_us: number;
  engine_rejects: Record<string, number>; feed_rejects: Record<string, number>;
  /** REST requests refused, by wire reason (NOT_FOUND, OUT_OF_RANGE, NOT_AUTHENTICATED …). */
  rest_rejects: Record<string, number>;
}
