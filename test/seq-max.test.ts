/**
 * A shard's log ends at SEQ_MAX (2^45 − 1): a NEW's order id is its seq, and the ids from 2^45
 * on are imported orders' (docs/scaling.md, "Order ids"). A sequencer whose journal already
 * holds seq SEQ_MAX (a segment that starts there, as after retention) refuses every new command
 * with STORAGE_UNAVAILABLE and says why in plain words, a move step too, and sequences nothing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { LockstepError, TradingClient } from "../src/client/trading.js";
import { PACKAGE_ROOT, spawnNode, statsOf, stopNode, type NodeProcess, type SequencerStats } from "../src/cluster/launcher.js";
import { SEQ_MAX } from "../src/protocol/command.js";
import { MsgType, WireReason } from "../src/protocol/messages.js";
import { CHAIN_BYTES, encodeRecord } from "../src/protocol/record.js";

const OPERATOR = 9000;

/** One journal record as src/journal/journal.ts lays it out: length, CRC32 of chain and payload, chain, payload. */
function journalRecord(payload: Buffer, chain: Buffer): Buffer {
  const rec = Buffer.alloc(8 + CHAIN_BYTES + payload.length);
  rec.writeUInt32LE(payload.length, 0);
  chain.copy(rec, 8);
  payload.copy(rec, 8 + CHAIN_BYTES);
  rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
  return rec;
}

describe("the end of a shard's log", () => {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-seq-max-"));
  let seq: NodeProcess | undefined;
  afterAll(async () => {
    if (seq !== undefined) await stopNode(seq);
    rmSync(dir, { recursive: true, force: true });
  });

  it("a sequencer at seq 2^45 − 1 refuses a NEW and a move step with STORAGE_UNAVAILABLE, and its seq stays", async () => {
    const base = JSON.parse(readFileSync(join(PACKAGE_ROOT, "config", "local.json"), "utf8")) as Record<string, unknown>;
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ ...base, sequencer: { ...(base.sequencer as object), operatorAccount: OPERATOR } }));
    // The journal's one segment starts at SEQ_MAX (its first record's predecessor is trusted, as after retention).
    mkdirSync(join(dir, "journal"));
    const last = encodeRecord({ seq: SEQ_MAX, epoch: 1, tsUs: 1, cmd: { type: "cancel-all", account: 5 } });
    writeFileSync(join(dir, "journal", `${String(SEQ_MAX).padStart(20, "0")}.seg`), journalRecord(last, Buffer.alloc(CHAIN_BYTES, 7)));
    seq = await spawnNode("sequencer", ["sequencer", "--config", config, "--data", dir, "--port", "0"], dir);
    expect((await statsOf<SequencerStats>(seq)).seq).toBe(SEQ_MAX);

    const trader = await TradingClient.connect(String(seq.ready.trade), 7);
    const operator = await TradingClient.connect(String(seq.ready.trade), OPERATOR);
    try {
      expect(trader.lastSeq).toBe(SEQ_MAX);
      const refused = await trader.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 }).then(() => null, (err: unknown) => err);
      expect(refused).toBeInstanceOf(LockstepError);
      expect((refused as LockstepError).code).toBe(WireReason.STORAGE_UNAVAILABLE);
      expect((refused as Error).message).toMatch(/log is full: order ids are seqs up to 35184372088831/);
      const step = await operator.moveStep({ t: MsgType.MOVE_HALT, inst: 1, mc: 1 }).then(() => null, (err: unknown) => err);
      expect((step as LockstepError).code).toBe(WireReason.STORAGE_UNAVAILABLE);
      const claim = await operator.moveStep({ t: MsgType.MOVE_CLAIM, inst: 1, mc: 0 }).then(() => null, (err: unknown) => err);
      expect((claim as LockstepError).code).toBe(WireReason.STORAGE_UNAVAILABLE);
      expect((await statsOf<SequencerStats>(seq)).seq).toBe(SEQ_MAX);
    } finally {
      await Promise.all([trader.close(), operator.close()]);
    }
  }, 60_000);
});
