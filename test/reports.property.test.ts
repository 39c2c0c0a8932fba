/**
 * Properties of the execution reports a replica publishes (CommandOutputs listening to the
 * engine), over long seeded random streams of every command type with client order ids that
 * collide and hostile values among them:
 * (a) for every command, each account's reports are numbered 0, 1, … and exactly the last one
 *     has `last`; the account that sent the command (a trading account, > 0) gets at least one;
 * (b) every order report's `cum`, `left` and `ntl` agree with a replay of that order's own fills
 *     and modifies, and its status with them; a reject that names a finished order reports how
 *     that order ended (for an OCO pair, the leg that was not cancelled by its peer);
 * (c) while remembered, a client order id never creates a second order: each (account, coid) is
 *     accepted by one command at most, and every DUPLICATE_CLIENT_ORDER_ID reject names an
 *     order that command created;
 * (d) snapshot + restore at a random point keeps the client id state: the same hash, the same
 *     answers to a resend of every id, and the same events for the rest of the stream.
 * Seeds are fixed so CI is repeatable; set FC_SEED to explore others.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CancelReason, Engine, EventRecorder, OrderStatus, Reason, Stp, Tif, type Command, type EngineSnapshot } from "../src/engine/index.js";
import { ReportKind } from "../src/protocol/messages.js";
import { CommandOutputs, type ReportOut } from "../src/replica/outputs.js";
import { INST, anyCommandArb } from "./helpers.js";

const seed = Number(process.env.FC_SEED ?? 20261125);
const longStream = fc.array(anyCommandArb, { minLength: 200, maxLength: 1000, size: "max" });
/** Larger than any stream: no client id is forgotten, so (c) can be checked against the whole stream. */
const REMEMBER_ALL = { recentClientOrderIdsMaxPerAccount: 100_000 };

/** Applies each command and hands its reports, numbered and marked, to `check`. */
function replay(cmds: readonly Command[], check: (c: Command, reports: readonly ReportOut[], i: number) => void): Engine {
  const out = new CommandOutputs();
  const e = new Engine([INST], out, REMEMBER_ALL);
  cmds.forEach((c, i) => {
    out.begin(i + 1);
    e.apply(c);
    out.end();
    check(c, out.reports, i);
  });
  return e;
}

const isNew = (c: Command): boolean => c.type === "limit" || c.type === "market" || c.type === "stop" || c.type === "oco";
const LIVE: ReadonlySet<number> = new Set([OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_TRIGGER]);

