/**
 * Standby sequencers with leadership in a real etcd (a child process on loopback): a standby
 * journals the leader's log, takes over with a higher epoch, refuses clients and replicas while
 * it is a standby, and a revived old leader cuts the tail the new epoch replaced, then follows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemClock } from "../src/clock/clock.js";
import { LockstepError, TradingClient } from "../src/client/trading.js";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { Journal } from "../src/journal/journal.js";
import { WireReason } from "../src/protocol/messages.js";
import { decodeRecord, encodeRecord } from "../src/protocol/record.js";
import type { Replica } from "../src/replica/replica.js";
import { Coordinator, mayLead } from "../src/sequencer/coordinator.js";
import { Sequencer, type SequencerOptions } from "../src/sequencer/sequencer.js";
import { INSTRUMENTS, TestCluster, until } from "./cluster-helpers.js";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`ha tests skipped: ${etcd.missing}`);
const silent = pino({ level: process.env.HA_LOG ?? "silent" });

const journalOf = (dir: string): Journal => Journal.open({ dir, segmentBytesMax: 1 << 20, fsync: { mode: "none" }, retainSegmentsMax: 0 });

describe.skipIf("missing" in etcd)("standby sequencer and promotion (etcd)", () => {
  let server: EtcdProcess;
  const dir = mkdtempSync(join(tmpdir(), "lockstep-ha-"));
  const live: Sequencer[] = [];
  let cluster = 0;

  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
  }, 30_000);
  afterAll(async () => {
    for (const s of live) s.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function node(name: string, id: string, ack: SequencerOptions["ack"] = { mode: "replicas", count: 1 }): Sequencer {
    const s = new Sequencer({
      host: "127.0.0.1", port: 0, epoch: 1, instruments: INSTRUMENTS,
      journal: { dir: join(dir, name, id), segmentBytesMax: 1 << 16, fsync: { mode: "none" }, retainSegmentsMax: 0 },
      ack, frameBytesMax: 4096, batchRecordsMax: 512, replicaBufferBytesMax: 4 << 20, ringRecordsMax: 1000,
      clock: new SystemClock(), log: silent,
      ha: { id, isrLagMsMax: 500, coordinator: new Coordinator({ hosts: [server.url], cluster: name, leaseTtlS: 1, id, log: silent }), onFenced: () => undefined },
    });
    live.push(s);
    return s;
  }
  const trade = (s: Sequencer): string => `ws://127.0.0.1:${s.port}/trade`;
  const stats = (s: Sequencer): { isr: string[]; epoch: number; ha_role: string } => s.stats() as { isr: string[]; epoch: number; ha_role: string };

  async function submitMany(urls: string[], n: number): Promise<number[]> {
    const c = await TradingClient.connectAny(urls, 7, 5000);
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => c.submit({ instrument: 1, side: i % 2 === 0 ? "buy" : "sell", price: 100 + (i % 7), quantity: 1 + (i % 5) })));
    await c.close();
    return acks.map((a) => a.seq);
  }

  it("a standby takes over with a higher epoch; every acked order survives the old leader's disk; the old leader comes back as a standby", async () => {
    const name = `c${++cluster}`;
    const s1 = node(name, "s1");
    await s1.start();
    await until(() => s1.isLeader, 10_000);
    const s2 = node(name, "s2");
    await s2.start();
    expect(s2.isLeader).toBe(false);
    const tc = new TestCluster();
    const replica: Replica = await tc.addReplica("r1", { sequencerUrl: [s1, s2].map((s) => `ws://127.0.0.1:${s.port}/replicate`) });
    try {
      // A standby refuses clients, with its reason.
      await expect(TradingClient.connect(trade(s2), 7, 5000)).rejects.toMatchObject({ code: WireReason.NOT_LEADER });
      await until(() => stats(s1).isr.includes("s2"), 10_000);
      const before = await submitMany([trade(s1), trade(s2)], 300);
      expect(s2.lastSeq).toBeGreaterThanOrEqual(Math.max(...before));

      // The leader goes away with its disk.
      s1.stop();
      rmSync(join(dir, name, "s1"), { recursive: true, force: true });
      await until(() => s2.isLeader, 10_000);
      expect(stats(s2).epoch).toBe(2);
      const after = await submitMany([trade(s1), trade(s2)], 300);
      expect(Math.min(...after)).toBeGreaterThan(Math.max(...before));
      await until(() => replica.appliedSeq === s2.lastSeq, 10_000);

      // Every acked seq is in the new leader's journal, once.
      const j = journalOf(join(dir, name, "s2"));
      const seqs = new Set<number>();
      for (const r of j.records()) seqs.add(decodeRecord(r.payload).seq);
      j.close();
      for (const s of [...before, ...after]) expect(seqs.has(s)).toBe(true);

      // The old leader, revived with an empty disk, follows the new one and refuses clients.
      const s1b = node(name, "s1");
      await s1b.start();
      await until(() => s1b.lastSeq === s2.lastSeq, 10_000);
      expect(s1b.isLeader).toBe(false);
      await expect(TradingClient.connect(trade(s1b), 7, 5000)).rejects.toBeInstanceOf(LockstepError);
      await until(() => stats(s2).isr.includes("s1"), 10_000);
    } finally {
      tc.stop();
    }
  }, 60_000);

  it("a revived leader cuts records of its old epoch that the new leader never had, then follows the new log", async () => {
    const name = `c${++cluster}`;
    const s1 = node(name, "s1", { mode: "journal" });
    await s1.start();
    await until(() => s1.isLeader, 10_000);
    const s2 = node(name, "s2", { mode: "journal" });
    await s2.start();
    await until(() => stats(s1).isr.includes("s2"), 10_000);
    await submitMany([trade(s1)], 50);
    await until(() => s2.lastSeq === s1.lastSeq, 10_000);
    s1.stop();
    await until(() => s2.isLeader, 10_000);
    const startSeq = s2.lastSeq + 1;
    // What a crashed leader could leave behind: records of epoch 1 past what its standby had.
    const j = journalOf(join(dir, name, "s1"));
    for (let seq = startSeq; seq < startSeq + 5; seq++) j.append(seq, encodeRecord({ seq, epoch: 1, tsUs: 1, cmd: { type: "cancel", account: 9, orderId: 1 } }));
    j.close();
    await submitMany([trade(s2)], 20);
    const s1b = node(name, "s1", { mode: "journal" });
    await s1b.start();
    await until(() => s1b.lastSeq === s2.lastSeq, 10_000);
    const a = journalOf(join(dir, name, "s1"));
    const b = journalOf(join(dir, name, "s2"));
    try {
      expect(a.chain.equals(b.chain)).toBe(true);
      for (const r of a.records(startSeq)) expect(decodeRecord(r.payload).epoch).toBe(2);
    } finally {
      a.close();
      b.close();
    }
  }, 60_000);

  it("only an in-sync standby, the last leader with its log, or the first node may lead", () => {
    const state = { epoch: 3, leader: "s1", startSeq: 100, isr: ["s2"] };
    expect(mayLead(null, "s9", 0)).toBe(true);
    expect(mayLead(state, "s2", 50)).toBe(true);
    expect(mayLead(state, "s1", 500)).toBe(false);
    expect(mayLead({ ...state, isr: [] }, "s1", 99)).toBe(true);
    expect(mayLead({ ...state, isr: [] }, "s1", 0)).toBe(false);
    expect(mayLead({ ...state, isr: [] }, "s3", 500)).toBe(false);
  });
});
