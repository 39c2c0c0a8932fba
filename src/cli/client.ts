/**
 * `lockstep client`: a small trading client for people and scripts. Reads commands (see
 * src/client/script.ts) from stdin, one per line, sends them to the sequencer, and prints what
 * comes back: ACKs and REJECTs, and with --feed the execution reports for the account and a
 * local book. Each output is one line; --json makes each a JSON object. With --shard-map FILE or
 * --shards-etcd URL instead of --trade, it routes by the shard map (docs/scaling.md#routing).
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { FeedClient } from "../client/feed.js";
import { parseClientLine, type ClientLine } from "../client/script.js";
import { ShardedTradingClient, ShardRouteError, type ShardedOrderRef } from "../client/sharded.js";
import { LockstepError, TradingClient, type OrderRef } from "../client/trading.js";
import { parseShardMap, ShardMapError } from "../shard/map.js";
import { ORDER_STATUS_NAME, REASON_NAME, type OrderStatus, type Reason } from "../engine/index.js";
import { ReportKind, type Report } from "../protocol/messages.js";
import { parse, UserError } from "./args.js";

const KIND_NAME = Object.fromEntries(Object.entries(ReportKind).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>;

function describeReport(r: Report): string {
  const parts = [`report seq=${r.seq}`, KIND_NAME[r.k] ?? `kind ${r.k}`, `order=${r.oid}`];
  if (r.coid !== undefined) parts.push(`coid=${r.coid}`);
  if (r.code !== undefined && r.k === ReportKind.REJECTED) parts.push(`reason=${REASON_NAME[r.code as Reason] ?? r.code}`);
  if (r.px !== undefined) parts.push(`px=${r.px}`);
  if (r.qty !== undefined) parts.push(`qty=${r.qty}`);
  if (r.left !== undefined) parts.push(`left=${r.left}`);
  if (r.st !== undefined) parts.push(`status=${ORDER_STATUS_NAME[r.st as OrderStatus] ?? r.st}`);
  if (r.cum !== undefined && r.cum > 0) parts.push(`cum=${r.cum}`, `avg=${Math.round((r.ntl! / r.cum) * 100) / 100}`);
  if (r.cnt !== undefined) parts.push(`cancelled=${r.cnt}`);
  return parts.join(" ");
}

/**
 * Where the commands go. With --trade, one sequencer. With --shard-map FILE or --shards-etcd
 * URL, the shard map's: each command routed by instrument (the session's --instrument) to its
 * shard's leader by a ShardedTradingClient, which with etcd follows the map as it changes.
 */
interface Sender {
  send(cmd: Exclude<ClientLine, { kind: "empty" | "quit" | "error" | "book" }>): Promise<{ seq: number; oid: number; shard?: string }[]>;
  /** The highest seq acknowledged per shard whose feed this session reads: [shard number (-1: not through a gateway), seq]. */
  lastSeqs(): [number, number][];
  close(): Promise<void>;
}

/** A client order id typed in the session names the session's instrument's order: sent with it, so any gateway routes it (docs/protocol.md). */
function single(trading: TradingClient, instrument: number): Sender {
  const ref = (o: OrderRef): OrderRef => (typeof o === "number" ? o : { clientOrderId: o.clientOrderId, instrument });
  return {
    send: async (cmd) => [await (cmd.kind === "order" ? trading.submit(cmd.req) : cmd.kind === "cancel" ? trading.cancel(ref(cmd.order)) : cmd.kind === "kill" ? trading.cancelAll() : trading.modify(ref(cmd.order), cmd.px, cmd.qty))],
    lastSeqs: () => [...trading.lastSeqs],
    close: () => trading.close(),
  };
}

/** Order ids typed in the session (`cancel 42`) are the instrument's shard's: the shard the map holds it on when the line is sent. */
function sharded(c: ShardedTradingClient, instrument: number, feedShard: string): Sender {
  let last = 0;
  const ref = (o: OrderRef): ShardedOrderRef => (typeof o === "number" ? { shard: c.shardOf(instrument).id, oid: o } : { instrument, clientOrderId: o.clientOrderId });
  return {
    send: async (cmd) => {
      const acks = cmd.kind === "kill" ? await c.cancelAll() : [await (cmd.kind === "order" ? c.submit(cmd.req) : cmd.kind === "cancel" ? c.cancel(ref(cmd.order)) : c.modify(ref(cmd.order), cmd.px, cmd.qty))];
      for (const a of acks) if (a.shard === feedShard && a.seq > last) last = a.seq;
      return acks;
    },
    lastSeqs: () => [[-1, last]],
    close: () => c.close(),
  };
}

