/**
 * Who leads, as a node observes it (Coordinator.observe), is the candidate etcd elected: the
 * oldest key under the election's prefix. Finding 7 (docs/failover.md): etcd3's ElectionObserver,
 * after a moment with no leader, took the last key created for the leader; when two candidates'
 * keys reached it together (in the nemesis drill: every lease expired at once, etcd paused by a
 * saturated machine), a standby followed a candidate that was not elected, or, believing itself
 * elected, nobody, until that key went away (it held a tail the new epoch had replaced, and the
 * checker counted those records as forks). Here the observer's link to etcd is held while two
 * candidates campaign, then healed, so that both keys reach it in one read.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd3 } from "etcd3";
import { findEtcd, startEtcd, type EtcdProcess } from "../src/cluster/etcd.js";
import { Coordinator } from "../src/sequencer/coordinator.js";
import { LatencyProxy } from "../src/tools/netsim/proxy.js";
import { until } from "./cluster-helpers.js";

const etcd = findEtcd();
if ("missing" in etcd) console.warn(`leader observation tests skipped: ${etcd.missing}`);
const silent = pino({ level: "silent" });
/** Each wait on etcd or on a report is bounded by this. */
const WAIT_MS = 10_000;

describe.skipIf("missing" in etcd)("who leads, as observed", () => {
  let server: EtcdProcess;
  const dir = mkdtempSync(join(tmpdir(), "lockstep-ha-observe-"));
  const closing: { close(): Promise<void> | void }[] = [];

  beforeAll(async () => {
    server = await startEtcd(dir, join(dir, "logs"));
  }, 30_000);
  afterAll(async () => {
    for (const c of closing.reverse()) await c.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const coordinator = (id: string, host: string): Coordinator => {
    const c = new Coordinator({ hosts: [host], cluster: "observe", leaseTtlS: 1, id, log: silent });
    closing.push(c);
    return c;
  };

  it("two candidates' keys reaching an observer together: it reports the oldest, the one elected", async () => {
    const proxy = LatencyProxy.passThrough(Number(new URL(server.url).port), 7);
    closing.push(proxy);
    const observer = coordinator("o", `http://127.0.0.1:${await proxy.listen()}`);
    const reports: (string | undefined)[] = [];
    await observer.observe((url) => reports.push(url));
    expect(reports).toEqual([undefined]);

    const raw = new Etcd3({ hosts: [server.url] });
    closing.push(raw);
    const keys = async (): Promise<number> => Object.keys(await raw.getAll().prefix("election/lockstep/observe/leader/").strings()).length;

    proxy.fault({ down: "hold" });
    let elected = "";
    coordinator("b", server.url).campaign("ws://b", () => { elected = "ws://b"; }, () => undefined);
    await until(() => elected !== "", WAIT_MS);
    coordinator("c", server.url).campaign("ws://c", () => { elected = "ws://c"; }, () => undefined);
    const deadline = performance.now() + WAIT_MS;
    while ((await keys()) < 2) if (performance.now() > deadline) throw new Error("c's key not created");
    proxy.heal();

    await until(() => reports.length > 1, WAIT_MS);
    // Whatever it said first, it must end at the one elected (b: the oldest key), and say so at once.
    const truth = await raw.election("lockstep/observe/leader").leader();
    expect(truth).toBe("ws://b");
    expect(elected).toBe("ws://b");
    await until(() => reports.at(-1) === truth, WAIT_MS).catch(() => undefined);
    expect(reports.at(-1), `reports: ${JSON.stringify(reports)}`).toBe(truth);
  }, 40_000);
});
