/**
 * `npm run fuzz`: hostile and structure-aware frames through the whole path.
 *
 *   1. gate → record → engine, in process: every frame through the strict validator; each one
 *      accepted becomes a command, is sealed as a record (encode, decode, compare), decoded
 *      with the replicas' decoder and applied to a fresh engine. None may throw or fail to seal.
 *   2. live: the same frames to a real sequencer with a replica on loopback, on a logged-in
 *      connection. Each refused frame must get a REJECT and change nothing; each accepted one
 *      an ACK. At the end the replica has applied every seq without halting, a second replica
 *      started from nothing catches up to the same hash, and replaying the journal through a
 *      fresh engine gives that hash too.
 *   3. followers (run first, on a short log): SUBSCRIBE/STATUS/PING abuse on /replicate (values of every type, progress
 *      beyond what was sent, client frames); the sequencer keeps serving, no follower shows
 *      progress beyond what it was sent.
 *   4. feed: the same hostile frames to a replica's /feed; the replica's state does not move.
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
import { Engine, isClientOrderId, NullListener } from "../src/engine/index.js";
import { Journal } from "../src/journal/journal.js";
import { GENESIS_CHAIN } from "../src/protocol/record.js";
import { decode, encode } from "../src/protocol/codec.js";
import { commandOf, sealRecord, type SequencedMessage } from "../src/protocol/command.js";
import { MsgType, PROTOCOL_VERSION } from "../src/protocol/messages.js";
import { decodeRecord } from "../src/protocol/record.js";
import { isMoveMessage, validateClientFrame } from "../src/protocol/validate.js";
import { Replica } from "../src/replica/replica.js";
import { Sequencer } from "../src/sequencer/sequencer.js";
import { followerFrame, hostileFrame, structuredFrame } from "./fuzz-frames.js";

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const FRAMES_LIVE = Number(process.env.FUZZ_FRAMES_LIVE ?? 1_000_000);
const FRAMES_FOLLOWER = Number(process.env.FUZZ_FRAMES_FOLLOWER ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261125);
/** Distinct frames generated and then cycled through for the live phase. */
const LIVE_DISTINCT_MAX = 200_000;
/** Frames in flight to the live sequencer before the sender waits for replies. */
const IN_FLIGHT_MAX = 5_000;
const PHASE_MS_MAX = 600_000;
const ACCOUNT = 9;
const INSTRUMENTS = [{ id: 1, symbol: "FUZZ", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 }];
const ids = new Set([1]);

/** Hostile bytes and structure-aware maps, mixed. */
export const fuzzFrame: fc.Arbitrary<Uint8Array> = fc.oneof({ weight: 1, arbitrary: hostileFrame }, { weight: 3, arbitrary: structuredFrame });

/** What an accepted message must satisfy, whatever the input was. */
export function checkAccepted(m: Record<string, unknown>): void {
  if (m.v !== PROTOCOL_VERSION) throw new Error("accepted a frame with the wrong version");
  for (const k of ["cid", "inst", "side", "ord", "qty", "px", "oid", "acct", "tif", "stp", "spx", "slpx"]) {
    if (m[k] !== undefined && !Number.isSafeInteger(m[k])) throw new Error(`accepted a non-integer ${k}`);
  }
  if (m.coid !== undefined && !isClientOrderId(m.coid)) throw new Error("accepted a malformed client order id");
  if (m.t === MsgType.NEW && (!ids.has(m.inst as number) || (m.side !== 0 && m.side !== 1) || (m.qty as number) < 1)) throw new Error("accepted a bad order");
}

/** Whether the sequencer would sequence this frame from a logged-in connection (HELLO is refused there). */
function sequenceable(bytes: Uint8Array): SequencedMessage | null {
  const r = validateClientFrame(bytes, ids);
  if (!r.ok) return null;
  checkAccepted(r.msg as unknown as Record<string, unknown>);
  // HELLO is refused from a logged-in connection; the operator's move messages are sequenced by their own path (src/protocol/move.ts).
  return r.msg.t === MsgType.HELLO || isMoveMessage(r.msg) ? null : r.msg;
}

