/**
 * Leadership for sequencers, kept in etcd (docs/failover.md):
 *
 *  - election   etcd3's Election: each sequencer node campaigns with its URL; the one holding
 *               the leader key (bound to a lease of `leaseTtlS`) leads. A dead leader's lease
 *               expires and the next candidate is elected.
 *  - state      one key, {epoch, leader, startSeq, isr}: the current epoch, who leads it, the
 *               first seq it sequenced, and the in-sync standbys (ISR) the leader gates
 *               replication and acks on. Only the leader writes it, in a transaction guarded by
 *               its own election key, so a deposed leader's write fails.
 *  - epochs     one key per epoch with its first seq: a node rejoining cuts its journal back to
 *               the start of the first epoch newer than its own last record.
 *
 * Who leads is read, never inferred: on every change under the election's prefix (and whenever
 * the watch reconnects) the oldest campaign key is read again. etcd3's own ElectionObserver,
 * used before, took the last key created after a moment with no leader for the leader, though
 * the oldest one is elected: after every lease expired at once, standbys believed a candidate
 * that was not elected led, and followed it, or (believing themselves elected) nobody, until
 * that key went away (docs/failover.md, finding 7).
 *
 * A node may take over only when its log is known to hold everything that was committed: it is
 * in the ISR, or it led the current epoch with an empty ISR (and its journal reaches that
 * epoch's start), or the cluster has never had a leader. The promotion transaction also checks that the state is unchanged
 * since it was read.
 */
import { Etcd3, type Campaign, type Election, type Lease, type Watcher } from "etcd3";
import type { Logger } from "pino";

export interface ClusterState {
  readonly epoch: number;
  /** Node id of the epoch's leader. */
  readonly leader: string;
  /** First seq sequenced in this epoch. */
  readonly startSeq: number;
  /** In-sync standbys: replicas see, and clients are acked, only what all of them journaled. */
  readonly isr: readonly string[];
}

export interface CoordinatorOptions {
  readonly hosts: readonly string[];
  readonly cluster: string;
  readonly leaseTtlS: number;
  /** This node's id. */
  readonly id: string;
  readonly log: Logger;
}

const pad = (n: number): string => String(n).padStart(20, "0");
/** After a failed read of who leads, it is read again this much later (until one succeeds). */
const LEADER_READ_RETRY_MS = 250;
/** Keepalives sent and not yet answered that are remembered; more means etcd has not answered for many TTLs. */
export const KEEPALIVES_UNANSWERED_MAX = 64;
/** While campaigning, how often the event loop's own progress is checked. */
const LOOP_CHECK_MS = 50;

/**
 * How much faster etcd's clock may run than ours while a lease is measured, parts per million:
 * a proof counts for TTL × (1 − this) of our monotonic clock. Crystal clocks stay within
 * ±100 ppm and NTP slews at most 500 ppm; 1,000 covers both on each side.
 */
export const LEASE_CLOCK_DRIFT_PPM_MAX = 1_000;

/**
 * How long our lease is certainly alive, from the keepalives: an answer proves the lease alive
 * for a TTL, less the drift margin, from when its request was sent, not from when the answer is read. Answers on the
 * keepalive stream come in the order of the requests, so each is paired with the oldest request
 * not yet answered. (Pairing it with the latest request instead is wrong after a pause: the
 * timer sends a new keepalive as the process wakes, and an answer that arrived during the
 * pause, to a request sent before it, then looked like a fresh renewal.)
 */
export class LeaseValidity {
  private readonly sentMs: number[] = [];
  /** performance.now() until which the lease is certainly alive (0: never renewed). */
  untilMs = 0;
  /** How long after its request's sending an answered keepalive proves the lease: the TTL less the drift margin. */
  readonly provenMs: number;

  constructor(private readonly ttlMs: number) {
    this.provenMs = ttlMs - Math.ceil((ttlMs * LEASE_CLOCK_DRIFT_PPM_MAX) / 1_000_000);
  }

  sent(nowMs: number): void {
    // Past the limit a request is not remembered: its answer is paired with an older one (earlier, so safe).
    if (this.sentMs.length < KEEPALIVES_UNANSWERED_MAX) this.sentMs.push(nowMs);
  }

  answered(): void {
    const at = this.sentMs.shift();
    if (at !== undefined) this.untilMs = Math.max(this.untilMs, at + this.provenMs);
  }

  /** A new keepalive stream (or a failed one): answers to the old stream's requests will not come. */
  reset(): void {
    this.sentMs.length = 0;
  }

