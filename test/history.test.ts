/**
 * The nemesis drill's history checker can fail: on a small made-up history and log it finds
 * nothing wrong, and each kind of violation put into a copy of them is counted where it
 * belongs (lost, phantom acks, duplicates, rejected in log, forks, diverged, report mismatches),
 * while operations whose outcome the client never learned are only sorted, not blamed.
 */
import { describe, expect, it } from "vitest";
import { encodeRecord, type SeqRecord } from "../src/protocol/record.js";
import { checkHistory, LoggedRecord, replayLog, type CheckInput, type NodeLog, type Op, type ReportSeen } from "../src/tools/drill/history.js";
import { INSTRUMENTS } from "./cluster-helpers.js";

const newOrder = (seq: number, account: number, side: 0 | 1, price: number, qty: number): SeqRecord => ({ seq, epoch: 1, tsUs: 1, cmd: { type: "limit", instrument: 1, orderId: seq, account, side, price, qty } });

function logOf(id: string, recs: readonly SeqRecord[]): NodeLog {
  const records = new Map(recs.map((r) => [r.seq, new LoggedRecord(encodeRecord(r))] as const));
  return { id, lastSeq: recs.length, chain: recs.map((r) => encodeRecord(r).toString("hex")).join(""), records };
}

const op = (o: Partial<Op> & Pick<Op, "acct" | "kind" | "outcome">): Op => ({ side: 0, px: 0, qty: 0, oid: 0, node: 0, invokeMs: 0, endMs: 0, seq: 0, code: 0, ...o });

/** Account 1 bids 100 for 5 (seq 1), account 2 sells 3 at 100 (seq 2, a fill), account 1 cancels its order (seq 3). */
const RECS: SeqRecord[] = [newOrder(1, 1, 0, 100, 5), newOrder(2, 2, 1, 100, 3), { seq: 3, epoch: 1, tsUs: 1, cmd: { type: "cancel", account: 1, orderId: 1 } }];
const OPS: Op[] = [
  op({ acct: 1, kind: "new", side: 0, px: 100, qty: 5, outcome: "ack", seq: 1 }),
  op({ acct: 2, kind: "new", side: 1, px: 100, qty: 3, outcome: "ack", seq: 2 }),
  op({ acct: 1, kind: "cancel", oid: 1, outcome: "unknown" }),
  op({ acct: 2, kind: "new", side: 1, px: 101, qty: 9, outcome: "timeout" }),
];

function input(over: Partial<Omit<CheckInput, "replay">> = {}): CheckInput {
  const logs = over.logs ?? [logOf("s1", RECS), logOf("s2", RECS)];
  const replay = replayLog(logs[over.finalLog ?? 0]!, INSTRUMENTS, {});
  const reports = new Map<number, ReportSeen[]>();
  for (const [key, rep] of replay.reports) {
    const [seq, n] = key.split("/").map(Number) as [number, number];
    const list = reports.get(rep.acct) ?? [];
    list.push({ seq, n, ...rep, atMs: 0 });
    reports.set(rep.acct, list);
  }
  return { ops: OPS, reports, logs, finalLog: 0, replicas: [{ id: "r1", seq: 3, hash: replay.hash }], ...over, replay };
}

const violations = (i: CheckInput): Record<string, number> => {
  const v = checkHistory(i);
  return { lost: v.lost, phantom_acks: v.phantom_acks, duplicates: v.duplicates, rejected_in_log: v.rejected_in_log, forks: v.forks, diverged: v.diverged, report_mismatches: v.report_mismatches };
};
const NONE = { lost: 0, phantom_acks: 0, duplicates: 0, rejected_in_log: 0, forks: 0, diverged: 0, report_mismatches: 0 };

describe("history checker", () => {
  it("finds nothing wrong in a consistent run, and sorts what the client never learned", () => {
    const v = checkHistory(input());
    expect(violations(input())).toEqual(NONE);
    expect(v.indeterminate_in_log).toBe(1);
    expect(v.indeterminate_absent).toBe(1);
    expect(v.journals_identical).toBe(true);
    expect(v.reports_received).toBeGreaterThan(0);
  });

  it("an ack whose order is not at its seq is lost; an ack past the log's end is also a phantom", () => {
    const ops = [...OPS, op({ acct: 1, kind: "new", side: 0, px: 99, qty: 7, outcome: "ack", seq: 3 }), op({ acct: 1, kind: "new", side: 0, px: 99, qty: 8, outcome: "ack", seq: 9 })];
    expect(violations(input({ ops }))).toEqual({ ...NONE, lost: 2, phantom_acks: 1 });
  });

  it("a seq acked twice, or one command in the log twice, is a duplicate", () => {
    const twice = [...OPS, op({ acct: 2, kind: "new", side: 1, px: 100, qty: 4, outcome: "ack", seq: 2 })];
    expect(violations(input({ ops: twice })).duplicates).toBe(1);
    const logged = [...RECS, newOrder(4, 2, 1, 100, 3)];
    expect(violations(input({ logs: [logOf("s1", logged), logOf("s2", logged)], replicas: [{ id: "r1", seq: 4, hash: replayLog(logOf("s1", logged), INSTRUMENTS, {}).hash }] })).duplicates).toBe(1);
  });

  it("a rejected operation found in the log is counted", () => {
    const ops = OPS.map((o) => (o.kind === "cancel" ? { ...o, outcome: "reject" as const, code: 104 } : o));
    expect(violations(input({ ops })).rejected_in_log).toBe(1);
  });

  it("two nodes with different records for a committed seq are a fork; past the committed end only a differing tail", () => {
    const other = [RECS[0]!, newOrder(2, 3, 1, 100, 3), RECS[2]!];
    expect(violations(input({ logs: [logOf("s1", RECS), logOf("s2", other)] })).forks).toBe(1);
    const longer = [...RECS, newOrder(4, 3, 0, 90, 1)];
    const tail = [...RECS, newOrder(4, 4, 0, 91, 1)];
    const v = checkHistory(input({ logs: [logOf("s1", RECS), logOf("s2", longer), logOf("s3", tail)] }));
    expect(v.forks).toBe(0);
    expect(v.tails_differ).toBe(1);
    expect(v.journals_identical).toBe(false);
  });

  it("a replica behind the log or with another hash has diverged", () => {
    const base = input();
    expect(violations({ ...base, replicas: [{ id: "r1", seq: 2, hash: base.replay.hash }, { id: "r2", seq: 3, hash: "0000000000000000" }] }).diverged).toBe(2);
  });

  it("a report that differs from the replay's at its (seq, n), or that the replay lacks, is a mismatch", () => {
    const base = input();
    const reports = new Map([...base.reports].map(([a, list]) => [a, list.map((r) => ({ ...r }))]));
    const first = reports.get(1)![0]!;
    reports.get(1)![0] = { ...first, qty: (first.qty ?? 0) + 1 };
    reports.get(2)!.push({ ...reports.get(2)![0]!, seq: 3, n: 5 });
    expect(violations({ ...base, reports }).report_mismatches).toBe(2);
  });
});
