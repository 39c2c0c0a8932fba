/**
 * `npm run fuzz`: (1) FRAMES hostile frames through the decoder and validator, which must never
 * throw and must only accept well-formed messages; (2) FRAMES_LIVE of them, all invalid, sent
 * to a live sequencer with a replica on loopback: every one must be answered with a REJECT,
 * nothing sequenced, the replica's state hash unchanged, and the node still serving after.
 * Bounded in count and time; prints one JSON summary line.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { WebSocket } from "ws";
import { SystemClock } from "../src/clock/clock.js";
import { TradingClient } from "../src/client/trading.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION } from "../src/protocol/messages.js";
import { validateClientFrame } from "../src/protocol/validate.js";
import { Replica } from "../src/replica/replica.js";
import { Sequencer } from "../src/sequencer/sequencer.js";
import { hostileFrame } from "./fuzz-frames.js";

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const FRAMES_LIVE = Number(process.env.FUZZ_FRAMES_LIVE ?? 1_000_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
const INSTRUMENTS = [{ id: 1, symbol: "FUZZ", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 }];
const ids = new Set([1]);

/** What an accepted message must satisfy, whatever the input was. */
export function checkAccepted(m: Record<string, unknown>): void {
  const safe = (x: unknown): boolean => Number.isSafeInteger(x);
  if (m.v !== PROTOCOL_VERSION) throw new Error("accepted a frame with the wrong version");
  for (const k of ["cid", "inst", "side", "ord", "qty", "px", "oid", "acct", "tif", "stp", "spx"]) {
    if (m[k] !== undefined && !safe(m[k])) throw new Error(`accepted a non-integer ${k}`);
  }
  if (m.t === MsgType.NEW && (!ids.has(m.inst as number) || (m.side !== 0 && m.side !== 1) || (m.qty as number) < 1)) throw new Error("accepted a bad order");
}

function fuzzValidator(frames: number): { frames: number; accepted: number } {
  let accepted = 0;
  fc.assert(fc.property(hostileFrame, (bytes) => {
    const r = validateClientFrame(bytes, ids);
    if (r.ok) {
      accepted++;
      checkAccepted(r.msg as unknown as Record<string, unknown>);
    }
  }), { seed: SEED, numRuns: frames });
  return { frames, accepted };
}

async function fuzzLive(frames: number): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-fuzz-"));
  const log = pino({ level: "silent" });
  const seq = new Sequencer({
    host: "127.0.0.1", port: 0, epoch: 1, instruments: INSTRUMENTS,
    journal: { dir: join(dir, "journal"), segmentBytesMax: 1 << 24, fsync: { mode: "none" }, retainSegmentsMax: 0 },
    ack: { mode: "none" }, frameBytesMax: 4096, batchRecordsMax: 512, replicaBufferBytesMax: 1 << 22, ringRecordsMax: 1000, clock: new SystemClock(), log,
  });
  const port = await seq.start();
  const replica = new Replica({ id: "r1", sequencerUrl: `ws://127.0.0.1:${port}/replicate`, host: "127.0.0.1", port: 0, dataDir: join(dir, "r1"), instruments: INSTRUMENTS, snapshotEverySeq: 1e9, hashEverySeq: 1000, reportRingMax: 1000, feedBufferBytesMax: 1 << 24, probeIntervalMs: 1000, log });
  await replica.start();
  try {
    const client = await TradingClient.connect(`ws://127.0.0.1:${port}/trade`, 7);
    const placed = await client.submit({ inst: 1, side: 0, px: 100, qty: 5 });
    await replica.waitFor(placed.seq);
    const hashBefore = replica.stateHash();
    // Only invalid frames go to the server, so every one must come back as a REJECT.
    const batch = fc.sample(hostileFrame, { seed: SEED + 1, numRuns: Math.min(frames, 100_000) }).filter((b) => !validateClientFrame(b, ids).ok);
    const raw = new WebSocket(`ws://127.0.0.1:${port}/trade`, { perMessageDeflate: false });
    raw.binaryType = "nodebuffer";
    await new Promise((r) => raw.once("open", r));
    raw.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct: 9 }));
    let rejects = 0;
    let sent = 0;
    let other = 0;
    raw.on("message", (d: Buffer) => {
      const m = decode(d) as { t?: number } | undefined;
      if (m?.t === MsgType.REJECT) rejects++;
      else if (m?.t !== MsgType.HELLO_OK) other++;
    });
    const started = performance.now();
    while (sent < frames && performance.now() - started < 600_000) {
      for (let i = 0; i < 1000 && sent < frames; i++) raw.send(batch[sent++ % batch.length]!);
      while (sent - rejects > 5000) await new Promise((r) => setImmediate(r));
    }
    while (rejects < sent && performance.now() - started < 600_000) await new Promise((r) => setTimeout(r, 5));
    raw.close();
    const seqAfterFuzz = seq.lastSeq;
    const hashAfterFuzz = replica.stateHash();
    // Still serving: a valid order is acked and applied.
    const after = await client.submit({ inst: 1, side: 1, px: 200, qty: 1 });
    await replica.waitFor(after.seq);
    await client.close();
    return {
      frames: sent, rejects, unexpected_replies: other, nothing_sequenced: seqAfterFuzz === placed.seq,
      hash_unchanged: hashAfterFuzz === hashBefore, still_serving: after.seq === placed.seq + 1, seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    replica.stop();
    seq.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const validator = fuzzValidator(FRAMES);
const live = await fuzzLive(FRAMES_LIVE);
process.stdout.write(`${JSON.stringify({ validator, live })}\n`);
