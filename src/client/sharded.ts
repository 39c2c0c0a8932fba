/**
 * Routing by instrument over shards (docs/scaling.md#routing): one ShardedTradingClient holds
 * the shard map and a TradingClient per shard, and sends every command to the leader of the
 * shard that holds its instrument.
 *
 *  - map        given (`new ShardedTradingClient(map, …)`), or read from etcd and watched
 *               (`ShardedTradingClient.fromEtcd`). A map of a higher version replaces the one
 *               held; every command routes by the map held when it is called. Nothing moves
 *               with a map: a command in flight stays with the shard it was sent to, and so does
 *               its order.
 *  - connect    lazily, on a shard's first command: the shard's trade URLs in turn, the first
 *               that logs in (standbys refuse with NOT_LEADER) is used. A lost connection is
 *               dropped, and the shard's next command connects again, so it finds a new leader.
 *  - order ids  an order id is the shard's seq of its NEW, so two shards hand out the same
 *               numbers. Here an order is named by its shard and its oid: the ack carries both
 *               and the string `"<shard>:<oid>"` (a shard id has no ':'), which is unique across
 *               shards. Cancel and modify take that string, `{ shard, oid }`, `{ shard,
 *               clientOrderId }`, or `{ instrument, clientOrderId }` (routed by the map).
 *  - refusals   a command the map cannot route fails with a ShardRouteError and its reason; the
 *               wire's refusals stay LockstepErrors, as from one TradingClient.
 *
 * Client order ids are unique per account on each shard, not across shards: the same one may be
 * used on two shards, and `{ instrument, clientOrderId }` names the one on the instrument's shard.
 */
import type { ClientOptions } from "ws";
import type { Ack, Report } from "../protocol/messages.js";
import { validateShardMap, type ShardEntry, type ShardMap, type ShardMapError } from "../shard/map.js";
import { SHARD_ID } from "../shard/rendezvous.js";
import { ShardMapStore } from "../shard/store.js";
import type { ExecutionReport } from "./codec.js";
import { FeedClient, type FeedOptions } from "./feed.js";
import { TradingClient, type Credentials, type OrderRef, type OrderRequest } from "./trading.js";

/** Why a command could not be routed; `const` object and derived union, as for reason codes elsewhere. */
export const ShardRouteReason = {
  /** The order's instrument is on no shard of the map held. */
  INSTRUMENT_NOT_IN_MAP: "INSTRUMENT_NOT_IN_MAP",
  /** The order reference names a shard the map held does not have. */
  UNKNOWN_SHARD: "UNKNOWN_SHARD",
  /** The order id is not `"<shard>:<oid>"` with a shard id and a positive integer. */
  BAD_ORDER_ID: "BAD_ORDER_ID",
  /** None of the shard's trade URLs took a login (down, or no leader yet). */
  SHARD_UNREACHABLE: "SHARD_UNREACHABLE",
  /** The client has been closed. */
  CLOSED: "CLOSED",
} as const;
export type ShardRouteReason = (typeof ShardRouteReason)[keyof typeof ShardRouteReason];

export class ShardRouteError extends Error {
  override readonly name = "ShardRouteError";
  constructor(readonly reason: ShardRouteReason, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
  }
}

/** An order id unique across shards: `"<shard>:<oid>"`. */
export type ShardedOrderId = string;

export function orderId(shard: string, oid: number): ShardedOrderId {
  return `${shard}:${oid}`;
}

/** The shard and oid of an order id, or null when it is not `"<shard>:<oid>"`. */
export function parseOrderId(id: string): { shard: string; oid: number } | null {
  const at = id.lastIndexOf(":");
  const shard = id.slice(0, at);
  const oid = /^[1-9][0-9]{0,15}$/.test(id.slice(at + 1)) ? Number(id.slice(at + 1)) : NaN;
  return at > 0 && SHARD_ID.test(shard) && Number.isSafeInteger(oid) ? { shard, oid } : null;
}

