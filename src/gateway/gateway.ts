/**
 * `lockstep gateway` (docs/scaling.md#the-gateway): one WebSocket endpoint for clients that
 * speak to one server only, in front of every shard. It serves `/trade` as a sequencer does and
 * `/feed` as a replica does, so the SDK and `lockstep client` point at it unchanged, and keeps
 * nothing a client needs to find again: any gateway with the same shard map serves any client.
 *
 *   /trade   1. gate     size, strict validation (instruments: the map's), login (its own check
 *                        of the HMAC proof, with the cluster's client keys), the bound on
 *                        commands in flight per connection
 *            2. route    NEW by instrument; CANCEL and MODIFY by the shard number in the order id
 *                        (./ids.ts), or by the shard that took the client order id through this
 *                        gateway (remembered, bounded); KILL to every shard
 *            3. forward  on the connection's link to that shard's leader (./upstream.ts), made on
 *                        first use, logged in as the client's account with a proof of its own
 *            4. answer   ACK with the order ids mapped (and `sh`, the shard's number), or REJECT;
 *                        a KILL's ACK says per shard what happened
 *   /feed    reports of the account from every shard, merged (each with `sh`, ids mapped,
 *            resumable per shard), and the book and trades of an instrument from its shard
 *
 * The map comes from the caller (a file, or etcd watched: ./map-source.ts); `setMap` takes a
 * newer version, and each command is routed by the map held when it arrives.
 */
import type { Logger } from "pino";
import uWS from "uWebSockets.js";
import { prove, type Authenticator } from "../protocol/auth.js";
import { encode } from "../protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, WIRE_REASON_NAME, type Ack, type CancelOrder, type ClientToSequencer, type ErrorMsg, type ModifyOrder, type NewOrder, type Reject, type Report, type ShardAck } from "../protocol/messages.js";
import type { InstrumentRef } from "../protocol/reference.js";
import { isMoveMessage, validateClientFrame, validateGatewayFeedFrame } from "../protocol/validate.js";
import type { ShardMap } from "../shard/map.js";
import { CloseCode, DEFAULT_LOGIN_LIMITS, LoginGate, type LoginLimits } from "../util/login-gate.js";
import { closeAll, listen, upgradeWith } from "../util/uws.js";
import { gatewayOrderId, shardOrderOf } from "./ids.js";
import { RouteTable, type Route } from "./routes.js";
import { FeedLink, LinkError, TradeLink, type FeedSink, type LinkLimits } from "./upstream.js";

export interface GatewayLimits extends LoginLimits, LinkLimits {
  /** Logged-in connections per endpoint (/trade, /feed); one more is refused at HELLO (OVERLOADED) and closed. */
  readonly connectionsMax: number;
  /** Commands of one /trade connection sent to shards and not yet answered; one more is refused (OVERLOADED). */
  readonly pendingCommandsMax: number;
  /** A client connection with more than this unsent is closed (a slow consumer), bytes. */
  readonly clientBufferBytesMax: number;
  /** Largest client frame taken; a larger one is refused (FRAME_TOO_LARGE), bytes. */
  readonly frameBytesMax: number;
  /** (account, client order id) → shard pairs remembered for CANCEL and MODIFY by client order id, oldest forgotten first. */
  readonly clientOrderIdsMax: number;
  /** An INSTRUMENTS request waits this long for every shard's answer, ms. */
  readonly instrumentsMsMax: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  ...DEFAULT_LOGIN_LIMITS, connectionsMax: 1_000, pendingCommandsMax: 4_096, clientBufferBytesMax: 16 << 20, frameBytesMax: 4_096,
  clientOrderIdsMax: 1_000_000, instrumentsMsMax: 5_000, shardLoginMsMax: 2_000, shardRetryMsMin: 50, shardRetryMsMax: 2_000, shardSilenceMsMax: 2_000,
};

export interface GatewayOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly map: ShardMap;
  readonly log: Logger;
  /**
   * With the cluster's client keys: a login must prove its key as on a sequencer, and the gateway
   * logs in to the shards with proofs of its own made with the same key (`secrets`: key id →
   * secret). Without: any account may log in, as on nodes without an auth section.
   */
  readonly auth?: { readonly clients: Authenticator; readonly secrets: ReadonlyMap<string, string> };
  readonly limits?: Partial<GatewayLimits>;
}

