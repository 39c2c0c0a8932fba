/**
 * The replica's resume ring keeps reports as columns, not objects (src/replica/report-ring.ts).
 * What a resuming client gets from it must be byte for byte what a live subscriber got: every
 * report of long random engine streams (and one of each kind the streams do not make: KILL_DONE,
 * MOVED, IMPORTED) goes into a ring, and its frame read back from the ring equals the frame
 * encoded from the report itself, for every account and starting seq; a full ring keeps exactly
 * the newest `capacity` reports.
 */
import fc from "fast-check";
import { unpack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { Engine, OrderStatus } from "../src/engine/index.js";
import { MsgType, PROTOCOL_VERSION } from "../src/protocol/messages.js";
import { packSequenced } from "../src/protocol/wire.js";
import { CommandOutputs, type ReportOut } from "../src/replica/outputs.js";
import { ReportRing } from "../src/replica/report-ring.js";
import { INST, anyCommandArb } from "./helpers.js";

const seed = Number(process.env.FC_SEED ?? 20261201);
const frameOf = (seq: number, rep: ReportOut): Buffer => packSequenced(PROTOCOL_VERSION, MsgType.REPORT, seq, rep);

/** Every report of `cmds`, numbered and marked as a replica publishes them, with the kinds no stream makes after them. */
function reportsOf(cmds: Parameters<Engine["apply"]>[0][]): { seq: number; rep: ReportOut }[] {
  const out = new CommandOutputs();
  const e = new Engine([INST], out, { recentClientOrderIdsMaxPerAccount: 100_000 });
  const all: { seq: number; rep: ReportOut }[] = [];
  const take = (seq: number): void => { for (const rep of out.reports) all.push({ seq, rep }); };
  cmds.forEach((c, i) => {
    out.begin(i + 1);
    e.apply(c);
    out.end();
    take(i + 1);
  });
  let seq = cmds.length;
  out.begin(++seq);
  out.killed(3, 7);
  out.movedAway(1, 41, 3, 5, 2, 200, "mv-1", "s2");
  out.movedAway(1, 42, 4, 5, 0, 0, "", "s2");
  out.imported(1, 43, 3, 41, OrderStatus.PARTIALLY_FILLED, 5, 2, 200, "mv-1", "s1");
  out.imported(1, 44, 4, 42, OrderStatus.NEW, 5, 0, 0, "", "s1");
  out.end();
  take(seq);
  return all;
}

/** Every field a report may have, in the order the ring and the wire list them. */
const REPORT_KEYS = ["n", "acct", "k", "oid", "st", "coid", "px", "qty", "left", "cum", "ntl", "code", "tid", "liq", "cnt", "to", "from", "foid", "last"];

describe("execution reports", () => {
  it("all have one shape (every field, in one order), and a frame carries only the fields that are set, in that order", () => {
    const reports = reportsOf(fc.sample(fc.array(anyCommandArb, { minLength: 400, maxLength: 400 }), { seed, numRuns: 1 })[0]!);
    expect(new Set(reports.map((r) => r.rep.k)).size).toBeGreaterThanOrEqual(8);
    for (const { seq, rep } of reports) {
      expect(Object.keys(rep)).toEqual(REPORT_KEYS);
      const wire = Object.keys(unpack(frameOf(seq, rep)) as object);
      expect(wire).toEqual(["v", "t", "seq", ...REPORT_KEYS.filter((f) => (rep as unknown as Record<string, unknown>)[f] !== undefined)]);
    }
  });
});

describe("the report ring", () => {
  it("gives back every report's frame byte for byte, per account and from any seq", () => {
    fc.assert(
      fc.property(fc.array(anyCommandArb, { minLength: 50, maxLength: 400 }), fc.nat(), (cmds, pick) => {
        const reports = reportsOf(cmds);
        const ring = new ReportRing(reports.length);
        for (const { seq, rep } of reports) ring.push(seq, rep);
        const accounts = [...new Set(reports.map((r) => r.rep.acct))];
        const from = reports.length === 0 ? 1 : reports[pick % reports.length]!.seq;
        for (const acct of accounts) {
          const got: string[] = [];
          ring.forEachFrame(acct, from, frameOf, (f) => got.push(f.toString("hex")));
          const want = reports.filter((r) => r.rep.acct === acct && r.seq >= from).map((r) => frameOf(r.seq, r.rep).toString("hex"));
          expect(got).toEqual(want);
        }
      }),
      { seed, numRuns: 60 },
    );
  });

  it("keeps the newest `capacity` reports and says the oldest seq it keeps", () => {
    const reports = reportsOf(fc.sample(fc.array(anyCommandArb, { minLength: 300, maxLength: 300 }), { seed, numRuns: 1 })[0]!);
    const capacity = 100;
    const ring = new ReportRing(capacity);
    expect(ring.oldestSeq).toBeUndefined();
    reports.forEach(({ seq, rep }) => ring.push(seq, rep));
    expect(ring.length).toBe(capacity);
    const kept = reports.slice(-capacity);
    expect(ring.oldestSeq).toBe(kept[0]!.seq);
    for (const acct of new Set(kept.map((r) => r.rep.acct))) {
      const frames: string[] = [];
      ring.forEachFrame(acct, 0, frameOf, (f) => frames.push(f.toString("hex")));
      expect(frames).toEqual(kept.filter((r) => r.rep.acct === acct).map((r) => frameOf(r.seq, r.rep).toString("hex")));
    }
  });
});