function fuzzGateToEngine(frames: number): { frames: number; accepted: number; seal_failures: number; apply_throws: number } {
  const engine = new Engine(INSTRUMENTS, new NullListener());
  let accepted = 0;
  let sealFailures = 0;
  let applyThrows = 0;
  fc.assert(fc.property(fuzzFrame, (bytes) => {
    const m = sequenceable(bytes);
    if (m === null) return;
    accepted++;
    const seq = accepted;
    const payload = sealRecord({ seq, epoch: 1, tsUs: 1_700_000_000_000_000 + seq, cmd: commandOf(m, seq, ACCOUNT) });
    if (payload === null) return void sealFailures++;
    try {
      engine.apply(decodeRecord(payload).cmd);
    } catch {
      applyThrows++;
    }
  }), { seed: SEED, numRuns: frames });
  return { frames, accepted, seal_failures: sealFailures, apply_throws: applyThrows };
}

interface Node { seq: Sequencer; port: number; replica: Replica; dir: string; log: pino.Logger }

async function startNode(): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), "lockstep-fuzz-"));
  const log = pino({ level: "silent" });
  const seq = new Sequencer({
    host: "127.0.0.1", port: 0, epoch: 1, instruments: INSTRUMENTS,
    journal: { dir: join(dir, "journal"), segmentBytesMax: 1 << 24, fsync: { mode: "none" }, retainSegmentsMax: 0 },
    ack: { mode: "none" }, frameBytesMax: 4096, batchRecordsMax: 512, replicaBufferBytesMax: 1 << 22, ringRecordsMax: 1000, clock: new SystemClock(), log,
    // The fuzzer sends as fast as it can: rate limits would refuse frames the validator accepts.
    limits: { connectionRatePerS: 1e9, connectionBurst: 1e9, accountRatePerS: 1e9, accountBurst: 1e9 },
  });
  const port = await seq.start();
  const replica = newReplica(port, join(dir, "r1"), log);
  await replica.start();
  return { seq, port, replica, dir, log };
}

function newReplica(port: number, dataDir: string, log: pino.Logger): Replica {
  return new Replica({ id: "r1", sequencerUrl: `ws://127.0.0.1:${port}/replicate`, host: "127.0.0.1", port: 0, dataDir, instruments: INSTRUMENTS, snapshotEverySeq: 1e9, hashEverySeq: 1000, reportRingMax: 1000, feedBufferBytesMax: 1 << 24, probeIntervalMs: 1000, log });
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function openRaw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.binaryType = "nodebuffer";
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  return ws;
}

/** Sends `frames` from `batch` (cycled) on one logged-in connection; counts the replies by kind. */
async function sendLive(n: Node, batch: readonly Uint8Array[], frames: number): Promise<{ sent: number; acks: number; rejects: number; other: number; closed: boolean }> {
  const raw = await openRaw(`ws://127.0.0.1:${n.port}/trade`);
  const c = { sent: 0, acks: 0, rejects: 0, other: 0, closed: false };
  raw.on("close", () => { c.closed = true; });
  let closing = false;
  raw.on("message", (d: Buffer) => {
    const m = decode(d) as { t?: number } | undefined;
    if (m?.t === MsgType.ACK) c.acks++;
    else if (m?.t === MsgType.REJECT) c.rejects++;
    else if (m?.t !== MsgType.HELLO_OK) c.other++;
  });
  raw.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct: ACCOUNT }));
  const started = performance.now();
  while (c.sent < frames && !c.closed && performance.now() - started < PHASE_MS_MAX) {
    for (let i = 0; i < 1000 && c.sent < frames; i++) raw.send(batch[c.sent++ % batch.length]!);
    while (c.sent - c.acks - c.rejects - c.other > IN_FLIGHT_MAX && !c.closed) await turn();
  }
  while (c.acks + c.rejects + c.other < c.sent && !c.closed && performance.now() - started < PHASE_MS_MAX) await new Promise((r) => setTimeout(r, 5));
  closing = true;
  raw.close();
  return { ...c, closed: c.closed && !closing };
}