/** An ACK and the shard that gave it. `id` (and `id2`, an OCO's stop leg) name the order across shards. */
export interface ShardedAck {
  readonly shard: string;
  readonly seq: number;
  readonly oid: number;
  readonly id: ShardedOrderId;
  readonly oid2?: number;
  readonly id2?: ShardedOrderId;
}

/** An order to cancel or modify, with enough to find its shard. */
export type ShardedOrderRef =
  | ShardedOrderId
  | { readonly shard: string; readonly oid: number }
  | { readonly shard: string; readonly clientOrderId: string }
  | { readonly instrument: number; readonly clientOrderId: string };

export interface ShardedClientOptions {
  readonly account: number;
  readonly credentials?: Credentials;
  readonly socket?: ClientOptions;
  /** For each login to a shard's node (HELLO to HELLO_OK), ms. */
  readonly connectTimeoutMs?: number;
  /** Each map that replaced the one held (a higher version). */
  readonly onMap?: (map: ShardMap) => void;
  /** A map from etcd that could not be used, a deleted key or a failing watch; the map held stays. */
  readonly onMapError?: (err: ShardMapError) => void;
}

/** Default `connectTimeoutMs`: TradingClient.connect's. */
const CONNECT_MS_MAX = 10_000;

/** One shard's connection: made on first use, dropped when lost or when a map retires it. */
interface Route {
  readonly shard: string;
  readonly urls: string;
  readonly client: Promise<TradingClient>;
  /** Commands sent on it and not yet answered. */
  inFlight: number;
  /** No longer used for new commands; closed once nothing is in flight. */
  retired: boolean;
}

export class ShardedTradingClient {
  private held: ShardMap;
  private byInstrument = new Map<number, ShardEntry>();
  private byId = new Map<string, ShardEntry>();
  private readonly routes = new Map<string, Route>();
  private readonly connectMs: number;
  private closed = false;
  private unwatch: (() => Promise<void>) | null = null;

  /** Routes by `map` (validated here: a map that is not valid is a ShardMapError). */
  constructor(map: ShardMap, private readonly o: ShardedClientOptions) {
    this.held = validateShardMap(map, "the shard map given");
    this.index();
    this.connectMs = o.connectTimeoutMs ?? CONNECT_MS_MAX;
  }

