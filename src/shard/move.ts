/**
 * Moving an instrument live from its shard to another (docs/scaling.md, "Moving an instrument").
 * Every change to a book is a sequenced command on its shard, so each shard's replicas stay
 * deterministic; the mover only reads replicas, sends the operator's steps and writes the map.
 *
 *  0. claim    MOVE_CLAIM on both shards, one after the other, each over the claim a replica
 *              shows (a compare-and-swap: a claim over one that is no longer the latest is
 *              refused); each ACK's seq is this run's claim there, which its other steps
 *              carry; from then on the steps of any earlier run (a mover that was killed, its
 *              frames still in flight or held by a proxy) are refused (MOVE_STALE)
 *  1. read     the shard map; the instrument's shard (source) and the target; the instrument's
 *              mode on both (from their replicas, as of the claims), which says where an
 *              earlier move stopped
 *  2. halt     MOVE_HALT on the source: from its seq on the book is frozen (INSTRUMENT_MOVING)
 *  3. export   every source replica that answers, once it has applied the HALT, serves the book
 *              (GET /v1/move/{instrument}); all must report the same book hash, and the rows
 *              must hash to it here: that is the book as of the HALT's seq
 *  4. import   MOVE_BEGIN (count, last price, hash), MOVE_ORDERS frames (a bounded window in
 *              flight), MOVE_END on the target; its replicas must show it ACTIVE with that hash
 *  5. map      the map's next version, the instrument on the target (compare-and-swap in etcd)
 *  6. release  MOVE_RELEASE on the source: its book is emptied, each owner told where it went
 *
 * A failure before 4 ends is undone: the target's partial import is aborted (MOVE_ABORT) and
 * the source resumed (MOVE_RESUME). From the end of 4 on the target trades the instrument, so
 * nothing is undone: the source stays halted and running the move again finishes 5 and 6. Once
 * 5 is done the map already names the target, so that second run finds the source as the other
 * shard of the map that holds the instrument halted, and releases it (releaseLeftover).
 * Never are both shards live for the instrument.
 */
import { TradingClient, type Credentials } from "../client/trading.js";
import { bookHashOf, type MoveRow } from "../engine/index.js";
import { MsgType, type Ack } from "../protocol/messages.js";
import { rowChunks } from "../protocol/move.js";
import type { MoveExportResponse } from "../protocol/rest.js";
import { ShardMapError, type ShardMap } from "./map.js";
import type { ShardMapStore } from "./store.js";
import { JsonGetter } from "../util/http-get.js";

/** Why a move stopped. */
export const MoveProblem = {
  INSTRUMENT_NOT_IN_MAP: "INSTRUMENT_NOT_IN_MAP",
  UNKNOWN_SHARD: "UNKNOWN_SHARD",
  SAME_SHARD: "SAME_SHARD",
  /** No trade URL of a shard took the operator's login. */
  SHARD_UNREACHABLE: "SHARD_UNREACHABLE",
  /** A sequencer refused a step (its wire reason is in the message). */
  STEP_REFUSED: "STEP_REFUSED",
  /** No replica of a shard answered with the state a step needs within MOVE_LIMITS.replicaWaitMsMax. */
  REPLICAS_UNAVAILABLE: "REPLICAS_UNAVAILABLE",
  /** The source's replicas disagree on the book hash, or the rows do not hash to it. */
  EXPORT_DISAGREES: "EXPORT_DISAGREES",
  /** The target ended the import with another count or hash (IMPORT_MISMATCH there). */
  IMPORT_MISMATCH: "IMPORT_MISMATCH",
  /** The instrument is in a state no move step starts from (e.g. live on both, or away on both). */
  STATE: "STATE",
  /** A later run claimed the instrument on a shard: this run's further steps there are refused (MOVE_STALE), so it stops and leaves the move to that run. */
  SUPERSEDED: "SUPERSEDED",
  /** etcd refused or did not take the map's next version. */
  MAP_WRITE_FAILED: "MAP_WRITE_FAILED",
} as const;
export type MoveProblem = (typeof MoveProblem)[keyof typeof MoveProblem];