/** The state hash a fresh engine reaches by applying the whole journal. */
function replayHash(dir: string): string {
  const j = Journal.open({ dir, segmentBytesMax: 1 << 24, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  try {
    const engine = new Engine(INSTRUMENTS, new NullListener());
    for (const r of j.records()) engine.apply(decodeRecord(r.payload).cmd);
    return engine.stateHash();
  } finally {
    j.close();
  }
}

async function fuzzLive(n: Node, frames: number): Promise<object> {
  const client = await TradingClient.connect(`ws://127.0.0.1:${n.port}/trade`, 7);
  const placed = await client.submit({ instrument: 1, side: "buy", price: 100, quantity: 5 });
  await n.replica.waitFor(placed.seq);
  const batch = fc.sample(fuzzFrame, { seed: SEED + 1, numRuns: Math.min(frames, LIVE_DISTINCT_MAX) });
  const accepted = batch.map((b) => sequenceable(b) !== null);
  let expectedAcks = 0;
  for (let i = 0; i < frames; i++) if (accepted[i % batch.length]) expectedAcks++;
  const started = performance.now();
  const c = await sendLive(n, batch, frames);
  const last = n.seq.lastSeq;
  await n.replica.waitFor(last);
  const halted = (n.replica.stats() as { halted: unknown }).halted;
  const hash = n.replica.stateHash();
  const replay = replayHash(join(n.dir, "journal"));
  // A second replica from nothing: every record in the journal applies.
  const fresh = newReplica(n.port, join(n.dir, "r2"), n.log);
  await fresh.start();
  await fresh.waitFor(last);
  const freshHash = fresh.stateHash();
  const freshHalted = (fresh.stats() as { halted: unknown }).halted;
  await fresh.stop();
  const after = await client.submit({ instrument: 1, side: "sell", price: 200, quantity: 1 });
  await n.replica.waitFor(after.seq);
  await client.close();
  return {
    frames: c.sent, acks: c.acks, rejects: c.rejects, unexpected_replies: c.other, closed_by_server: c.closed,
    expected_acks: expectedAcks, sequenced: last - placed.seq,
    // Refused frames changed nothing: the log grew by exactly the frames that were acked.
    state_changes_for_refused: last - placed.seq - c.acks,
    replica_halted: halted !== null, fresh_replica_halted: freshHalted !== null, fresh_replica_agrees: freshHash === hash,
    replay_agrees: replay === hash, still_serving: after.seq === last + 1,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

async function fuzzFollowers(n: Node, frames: number): Promise<object> {
  const batch = fc.sample(followerFrame, { seed: SEED + 2, numRuns: frames });
  const perConnection = 4;
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  for (let i = 0; i < batch.length && performance.now() - started < PHASE_MS_MAX; i += perConnection) {
    const ws = await openRaw(`ws://127.0.0.1:${n.port}/replicate`);
    ws.on("message", (d: Buffer) => { if ((decode(d) as { t?: number } | undefined)?.t === MsgType.ERROR) errors++; });
    // Most connections subscribe properly first, so that what follows meets a live follower.
    if (i % 10 < 7) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: `fuzz-${i}`, from: 1, chain: GENESIS_CHAIN }));
    for (const f of batch.slice(i, i + perConnection)) { ws.send(f); sent++; }
    const closed = new Promise((r) => ws.once("close", r));
    ws.close();
    await closed;
  }
  const s = n.seq.stats() as { replicas: { sent: number; applied: number }[]; status_refused: number };
  const client = await TradingClient.connect(`ws://127.0.0.1:${n.port}/trade`, 8);
  const probe = await client.submit({ instrument: 1, side: "buy", price: 50, quantity: 1 });
  await n.replica.waitFor(probe.seq);
  await client.close();
  return {
    frames: sent, errors, status_refused: s.status_refused, progress_beyond_sent: s.replicas.filter((r) => r.applied > r.sent).length,
    still_serving: n.replica.appliedSeq === probe.seq, seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

async function fuzzFeed(n: Node, frames: number): Promise<object> {
  const hashBefore = n.replica.stateHash();
  const batch = fc.sample(fuzzFrame, { seed: SEED + 3, numRuns: frames });
  const ws = await openRaw(`ws://127.0.0.1:${n.replica.port}/feed`);
  let replies = 0;
  ws.on("message", () => { replies++; });
  for (const f of batch) ws.send(f);
  const closed = new Promise((r) => ws.once("close", r));
  ws.close();
  await closed;
  return { frames, replies, hash_unchanged: n.replica.stateHash() === hashBefore };
}

const gate = fuzzGateToEngine(FRAMES);
const node = await startNode();
try {
  // Followers first, while the log is short: each subscription there is sent the log from seq 1.
  const followers = await fuzzFollowers(node, FRAMES_FOLLOWER);
  const live = await fuzzLive(node, FRAMES_LIVE);
  const feed = await fuzzFeed(node, FRAMES_FOLLOWER);
  const halts = (node.replica.stats() as { halted: unknown }).halted === null ? 0 : 1;
  process.stdout.write(`${JSON.stringify({ gate, live, followers, feed, replica_halts: halts })}\n`);
} finally {
  await node.replica.stop();
  await node.seq.stop();
  rmSync(node.dir, { recursive: true, force: true });
}
