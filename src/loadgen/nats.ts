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
import { connect, consumerOpts, DiscardPolicy, RetentionPolicy, StorageType, type NatsConnection } from "nats";
import { findProgram, startDaemon } from "../cluster/daemon.js";
import { freePort } from "../cluster/ports.js";
import { decode, encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, ReportKind } from "../protocol/messages.js";
import type { Handlers, Transport } from "./client.js";
import { nowNs } from "./pacer.js";

export const STREAM = "LOCKSTEP_ORDERS";

export const findNatsServer = (): { path: string } | { missing: string } => findProgram("nats-server", "nats-server");

export interface NatsServer { readonly url: string; stop(): Promise<void> }

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
  return { url, stop: d.stop };
}

/** Orders to `orders.<account>` through JetStream (PubAck = ACK); reports from `reports.<account>`. */
export function natsTransport(url: string): Transport {
  let nc: NatsConnection | null = null;
  const accounts: number[] = [];
  const handlers: Handlers[] = [];
  return {
    async open(c, account, h) {
      nc ??= await connect({ servers: url });
      accounts[c] = account;
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
      const h = handlers[c]!;
      nc!.jetstream().publish(`orders.${accounts[c]!}`, frame).then((pa) => h.ack(i, pa.seq, pa.seq, nowNs()), (err: Error) => h.reject(i, 0, nowNs(), `NATS_PUBLISH_FAILED (${err.message})`));
    },
    async close() {
      await nc?.drain();
    },
  };
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