  lost(): void {
    this.sentMs.length = 0;
    this.untilMs = 0;
  }

  /**
   * The process did not run for `gapMs` (a pause, a stall). From half a TTL on, nothing proved
   * before counts any more, and no answer read from now on is paired with a request sent before:
   * only keepalives sent after waking can prove the lease again.
   */
  stalled(gapMs: number): void {
    if (gapMs >= this.ttlMs / 2) this.lost();
  }
}

export class Coordinator {
  private readonly client: Etcd3;
  private readonly election: Election;
  private watcher: Watcher | null = null;
  private leaderRetry: NodeJS.Timeout | null = null;
  /** The election's keys, one per candidate: `<prefix><lease>`, the oldest leads. */
  private readonly electionPrefix: string;
  private campaign_: Campaign | null = null;
  private lease: Lease | null = null;
  /** Until when our lease is certainly still alive (untilMs 0: not leading). */
  private validity: LeaseValidity;
  private loopCheck: NodeJS.Timeout | null = null;
  private readonly stateKey: string;
  private readonly epochPrefix: string;
  private closed = false;

  constructor(private readonly o: CoordinatorOptions) {
    this.client = new Etcd3({ hosts: [...o.hosts], dialTimeout: 2000 });
    this.validity = new LeaseValidity(o.leaseTtlS * 1000);
    this.election = this.client.election(`lockstep/${o.cluster}/leader`, o.leaseTtlS);
    this.electionPrefix = `election/lockstep/${o.cluster}/leader/`;
    this.stateKey = `lockstep/${o.cluster}/state`;
    this.epochPrefix = `lockstep/${o.cluster}/epochs/`;
  }

  /** The state and its mod revision (0 when the cluster never had a leader). */
  async readState(): Promise<{ state: ClusterState | null; rev: string }> {
    const r = await this.client.get(this.stateKey).exec();
    const kv = r.kvs[0];
    return kv === undefined ? { state: null, rev: "0" } : { state: JSON.parse(kv.value.toString()) as ClusterState, rev: String(kv.mod_revision) };
  }

  /** First seq of every epoch newer than `epoch`, oldest first. */
  async epochsAfter(epoch: number): Promise<{ epoch: number; startSeq: number }[]> {
    const all = await this.client.getAll().prefix(this.epochPrefix).strings();
    return Object.entries(all)
      .map(([k, v]) => ({ epoch: Number(k.slice(this.epochPrefix.length)), startSeq: Number(v) }))
      .filter((e) => e.epoch > epoch)
      .sort((a, b) => a.epoch - b.epoch);
  }

  /**
   * Calls back with the leader's URL now and whenever it changes (undefined: no leader): the
   * value of the oldest key under the election's prefix, read again after every put or delete
   * there and every reconnection of the watch (events missed while disconnected are not replayed).
   */
  async observe(onLeader: (url: string | undefined) => void): Promise<void> {
    let reported: string | undefined | null = null;
    let reading = false;
    let again = false;
    const read = async (): Promise<void> => {
      if (reading) return void (again = true);
      reading = true;
      try {
        do {
          again = false;
          const url = await this.election.leader();
          if (this.closed) return;
          if (url !== reported) onLeader((reported = url));
        } while (again);
      } catch (err) {
        if (this.closed) return;
        this.o.log.error({ err: (err as Error).message }, "etcd: could not read who leads; reading again");
        if (this.leaderRetry === null) this.leaderRetry = setTimeout(() => { this.leaderRetry = null; void read(); }, LEADER_READ_RETRY_MS);
      } finally {
        reading = false;
      }
    };
    // The watch is not waited for (its stream may take a while to connect, e.g. after etcd was
    // unreachable): who leads is read now, and again once it connects, so nothing between the two
    // is missed.
    const w = this.client.watch().prefix(this.electionPrefix).watcher();
    this.watcher = w;
    w.on("put", () => void read()).on("delete", () => void read()).on("connected", () => void read());
    w.on("error", (err) => this.o.log.error({ err: err.message }, "etcd: the watch on who leads failed"));
    const url = await this.election.leader();
    if (reported === null) onLeader((reported = url));
  }

