/**
 * An independent check of a drill's run, from what clients saw and what the nodes left on disk,
 * trusting none of the system's own counters:
 *
 *   history   every client operation: invoked (when, what, through which node), then acked
 *             (seq), rejected (code), timed out or unknown (the connection went first); every
 *             execution report a feed client received
 *   journals  every sequencer node's journal, read record by record and decoded
 *   replay    the final log through a fresh engine, building each command's reports the way a
 *             replica does (src/replica/outputs.ts), so each (seq, n) has one true report
 *
 * Verdicts (each should be 0):
 *   lost              acked operations whose command is not at their acked seq in the final log
 *   phantom_acks      acks for a seq the final log does not have at all (these are lost too)
 *   duplicates        a seq acked to two operations, or one operation's command in the log twice
 *   rejected_in_log   operations refused with REJECT (nothing happened, says the protocol) that
 *                     are in the log anyway
 *   forks             seqs up to the committed end (the highest seq acked or applied by a
 *                     replica) that two nodes' journals hold with different records
 *   diverged          replicas not at the final log's last seq with the replay's state hash
 *   report_mismatches reports received that differ from the replay's at their (seq, n), or that
 *                     the replay does not have
 * Each operation carries a tag that makes its command unique in the log (a new order's quantity
 * is a per-account counter; a cancel names an order once), so "in the log" is decided by
 * content, not by the seq the system reported.
 */
import { Engine } from "../../engine/index.js";
import type { EngineOptions, InstrumentConfig } from "../../engine/index.js";
import { Journal } from "../../journal/journal.js";
import type { Report } from "../../protocol/messages.js";
import { decodeRecord, type SeqRecord } from "../../protocol/record.js";
import { CommandOutputs, type ReportOut } from "../../replica/outputs.js";

export type Outcome = "pending" | "ack" | "reject" | "timeout" | "unknown";

/** One client operation, as the client saw it. */
export interface Op {
  readonly acct: number;
  readonly kind: "new" | "cancel";
  /** New orders: side, price and the quantity that tags them; cancels: the order cancelled. */
  readonly side: 0 | 1;
  readonly px: number;
  readonly qty: number;
  readonly oid: number;
  /** Index of the sequencer node whose /trade the connection went to. */
  readonly node: number;
  readonly invokeMs: number;
  endMs: number;
  outcome: Outcome;
  seq: number;
  code: number;
}

/** A report as a feed client's application received it, with when. */
export interface ReportSeen extends Omit<Report, "v" | "t"> {
  readonly atMs: number;
}

/**
 * One record of a node's journal: its bytes (a view of the page it was read with), decoded when
 * asked. A long run's three journals hold millions of records; decoding them all up front took
 * the checker past a 4 GB heap at 2.1 million records each.
 */
export class LoggedRecord {
  constructor(readonly bytes: Buffer) {}
  get rec(): SeqRecord {
    return decodeRecord(this.bytes);
  }
}

/** One node's journal: seq → its record. */
export interface NodeLog {
  readonly id: string;
  readonly lastSeq: number;
  readonly chain: string;
  readonly records: Map<number, LoggedRecord>;
}

export function readNodeLog(id: string, dir: string): NodeLog {
  const j = Journal.open({ dir, segmentBytesMax: Number.MAX_SAFE_INTEGER, fsync: { mode: "none" }, retainSegmentsMax: 0 });
  try {
    const records = new Map<number, LoggedRecord>();
    for (const r of j.records()) records.set(r.seq, new LoggedRecord(r.payload));
    return { id, lastSeq: j.lastSeq, chain: j.chain.toString("hex"), records };
  } finally {
    j.close();
  }
}

export interface CheckInput {
  readonly ops: readonly Op[];
  /** Per account, the reports its feed client received, in arrival order. */
  readonly reports: ReadonlyMap<number, readonly ReportSeen[]>;
  readonly logs: readonly NodeLog[];
  /** Which of `logs` is the final log (the last leader's). */
  readonly finalLog: number;
  readonly replicas: readonly { readonly id: string; readonly seq: number; readonly hash: string }[];
  /** replayLog() of the final log. */
  readonly replay: Replay;
}

