/**
 * The floor for end-to-end benchmarks: Lockstep's topology with nothing but message passing.
 *
 *   client ──/trade──▶ SEQ RELAY ──/replicate──▶ REPLICA RELAY ×N ──/feed──▶ client
 *            ◀── ACK ──┘ (at once)                 (a REPORT per order, to its account)
 *
 * Same libraries (uWebSockets.js servers, ws clients between nodes), same processes and hops,
 * same protocol frames (HELLO/ACK on /trade, SUB_REPORTS/REPORT on /feed), so the benchmark
 * client cannot tell it from a cluster. What is missing is everything Lockstep does per order:
 * validation, journal, hash chain, fsync, the engine, state. The sequence relay fans each order
 * out with one uWS publish; each replica relay answers with one REPORT to the account: a fill
 * for an IOC order (the benchmark's takers), an acceptance for anything else.
 */
import uWS from "uWebSockets.js";
import { WebSocket } from "ws";
import { decode, encode } from "../../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind } from "../../protocol/messages.js";
import { listen, upgradeWith } from "../../util/uws.js";

interface Conn { acct: number }
const PAYLOAD_MAX = 1 << 20;
const LOG_TOPIC = "log";

/** Starts the sequence relay; resolves with its port. */
export async function startSeqRelay(host: string, port: number): Promise<number> {
  let seq = 0;
  const app = uWS.App();
  app.ws<Conn>("/trade", {
    compression: uWS.DISABLED, maxPayloadLength: PAYLOAD_MAX, idleTimeout: 120, maxBackpressure: 16 << 20,
    upgrade: (res, req, ctx) => upgradeWith<Conn>({ acct: 0 })(res, req, ctx),
    message: (ws, bytes) => {
      const m = decode(new Uint8Array(bytes)) as { t: number; cid: number; acct: number; inst: number; px: number; qty: number; side: number; tif?: number };
      if (m.t === MsgType.HELLO) {
        ws.getUserData().acct = m.acct;
        ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct: m.acct, ep: 1, seq }), true);
        return;
      }
      const s = ++seq;
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.ACK, cid: m.cid, seq: s, oid: s }), true);
      app.publish(LOG_TOPIC, encode({ v: PROTOCOL_VERSION, t: MsgType.BATCH, ep: 1, first: s, acct: ws.getUserData().acct, px: m.px ?? 0, qty: m.qty ?? 0, tif: m.tif ?? 0 }), true);
    },
  });
  app.ws<Conn>("/replicate", {
    compression: uWS.DISABLED, maxPayloadLength: PAYLOAD_MAX, idleTimeout: 120, maxBackpressure: 64 << 20,
    upgrade: (res, req, ctx) => upgradeWith<Conn>({ acct: 0 })(res, req, ctx),
    open: (ws) => { ws.subscribe(LOG_TOPIC); },
  });
  app.get("/stats", (res) => { res.writeHeader("content-type", "application/json").end(JSON.stringify({ role: "seq-relay", seq })); });
  return (await listen(app, host, port, "seq relay")).port;
}

/** Starts a replica relay following `upstream` (the sequence relay's /replicate URL). */
export async function startReplicaRelay(host: string, port: number, upstream: string): Promise<number> {
  const byAccount = new Map<number, Set<uWS.WebSocket<Conn>>>();
  let seq = 0;
  const app = uWS.App();
  app.ws<Conn>("/feed", {
    compression: uWS.DISABLED, maxPayloadLength: PAYLOAD_MAX, idleTimeout: 120, maxBackpressure: 16 << 20,
    upgrade: (res, req, ctx) => upgradeWith<Conn>({ acct: 0 })(res, req, ctx),
    message: (ws, bytes) => {
      const m = decode(new Uint8Array(bytes)) as { t: number; acct: number };
      if (m.t !== MsgType.SUB_REPORTS) return;
      ws.getUserData().acct = m.acct;
      if (!byAccount.has(m.acct)) byAccount.set(m.acct, new Set());
      byAccount.get(m.acct)!.add(ws);
    },
    close: (ws) => { byAccount.get(ws.getUserData().acct)?.delete(ws); },
  });
  app.get("/stats", (res) => { res.writeHeader("content-type", "application/json").end(JSON.stringify({ role: "replica-relay", seq })); });
  const p = (await listen(app, host, port, "replica relay")).port;
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(upstream, { perMessageDeflate: false, maxPayload: PAYLOAD_MAX });
    ws.binaryType = "nodebuffer";
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.on("message", (data: Buffer) => {
      const b = decode(data) as { first: number; acct: number; px: number; qty: number; tif: number };
      seq = b.first;
      const subs = byAccount.get(b.acct);
      if (subs === undefined) return;
      // An IOC (the benchmark's takers) fills at once; anything else is accepted: one report per
      // order, like the engine's first report for it.
      const frame = b.tif === 1
        ? encode({ v: PROTOCOL_VERSION, t: MsgType.REPORT, seq: b.first, n: 0, last: true, acct: b.acct, k: ReportKind.FILL, oid: b.first, px: b.px, qty: b.qty, left: 0, tid: b.first, liq: 1 })
        : encode({ v: PROTOCOL_VERSION, t: MsgType.REPORT, seq: b.first, n: 0, last: true, acct: b.acct, k: ReportKind.ACCEPTED, oid: b.first, px: b.px, qty: b.qty, left: b.qty });
      for (const s of subs) s.send(frame, true);
    });
  });
  return p;
}