  /**
   * Reads the map from etcd (ShardMapError MISSING when there is none) and watches it: each new
   * version written there replaces the one held, from the revision read on, so no change is missed.
   */
  static async fromEtcd(hosts: readonly string[], o: ShardedClientOptions): Promise<ShardedTradingClient> {
    const store = new ShardMapStore(hosts);
    try {
      const stored = await store.readOrFail();
      const c = new ShardedTradingClient(stored.map, o);
      const cancel = await store.watch((m) => c.setMap(m.map), (err) => o.onMapError?.(err), stored.rev);
      c.unwatch = async () => {
        await cancel();
        store.close();
      };
      return c;
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /** The map routed by now. */
  get map(): ShardMap {
    return this.held;
  }

  /**
   * Routes new commands by `map` if its version is higher than the one held (returns true);
   * an older or equal version is ignored (false). Connections to shards that are gone, or whose
   * trade URLs changed, serve what is in flight on them and then close.
   */
  setMap(map: ShardMap): boolean {
    if (map.version <= this.held.version) return false;
    this.held = validateShardMap(map, "the new shard map");
    this.index();
    for (const r of [...this.routes.values()]) {
      const s = this.byId.get(r.shard);
      if (s === undefined || s.endpoints.trade.join(",") !== r.urls) this.retire(r);
    }
    this.o.onMap?.(this.held);
    return true;
  }

  /** The shard that holds `instrument` in the map held, or a ShardRouteError (INSTRUMENT_NOT_IN_MAP). */
  shardOf(instrument: number): ShardEntry {
    const s = this.byInstrument.get(instrument);
    if (s === undefined) throw new ShardRouteError(ShardRouteReason.INSTRUMENT_NOT_IN_MAP, `instrument ${instrument} is on no shard of the shard map (version ${this.held.version})`);
    return s;
  }

  /** The connection to `instrument`'s shard (made now if there is none), for callers that drive a TradingClient themselves. */
  connectionFor(instrument: number): Promise<TradingClient> {
    return this.route(this.shardOf(instrument)).client;
  }

  submit(order: OrderRequest): Promise<ShardedAck> {
    return this.attempt(() => this.shardOf(order.instrument), (c) => c.submit(order));
  }

  cancel(order: ShardedOrderRef): Promise<ShardedAck> {
    return this.attempt(() => this.shardFor(order), (c) => c.cancel(wireRef(order)));
  }

  modify(order: ShardedOrderRef, price: number, quantity: number): Promise<ShardedAck> {
    return this.attempt(() => this.shardFor(order), (c) => c.modify(wireRef(order), price, quantity));
  }

  /** The kill switch on every shard of the map: one ACK per shard, in the map's order. */
  cancelAll(): Promise<ShardedAck[]> {
    return Promise.all(this.held.shards.map((s) => this.attempt(() => s, (c) => c.cancelAll())));
  }

  /** Ends the watch and closes every connection (what is in flight fails, as on any lost connection). */
  async close(): Promise<void> {
    this.closed = true;
    await this.unwatch?.();
    this.unwatch = null;
    const routes = [...this.routes.values()];
    this.routes.clear();
    await Promise.all(routes.map((r) => r.client.then((c) => c.close(), () => undefined)));
  }

  private index(): void {
    this.byId = new Map(this.held.shards.map((s) => [s.id, s]));
    this.byInstrument = new Map(this.held.shards.flatMap((s) => s.instruments.map((i) => [i, s] as const)));
  }

  private shardFor(ref: ShardedOrderRef): ShardEntry {
    if (typeof ref !== "string" && "instrument" in ref) return this.shardOf(ref.instrument);
    const named = typeof ref === "string" ? parseOrderId(ref) : ref;
    if (named === null) throw new ShardRouteError(ShardRouteReason.BAD_ORDER_ID, `"${String(ref)}" is not an order id "<shard>:<oid>"`);
    const s = this.byId.get(named.shard);
    if (s === undefined) throw new ShardRouteError(ShardRouteReason.UNKNOWN_SHARD, `shard "${named.shard}" is not in the shard map (version ${this.held.version})`);
    return s;
  }

  /** Picks the shard (a throw becomes the rejection), sends on its connection, and names the ack by its shard. */
  private async attempt(pick: () => ShardEntry, send: (c: TradingClient) => Promise<Ack>): Promise<ShardedAck> {
    if (this.closed) throw new ShardRouteError(ShardRouteReason.CLOSED, "the client is closed");
    const shard = pick();
    const r = this.route(shard);
    r.inFlight++;
    try {
      return ackOf(shard.id, await send(await r.client));
    } finally {
      r.inFlight--;
      if (r.retired && r.inFlight === 0) void r.client.then((c) => c.close(), () => undefined);
    }
  }

  /** The shard's live route, or a new one connecting to its trade URLs. */
  private route(shard: ShardEntry): Route {
    const have = this.routes.get(shard.id);
    if (have !== undefined) return have;
    const urls = shard.endpoints.trade;
    const client = TradingClient.connectAny(urls, this.o.account, this.connectMs, this.o.credentials, this.o.socket).catch((err: unknown) => {
      if (this.routes.get(shard.id) === r) this.routes.delete(shard.id);
      throw new ShardRouteError(ShardRouteReason.SHARD_UNREACHABLE, `shard "${shard.id}": no login at ${urls.join(", ")}: ${(err as Error).message}`, { cause: err });
    });
    const r: Route = { shard: shard.id, urls: urls.join(","), client, inFlight: 0, retired: false };
    // A lost connection is forgotten, so the shard's next command connects again (to a new leader, if one took over).
    client.then((c) => c.closed.then(() => {
      if (this.routes.get(shard.id) === r) this.routes.delete(shard.id);
    }), () => undefined);
    this.routes.set(shard.id, r);
    return r;
  }

  private retire(r: Route): void {
    this.routes.delete(r.shard);
    r.retired = true;
    if (r.inFlight === 0) void r.client.then((c) => c.close(), () => undefined);
  }
}

function ackOf(shard: string, a: Ack): ShardedAck {
  return { shard, seq: a.seq, oid: a.oid, id: orderId(shard, a.oid), ...(a.oid2 === undefined ? {} : { oid2: a.oid2, id2: orderId(shard, a.oid2) }) };
}

/** The reference a shard's TradingClient takes; `ref` has been routed already, so its id parses. */
function wireRef(ref: ShardedOrderRef): OrderRef {
  if (typeof ref === "string") return parseOrderId(ref)!.oid;
  if (!("clientOrderId" in ref)) return ref.oid;
  // With its instrument, the shard refuses the id of an order on another instrument (UNKNOWN_ORDER) rather than touch it.
  return "instrument" in ref ? { clientOrderId: ref.clientOrderId, instrument: ref.instrument } : { clientOrderId: ref.clientOrderId };
}

// ---- feeds: one per shard

export interface ShardFeedOptions extends Omit<FeedOptions, "urls" | "onReport" | "onExecution" | "instrument"> {
  /** Each new report, with the shard it came from (its `oid` is that shard's: `orderId(shard, r.oid)` names it). */
  readonly onReport?: (shard: string, r: Report) => void;
  readonly onExecution?: (shard: string, r: ExecutionReport) => void;
}

/** A feed of `instrument`'s book (and, with `account`, that account's reports on its shard) from the replicas of its shard. */
export function instrumentFeed(map: ShardMap, instrument: number, o: ShardFeedOptions): FeedClient {
  const shard = map.shards.find((s) => s.instruments.includes(instrument));
  if (shard === undefined) throw new ShardRouteError(ShardRouteReason.INSTRUMENT_NOT_IN_MAP, `instrument ${instrument} is on no shard of the shard map (version ${map.version})`);
  return shardFeed(shard, o, instrument);
}

/**
 * An account's reports from every shard of `map`: one FeedClient per shard, each failing over
 * among its own shard's replicas. Reports of different shards are not ordered with each other.
 */
export class ShardFeeds {
  readonly feeds: ReadonlyMap<string, FeedClient>;

  constructor(map: ShardMap, o: ShardFeedOptions) {
    this.feeds = new Map(map.shards.map((s) => [s.id, shardFeed(s, o)]));
  }

  async connect(): Promise<void> {
    await Promise.all([...this.feeds.values()].map((f) => f.connect()));
  }

  /** Resolves once shard `shard`'s reports are in up to its command `seq` (see FeedClient.caughtUp). */
  caughtUp(shard: string, seq: number, timeoutMs?: number): Promise<void> {
    const f = this.feeds.get(shard);
    if (f === undefined) return Promise.reject(new ShardRouteError(ShardRouteReason.UNKNOWN_SHARD, `shard "${shard}" has no feed here`));
    return f.caughtUp(seq, timeoutMs);
  }

  close(): void {
    for (const f of this.feeds.values()) f.close();
  }
}

function shardFeed(s: ShardEntry, o: ShardFeedOptions, instrument?: number): FeedClient {
  const { onReport, onExecution, ...rest } = o;
  return new FeedClient({
    ...rest, urls: s.endpoints.feed, ...(instrument === undefined ? {} : { instrument }),
    ...(onReport === undefined ? {} : { onReport: (r: Report) => onReport(s.id, r) }),
    ...(onExecution === undefined ? {} : { onExecution: (r: ExecutionReport) => onExecution(s.id, r) }),
  });
}