export class MoveError extends Error {
  override readonly name = "MoveError";
  constructor(readonly problem: MoveProblem, message: string, readonly leftAs: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Every wait and window of a move, with its unit. */
export const MOVE_LIMITS = {
  /** One step's ACK (or one frame's), ms. */
  ackMsMax: 10_000,
  /** Replicas reaching a step's seq and showing its state, ms. */
  replicaWaitMsMax: 10_000,
  /** Between two polls of a replica waiting for a seq, ms. */
  replicaPollMs: 5,
  /**
   * Once one replica of a shard has served a step's state, how long the others still have, ms:
   * a replica that is down or far behind then delays the move (and a halted instrument) by this
   * much, not by replicaWaitMsMax; it is left out of the agreement count. (With none answering,
   * every one is waited for until replicaWaitMsMax, so a replica restarting is not given up on.)
   */
  othersGraceMs: 1_000,
  /** After a shard's link dropped mid-move (its leader lost, a link reset), how long the next step waits for a leader of that shard, ms. */
  leaderWaitMsMax: 10_000,
  /** Between two tries for that leader, ms. */
  leaderRetryMs: 100,
  /** One HTTP read of a replica, ms. */
  httpMsMax: 5_000,
  /** MOVE_ORDERS frames sent and not yet acked, at most (each holds at most VALUE_BYTES_MAX bytes of rows). */
  framesInFlightMax: 16,
  /** Compare-and-swap attempts of the map's next version against writers in between. */
  mapWriteTriesMax: 3,
} as const;

export interface MoveOptions {
  readonly instrument: number;
  readonly to: string;
  /** The account the sequencers take move steps from (their sequencer.operatorAccount), and its key when auth is on. */
  readonly operator: { readonly account: number; readonly credentials?: Credentials };
  /** Undo what an earlier, unfinished move left (resume the source, abort the target's import) instead of finishing it. */
  readonly abort?: boolean;
  /** Progress lines, for a human. */
  readonly say?: (line: string) => void;
}

export interface MoveResult {
  instrument: number;
  from: string;
  to: string;
  /** "moved", or "aborted" with --abort. */
  outcome: "moved" | "aborted";
  orders: number;
  halt_seq: number;
  /**
   * The book hash at the HALT on the source, and at the end of the import on the target. A run
   * that finishes a move an earlier run imported (the target already ACTIVE) did not see the
   * import's end: `hash_after` is the target's book now (it may have traded since), and
   * `hash_before` the source's frozen book, or "" once the source released it (AWAY).
   */
  hash_before: string;
  hash_after: string;
  /**
   * The imported book hashed equal to the halted one. Checked by this run when it imported; when
   * it finishes an earlier run's import, by the target's engine, which makes a book ACTIVE at
   * MOVE_END only if it hashes to MOVE_BEGIN's hash (IMPORT_MISMATCH otherwise).
   */
  hashes_equal: boolean;
  import_seqs: [first: number, last: number];
  map_version_before: number;
  map_version: number;
  replicas_agreeing: { from: number; to: number };
  /** Wall time per stage, ms (one decimal); `import_sent`: of `import`, until MOVE_END's ACK (the rest is the target's replicas confirming). */
  ms: { halt: number; export: number; import: number; import_sent: number; map: number; release: number; total: number };
}

type Mode = "ACTIVE" | "HALTED" | "IMPORTING" | "AWAY";
interface Shard { readonly id: string; readonly trade: readonly string[]; readonly rest: readonly string[] }

/** A map entry's shard: its id, its trade URLs and its replicas' REST bases. */
function shardOf(s: ShardMap["shards"][number]): Shard {
  return { id: s.id, trade: s.endpoints.trade, rest: s.endpoints.feed.map(restBaseOf) };
}

/** ws://host:port/feed → http://host:port (the replica's REST reads share its feed's port). */
export function restBaseOf(feedUrl: string): string {
  const u = new URL(feedUrl);
  return `${u.protocol === "wss:" ? "https:" : "http:"}//${u.host}`;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/** One HTTP read's timeout before `deadline` (ms, both on performance.now()'s clock): whole ms from 1 to httpMsMax. */
export function httpTimeoutMs(deadline: number, now: number): number {
  return Math.max(1, Math.ceil(Math.min(MOVE_LIMITS.httpMsMax, deadline - now)));
}

export class Mover {
  private readonly conns = new Map<string, TradingClient>();
  /** Per shard, the connection being made, if one is. */
  private readonly connecting = new Map<string, Promise<TradingClient>>();
  /** Per shard, the last seq a connection that has since dropped knew of. */
  private readonly seqSeen = new Map<string, number>();
  /** Per shard, this run's claim of the instrument there (MOVE_CLAIM's seq), which every other step on it carries. */
  private readonly claims = new Map<string, number>();
  /** Keep-alive connections to the replicas this move reads. */
  private readonly http = new JsonGetter();
  /** Set when run() returns: reads of replicas still polling (ones not waited for) stop. */
  private ended = false;

  constructor(private readonly store: ShardMapStore, private readonly o: MoveOptions) {}

  private say(line: string): void {
    this.o.say?.(line);
  }

  /** Runs (or finishes, or with `abort` undoes) the move; a MoveError says why it stopped and what it left. */
  async run(): Promise<MoveResult> {
    try {
      return await this.runSteps();
    } finally {
      this.ended = true;
      this.http.close();
      await Promise.all([...this.conns.values()].map((c) => c.close()));
    }
  }

  private async runSteps(): Promise<MoveResult> {
    const t0 = performance.now();
    const { map } = await this.store.readOrFail();
    const on = map.shards.find((sh) => sh.instruments.includes(this.o.instrument));
    if (on !== undefined && on.id === this.o.to && this.o.abort !== true) return this.releaseLeftover(map, t0);
    const { from, to } = this.shardsOf(map);
    const inst = this.o.instrument;
    // Both leaders first: nothing changes unless both take the operator, and the state is read as of their last seq.
    const logins = await Promise.allSettled([this.conn(from), this.conn(to)]);
    const refused = logins.find((l): l is PromiseRejectedResult => l.status === "rejected");
    if (refused !== undefined) {
      const e = refused.reason as MoveError;
      throw new MoveError(e.problem, e.message, "nothing was changed", { cause: e });
    }
    await this.claimed([from, to]);
    const [src, dst] = await Promise.all([this.exportOf(from, this.seqOf(from)), this.exportOf(to, this.seqOf(to))]);
    this.checkClaim(from, [src]);
    this.checkClaim(to, [dst]);
    const state = `${src.mode}/${dst.mode}`;
    this.say(`instrument ${inst}: ${src.mode} on ${from.id} (map version ${map.version}), ${dst.mode} on ${to.id}`);
    if (this.o.abort === true) return this.undo(map, from, to, src, dst, t0);
    const ms = { halt: 0, export: 0, import: 0, import_sent: 0, map: 0, release: 0, total: 0 };
    let exp = src;
    // Finishing a move begun before: the orders are the target's, the hashes the source's frozen one and the target's now.
    let orders = dst.order_count;
    let haltSeq = src.halt_seq;
    let hashAfter = dst.book_hash;
    let seqs: [number, number] = [0, 0];
    let agreeing = { from: 0, to: 0 };
    if (state === "ACTIVE/AWAY" || state === "HALTED/AWAY" || state === "HALTED/IMPORTING") {
      try {
        if (dst.mode === "IMPORTING") await this.step(to, { t: MsgType.MOVE_ABORT, inst }, "abort the target's unfinished import");
        let t = performance.now();
        if (src.mode === "ACTIVE") haltSeq = (await this.step(from, { t: MsgType.MOVE_HALT, inst }, "halt")).seq;
        ms.halt = performance.now() - t;
        t = performance.now();
        const agreed = await this.agreedExport(from, haltSeq);
        exp = agreed.exp;
        orders = exp.orders.length;
        ms.export = performance.now() - t;
        this.say(`halted at seq ${haltSeq} on ${from.id}: ${exp.orders.length} orders, book hash ${exp.book_hash} (${agreed.replicas} replicas agree)`);
        t = performance.now();
        seqs = await this.importTo(to, from, exp);
        ms.import_sent = performance.now() - t;
        const done = await this.targetState(to, seqs[1]);
        hashAfter = done.exp.book_hash;
        agreeing = { from: agreed.replicas, to: done.replicas };
        ms.import = performance.now() - t;
      } catch (err) {
        throw await this.rollBack(from, to, err);
      }
      this.say(`imported on ${to.id} at seqs ${seqs[0]}..${seqs[1]}: book hash ${hashAfter}`);
    } else if (state !== "HALTED/ACTIVE" && state !== "AWAY/ACTIVE") {
      throw new MoveError(MoveProblem.STATE, `instrument ${inst} is ${src.mode} on ${from.id} and ${dst.mode} on ${to.id}: no move starts from there`, "nothing was changed");
    }
    let t = performance.now();
    const version = await this.writeMap(map, inst, from.id, to.id);
    ms.map = performance.now() - t;
    t = performance.now();
    if (src.mode !== "AWAY") await this.step(from, { t: MsgType.MOVE_RELEASE, inst, to: to.id }, "release the source's book", "the target trades the instrument and the map names it; the source is still halted: run the move again to release it");
    ms.release = performance.now() - t;
    ms.total = performance.now() - t0;
    for (const k of Object.keys(ms) as (keyof typeof ms)[]) ms[k] = round1(ms[k]);
    return {
      instrument: inst, from: from.id, to: to.id, outcome: "moved", orders, halt_seq: haltSeq, hash_before: exp.mode === "AWAY" ? "" : exp.book_hash, hash_after: hashAfter,
      // seqs [0, 0]: an earlier run imported, and the target is ACTIVE, so its engine checked the hashes.
      hashes_equal: seqs[1] === 0 || exp.book_hash === hashAfter, import_seqs: seqs, map_version_before: map.version, map_version: version, replicas_agreeing: agreeing, ms,
    };
  }

  /**
   * The map names the target already, so an earlier run wrote it and stopped before releasing
   * the source (step 6). The source is the one other shard of the map whose book of the
   * instrument is HALTED; with the target trading the instrument, it is released. With none
   * halted there is nothing to finish (SAME_SHARD, as before); a shard that cannot be read is
   * named, since it might be the one.
   */
  private async releaseLeftover(map: ShardMap, t0: number): Promise<MoveResult> {
    const inst = this.o.instrument;
    const to = shardOf(map.shards.find((sh) => sh.id === this.o.to)!);
    const others = map.shards.filter((sh) => sh.id !== to.id).map(shardOf);
    await this.conn(to).catch((err: unknown) => {
      throw new MoveError(MoveProblem.SHARD_UNREACHABLE, `shard ${to.id}: ${(err as Error).message}`, "nothing was changed", { cause: err });
    });
    const dst = await this.exportOf(to, this.seqOf(to));
    const read = await Promise.allSettled(others.map(async (sh) => ({ sh, exp: await this.conn(sh).then(() => this.exportOf(sh, this.seqOf(sh))) })));
    const halted = read.flatMap((r) => (r.status === "fulfilled" && r.value.exp.mode === "HALTED" ? [r.value] : []));
    const unread = others.filter((_, i) => read[i]!.status === "rejected").map((sh) => sh.id);
    if (halted.length === 0) {
      const unsure = unread.length === 0 ? "" : ` (${unread.join(", ")} could not be read: if one of them holds it halted, run the move again once it answers)`;
      throw new MoveError(MoveProblem.SAME_SHARD, `instrument ${inst} is already on shard "${to.id}", and no other shard holds it halted${unsure}`, "nothing was changed");
    }
    if (halted.length > 1 || dst.mode !== "ACTIVE") {
      throw new MoveError(MoveProblem.STATE, `the map names ${to.id} for instrument ${inst}, which is ${dst.mode} there, and ${halted.map((h) => h.sh.id).join(", ")} hold${halted.length > 1 ? "" : "s"} it halted: no move step finishes that`, "nothing was changed");
    }
    const { sh: from } = halted[0]!;
    // Claimed, then read again as of the claim: an earlier run's step landing in between (a resume) is seen, and none can land after.
    await this.claimed([from]);
    const src = await this.exportOf(from, this.seqOf(from));
    this.checkClaim(from, [src]);
    if (src.mode !== "HALTED") throw new MoveError(MoveProblem.STATE, `instrument ${inst} is no longer halted on ${from.id} (${src.mode}) while the map names ${to.id}, which trades it: no move step finishes that`, "nothing was changed");
    this.say(`instrument ${inst}: the map (version ${map.version}) names ${to.id}, which trades it; ${from.id} still holds it halted: releasing it`);
    const t = performance.now();
    await this.step(from, { t: MsgType.MOVE_RELEASE, inst, to: to.id }, "release the source's book", "the target trades the instrument and the map names it; the source is still halted: run the move again to release it");
    const release = round1(performance.now() - t);
    return {
      instrument: inst, from: from.id, to: to.id, outcome: "moved", orders: dst.order_count, halt_seq: src.halt_seq, hash_before: src.book_hash, hash_after: dst.book_hash,
      // The target is ACTIVE: its engine checked the import's hash at MOVE_END.
      hashes_equal: true, import_seqs: [0, 0], map_version_before: map.version, map_version: map.version, replicas_agreeing: { from: 0, to: 0 },
      ms: { halt: 0, export: 0, import: 0, import_sent: 0, map: 0, release, total: round1(performance.now() - t0) },
    };
  }

  /** The instrument's shard in `map` (where its book is) and the target, both with their endpoints. */
  private shardsOf(map: ShardMap): { from: Shard; to: Shard } {
    const inst = this.o.instrument;
    const from = map.shards.find((s) => s.instruments.includes(inst));
    if (from === undefined) throw new MoveError(MoveProblem.INSTRUMENT_NOT_IN_MAP, `instrument ${inst} is on no shard of the map (version ${map.version})`, "nothing was changed");
    const to = map.shards.find((s) => s.id === this.o.to);
    if (to === undefined) throw new MoveError(MoveProblem.UNKNOWN_SHARD, `shard "${this.o.to}" is not in the map (version ${map.version}; shards: ${map.shards.map((s) => s.id).join(", ")})`, "nothing was changed");
    if (to.id === from.id) throw new MoveError(MoveProblem.SAME_SHARD, `instrument ${inst} is already on shard "${from.id}"`, "nothing was changed");
    return { from: shardOf(from), to: shardOf(to) };
  }

  /** --abort: resumes a halted source after aborting the target's unfinished import; refuses once the target trades. */
  private async undo(map: ShardMap, from: Shard, to: Shard, src: MoveExportResponse, dst: MoveExportResponse, t0: number): Promise<MoveResult> {
    const inst = this.o.instrument;
    if (dst.mode === "ACTIVE") throw new MoveError(MoveProblem.STATE, `instrument ${inst} already trades on ${to.id}: a finished import is not undone; run the move without --abort to finish it`, "nothing was changed");
    if (dst.mode === "IMPORTING") await this.step(to, { t: MsgType.MOVE_ABORT, inst }, "abort the target's import");
    if (src.mode === "HALTED") await this.step(from, { t: MsgType.MOVE_RESUME, inst }, "resume the source");
    else if (src.mode !== "ACTIVE") throw new MoveError(MoveProblem.STATE, `instrument ${inst} is ${src.mode} on ${from.id}: nothing to resume`, "nothing was changed");
    const total = round1(performance.now() - t0);
    return {
      instrument: inst, from: from.id, to: to.id, outcome: "aborted", orders: src.order_count, halt_seq: src.halt_seq, hash_before: src.book_hash, hash_after: src.book_hash, hashes_equal: true,
      import_seqs: [0, 0], map_version_before: map.version, map_version: map.version, replicas_agreeing: { from: 0, to: 0 }, ms: { halt: 0, export: 0, import: 0, import_sent: 0, map: 0, release: 0, total },
    };
  }

  /** After a failure before the target trades: abort its import and resume the source, so the instrument trades where the map says. */
  private async rollBack(from: Shard, to: Shard, err: unknown): Promise<MoveError> {
    const inst = this.o.instrument;
    const why = err instanceof MoveError ? err : new MoveError(MoveProblem.STEP_REFUSED, (err as Error).message, "", { cause: err });
    if (why.problem === MoveProblem.SUPERSEDED) return why;
    try {
      const [src, dst] = await Promise.all([this.exportOf(from, this.seqOf(from)), this.exportOf(to, this.seqOf(to))]);
      // A later run that claimed either shard owns the move now: this one's undo steps would be refused there.
      this.checkClaim(from, [src]);
      this.checkClaim(to, [dst]);
      if (dst.mode === "ACTIVE") return new MoveError(why.problem, why.message, "the target trades the instrument: run the move again to write the map and release the source", { cause: err });
      if (dst.mode === "IMPORTING") await this.step(to, { t: MsgType.MOVE_ABORT, inst }, "abort the target's import");
      if (src.mode === "HALTED") await this.step(from, { t: MsgType.MOVE_RESUME, inst }, "resume the source");
      const undone = src.mode === "HALTED" || dst.mode === "IMPORTING";
      return new MoveError(why.problem, why.message, undone ? `undone: ${dst.mode === "IMPORTING" ? `the import on ${to.id} was aborted and ` : ""}${from.id} trades the instrument again` : "nothing was changed", { cause: err });
    } catch (undo) {
      if (undo instanceof MoveError && undo.problem === MoveProblem.SUPERSEDED) return new MoveError(why.problem, `${why.message}; not undone: ${undo.message}`, undo.leftAs, { cause: err });
      return new MoveError(why.problem, `${why.message}; undoing it failed too (${(undo as Error).message})`, `${from.id} may still be halted: run the move again, or with --abort`, { cause: err });
    }
  }

  /** The last seq this mover knows of on a shard (its leader's at login, or a later ACK): replicas are read as of it, never older. */
  private seqOf(s: Shard): number {
    return Math.max(this.conns.get(s.id)?.lastSeq ?? 0, this.seqSeen.get(s.id) ?? 0);
  }

  /**
   * The operator's connection to a shard's leader, made once and again after it drops (a new
   * leader, a reset link): undoing a step that failed with a lost connection needs a live one.
   */
  private conn(s: Shard): Promise<TradingClient> {
    const have = this.conns.get(s.id);
    if (have !== undefined) return Promise.resolve(have);
    // One connection attempt per shard at a time: steps that ask meanwhile share it (none is left open unowned).
    let pending = this.connecting.get(s.id);
    if (pending === undefined) {
      pending = this.connect(s).finally(() => this.connecting.delete(s.id));
      this.connecting.set(s.id, pending);
    }
    return pending;
  }

  private async connect(s: Shard): Promise<TradingClient> {
    // A shard whose link dropped had a leader a moment ago: its group may be electing the next one (leaderWaitMsMax).
    const until = performance.now() + (this.seqSeen.has(s.id) ? MOVE_LIMITS.leaderWaitMsMax : 0);
    for (;;) {
      try {
        const c = await TradingClient.connectAny(s.trade, this.o.operator.account, MOVE_LIMITS.ackMsMax, this.o.operator.credentials);
        this.conns.set(s.id, c);
        void c.closed.then(() => {
          if (this.conns.get(s.id) !== c) return;
          this.conns.delete(s.id);
          this.seqSeen.set(s.id, Math.max(this.seqSeen.get(s.id) ?? 0, c.lastSeq));
        });
        return c;
      } catch (err) {
        if (performance.now() + MOVE_LIMITS.leaderRetryMs < until) {
          await new Promise((r) => setTimeout(r, MOVE_LIMITS.leaderRetryMs));
          continue;
        }
        throw new MoveError(MoveProblem.SHARD_UNREACHABLE, `no sequencer of shard ${s.id} took the operator's login (${s.trade.join(", ")}): ${(err as Error).message}`, "", { cause: err });
      }
    }
  }

  /**
   * MOVE_CLAIM on `s`, over the claim a replica shows as of the leader's seq at login (`mc`): its
   * ACK's seq is this run's claim there, which step() adds to every later step on `s`. The engine
   * takes it only if that is still the latest claim: read again as of the claim, a replica
   * must show it (checkClaim) before the next shard is claimed.
   */
  private async claim(s: Shard): Promise<void> {
    const over = (await this.exportOf(s, this.seqOf(s))).move_claim;
    const ack = await this.step(s, { t: MsgType.MOVE_CLAIM, inst: this.o.instrument, mc: over }, "claim the instrument's moves");
    this.claims.set(s.id, ack.seq);
    this.checkClaim(s, [await this.exportOf(s, ack.seq)]);
  }

  /**
   * Claims on every shard of `shards`, one after the other in the order of their ids, so of two
   * runs started together one claims both rather than each one of them; a claim refused changes
   * nothing (a claim alone moves no book).
   */
  private async claimed(shards: readonly Shard[]): Promise<void> {
    try {
      for (const s of [...shards].sort((a, b) => (a.id < b.id ? -1 : 1))) await this.claim(s);
    } catch (err) {
      if (!(err instanceof MoveError)) throw err;
      throw new MoveError(err.problem, err.message, "nothing was changed", { cause: err });
    }
  }

  /**
   * SUPERSEDED unless the replicas of `s` show this run's claim: a later one means a run started
   * after this one owns the move there; an earlier one, that this run's claim was refused, since
   * another landed between this run's read of the claims and its own.
   */
  private checkClaim(s: Shard, exps: readonly MoveExportResponse[]): void {
    const mine = this.claims.get(s.id) ?? 0;
    const other = exps.find((e) => e.move_claim !== mine);
    if (other === undefined) return;
    if (other.move_claim < mine) {
      throw new MoveError(MoveProblem.SUPERSEDED, `another run of the move claimed instrument ${this.o.instrument} on shard ${s.id} (claim seq ${other.move_claim}) after this run read the claims and before its own (seq ${mine}), which was refused: this run stops`, "left to the other run (run the move again, or with --abort, once it has stopped)");
    }
    throw new MoveError(MoveProblem.SUPERSEDED, `another run of the move claimed instrument ${this.o.instrument} on shard ${s.id} (claim seq ${other.move_claim}, this run's ${mine}): its steps there are refused now, so this run stops`, "left to the later run (run the move again, or with --abort, once it has stopped)");
  }

  /** Sends one step (with this run's claim on `s`, but for the claim itself) and waits for its ACK (at most MOVE_LIMITS.ackMsMax); a refusal is STEP_REFUSED with the sequencer's reason. */
  private async step(s: Shard, body: { t: number } & Record<string, unknown>, what: string, leftAs = ""): Promise<Ack> {
    const mc = this.claims.get(s.id);
    if (body.t !== MsgType.MOVE_CLAIM && mc === undefined) throw new Error(`BUG: the step "${what}" on shard ${s.id} before this run claimed it there`);
    const c = await this.conn(s);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no ACK within ${MOVE_LIMITS.ackMsMax} ms`)), MOVE_LIMITS.ackMsMax); });
    try {
      return await Promise.race([c.moveStep(body.t === MsgType.MOVE_CLAIM ? body : { ...body, mc }), late]);
    } catch (err) {
      throw new MoveError(MoveProblem.STEP_REFUSED, `shard ${s.id} did not take the step "${what}": ${(err as Error).message}`, leftAs, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET a replica's JSON, or null when it does not answer with 200 within MOVE_LIMITS.httpMsMax (or by the deadline). */
  private getJson<T>(url: string, deadline: number): Promise<T | null> {
    return this.http.get<T>(url, httpTimeoutMs(deadline, performance.now()));
  }

  /**
   * One replica's export (`rows`: with its orders) once it has applied `seq` (its cheap /seq
   * polled until then), or null by the deadline (a function: a caller may shorten it) or once
   * the move has ended. A replica that does not answer at all (down, unreachable, or busy past
   * httpMsMax) is asked again until then, or with `silence` "give-up" left at once (for a caller
   * that has other replicas to ask).
   */
  private async readExport(base: string, seq: number, deadline: () => number, rows: boolean, silence: "retry" | "give-up"): Promise<MoveExportResponse | null> {
    while (!this.ended && performance.now() < deadline()) {
      const at = await this.getJson<{ seq: number }>(`${base}/seq`, deadline());
      if (at !== null && at.seq >= seq) {
        const exp = await this.getJson<MoveExportResponse>(`${base}/v1/move/${this.o.instrument}?orders=${rows ? 1 : 0}`, deadline());
        if (exp !== null && exp.seq >= seq) return exp;
        if (exp === null && silence === "give-up") return null;
      } else if (at === null && silence === "give-up") return null;
      await new Promise((r) => setTimeout(r, MOVE_LIMITS.replicaPollMs));
    }
    return null;
  }

  /** The first export a replica of `s` serves at `seq` or later (the others are not waited for). */
  private async exportOf(s: Shard, seq: number): Promise<MoveExportResponse> {
    const deadline = performance.now() + MOVE_LIMITS.replicaWaitMsMax;
    const first = await Promise.any(s.rest.map(async (b) => {
      const e = await this.readExport(b, seq, () => deadline, false, "retry");
      if (e === null) throw new Error("no answer");
      return e;
    })).catch(() => null);
    if (first === null) throw this.unavailable(s, seq);
    return first;
  }

  /**
   * The mode and hash (no orders) from every replica of `s` that serves them at `seq` or later
   * by MOVE_LIMITS.replicaWaitMsMax, or within MOVE_LIMITS.othersGraceMs of the first that does:
   * at least one, each with the replica's REST base.
   */
  private async exportsAt(s: Shard, seq: number): Promise<(MoveExportResponse & { base: string })[]> {
    let deadline = performance.now() + MOVE_LIMITS.replicaWaitMsMax;
    const answers: ((MoveExportResponse & { base: string }) | null)[] = s.rest.map(() => null);
    let graceOver: () => void = () => undefined;
    const grace = new Promise<void>((resolve) => { graceOver = resolve; });
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(s.rest.map(async (base, i) => {
      const e = await this.readExport(base, seq, () => deadline, false, "retry");
      if (e === null) return;
      answers[i] = { ...e, base };
      if (timer === undefined) {
        // The first answer: the others have othersGraceMs more (a request in flight is not waited for past it either).
        deadline = Math.min(deadline, performance.now() + MOVE_LIMITS.othersGraceMs);
        timer = setTimeout(graceOver, MOVE_LIMITS.othersGraceMs);
      }
    }));
    try {
      await Promise.race([all, grace]);
    } finally {
      clearTimeout(timer);
    }
    const got = answers.filter((e): e is MoveExportResponse & { base: string } => e !== null);
    if (got.length === 0) throw this.unavailable(s, seq);
    return got;
  }

  private unavailable(s: Shard, seq: number): MoveError {
    return new MoveError(MoveProblem.REPLICAS_UNAVAILABLE, `no replica of shard ${s.id} (${s.rest.join(", ")}) served instrument ${this.o.instrument} at seq ${seq} or later within ${MOVE_LIMITS.replicaWaitMsMax} ms`, "");
  }

  /** The halted book, as every answering source replica serves it at the HALT's seq, checked against its hash. */
  private async agreedExport(s: Shard, haltSeq: number): Promise<{ exp: MoveExportResponse; replicas: number }> {
    // The orders from one replica (the book is frozen, so any seq from the HALT on gives the same: the first that serves them, in
    // the map's order), fetched while every replica's hash is read; all are checked against each other below.
    const deadline = performance.now() + MOVE_LIMITS.replicaWaitMsMax;
    // The replicas in turn, one that does not answer passed over for the next, round after round until the deadline.
    const rowsFrom = async (): Promise<MoveExportResponse | null> => {
      while (!this.ended && performance.now() < deadline) {
        for (const base of s.rest) {
          const until = Math.min(deadline, performance.now() + MOVE_LIMITS.httpMsMax);
          const exp = await this.readExport(base, haltSeq, () => until, true, "give-up");
          if (exp !== null) return exp;
        }
        await new Promise((r) => setTimeout(r, MOVE_LIMITS.replicaPollMs));
      }
      return null;
    };
    const [all, exp] = await Promise.all([this.exportsAt(s, haltSeq), rowsFrom()]);
    if (exp === null) throw this.unavailable(s, haltSeq);
    const replicas = all.length;
    all.push({ ...exp, base: "" });
    this.checkClaim(s, all);
    if (all.some((e) => e.mode !== "HALTED" || e.halt_seq !== haltSeq)) throw new MoveError(MoveProblem.STATE, `a replica of ${s.id} does not show instrument ${this.o.instrument} halted at seq ${haltSeq} (${all.map((e) => `${e.mode}@${e.halt_seq}`).join(", ")})`, "");
    if (all.some((e) => e.book_hash !== exp.book_hash)) throw new MoveError(MoveProblem.EXPORT_DISAGREES, `the replicas of ${s.id} disagree on the halted book's hash (${all.map((e) => e.book_hash).join(", ")})`, "");
    const mine = bookHashOf({ ...exp.config, symbol: exp.symbol }, exp.last_price, exp.orders as MoveRow[]);
    if (mine !== exp.book_hash) throw new MoveError(MoveProblem.EXPORT_DISAGREES, `the exported rows hash to ${mine}, not to the book hash ${exp.book_hash} the replicas computed`, "");
    return { exp, replicas };
  }

  /** MOVE_BEGIN, the rows in a bounded window of frames (one import-orders record each), MOVE_END; returns the first rows record's seq and MOVE_END's seq. */
  private async importTo(to: Shard, from: Shard, exp: MoveExportResponse): Promise<[number, number]> {
    const inst = this.o.instrument;
    const chunks = rowChunks(exp.orders as MoveRow[]);
    const begin = await this.step(to, { t: MsgType.MOVE_BEGIN, inst, from: from.id, n: exp.orders.length, lpx: exp.last_price, h: exp.book_hash }, "begin the import");
    // A sliding window: up to framesInFlightMax frames unacked; one connection keeps them in order.
    const acks: Promise<Ack>[] = [];
    for (let k = 0; k < chunks.length; k++) {
      if (k >= MOVE_LIMITS.framesInFlightMax) await acks[k - MOVE_LIMITS.framesInFlightMax];
      acks.push(this.step(to, { t: MsgType.MOVE_ORDERS, inst, rows: chunks[k]! }, "import orders"));
      // A refusal anywhere ends the import at once, not when the window reaches it.
      acks[k]!.catch(() => undefined);
    }
    const first = chunks.length === 0 ? 0 : (await Promise.all(acks))[0]!.seq;
    const end = await this.step(to, { t: MsgType.MOVE_END, inst }, "end the import");
    return [chunks.length === 0 ? begin.seq : first, end.seq];
  }

  /** The target's replicas at the import's end: ACTIVE with the export's hash, or IMPORT_MISMATCH. */
  private async targetState(to: Shard, endSeq: number): Promise<{ exp: MoveExportResponse; replicas: number }> {
    const all = await this.exportsAt(to, endSeq);
    this.checkClaim(to, all);
    const modes = new Set(all.map((e) => e.mode as Mode));
    if (modes.size === 1 && modes.has("IMPORTING")) throw new MoveError(MoveProblem.IMPORT_MISMATCH, `shard ${to.id} refused to end the import (IMPORT_MISMATCH): its book does not have the export's order count and hash`, "");
    if (modes.size !== 1 || !modes.has("ACTIVE")) throw new MoveError(MoveProblem.STATE, `the replicas of ${to.id} show instrument ${this.o.instrument} as ${[...modes].join(", ")} after the import`, "");
    const hashes = new Set(all.map((e) => e.book_hash));
    if (hashes.size !== 1) throw new MoveError(MoveProblem.EXPORT_DISAGREES, `the replicas of ${to.id} disagree on the imported book's hash (${[...hashes].join(", ")})`, "");
    return { exp: all[0]!, replicas: all.length };
  }

  /** The map's next version with the instrument on `to` (a pin follows it), by compare-and-swap; a writer in between is retried against. */
  private async writeMap(map: ShardMap, inst: number, from: string, to: string): Promise<number> {
    let current = map;
    for (let attempt = 1; ; attempt++) {
      const holder = current.shards.find((s) => s.instruments.includes(inst))?.id;
      if (holder === to) return current.version;
      const next: ShardMap = {
        version: current.version + 1,
        shards: current.shards.map((s) => ({ ...s, instruments: s.id === to ? [...s.instruments, inst].sort((a, b) => a - b) : s.instruments.filter((i) => i !== inst) })),
        pins: current.pins[String(inst)] === undefined ? current.pins : { ...current.pins, [String(inst)]: to },
      };
      try {
        await this.store.write(next);
        this.say(`shard map version ${next.version}: instrument ${inst} on ${to} (was ${holder ?? from})`);
        return next.version;
      } catch (err) {
        const left = `the target trades the instrument; the map still names ${holder ?? from}, whose book is halted: run the move again to write the map`;
        if (!(err instanceof ShardMapError) || attempt >= MOVE_LIMITS.mapWriteTriesMax) throw new MoveError(MoveProblem.MAP_WRITE_FAILED, `the shard map's next version was not written: ${(err as Error).message}`, left, { cause: err });
        current = (await this.store.readOrFail()).map;
      }
    }
  }
}