export interface Verdict {
  lost: number; phantom_acks: number; duplicates: number; rejected_in_log: number;
  forks: number; diverged: number; report_mismatches: number;
  /** Not violations: what became of operations whose outcome the client never learned. */
  indeterminate_in_log: number; indeterminate_absent: number;
  /** Reports the replay has for an account, up to the last its feed received, that never arrived. */
  reports_missing: number;
  reports_received: number;
  final_seq: number; committed_end: number; replay_hash: string;
  /** Seqs past the committed end where nodes' journals differ (uncommitted tails; not violations). */
  tails_differ: number;
  journals_identical: boolean;
  /** The first few violations of each kind, to start a diagnosis from. */
  examples: Record<string, unknown[]>;
}

const EXAMPLES_MAX = 5;

/** The command an operation sent, by its tag: `acct/n/qty` for a new order, `acct/c/oid` for a cancel. */
function tagOfOp(o: Op): string {
  return o.kind === "new" ? `${o.acct}/n/${o.qty}` : `${o.acct}/c/${o.oid}`;
}

function tagOfRecord(r: SeqRecord): string | null {
  const c = r.cmd;
  if (c.type === "limit") return `${c.account}/n/${c.qty}`;
  if (c.type === "cancel") return `${c.account}/c/${c.orderId}`;
  return null;
}

/** Whether the record is exactly what the operation asked for. */
function matches(o: Op, r: SeqRecord): boolean {
  const c = r.cmd;
  if (c.account !== o.acct) return false;
  if (o.kind === "cancel") return c.type === "cancel" && c.orderId === o.oid;
  return c.type === "limit" && c.side === o.side && c.price === o.px && c.qty === o.qty && c.orderId === r.seq;
}

/** The final log replayed: every report by `seq/acct/n`, each account's reports in order, the state hash. */
export interface Replay { readonly reports: Map<string, ReportOut>; readonly byAccount: Map<number, { seq: number; n: number }[]>; readonly hash: string }

/** Replays a node's log from seq 1 through a fresh engine, building reports as a replica does. */
export function replayLog(log: NodeLog, instruments: readonly InstrumentConfig[], options: EngineOptions): Replay {
  const out = new CommandOutputs();
  const engine = new Engine(instruments, out, options);
  const reports = new Map<string, ReportOut>();
  const byAccount = new Map<number, { seq: number; n: number }[]>();
  for (let seq = 1; seq <= log.lastSeq; seq++) {
    const r = log.records.get(seq);
    if (r === undefined) throw new Error(`history: ${log.id}'s journal has no seq ${seq} below its last, ${log.lastSeq}`);
    out.begin(seq);
    engine.apply(r.rec.cmd);
    out.end();
    // A command's reports are numbered per account: (seq, acct, n) names one exactly.
    for (const rep of out.reports) {
      reports.set(`${seq}/${rep.acct}/${rep.n}`, { ...rep });
      let list = byAccount.get(rep.acct);
      if (list === undefined) byAccount.set(rep.acct, (list = []));
      list.push({ seq, n: rep.n });
    }
  }
  return { reports, byAccount, hash: engine.stateHash() };
}

const REPORT_FIELDS = ["acct", "k", "oid", "n", "st", "coid", "px", "qty", "left", "cum", "ntl", "code", "tid", "liq", "cnt"] as const;

function sameReport(got: ReportSeen, want: ReportOut): boolean {
  const g = got as unknown as Record<string, unknown>;
  const w = want as unknown as Record<string, unknown>;
  return REPORT_FIELDS.every((f) => g[f] === w[f]) && (g.last === true) === (w.last === true);
}

