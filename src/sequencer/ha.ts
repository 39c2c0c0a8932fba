/**
 * Leadership with standbys (docs/failover.md): which node leads comes from etcd (coordinator.ts).
 *
 *   standby   journals the leader's log through the replication subscriber (as a follower with
 *             `sb: true`), cutting first any tail a newer epoch replaced; refuses clients and
 *             replicas (NOT_LEADER)
 *   promote   once elected and allowed to lead (mayLead: in the ISR, or the last leader), takes
 *             the next epoch in a transaction that fails if the cluster state changed
 *   lead      keeps the in-sync standbys (ISR) in etcd: a standby joins once caught up and
 *             leaves when it disconnects or lags past isrLagMsMax, written before the leader
 *             goes on without it; the sequencer sends replicas, and acks clients, only what
 *             every ISR standby has journaled (commitSeq)
 *   fence     a leader whose lease is lost stops serving at once (the supervisor restarts it)
 */
import type { Logger } from "pino";
import type { Clock } from "../clock/clock.js";
import type { Journal } from "../journal/journal.js";
import { decodeRecord } from "../protocol/record.js";
import type { Publisher } from "../replication/publisher.js";
import type { RecordRing } from "../replication/record-ring.js";
import { Subscriber } from "../replication/subscriber.js";
import { mayLead, type ClusterState, type Coordinator } from "./coordinator.js";

export interface HaOptions {
  readonly coordinator: Coordinator;
  /** This node's id (the same as the coordinator's). */
  readonly id: string;
  /** An in-sync standby that has not caught up for this long leaves the ISR. */
  readonly isrLagMsMax: number;
  /** Our key when the leader requires authentication of followers. */
  readonly credentials?: { readonly keyId: string; readonly secret: string };
  /** Called once if leadership is lost while leading; the node has stopped serving. */
  readonly onFenced: (why: string) => void;
}

/** What leadership needs of the sequencer it runs in. */
export interface HaHost {
  readonly journal: Journal;
  readonly ring: RecordRing;
  readonly publisher: Publisher;
  readonly clock: Clock;
  readonly log: Logger;
  readonly batchRecordsMax: number;
  readonly role: "leader" | "standby" | "fenced";
  /** The epoch led, or the newest seen. */
  epoch: number;
  selfUrl(): string;
  scheduleTick(): void;
  /** Elected and allowed: lead `epoch` from the journal's end. */
  lead(epoch: number): void;
  /** Records after `seq` were cut: nothing beyond it is committed. */
  cutTo(seq: number): void;
  /** Leadership is gone while leading: stop serving now. */
  fence(why: string): void;
}

/** A standby's PING to the leader, so that each side can tell a quiet link from a dead one. */
const STANDBY_HEARTBEAT_MS = 250;
/** A standby elected while not allowed to lead resigns and campaigns again after this. */
const RECAMPAIGN_MS = 500;
/** The leader re-checks the ISR at least this often while idle, as a share of isrLagMsMax. */
const ISR_CHECKS_PER_LAG = 4;
const ISR_CHECK_MS_MIN = 10;

/** Epoch of the last record in the journal (0 when empty). */
export function lastLoggedEpoch(journal: Journal): number {
  const last = journal.lastSeq;
  if (last === 0 || last < journal.firstSeq) return 0;
  return decodeRecord(journal.read(last, 1)[0]!.payload).epoch;
}

export class Leadership {
  private readonly follower: Subscriber;
  private leaderUrl_: string | undefined;
  private clusterState: ClusterState | null = null;
  /** In-sync standbys as confirmed in etcd. */
  private isr = new Set<string>();
  private isrWriting = false;
  private timer: NodeJS.Timeout | null = null;
  /** State revision at which we last found ourselves not allowed to lead (logged once). */
  private ineligibleAt = "";
  private promoting = false;

  constructor(private readonly ha: HaOptions, private readonly host: HaHost) {
    const j = host.journal;
    this.follower = new Subscriber({
      id: ha.id, standby: true, clock: host.clock, log: host.log, ...(ha.credentials === undefined ? {} : { credentials: ha.credentials }),
      position: () => ({ next: j.lastSeq + 1, chain: j.chain }),
      epoch: () => host.epoch,
      onRecords: (b) => {
        b.recs.forEach((r, i) => {
          const payload = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
          host.ring.push(b.first + i, payload, j.append(b.first + i, payload));
        });
        j.flush();
      },
      beforeSubscribe: () => this.cutReplacedTail(),
      // Heartbeats: they keep the leader's silence check (and ours) quiet while no record flows.
      probeIntervalMs: STANDBY_HEARTBEAT_MS,
    });
  }