describe("execution report properties", () => {
  it("(a) each account's reports of a command are numbered from 0 and end with exactly one last; the sender always hears back", () => {
    fc.assert(
      fc.property(longStream, (cmds) => {
        replay(cmds, (c, reports) => {
          const byAccount = new Map<number, ReportOut[]>();
          for (const r of reports) byAccount.set(r.acct, [...(byAccount.get(r.acct) ?? []), r]);
          for (const list of byAccount.values()) {
            expect(list.map((r) => r.n)).toEqual(list.map((_, k) => k));
            expect(list.map((r) => r.last === true)).toEqual(list.map((_, k) => k === list.length - 1));
          }
          if (c.account > 0) expect(byAccount.get(c.account)?.length ?? 0).toBeGreaterThan(0);
        });
      }),
      { seed, numRuns: 60 },
    );
  });

  it("(a) holds for any number of reports to any accounts, below and above the count end() stops comparing pairwise at", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 40 }), (accounts) => {
        const out = new CommandOutputs();
        out.begin(1);
        for (const a of accounts) out.killed(a, 0);
        out.end();
        const seen = new Map<number, number>();
        const want = accounts.map((a) => { const n = seen.get(a) ?? 0; seen.set(a, n + 1); return n; });
        expect(out.reports.map((r) => r.n)).toEqual(want);
        expect(out.reports.map((r) => r.last === true)).toEqual(accounts.map((a, i) => want[i] === seen.get(a)! - 1));
      }),
      { seed, numRuns: 300 },
    );
  });

  it("(b) cum, left and ntl agree with a replay of each order's fills; statuses agree with them", () => {
    fc.assert(
      fc.property(longStream, (cmds) => {
        const open = new Map<number, { left: number; cum: number; ntl: number }>();
        const ended = new Map<string, { oid: number; st: number; cum: number; ntl: number }>();
        replay(cmds, (_c, reports) => {
          for (const r of reports) {
            if (r.k === ReportKind.KILL_DONE) {
              expect(r.st).toBeUndefined();
              continue;
            }
            const m = open.get(r.oid);
            if (r.k === ReportKind.ACCEPTED) {
              expect([r.left, r.cum, r.ntl]).toEqual([r.qty, 0, 0]);
              open.set(r.oid, { left: r.qty!, cum: 0, ntl: 0 });
            } else if (r.k === ReportKind.FILL) {
              m!.left -= r.qty!;
              m!.cum += r.qty!;
              m!.ntl += r.px! * r.qty!;
              expect([r.left, r.cum, r.ntl, r.st]).toEqual([m!.left, m!.cum, m!.ntl, m!.left === 0 ? OrderStatus.FILLED : OrderStatus.PARTIALLY_FILLED]);
            } else if (r.k === ReportKind.MODIFIED) {
              m!.left = r.qty!;
              expect([r.left, r.cum, r.ntl, r.st]).toEqual([m!.left, m!.cum, m!.ntl, m!.cum > 0 ? OrderStatus.PARTIALLY_FILLED : OrderStatus.NEW]);
            } else if (r.k === ReportKind.TRIGGERED) {
              expect([r.left, r.cum, r.st]).toEqual([m!.left, 0, OrderStatus.NEW]);
            } else if (r.k === ReportKind.CANCELLED || r.k === ReportKind.EXPIRED) {
              expect([r.qty, r.left, r.cum, r.ntl]).toEqual([m!.left, 0, m!.cum, m!.ntl]);
              expect(r.st).toBe(r.k === ReportKind.CANCELLED ? OrderStatus.CANCELLED : OrderStatus.EXPIRED);
            } else if (r.k === ReportKind.REJECTED) {
              if (LIVE.has(r.st!)) expect([r.left, r.cum, r.ntl]).toEqual([m!.left, m!.cum, m!.ntl]);
              else if (r.st === OrderStatus.REJECTED) expect([r.left, r.cum, r.ntl]).toEqual([0, 0, 0]);
              else expect({ oid: r.oid, st: r.st, cum: r.cum, ntl: r.ntl }).toEqual(ended.get(`${r.acct}/${r.coid}`));
            }
            const done = r.st === OrderStatus.FILLED || r.st === OrderStatus.CANCELLED || r.st === OrderStatus.EXPIRED;
            if (done && r.k !== ReportKind.REJECTED) {
              open.delete(r.oid);
              // An OCO leg cancelled by its peer never ends the pair: the peer holds the client id on.
              const byPeer = r.k === ReportKind.CANCELLED && r.code === CancelReason.OCO;
              if (r.coid !== undefined && !byPeer) ended.set(`${r.acct}/${r.coid}`, { oid: r.oid, st: r.st!, cum: r.cum!, ntl: r.ntl! });
            }
          }
        });
      }),
      { seed, numRuns: 60 },
    );
  });

  it("(c) a client order id is accepted by one command at most; a resend's reject names an order of that command", () => {
    let duplicates = 0;
    fc.assert(
      fc.property(longStream, (cmds) => {
        const first = new Map<string, { command: number; orderIds: Set<number> }>();
        const e = replay(cmds, (c, reports, i) => {
          for (const r of reports) {
            if (r.coid === undefined || !isNew(c)) continue;
            const key = `${r.acct}/${r.coid}`;
            if (r.k === ReportKind.REJECTED && r.code === Reason.DUPLICATE_CLIENT_ORDER_ID) {
              duplicates++;
              expect(first.get(key)!.orderIds.has(r.oid)).toBe(true);
              continue;
            }
            if (r.k !== ReportKind.ACCEPTED && r.k !== ReportKind.REJECTED) continue;
            const f = first.get(key) ?? { command: i, orderIds: new Set<number>() };
            expect(f.command).toBe(i);
            f.orderIds.add(r.oid);
            first.set(key, f);
          }
        });
        // The engine agrees: every live order holding a client id is one that id's command created.
        for (const key of first.keys()) {
          const [acct, coid] = [Number(key.split("/")[0]), key.slice(key.indexOf("/") + 1)];
          const o = e.orderByClientId(acct, coid);
          if (o !== undefined) expect(first.get(key)!.orderIds.has(o.id)).toBe(true);
        }
      }),
      { seed, numRuns: 60 },
    );
    expect(duplicates).toBeGreaterThan(1000);
  });

  it("(d) snapshot + restore keeps the client id state: same hash, same answers to resends, same events after", () => {
    const options = { recentClientOrderIdsMaxPerAccount: 3 };
    const probes: Command[] = [];
    for (const account of [1, 2, 3]) {
      for (const coid of ["a", "b", "c", "d", "e", "f", "g", "h"]) {
        probes.push({ type: "limit", instrument: 1, orderId: 1000 + probes.length, account, side: 0, price: 95, qty: 1, tif: Tif.IOC, postOnly: false, stp: Stp.NONE, clientOrderId: coid });
      }
    }
    fc.assert(
      fc.property(longStream, fc.nat(), (cmds, at) => {
        const cut = at % (cmds.length + 1);
        const straightRec = new EventRecorder();
        const straight = new Engine([INST], straightRec, options);
        cmds.slice(0, cut).forEach((c) => straight.apply(c));
        const restoredRec = new EventRecorder();
        const restored = Engine.restore(JSON.parse(JSON.stringify(straight.snapshot())) as EngineSnapshot, restoredRec, options);
        expect(restored.stateHash()).toBe(straight.stateHash());
        straightRec.take();
        for (const c of [...probes, ...cmds.slice(cut)]) {
          straight.apply(c);
          restored.apply(c);
          expect(restoredRec.take()).toEqual(straightRec.take());
        }
        expect(restored.stateHash()).toBe(straight.stateHash());
      }),
      { seed, numRuns: 40 },
    );
  });
});