  /**
   * Campaigns with our base URL (followers append /replicate, clients /trade) until elected; `onLost` is called if the lease is lost afterwards. While we lead,
   * `leading` is true only as long as the last successful keepalive guarantees the lease.
   */
  campaign(url: string, onElected: () => void, onLost: (why: string) => void): void {
    // One campaign at a time: a second one would be a second place in the queue.
    void this.campaign_?.resign().catch(() => undefined);
    const c = this.election.campaign(url);
    this.campaign_ = c;
    // etcd3 keeps the campaign's lease private; its keepalive events are what tells us, without
    // waiting for etcd3's own 2 x TTL timeout, that we may no longer be the leader.
    const lease = (c as unknown as { lease?: Lease }).lease;
    if (lease === undefined || typeof lease.on !== "function") throw new Error("etcd3: Campaign has no lease (library changed?)");
    this.lease = lease;
    const validity = new LeaseValidity(this.o.leaseTtlS * 1000);
    this.validity = validity;
    lease.on("keepaliveEstablished", () => validity.reset());
    lease.on("keepaliveFailed", () => validity.reset());
    lease.on("keepaliveFired", () => validity.sent(performance.now()));
    lease.on("keepaliveSucceeded", () => validity.answered());
    // A pause shows as a late timer: forget what was proved before it (see LeaseValidity.stalled).
    if (this.loopCheck !== null) clearInterval(this.loopCheck);
    let lastLoopMs = performance.now();
    this.loopCheck = setInterval(() => {
      const now = performance.now();
      validity.stalled(now - lastLoopMs - LOOP_CHECK_MS);
      lastLoopMs = now;
    }, LOOP_CHECK_MS);
    this.loopCheck.unref();
    // etcd3 goes on waiting for election after the lease is lost, and may then announce
    // 'elected' for a key that no longer exists: only the current, live campaign counts.
    let lost = false;
    c.on("elected", () => { if (this.campaign_ === c && !lost) onElected(); });
    c.on("error", (err: Error) => {
      if (lost) return;
      lost = true;
      void c.resign().catch(() => undefined);
      if (this.campaign_ !== c) return;
      this.campaign_ = null;
      validity.lost();
      if (!this.closed) onLost(err.message);
    });
  }

  /** Whether our lease is still certainly alive (false when not campaigning or lost). */
  get leading(): boolean {
    return this.campaign_ !== null && performance.now() < this.validity.untilMs;
  }

  async resign(): Promise<void> {
    const c = this.campaign_;
    this.campaign_ = null;
    if (this.loopCheck !== null) clearInterval(this.loopCheck);
    this.loopCheck = null;
    this.validity.lost();
    if (c !== null) await c.resign().catch(() => undefined);
  }

  private async guard(): Promise<string> {
    if (this.campaign_ === null) throw new Error("not campaigning");
    return this.campaign_.getCampaignKey();
  }

  /**
   * Takes the next epoch if the state is still `prev` and we still hold the election key.
   * Returns the new state, or null if anything changed in between.
   */
  async promote(prev: { state: ClusterState | null; rev: string }, startSeq: number, lastLoggedEpoch: number): Promise<ClusterState | null> {
    const key = await this.guard();
    const epoch = Math.max(prev.state?.epoch ?? 0, lastLoggedEpoch) + 1;
    const next: ClusterState = { epoch, leader: this.o.id, startSeq, isr: [] };
    const r = await this.client.if(key, "Create", ">", 0).and(this.stateKey, "Mod", "==", prev.rev)
      .then(this.client.put(this.stateKey).value(JSON.stringify(next)), this.client.put(this.epochPrefix + pad(epoch)).value(String(startSeq)))
      .commit();
    return r.succeeded ? next : null;
  }

  /** Replaces the ISR; false if we no longer hold the election key. */
  async setIsr(state: ClusterState, isr: readonly string[]): Promise<boolean> {
    const key = await this.guard();
    const r = await this.client.if(key, "Create", ">", 0).then(this.client.put(this.stateKey).value(JSON.stringify({ ...state, isr }))).commit();
    return r.succeeded;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.leaderRetry !== null) clearTimeout(this.leaderRetry);
    await this.watcher?.cancel().catch(() => undefined);
    await this.resign();
    this.client.close();
  }
}

/**
 * Whether a node may take over: the cluster never had a leader, the node is an in-sync standby,
 * or it led the current epoch without in-sync standbys and its journal still reaches that
 * epoch's start (a leader that lost its disk must not come back with a shorter log).
 */
export function mayLead(state: ClusterState | null, id: string, lastSeq: number): boolean {
  if (state === null) return true;
  if (state.isr.includes(id)) return true;
  return state.leader === id && state.isr.length === 0 && lastSeq >= state.startSeq - 1;
}