/** The gateway's /stats. */
export interface GatewayStats {
  role: "gateway"; map_version: number; shards: string[]; trade_connections: number; feed_connections: number; waiting_to_log_in: number;
  commands: number; acks: number; rejects: Record<string, number>; trade_links: number; feed_links: number; links_lost: number;
  slow_consumers: number; map_refusals: number; client_order_ids: number;
}

/** Failed logins, and frames before logging in, before the connection is closed (as on a sequencer). */
const AUTH_FAILURES_MAX = 3;
const UNAUTHENTICATED_FRAMES_MAX = 10;
/** uWS's own frame limit: beyond our frameBytesMax we still answer with a REJECT, up to this. */
const UWS_PAYLOAD_BYTES_MAX = 64 << 10;
const IDLE_TIMEOUT_S = 120;
/** Close codes of the gateway (docs/protocol.md lists them). */
export const GatewayCloseCode = {
  /** A shard's link was lost with commands in flight: their outcome is unknown; reconnect and read the reports. */
  SHARD_LINK_LOST: 4020,
  /** The client did not read what was sent to it (more than clientBufferBytesMax unsent). */
  SLOW_CONSUMER: 4001,
  TOO_MANY_CONNECTIONS: 1013,
  AUTH: 4003,
} as const;

interface TradeData {
  closed: boolean; acct: number; keyId: string | null; authFailures: number; unauthenticated: number;
  links: Map<number, TradeLink>; pending: number;
}
interface FeedData {
  closed: boolean; admitted: boolean; acct: number; keyId: string | null; loggedIn: number;
  links: Map<number, FeedLink>; books: Map<number, number>;
  instruments: { got: Map<number, readonly InstrumentRef[]>; timer: NodeJS.Timeout } | null;
}
type TradeSocket = uWS.WebSocket<TradeData>;
type FeedSocket = uWS.WebSocket<FeedData>;
/** A command ready to send: the frame's fields without `cid`, and what to do with its answer. */
type Forward = { route: Route; body: object; done: (m: Ack | Reject) => void };

export class Gateway {
  private table: RouteTable;
  private readonly limits: GatewayLimits;
  private readonly tradeGate: LoginGate;
  private readonly feedGate: LoginGate;
  private readonly trades = new Set<TradeSocket>();
  /** Frames for clients queued in this event-loop turn (at most what the turn read), sent by flushOutbox. */
  private readonly outbox = new Map<TradeSocket | FeedSocket, Uint8Array[]>();
  private flushPending = false;
  private readonly feeds = new Set<FeedSocket>();
  private loggedIn = { trade: 0, feed: 0 };
  /** "account:coid" → the NEW's instrument, oldest first: a CANCEL or MODIFY by coid goes to the shard the map now gives it (it may have moved). */
  private readonly coids = new Map<string, number>();
  /** Per shard number: no new trade link before this time (performance.now() ms), and the next delay. */
  private readonly backoff = new Map<number, { untilMs: number; delayMs: number }>();
  private listenSocket: uWS.us_listen_socket | null = null;
  private port_ = 0;
  readonly counters = { commands: 0, acks: 0, rejects: new Map<number, number>(), linksLost: 0, slowConsumers: 0, mapRefusals: 0 };

