/**
 * The NATS peer for `lockstep bench e2e`: what a team would build with NATS as the ordering
 * layer instead of Lockstep's sequencer. Orders are published to a JetStream stream (the stream
 * orders and stores them; its PubAck is the ACK, its stream sequence the seq); three consumer
 * processes each follow the stream with an ordered push consumer, like replicas, and the first
 * one answers each order with one REPORT on `reports.<account>` (a fill for an IOC order, an
 * acceptance otherwise), like the floor's replica relays. No matching: like the floor, it
 * measures the path, so the comparison is ordering layer against ordering layer.
 *
 * JetStream acknowledges once the stream has the message, without an fsync per message (its
 * file store syncs on an interval); Lockstep's default config acks after a group-commit fsync.
 */
import { join } from "node:path";
import { connect, consumerOpts, createInbox, DiscardPolicy, RetentionPolicy, StorageType, type Msg, type NatsConnection } from "nats";
import { findProgram, startDaemon } from "../../cluster/daemon.js";
import { freePort } from "../../cluster/ports.js";
import { decode, encode } from "../../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind } from "../../protocol/messages.js";
import type { Handlers, Transport } from "./client.js";
import { nowNs } from "./pacer.js";

export const STREAM = "LOCKSTEP_ORDERS";

export const findNatsServer = (): { path: string } | { missing: string } => findProgram("nats-server", "nats-server");

export interface NatsServer { readonly url: string; readonly pid: number; stop(): Promise<void> }

/** A private nats-server with JetStream on a free loopback port, with the orders stream created. */
export async function startNatsServer(dir: string, logDir: string): Promise<NatsServer> {
  const found = findNatsServer();
  if ("missing" in found) throw new Error(found.missing);
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const d = await startDaemon("nats-server", found.path, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "nats")], logDir, async () => {
    const nc = await connect({ servers: url, timeout: 1000 });
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: STREAM, subjects: ["orders.*"], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_msgs: 10_000_000 });
      return true;
    } finally {
      await nc.close();
    }
  });
  return { url, pid: d.child.pid!, stop: d.stop };
}

/**
 * Unacknowledged publishes at most: the Go client's default for async JetStream publishing
 * (PublishAsyncMaxPending). 0.4 s of orders at 10k/s, far more than a keeping-up server needs.
 */
export const PUBLISH_IN_FLIGHT_MAX = 4000;

interface Queued { readonly c: number; readonly i: number; readonly frame: Buffer }

/**
 * Orders to `orders.<account>` through JetStream (PubAck = ACK), published asynchronously as the
 * NATS clients do it (the Go client's PublishAsync): each order is a plain PUB on the stream's
 * subject with a reply subject `<inbox>.<client>.<order>`, and the server answers each with a
 * PubAck there; one subscription takes them all. No promise, timer or await per message (the
 * client's `js.publish()` has all three, and a fresh header set). At most PUBLISH_IN_FLIGHT_MAX
 * are unacknowledged; orders beyond wait here in order and go as PubAcks free the window. The
 * client library writes what one event-loop turn published with one socket write (it flushes its
 * outbound buffer once per turn, or at 32 KiB), so the orders a pacer wake-up sends travel
 * together. A PubAck that never comes leaves its order unanswered (the bench counts those).
 * Reports come from `reports.<account>`.
 */
export function natsTransport(url: string): Transport {
  let nc: NatsConnection | null = null;
  const inbox = createInbox();
  const subjects: string[] = [];
  const handlers: Handlers[] = [];
  const queue: Queued[] = [];
  let head = 0;
  let inFlight = 0;
  const publish = (c: number, i: number, frame: Buffer): void => {
    inFlight++;
    nc!.publish(subjects[c]!, frame, { reply: `${inbox}.${c}.${i}` });
  };
  const onPubAck = (m: Msg): void => {
    const [c, i] = m.subject.slice(inbox.length + 1).split(".").map(Number) as [number, number];
    const h = handlers[c];
    if (h === undefined) return;
    inFlight--;
    const at = nowNs();
    const pa = pubAck(m);
    if (typeof pa === "number") h.ack(i, pa, pa, at);
    else h.reject(i, 0, at, `NATS_PUBLISH_FAILED (${pa})`);
    while (inFlight < PUBLISH_IN_FLIGHT_MAX && head < queue.length) {
      const q = queue[head++]!;
      publish(q.c, q.i, q.frame);
    }
    if (head === queue.length) queue.length = head = 0;
  };
  return {
    async open(c, account, h) {
      if (nc === null) {
        nc = await connect({ servers: url });
        nc.subscribe(`${inbox}.>`, { callback: (err, m) => { if (err === null) onPubAck(m); } });
      }
      subjects[c] = `orders.${account}`;
      handlers[c] = h;
      nc.subscribe(`reports.${account}`, {
        callback: (err, m) => {
          if (err !== null) return;
          const at = nowNs();
          const r = decode(m.data) as { t: number; k: number; liq?: number; seq: number };
          if (r.t === MsgType.REPORT) h.report(r.seq, r.k, r.liq, at);
        },
      });
      await nc.flush();
    },
    send(c, i, frame) {
      if (inFlight < PUBLISH_IN_FLIGHT_MAX && head === queue.length) publish(c, i, frame);
      else queue.push({ c, i, frame });
    },
    async close() {
      await nc?.drain();
    },
  };
}

/** A PubAck's stream seq, or why the publish failed (a JetStream error, or no stream: 503 with no body). */
function pubAck(m: Msg): number | string {
  if (m.data.length === 0) return m.headers?.code === 503 ? "NO_RESPONDERS" : `status ${m.headers?.code ?? "?"}`;
  const pa = JSON.parse(m.string()) as { seq?: number; error?: { description?: string } };
  if (pa.error !== undefined) return pa.error.description ?? "error";
  return typeof pa.seq === "number" ? pa.seq : "PubAck without a seq";
}

/**
 * A NATS "replica": follows the stream with an ordered push consumer from new messages on;
 * with `reports`, answers each order with one REPORT to its account.
 */
export async function startNatsReplica(url: string, reports: boolean): Promise<() => Promise<void>> {
  const nc = await connect({ servers: url });
  const js = nc.jetstream();
  const opts = consumerOpts().orderedConsumer().deliverNew();
  opts.callback((err, m) => {
    if (err !== null || m === null) return;
    const order = decode(m.data) as { tif?: number; px?: number; qty?: number };
    if (!reports) return;
    const acct = Number(m.subject.slice("orders.".length));
    const frame = order.tif === 1
      ? encode({ v: PROTOCOL_VERSION, t: MsgType.REPORT, seq: m.seq, n: 0, last: true, acct, k: ReportKind.FILL, oid: m.seq, px: order.px ?? 0, qty: order.qty ?? 0, left: 0, tid: m.seq, liq: 1 })
      : encode({ v: PROTOCOL_VERSION, t: MsgType.REPORT, seq: m.seq, n: 0, last: true, acct, k: ReportKind.ACCEPTED, oid: m.seq, px: order.px ?? 0, qty: order.qty ?? 0, left: order.qty ?? 0 });
    nc.publish(`reports.${acct}`, frame);
  });
  await js.subscribe("orders.*", opts);
  await nc.flush();
  return async () => { await nc.drain(); };
}