/** The map of --shard-map FILE, or a client reading (and watching) it from --shards-etcd. */
async function shardedClient(v: Record<string, string | boolean | undefined>, account: number): Promise<ShardedTradingClient> {
  try {
    if (typeof v["shard-map"] === "string") return new ShardedTradingClient(parseShardMap(readFileSync(v["shard-map"], "utf8"), v["shard-map"]), { account });
    return await ShardedTradingClient.fromEtcd(String(v["shards-etcd"]).split(","), { account, onMapError: (e) => process.stderr.write(`lockstep client: ${e.message}; routing by shard map version still held\n`) });
  } catch (err) {
    if (err instanceof ShardMapError) throw new UserError(err.message);
    throw err;
  }
}

async function connect(v: Record<string, string | boolean | undefined>, account: number, instrument: number): Promise<{ sender: Sender; feedUrls: string[] | null }> {
  const given = ["trade", "shard-map", "shards-etcd"].filter((k) => typeof v[k] === "string");
  if (given.length !== 1) throw new UserError("client needs one of --trade ws://HOST:PORT/trade, --shard-map FILE or --shards-etcd URL[,URL…]", 2);
  const feedUrls = typeof v.feed === "string" ? v.feed.split(",") : null;
  if (typeof v.trade === "string") {
    try {
      return { sender: single(await TradingClient.connect(v.trade, account), instrument), feedUrls };
    } catch (err) {
      throw new UserError(`cannot connect to ${v.trade}: ${(err as Error).message}`);
    }
  }
  const c = await shardedClient(v, account);
  try {
    const shard = c.shardOf(instrument);
    await c.connectionFor(instrument);
    return { sender: sharded(c, instrument, shard.id), feedUrls: feedUrls ?? shard.endpoints.feed };
  } catch (err) {
    await c.close();
    if (err instanceof ShardRouteError) throw new UserError(err.message);
    throw err;
  }
}

/** Resolves once `feed` holds the reports of everything `sender` has had acked (bounded by FeedClient.caughtUp's timeout). */
async function caughtUp(feed: FeedClient | null, sender: Sender): Promise<void> {
  await Promise.all(sender.lastSeqs().map(([shard, seq]) => feed?.caughtUp(seq, undefined, shard)));
}

export async function runClient(args: string[]): Promise<number> {
  const { values: v } = parse(args, { trade: { type: "string" }, "shard-map": { type: "string" }, "shards-etcd": { type: "string" }, feed: { type: "string" }, account: { type: "string" }, instrument: { type: "string" }, json: { type: "boolean" } });
  const account = Number(v.account);
  const instrument = Number(v.instrument ?? 1);
  if (!Number.isSafeInteger(account) || account < 1) throw new UserError("client needs --account N (a positive integer)", 2);
  if (!Number.isSafeInteger(instrument) || instrument < 1) throw new UserError("--instrument must be a positive integer", 2);
  const json = v.json === true;
  const print = (human: string, obj: object): void => { process.stdout.write(`${json ? JSON.stringify(obj) : human}\n`); };
  const { sender, feedUrls } = await connect(v, account, instrument);
  const feed = feedUrls !== null ? new FeedClient({ urls: feedUrls, account, instrument, onReport: (r) => print(describeReport(r), r) }) : null;
  await feed?.connect();
  const pending: Promise<void>[] = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const cmd = parseClientLine(line, instrument);
    if (cmd.kind === "empty") continue;
    if (cmd.kind === "quit") break;
    if (cmd.kind === "error") {
      print(`error: ${cmd.message}`, { error: cmd.message });
      continue;
    }
    if (cmd.kind === "book") {
      // Show the book as of everything this client sent so far.
      await Promise.all(pending);
      await caughtUp(feed, sender);
      const top = feed?.book.top(5) ?? { bids: [], asks: [] };
      print(`book seq=${feed?.book.seq ?? 0} bids=${JSON.stringify(top.bids)} asks=${JSON.stringify(top.asks)}`, { book: top, seq: feed?.book.seq ?? 0 });
      continue;
    }
    pending.push(sender.send(cmd).then(
      (acks) => { for (const a of acks) print(`ack seq=${a.seq} order=${a.oid}${a.shard === undefined ? "" : ` shard=${a.shard}`}`, a); },
      (e: unknown) => print(`reject ${(e as Error).message}`, { reject: e instanceof LockstepError ? e.code : e instanceof ShardRouteError ? e.reason : 0, message: (e as Error).message }),
    ));
  }
  await Promise.all(pending);
  await caughtUp(feed, sender);
  feed?.close();
  await sender.close();
  return 0;
}