  constructor(private readonly o: GatewayOptions) {
    this.table = new RouteTable(o.map);
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...o.limits };
    this.tradeGate = new LoginGate(this.limits, "/trade");
    this.feedGate = new LoginGate(this.limits, "/feed");
  }

  get port(): number {
    return this.port_;
  }
  get map(): ShardMap {
    return this.table.map;
  }

  async start(): Promise<number> {
    const app = uWS.App();
    // Our own check (send) closes a client past clientBufferBytesMax with a close code that says
    // why; uWS's limit, twice that, is the backstop for a frame that jumps past both at once.
    const common = { compression: uWS.DISABLED, maxPayloadLength: UWS_PAYLOAD_BYTES_MAX, idleTimeout: IDLE_TIMEOUT_S, maxBackpressure: 2 * this.limits.clientBufferBytesMax, closeOnBackpressureLimit: 1 } as const;
    app.ws<TradeData>("/trade", {
      ...common,
      upgrade: (res, req, ctx) => upgradeWith<TradeData>({ closed: false, acct: 0, keyId: null, authFailures: 0, unauthenticated: 0, links: new Map(), pending: 0 })(res, req, ctx),
      open: (ws) => { this.trades.add(ws); this.tradeGate.admit(ws); },
      message: (ws, msg) => this.onTradeFrame(ws, msg),
      close: (ws) => this.onTradeClosed(ws),
    });
    app.ws<FeedData>("/feed", {
      ...common,
      upgrade: (res, req, ctx) => upgradeWith<FeedData>({ closed: false, admitted: false, acct: 0, keyId: null, loggedIn: 0, links: new Map(), books: new Map(), instruments: null })(res, req, ctx),
      open: (ws) => { this.feeds.add(ws); this.feedGate.admit(ws); },
      message: (ws, msg) => this.onFeedFrame(ws, msg),
      close: (ws) => this.onFeedClosed(ws),
    });
    app.get("/stats", (res) => {
      res.writeHeader("content-type", "application/json").end(JSON.stringify(this.stats()));
    });
    const l = await listen(app, this.o.host, this.o.port, "gateway");
    this.listenSocket = l.token;
    this.port_ = l.port;
    return this.port_;
  }

  /**
   * Routes by `map` from now on if it is newer than the one held and keeps every shard at its
   * position (./routes.ts); returns why not otherwise. Links to shards that left the map, or
   * whose URLs changed, close once nothing is in flight on them; books follow their instrument.
   */
  setMap(map: ShardMap): { ok: true } | { ok: false; why: string } {
    const r = this.table.change(map);
    if ("stale" in r) return { ok: false, why: `version ${map.version} is not newer than version ${this.table.version}` };
    if ("refused" in r) {
      this.counters.mapRefusals++;
      this.o.log.error({ why: r.refused }, "shard map refused; routing by the one held");
      return { ok: false, why: r.refused };
    }
    this.table = r.table;
    for (const ws of this.trades) this.retireLinks(ws.getUserData());
    for (const ws of this.feeds) this.followMap(ws);
    this.o.log.info({ version: map.version }, "routing by a new shard map");
    return { ok: true };
  }

  // ---- /trade: 1. gate ------------------------------------------------------------------

  private onTradeFrame(ws: TradeSocket, bytes: ArrayBuffer): void {
    if (bytes.byteLength > this.limits.frameBytesMax) return this.reject(ws, 0, WireReason.FRAME_TOO_LARGE, `frame of ${bytes.byteLength} bytes exceeds ${this.limits.frameBytesMax}`);
    const v = validateClientFrame(new Uint8Array(bytes), this.table.instruments);
    if (!v.ok) return this.reject(ws, v.cid, v.code, v.text);
    const m = v.msg;
    const d = ws.getUserData();
    if (m.t === MsgType.HELLO) return this.tradeLogin(ws, m);
    if (d.acct === 0) {
      this.reject(ws, m.cid, WireReason.NOT_LOGGED_IN, "send HELLO first");
      if (++d.unauthenticated >= UNAUTHENTICATED_FRAMES_MAX) this.endClient(ws, GatewayCloseCode.AUTH, "too many frames without logging in");
      return;
    }
    if (d.pending >= this.limits.pendingCommandsMax) return this.reject(ws, m.cid, WireReason.OVERLOADED, `${this.limits.pendingCommandsMax} commands of this connection are waiting for their shards' answers; wait for some`);
    this.counters.commands++;
    if (m.t === MsgType.KILL) return this.kill(ws, m.cid);
    if (isMoveMessage(m)) return this.reject(ws, m.cid, WireReason.UNKNOWN_TYPE, "a gateway does not take the operator's move steps: send them to the shard's own sequencer (lockstep shards move does)");
    const f = this.routeCommand(ws, m);
    if ("code" in f) return this.reject(ws, m.cid, f.code, f.msg);
    this.forward(ws, f);
  }

  /** Checks the login (with auth: the proof, by this gateway's own nonce memory); no shard is contacted until a command needs it. */
  private tradeLogin(ws: TradeSocket, m: Extract<ClientToSequencer, { t: typeof MsgType.HELLO }>): void {
    const d = ws.getUserData();
    if (d.acct !== 0) return this.reject(ws, 0, WireReason.ALREADY_LOGGED_IN, "this connection already has an account");
    const refused = this.checkLogin(m);
    if (refused !== null) {
      this.reject(ws, 0, WireReason.NOT_AUTHENTICATED, `login refused: ${refused}`);
      if (++d.authFailures >= AUTH_FAILURES_MAX) this.endClient(ws, GatewayCloseCode.AUTH, "too many failed logins");
      return;
    }
    if (this.loggedIn.trade >= this.limits.connectionsMax) {
      this.reject(ws, 0, WireReason.OVERLOADED, `the gateway takes at most ${this.limits.connectionsMax} trading connections`);
      this.endClient(ws, GatewayCloseCode.TOO_MANY_CONNECTIONS, "too many connections");
      return;
    }
    d.acct = m.acct;
    d.keyId = m.key ?? null;
    this.loggedIn.trade++;
    this.tradeGate.done(ws);
    this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct: m.acct, ep: 0, seq: 0 });
  }

  /** Why a HELLO's proof is refused, or null (always null without auth). */
  private checkLogin(m: { acct: number; key?: string; ts?: number; nonce?: string; sig?: Uint8Array }): string | null {
    if (this.o.auth === undefined) return null;
    const a = this.o.auth.clients.verify(m, m.acct, nowUs());
    if (!a.ok) return a.why;
    return this.o.auth.secrets.has(m.key!) ? null : "this gateway has no secret for that key";
  }

  /** The HELLO a link sends for `acct`: with a fresh proof of the client's own key when auth is on. */
  private helloFor(acct: number, keyId: string | null): object {
    const secret = keyId === null ? undefined : this.o.auth?.secrets.get(keyId);
    const proof = secret === undefined ? {} : prove(keyId!, secret, acct, nowUs());
    return { v: PROTOCOL_VERSION, t: MsgType.HELLO, acct, ...proof };
  }

  // ---- /trade: 2. route -----------------------------------------------------------------

  private routeCommand(ws: TradeSocket, m: NewOrder | CancelOrder | ModifyOrder): Forward | { code: WireReason; msg: string } {
    const d = ws.getUserData();
    if (m.t === MsgType.NEW) {
      const route = this.table.ofInstrument(m.inst)!;
      if (m.coid !== undefined) this.rememberCoid(d.acct, m.coid, m.inst);
      const { cid, ...body } = m;
      return { route, body, done: (a) => this.answer(ws, cid, route, a, (x) => ({ ...x, oid: this.mapped(route, x.oid), oid2: x.oid2 === undefined ? undefined : this.mapped(route, x.oid2) })) };
    }
    const { cid, ...body } = m;
    if (m.coid !== undefined) {
      // The frame's own instrument, when it names one (any gateway routes that alike); else the one this gateway remembers.
      const inst = m.inst ?? this.coids.get(`${d.acct}:${m.coid}`);
      const route = inst === undefined ? undefined : this.table.ofInstrument(inst);
      if (route === undefined) return { code: WireReason.UNROUTABLE, msg: inst === undefined ? `this gateway does not know which shard holds client order id "${m.coid}" (it remembers the instrument of each client order id sent through it, the newest ${this.limits.clientOrderIdsMax}); name the order by its oid, or give its instrument ("inst")` : `client order id "${m.coid}" was sent for instrument ${inst}, which shard map version ${this.table.version} places on no shard` };
      return { route, body, done: (a) => this.answer(ws, cid, route, a, (x) => ({ ...x, oid: 0 })) };
    }
    const named = shardOrderOf(m.oid!);
    const route = named === null ? undefined : this.table.ofNumber(named.shard);
    if (route === undefined) return { code: WireReason.UNROUTABLE, msg: `order id ${m.oid} names shard number ${named?.shard ?? "?"}, which shard map version ${this.table.version} does not have (${this.table.shards.length} shards, numbered from 0)` };
    return { route, body: { ...body, oid: named!.raw }, done: (a) => this.answer(ws, cid, route, a, (x) => ({ ...x, oid: m.oid! })) };
  }

  /** A shard's order id as the client sees it; 0 for an id a gateway cannot name (seq beyond 2^46 − 1, logged). */
  /**
   * An IMPORTED report's former id, as clients of a gateway knew it: the source shard's own id
   * mapped with that shard's number; 0 when this map has no shard of that name.
   */
  private formerId(r: Report): number {
    const source = this.table.shards.find((x) => x.shard.id === r.from);
    if (source === undefined) {
      this.o.log.warn({ from: r.from, foid: r.foid }, "an IMPORTED report names a source shard this map does not have: its former id is sent as 0");
      return 0;
    }
    return this.mapped(source, r.foid!);
  }

  private mapped(route: Route, raw: number): number {
    if (raw === 0) return 0;
    const id = gatewayOrderId(route.n, raw);
    if (id === null) this.o.log.error({ shard: route.shard.id, oid: raw }, "an order id beyond what a gateway can name (seq ≥ 2^46): acked as 0");
    return id ?? 0;
  }

  private rememberCoid(acct: number, coid: string, instrument: number): void {
    const key = `${acct}:${coid}`;
    this.coids.delete(key);
    this.coids.set(key, instrument);
    if (this.coids.size > this.limits.clientOrderIdsMax) this.coids.delete(this.coids.keys().next().value!);
  }

  // ---- /trade: 3. forward, 4. answer -----------------------------------------------------

  private forward(ws: TradeSocket, f: Forward): void {
    const d = ws.getUserData();
    d.pending++;
    const done = (m: Ack | Reject): void => {
      d.pending--;
      f.done(m);
    };
    const link = this.linkFor(ws, f.route);
    if (link instanceof LinkError) return done(rejectOf(link));
    link.ready.then(() => link.send(f.body, done), (err: unknown) => done(rejectOf(err as LinkError)));
  }

  /** The connection's link to the shard, made now if there is none (unless the shard failed lately: then a LinkError until its backoff ends). */
  private linkFor(ws: TradeSocket, route: Route): TradeLink | LinkError {
    const d = ws.getUserData();
    const have = d.links.get(route.n);
    if (have !== undefined && have.open && !have.retired) return have;
    const b = this.backoff.get(route.n);
    const now = performance.now();
    if (b !== undefined && b.untilMs > now) return new LinkError(WireReason.SHARD_UNAVAILABLE, `no leader reached lately; retry in ${Math.ceil(b.untilMs - now)} ms`);
    const urls = route.shard.endpoints.trade;
    const link = new TradeLink(route.shard.id, urls.join(","), urls, () => this.helloFor(d.acct, d.keyId), this.limits, (l, inFlight) => this.linkLost(ws, l, inFlight));
    d.links.set(route.n, link);
    link.ready.then(() => this.backoff.delete(route.n), (err: unknown) => {
      if (d.links.get(route.n) === link) d.links.delete(route.n);
      if ((err as LinkError).code !== WireReason.SHARD_UNAVAILABLE) return;
      const delayMs = Math.min(this.limits.shardRetryMsMax, (b?.delayMs ?? this.limits.shardRetryMsMin / 2) * 2);
      this.backoff.set(route.n, { untilMs: performance.now() + delayMs, delayMs });
    });
    return link;
  }

  /** A link closed under the client: with commands in flight, the client must learn their outcome from the reports, so its connection is closed too. */
  private linkLost(ws: TradeSocket, link: TradeLink, inFlight: number): void {
    const d = ws.getUserData();
    for (const [n, l] of d.links) if (l === link) d.links.delete(n);
    this.counters.linksLost++;
    if (inFlight === 0 || d.closed) return;
    d.pending -= inFlight;
    this.endClient(ws, GatewayCloseCode.SHARD_LINK_LOST, `shard "${link.shardId}": connection lost with ${inFlight} commands in flight; their outcome is in the execution reports`);
  }

  private answer(ws: TradeSocket, cid: number, route: Route, m: Ack | Reject, mapAck: (a: Ack) => Ack): void {
    if (m.t === MsgType.REJECT) return this.reject(ws, cid, m.code as WireReason, `shard "${route.shard.id}": ${m.msg}`);
    this.counters.acks++;
    this.send(ws, { ...mapAck(m), cid, sh: route.n });
  }

  /** The kill switch on every shard of the map: an ACK listing each shard's answer if any shard took it, a REJECT if none did. */
  private kill(ws: TradeSocket, cid: number): void {
    const shards = this.table.shards;
    const results: ShardAck[] = new Array(shards.length);
    let left = shards.length;
    for (const route of shards) {
      this.forward(ws, {
        route, body: { v: PROTOCOL_VERSION, t: MsgType.KILL },
        done: (m) => {
          results[route.n] = m.t === MsgType.ACK ? { sh: route.n, id: route.shard.id, seq: m.seq } : { sh: route.n, id: route.shard.id, code: m.code, msg: m.msg };
          if (--left > 0) return;
          const acked = results.filter((r) => r.seq !== undefined).length;
          if (acked > 0) {
            this.counters.acks++;
            return this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.ACK, cid, seq: 0, oid: 0, shards: results });
          }
          this.reject(ws, cid, results[0]!.code as WireReason, `no shard took the kill switch: ${results.map((r) => `${r.id}: ${r.msg}`).join("; ")}`);
        },
      });
    }
  }

  private reject(ws: TradeSocket, cid: number, code: WireReason, msg: string): void {
    this.counters.rejects.set(code, (this.counters.rejects.get(code) ?? 0) + 1);
    this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.REJECT, cid, code, msg });
  }

  private send(ws: TradeSocket | FeedSocket, m: object): void {
    this.sendFrame(ws, encode(m));
  }

  /**
   * Queues one frame for a client; the turn's frames go out together (flushOutbox). Most frames
   * are answers and reports arriving on the shards' links, outside any uWS callback, where every
   * uncorked send is a system call of its own: one per order and per report made `ws.send` a
   * fifth of the gateway's CPU (`bench e2e --gateway --profile` at 5,000 orders/s).
   */
  private sendFrame(ws: TradeSocket | FeedSocket, frame: Uint8Array): void {
    if (ws.getUserData().closed) return;
    const queued = this.outbox.get(ws);
    if (queued === undefined) this.outbox.set(ws, [frame]);
    else queued.push(frame);
    if (!this.flushPending) {
      this.flushPending = true;
      setImmediate(() => this.flushOutbox());
    }
  }

  /** Once per event-loop turn: each client's queued frames in one corked write. */
  private flushOutbox(): void {
    this.flushPending = false;
    for (const [ws, frames] of this.outbox) this.flushTo(ws, frames);
    this.outbox.clear();
  }

  private flushTo(ws: TradeSocket | FeedSocket, frames: readonly Uint8Array[]): void {
    if (ws.getUserData().closed) return;
    ws.cork(() => {
      for (const f of frames) if (!this.sendNow(ws, f)) break;
    });
  }

  /** Closes a client after the frames queued for it (a refusal says why before the close). */
  private endClient(ws: TradeSocket | FeedSocket, code: number, why: string): void {
    const frames = this.outbox.get(ws);
    if (frames !== undefined) {
      this.outbox.delete(ws);
      this.flushTo(ws, frames);
    }
    const d = ws.getUserData();
    if (d.closed) return;
    d.closed = true;
    ws.end(code, why);
  }

  /** Sends one frame, or closes a client with more than clientBufferBytesMax unsent (it stopped reading): false then. */
  private sendNow(ws: TradeSocket | FeedSocket, frame: Uint8Array): boolean {
    const d = ws.getUserData();
    if (d.closed) return false;
    if (ws.getBufferedAmount() > this.limits.clientBufferBytesMax) {
      d.closed = true;
      this.counters.slowConsumers++;
      ws.end(GatewayCloseCode.SLOW_CONSUMER, "slow consumer: too much unsent; reconnect and resubscribe");
      return false;
    }
    ws.send(frame, true);
    return true;
  }

  private retireLinks(d: TradeData): void {
    for (const [n, link] of d.links) {
      const s = this.table.ofNumber(n)?.shard;
      if (s !== undefined && s.id === link.shardId && s.endpoints.trade.join(",") === link.urls) continue;
      d.links.delete(n);
      link.retire();
    }
  }

  private onTradeClosed(ws: TradeSocket): void {
    const d = ws.getUserData();
    d.closed = true;
    this.trades.delete(ws);
    this.tradeGate.done(ws);
    for (const link of d.links.values()) link.close();
    d.links.clear();
    if (d.acct !== 0) this.loggedIn.trade--;
  }

  // ---- /feed ----------------------------------------------------------------------------

  private onFeedFrame(ws: FeedSocket, bytes: ArrayBuffer): void {
    const v = validateGatewayFeedFrame(new Uint8Array(bytes));
    if (!v.ok) return this.feedError(ws, v.code, v.text);
    const m = v.msg;
    const d = ws.getUserData();
    if (m.t !== MsgType.HELLO) this.feedAdmitted(ws);
    switch (m.t) {
      case MsgType.HELLO: {
        const refused = this.checkLogin(m);
        if (refused !== null) return this.feedError(ws, WireReason.NOT_AUTHENTICATED, `login refused: ${refused}`);
        d.loggedIn = m.acct;
        d.keyId = m.key ?? null;
        this.feedAdmitted(ws);
        return this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.HELLO_OK, acct: m.acct, ep: 0, seq: 0 });
      }
      case MsgType.SUB_BOOK: {
        const route = this.table.ofInstrument(m.inst);
        if (route === undefined) return this.feedError(ws, WireReason.UNKNOWN_INSTRUMENT, `no instrument ${m.inst} in shard map version ${this.table.version}`);
        d.books.set(m.inst, route.n);
        return this.feedLink(ws, route).book(m.inst);
      }
      case MsgType.INSTRUMENTS:
        return this.instruments(ws);
      default:
        return this.subReports(ws, m.acct, m.from, m.sh);
    }
  }

  /** The first valid request logs a feed connection in (public data needs no account), within the connection cap. */
  private feedAdmitted(ws: FeedSocket): void {
    const d = ws.getUserData();
    if (d.admitted || d.closed) return;
    this.feedGate.done(ws);
    if (this.loggedIn.feed >= this.limits.connectionsMax) {
      this.feedError(ws, WireReason.OVERLOADED, `the gateway takes at most ${this.limits.connectionsMax} feed connections`);
      this.endClient(ws, GatewayCloseCode.TOO_MANY_CONNECTIONS, "too many connections");
      return;
    }
    d.admitted = true;
    this.loggedIn.feed++;
  }

  /**
   * Reports of `acct`: from shard `sh` alone when given (resuming it from its own seq `from`),
   * otherwise from every shard this connection does not follow yet, each from `from`.
   */
  private subReports(ws: FeedSocket, acct: number, from: number, sh: number | undefined): void {
    const d = ws.getUserData();
    if (this.o.auth !== undefined && d.loggedIn !== acct) return this.feedError(ws, WireReason.NOT_AUTHENTICATED, `log in as account ${acct} (HELLO) to read its reports`);
    if (d.acct !== 0 && d.acct !== acct) this.dropLinks(ws);
    d.acct = acct;
    if (sh !== undefined) {
      const route = this.table.ofNumber(sh);
      if (route === undefined) return this.feedError(ws, WireReason.UNROUTABLE, `shard map version ${this.table.version} has no shard number ${sh} (${this.table.shards.length} shards, numbered from 0)`);
      return this.feedLink(ws, route).reports(acct, from);
    }
    for (const route of this.table.shards) {
      const link = this.feedLink(ws, route);
      if (!link.followsReports) link.reports(acct, from);
    }
  }

  private feedLink(ws: FeedSocket, route: Route): FeedLink {
    const d = ws.getUserData();
    const have = d.links.get(route.n);
    if (have !== undefined) return have;
    const sink: FeedSink = {
      report: (r) => this.send(ws, { ...r, oid: this.mapped(route, r.oid), ...(r.foid === undefined ? {} : { foid: this.formerId(r) }), sh: route.n } satisfies Report),
      market: (frame) => this.sendFrame(ws, frame),
      instruments: (list) => this.instrumentsFrom(ws, route, list),
      error: (e) => this.feedError(ws, e.code as WireReason, `shard "${route.shard.id}": ${e.msg}`),
    };
    const link = new FeedLink(route.shard.id, route.shard.endpoints.feed, (acct) => this.helloFor(acct, d.keyId), this.limits, sink);
    d.links.set(route.n, link);
    return link;
  }

  /** INSTRUMENTS: every shard's reference data of the instruments the map places on it, in one answer, ids ascending. */
  private instruments(ws: FeedSocket): void {
    const d = ws.getUserData();
    if (d.instruments !== null) return;
    const timer = setTimeout(() => {
      const missing = this.table.shards.filter((r) => !d.instruments?.got.has(r.n)).map((r) => r.shard.id);
      d.instruments = null;
      this.feedError(ws, WireReason.SHARD_UNAVAILABLE, `no reference data from shard ${missing.join(", ")} within ${this.limits.instrumentsMsMax} ms`);
    }, this.limits.instrumentsMsMax);
    d.instruments = { got: new Map(), timer };
    for (const route of this.table.shards) this.feedLink(ws, route).instrumentsRequest();
  }

  private instrumentsFrom(ws: FeedSocket, route: Route, list: readonly InstrumentRef[]): void {
    const d = ws.getUserData();
    if (d.instruments === null) return;
    const held = new Set(route.shard.instruments);
    d.instruments.got.set(route.n, list.filter((i) => held.has(i.id)));
    if (d.instruments.got.size < this.table.shards.length) return;
    clearTimeout(d.instruments.timer);
    const insts = [...d.instruments.got.values()].flat().sort((a, b) => a.id - b.id);
    d.instruments = null;
    this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.INSTRUMENTS, insts });
  }

  /** After a map change: books follow their instrument to its shard now; an account's reports are followed on shards new to the map. */
  private followMap(ws: FeedSocket): void {
    const d = ws.getUserData();
    for (const [inst, n] of d.books) {
      const route = this.table.ofInstrument(inst);
      if (route?.n === n) continue;
      d.links.get(n)?.dropBook(inst);
      if (route === undefined) {
        d.books.delete(inst);
        continue;
      }
      d.books.set(inst, route.n);
      this.feedLink(ws, route).book(inst);
    }
    for (const [n, link] of d.links) {
      if (this.table.ofNumber(n)?.shard.id === link.shardId) continue;
      link.close();
      d.links.delete(n);
    }
    if (d.acct !== 0) for (const route of this.table.shards) if (!this.feedLink(ws, route).followsReports) this.feedLink(ws, route).reports(d.acct, 0);
  }

  /** Another account's reports on this connection: new links (a replica follows one account per connection), the books subscribed again on them. */
  private dropLinks(ws: FeedSocket): void {
    const d = ws.getUserData();
    for (const link of d.links.values()) link.close();
    d.links.clear();
    for (const [inst, n] of d.books) {
      const route = this.table.ofNumber(n);
      if (route !== undefined) this.feedLink(ws, route).book(inst);
    }
  }

  private feedError(ws: FeedSocket, code: WireReason, msg: string): void {
    this.counters.rejects.set(code, (this.counters.rejects.get(code) ?? 0) + 1);
    this.send(ws, { v: PROTOCOL_VERSION, t: MsgType.ERROR, code, msg } satisfies ErrorMsg);
  }

  private onFeedClosed(ws: FeedSocket): void {
    const d = ws.getUserData();
    d.closed = true;
    this.feeds.delete(ws);
    this.feedGate.done(ws);
    if (d.admitted) this.loggedIn.feed--;
    if (d.instruments !== null) clearTimeout(d.instruments.timer);
    for (const link of d.links.values()) link.close();
    d.links.clear();
  }

  // ---- observing, stopping ----------------------------------------------------------------

  stats(): GatewayStats {
    let tradeLinks = 0;
    let feedLinks = 0;
    for (const ws of this.trades) tradeLinks += ws.getUserData().links.size;
    for (const ws of this.feeds) feedLinks += ws.getUserData().links.size;
    return {
      role: "gateway", map_version: this.table.version, shards: this.table.shards.map((r) => r.shard.id),
      trade_connections: this.loggedIn.trade, feed_connections: this.loggedIn.feed, waiting_to_log_in: this.tradeGate.size + this.feedGate.size,
      commands: this.counters.commands, acks: this.counters.acks, rejects: Object.fromEntries([...this.counters.rejects].map(([k, n]) => [WIRE_REASON_NAME[k as WireReason], n])),
      trade_links: tradeLinks, feed_links: feedLinks, links_lost: this.counters.linksLost, slow_consumers: this.counters.slowConsumers,
      map_refusals: this.counters.mapRefusals, client_order_ids: this.coids.size,
    };
  }

  /** Stops listening and closes every client connection (and with them their links); resolves once all are closed. */
  stop(): Promise<void> {
    if (this.listenSocket !== null) uWS.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    this.tradeGate.stop();
    this.feedGate.stop();
    this.flushOutbox();
    return closeAll([this.trades, this.feeds] as unknown as Set<uWS.WebSocket<{ closed: boolean }>>[], CloseCode.GOING_AWAY, "gateway stopping");
  }
}

/** This machine's clock, µs since the epoch: what login timestamps are checked against and made with (as the SDK makes them). */
function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** A command that could not be sent: the link's reason (answer() names the shard). */
function rejectOf(err: LinkError): Reject {
  return { v: PROTOCOL_VERSION, t: MsgType.REJECT, cid: 0, code: err.code, msg: err.message };
}