  get leaderUrl(): string | undefined {
    return this.leaderUrl_;
  }
  /** Whether our lease is certainly alive: without it the leader holds replication and acks. */
  get leaseAlive(): boolean {
    return this.ha.coordinator.leading;
  }
  get inSync(): number {
    return this.isr.size;
  }

  async join(): Promise<void> {
    await this.cutReplacedTail();
    await this.ha.coordinator.observe((url) => {
      this.leaderUrl_ = url;
      if (this.host.role === "standby") this.followLeader();
    });
    this.campaign();
    // Ticks while idle too, so an in-sync standby that stops answering leaves the ISR and a
    // lease renewed after a pause releases what was held.
    this.timer = setInterval(() => this.host.scheduleTick(), Math.max(ISR_CHECK_MS_MIN, Math.floor(this.ha.isrLagMsMax / ISR_CHECKS_PER_LAG)));
  }

  /**
   * A standby whose journal cannot be written stops taking records (they would pile up in
   * memory) and leaves the election: elected, it would lead from records its disk does not hold,
   * send them to replicas and ack after them, and lose them if it then crashed...
   */
  onJournalStalled(): void {
    this.follower.stop();
    if (this.host.role === "standby") void this.ha.coordinator.resign();
  }

  /** ... and follows again from what it holds, and campaigns again, once it can. */
  onJournalWritable(): void {
    if (this.host.role !== "standby") return;
    this.followLeader();
    this.campaign();
  }

  /** Why this node may not lead now, whatever etcd says (null: nothing against it). */
  private unfitToLead(): string | null {
    const j = this.host.journal;
    if (j.stalled !== null) return `its journal cannot be written (${j.stalled})`;
    if (j.lastWrittenSeq < j.lastSeq) return `records ${j.lastWrittenSeq + 1}..${j.lastSeq} are not on its disk yet`;
    return null;
  }

  /** A standby tells the leader how far its journal is durable. */
  onDurable(seq: number): void {
    this.follower.status({ seq, ck: 0, ckh: "" });
  }

  private followLeader(): void {
    const url = this.leaderUrl_;
    this.follower.follow(url === undefined || url === this.host.selfUrl() ? [] : [`${url}/replicate`]);
  }

  /**
   * Records after the start of an epoch newer than our last record's were written by a leader
   * that was replaced; they were never sent to replicas or acked (the new leader was in sync
   * and lacks them), so they are cut before following the new log.
   */
  private async cutReplacedTail(): Promise<void> {
    const j = this.host.journal;
    const mine = lastLoggedEpoch(j);
    const held = j.lastSeq;
    const newer = await this.ha.coordinator.epochsAfter(mine);
    const { state } = await this.ha.coordinator.readState();
    // Elected while etcd answered: the newer epoch may be our own, its records ours and already
    // sent. Only a standby cuts, and only from what it held before asking (found by the
    // nemesis drill: a leader cut its own new epoch's records, which its standbys then refused
    // as a fork).
    if (this.host.role !== "standby") throw new Error(`no longer a standby (${this.host.role}): nothing to follow or cut`);
    if (j.lastSeq !== held) throw new Error(`the journal moved from ${held} to ${j.lastSeq} while etcd answered: asking again`);
    if (state !== null && state.epoch > this.host.epoch) this.host.epoch = state.epoch;
    const cut = newer.length === 0 ? j.lastSeq : newer[0]!.startSeq - 1;
    if (cut >= j.lastSeq) return;
    this.host.log.warn({ from: cut + 1, to: j.lastSeq, epoch: mine, newerEpoch: newer[0]!.epoch }, "journal: cutting records a newer epoch replaced (never committed)");
    j.truncateAfter(cut);
    this.host.ring.clear();
    this.host.cutTo(cut);
  }

  private campaign(): void {
    this.ha.coordinator.campaign(this.host.selfUrl(), () => void this.onElected(), (why) => this.onLeaseLost(why));
  }

  private recampaignLater(): void {
    setTimeout(() => { if (this.host.role === "standby" && this.host.journal.stalled === null) this.campaign(); }, RECAMPAIGN_MS);
  }

  private async onElected(): Promise<void> {
    if (this.host.role !== "standby" || this.promoting) return;
    this.promoting = true;
    try {
      await this.promote();
    } finally {
      this.promoting = false;
    }
  }

