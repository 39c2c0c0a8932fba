import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { SystemClock } from "../src/clock/clock.js";
import type { InstrumentConfig } from "../src/engine/index.js";
import { Replica, type ReplicaOptions } from "../src/replica/replica.js";
import { Sequencer, type SequencerOptions } from "../src/sequencer/sequencer.js";

export const INSTRUMENTS: InstrumentConfig[] = [{ id: 1, symbol: "DEMO", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 }];
const silent = pino({ level: "silent" });

/** A sequencer and replicas in this process, on loopback with free ports, in a temp dir; stop() cleans up. */
export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "lockstep-cluster-"));
  sequencer!: Sequencer;
  readonly replicas: Replica[] = [];

  /** What the sequencer was built with (to build another on the same journal). */
  options!: SequencerOptions;

  async start(replicas: number, over: Partial<SequencerOptions> = {}): Promise<void> {
    this.sequencer = new Sequencer(this.options = {
      host: "127.0.0.1", port: 0, epoch: 1, instruments: INSTRUMENTS,
      journal: { dir: join(this.dir, "journal"), segmentBytesMax: 1 << 20, fsync: { mode: "batch", intervalUs: 2000, records: 4096 }, retainSegmentsMax: 0 },
      ack: { mode: "journal" }, frameBytesMax: 4096, batchRecordsMax: 512, replicaBufferBytesMax: 4 << 20, ringRecordsMax: 1000,
      clock: new SystemClock(), log: silent, ...over,
    });
    await this.sequencer.start();
    for (let i = 0; i < replicas; i++) await this.addReplica(`r${i + 1}`);
  }

  async addReplica(id: string, over: Partial<ReplicaOptions> = {}): Promise<Replica> {
    const r = new Replica({
      id, sequencerUrl: over.sequencerUrl ?? `ws://127.0.0.1:${this.sequencer.port}/replicate`, host: "127.0.0.1", port: 0,
      dataDir: join(this.dir, id), instruments: INSTRUMENTS, snapshotEverySeq: 20_000, hashEverySeq: 1000,
      reportRingMax: 200_000, feedBufferBytesMax: 64 << 20, probeIntervalMs: 25, log: silent, ...over,
    });
    await r.start();
    this.replicas.push(r);
    return r;
  }

  get tradeUrl(): string {
    return `ws://127.0.0.1:${this.sequencer.port}/trade`;
  }
  feedUrl(r: Replica): string {
    return `ws://127.0.0.1:${r.port}/feed`;
  }

  stop(): void {
    for (const r of this.replicas) r.stop();
    (this.sequencer as Sequencer | undefined)?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits for a condition driven by incoming events, re-checking on each macrotask; bounded. */
export async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}