export function checkHistory(input: CheckInput): Verdict {
  const final = input.logs[input.finalLog]!;
  const examples: Record<string, unknown[]> = {};
  const note = (what: string, x: unknown): void => {
    const list = (examples[what] ??= []);
    if (list.length < EXAMPLES_MAX) list.push(x);
  };

  // ---- operations against the final log
  const seqOfTag = new Map<string, number[]>();
  for (const [seq, r] of final.records) {
    const tag = tagOfRecord(r.rec);
    if (tag === null) continue;
    const seqs = seqOfTag.get(tag);
    if (seqs === undefined) seqOfTag.set(tag, [seq]);
    else seqs.push(seq);
  }
  let lost = 0, phantom = 0, duplicates = 0, rejectedInLog = 0, indeterminateIn = 0, indeterminateOut = 0;
  const ackedSeqs = new Set<number>();
  let committedEnd = 0;
  for (const o of input.ops) {
    const inLog = seqOfTag.has(tagOfOp(o));
    if (o.outcome === "ack") {
      committedEnd = Math.max(committedEnd, o.seq);
      if (ackedSeqs.has(o.seq)) { duplicates++; note("duplicate_ack", o); }
      ackedSeqs.add(o.seq);
      const r = final.records.get(o.seq);
      if (r === undefined) { phantom++; note("phantom_ack", o); }
      if (r === undefined || !matches(o, r.rec)) { lost++; note("lost", { op: o, at_seq: r?.rec ?? null }); }
    } else if (o.outcome === "reject") {
      if (inLog) { rejectedInLog++; note("rejected_in_log", o); }
    } else if (inLog) indeterminateIn++;
    else indeterminateOut++;
  }
  for (const [tag, seqs] of seqOfTag) if (seqs.length > 1) { duplicates += seqs.length - 1; note("duplicate_in_log", { tag, seqs }); }

  // ---- journals against each other
  for (const r of input.replicas) committedEnd = Math.max(committedEnd, Math.min(r.seq, final.lastSeq));
  let forks = 0, tailsDiffer = 0;
  const top = Math.max(...input.logs.map((l) => l.lastSeq));
  for (let seq = 1; seq <= top; seq++) {
    const held = input.logs.map((l) => l.records.get(seq)).filter((r) => r !== undefined);
    if (held.some((r) => !r.bytes.equals(held[0]!.bytes))) {
      if (seq <= committedEnd) { forks++; note("fork", { seq, records: input.logs.map((l) => ({ id: l.id, rec: l.records.get(seq)?.rec ?? null })) }); }
      else tailsDiffer++;
    }
  }
  const journalsIdentical = input.logs.every((l) => l.lastSeq === final.lastSeq && l.chain === final.chain);

  // ---- replicas and reports against the replay
  const truth = input.replay;
  let diverged = 0;
  for (const r of input.replicas) if (r.seq !== final.lastSeq || r.hash !== truth.hash) { diverged++; note("diverged", r); }
  let mismatches = 0, missing = 0, received = 0;
  for (const [acct, seen] of input.reports) {
    received += seen.length;
    const got = new Set<string>();
    for (const rep of seen) {
      const key = `${rep.seq}/${acct}/${rep.n}`;
      got.add(key);
      const want = truth.reports.get(key);
      if (want === undefined || !sameReport(rep, want)) { mismatches++; note("report_mismatch", { got: rep, want: want ?? null }); }
    }
    const last = seen.at(-1);
    for (const k of truth.byAccount.get(acct) ?? []) {
      if (last !== undefined && (k.seq < last.seq || (k.seq === last.seq && k.n <= last.n)) && !got.has(`${k.seq}/${acct}/${k.n}`)) { missing++; note("report_missing", { acct, ...k }); }
    }
  }
  return {
    lost, phantom_acks: phantom, duplicates, rejected_in_log: rejectedInLog, forks, diverged, report_mismatches: mismatches,
    indeterminate_in_log: indeterminateIn, indeterminate_absent: indeterminateOut, reports_missing: missing, reports_received: received,
    final_seq: final.lastSeq, committed_end: committedEnd, replay_hash: truth.hash, tails_differ: tailsDiffer, journals_identical: journalsIdentical, examples,
  };
}