  private async promote(): Promise<void> {
    const j = this.host.journal;
    // Take nothing more from the old leader from here on.
    this.follower.stop();
    j.flush();
    const unfit = this.unfitToLead();
    if (unfit !== null) {
      this.host.log.warn({ lastSeq: j.lastSeq, written: j.lastWrittenSeq }, `elected, but ${unfit}: resigning until it can write`);
      return await this.stepBack();
    }
    try {
      const prev = await this.ha.coordinator.readState();
      const next = mayLead(prev.state, this.ha.id, j.lastSeq) ? await this.ha.coordinator.promote(prev, j.lastSeq + 1, lastLoggedEpoch(j)) : null;
      if (next === null) {
        if (prev.rev !== this.ineligibleAt) this.host.log.warn({ state: prev.state, lastSeq: j.lastSeq }, "elected, but not in sync with the last leader: resigning until it or an in-sync standby returns");
        this.ineligibleAt = prev.rev;
        return await this.stepBack();
      }
      // The disk may have filled while etcd answered: then not leading (the new epoch names us,
      // so once we can write we may lead it, as its last leader with its log).
      const late = this.unfitToLead();
      if (late !== null) {
        this.host.log.warn({ epoch: next.epoch, lastSeq: j.lastSeq, written: j.lastWrittenSeq }, `promoted, but ${late}: not leading; resigning until it can write`);
        return await this.stepBack();
      }
      this.clusterState = next;
      this.isr = new Set();
      this.host.lead(next.epoch);
      // A leader change seen while etcd answered may have started following again: a leader follows nobody.
      this.follower.stop();
      this.host.log.warn({ epoch: next.epoch, startSeq: next.startSeq }, "promoted: leading a new epoch");
    } catch (err) {
      this.host.log.error({ err: (err as Error).message }, "promotion failed: resigning");
      await this.stepBack();
    }
  }

  /** Not leading after all: resign, follow the leader again, campaign later. */
  private async stepBack(): Promise<void> {
    await this.ha.coordinator.resign();
    // A stalled journal follows (and campaigns) again from onJournalWritable.
    if (this.host.journal.stalled !== null) return;
    this.followLeader();
    this.recampaignLater();
  }

  private onLeaseLost(why: string): void {
    if (this.host.role === "leader") return this.host.fence(`lease lost: ${why}`);
    if (this.host.role !== "standby") return;
    this.host.log.warn({ why }, "standby: campaign lost its lease; campaigning again");
    this.recampaignLater();
  }

  /**
   * Leader: adds a standby to the ISR once it is caught up, removes one that disconnected or
   * has not caught up for isrLagMsMax. One etcd write at a time; the gate uses the confirmed set.
   */
  updateIsr(): void {
    if (this.host.role !== "leader" || this.isrWriting || this.clusterState === null) return;
    const last = this.host.journal.lastSeq;
    const now = performance.now();
    const want = new Set(this.isr);
    const connected = new Set<string>();
    for (const d of this.host.publisher.standbys()) {
      connected.add(d.rid);
      if (d.applied >= last) d.caughtUpMs = now;
      if (last - d.applied <= this.host.batchRecordsMax) want.add(d.rid);
      if (want.has(d.rid) && now - d.caughtUpMs > this.ha.isrLagMsMax) want.delete(d.rid);
    }
    for (const rid of want) if (!connected.has(rid)) want.delete(rid);
    if (want.size === this.isr.size && [...want].every((r) => this.isr.has(r))) return;
    this.writeIsr(this.clusterState, want);
  }

  private writeIsr(state: ClusterState, want: Set<string>): void {
    this.isrWriting = true;
    this.ha.coordinator.setIsr(state, [...want]).then((ok) => {
      this.isrWriting = false;
      if (!ok) return this.host.fence("our election key is gone");
      this.isr = want;
      this.clusterState = { ...state, isr: [...want] };
      this.host.log.info({ isr: [...want] }, "in-sync standbys changed");
      this.host.scheduleTick();
    }, (err: Error) => {
      this.isrWriting = false;
      this.host.log.error({ err: err.message }, "etcd: could not update the in-sync standbys; will retry");
      setTimeout(() => this.host.scheduleTick(), RECAMPAIGN_MS);
    });
  }

  /** The highest seq every in-sync standby has journaled. */
  commitSeq(): number {
    let c = this.host.journal.lastSeq;
    for (const rid of this.isr) c = Math.min(c, this.host.publisher.durableOf(rid));
    return c;
  }

  stats(): { id: string; leader: string | null; following: string | null; isr: string[]; forked: string | null } {
    return { id: this.ha.id, leader: this.leaderUrl_ ?? null, following: this.follower.following, isr: [...this.isr], forked: this.follower.forked };
  }

  stop(): void {
    this.follower.stop();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    void this.ha.coordinator.close();
  }
}
