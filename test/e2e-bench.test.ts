/**
 * The end-to-end benchmark measures what it claims: the pacer is open-loop (a stall delays the
 * sends behind it, and their latency is charged from their intended times), and `bench e2e`
 * runs the floor, the NATS peer (when nats-server is installed) and a cluster as processes and
 * reports them side by side, with ratios, nothing lost, and its result files; with the CPU each process
 * spent per order and its garbage collections, Lockstep's order→fill hop by hop, and a CPU
 * profile per node under --profile.
 * (Short and slow: this checks the method, not the performance.)
 */
import { execFile, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { childCpuUs, runQueueOf, wakeupsOf } from "../src/tools/loadgen/cpu.js";
import { bisectRate } from "../src/tools/loadgen/e2e.js";
import { GcMeter, parseTraceGc, type GcFigures } from "../src/tools/loadgen/gc.js";
import { findNatsServer } from "../src/tools/loadgen/nats.js";

const BIN = join(import.meta.dirname, "..", "bin", "lockstep.js");
// From the build: the pacer starts its worker thread from a compiled .js file beside it.
const PACER_JS = pathToFileURL(join(import.meta.dirname, "..", "dist", "src", "tools", "loadgen", "pacer.js")).href;
const results = mkdtempSync(join(tmpdir(), "lockstep-e2e-test-"));
afterAll(() => rmSync(results, { recursive: true, force: true }));

describe("open-loop pacer", () => {
  it("sends on schedule, and a stall does not move later sends: they go at once, charged from their due times", async () => {
    // In a process of its own: this test file's process also holds the earlier files' heap and
    // leftovers (the suite shares module caches), whose collections would pause its main thread
    // and be measured as the pacer's lateness.
    const script = `
      import { nowNs, Pacer } from ${JSON.stringify(PACER_JS)};
      const pacer = new Pacer(2000, 1000);
      const lateUs = [];
      const started = nowNs();
      const sent = await pacer.run((i) => {
        lateUs.push((nowNs() - pacer.dueNs(i)) / 1000);
        // One 50 ms stall at send 300: the sender cannot keep up for a while.
        if (i === 300) while (nowNs() - pacer.dueNs(300) < 50e6) { /* busy */ }
      });
      process.stdout.write(JSON.stringify({ sent, tookMs: (nowNs() - started) / 1e6, lateUs }));`;
    const file = join(results, "pacer-check.mjs");
    writeFileSync(file, script);
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 20_000 });
    const { sent, tookMs, lateUs } = JSON.parse(stdout) as { sent: number; tookMs: number; lateUs: number[] };
    expect(sent).toBe(1000);
    expect(lateUs.every((x) => x >= 0)).toBe(true);
    // The schedule starts once the pacer's thread runs: the thread's own start (tens of ms, more on a
    // busy machine) is not charged to the first sends.
    expect(lateUs[0]!, "the first send's lateness, µs").toBeLessThan(4_000);
    // Open loop: the whole run still takes ~0.5 s (closed loop would add the stall to it).
    expect(tookMs).toBeGreaterThan(480);
    expect(tookMs).toBeLessThan(1000);
    // The sends due during the stall (every 0.5 ms) were late by up to ~50 ms: that is what the
    // response-time histograms charge them.
    expect(lateUs[301]!).toBeGreaterThan(40_000);
    expect(lateUs[350]!).toBeGreaterThan(15_000);
    // Before the stall, on schedule: the median send no later than 4 ms (a pacer that batched sends
    // on a 10 ms timer would be late by about 5 ms at the median).
    const sorted = [...lateUs.slice(0, 300)].sort((a, b) => a - b);
    expect(sorted[150]!, `median lateness before the stall, µs (p90 ${sorted[270]!.toFixed(0)})`).toBeLessThan(4_000);
  });
});

interface Hop { p50: number; p99: number | null; p999: number | null; max: number | null; mean: number; count: number }
type Side = {
  fills: number; sent: number; cpu_us_per_order: Record<string, number | null>; cpu_total_us_per_order: number | null;
  wakeups_per_order: Record<string, number | null>; wakeups_total_per_order: number | null;
  runqueue_wait_us_per_run: Record<string, number | null>; runqueue_wait_all_us_per_run: number | null; order_to_fill_service_us: { p50: number; max: number };
  gc: Record<string, GcFigures>;
  order_to_ack_us: { count: number };
  warmup: { warmup_s: number; sent: number; unanswered: number; rejected: Record<string, number>; order_to_fill_us: { count: number } };
};

/** Every Node process of a system (and the generator) has its collections counted; returns how many per 100k orders in all. */
function expectGc(side: Side, processes: string[]): number {
  expect(Object.keys(side.gc)).toEqual(processes);
  for (const g of Object.values(side.gc)) {
    expect(g.major_per_100k).toBeLessThanOrEqual(g.per_100k);
    expect(g.pause_max_ms).toBeGreaterThanOrEqual(0);
    expect(g.pause_ms_per_1k).toBeGreaterThanOrEqual(0);
  }
  return Object.values(side.gc).reduce((a, g) => a + g.per_100k, 0);
}

/** Every process of a system has a CPU cost per order, and they add up to the total. */
function expectCpu(side: Side, processes: string[]): void {
  expect(Object.keys(side.cpu_us_per_order)).toEqual(processes);
  for (const p of processes) expect(side.cpu_us_per_order[p], p).toBeGreaterThan(0);
  // Per order, on this machine, a process costs microseconds to milliseconds, never seconds.
  for (const p of processes) expect(side.cpu_us_per_order[p], p).toBeLessThan(100_000);
  const sum = Object.values(side.cpu_us_per_order).reduce((a: number, b) => a + b!, 0);
  expect(side.cpu_total_us_per_order).toBeCloseTo(sum, 0);
  // Every process sleeps and is woken over the window; a process cannot wake less than never, nor thousands of times per order.
  expect(Object.keys(side.wakeups_per_order)).toEqual(processes);
  for (const p of processes) expect(side.wakeups_per_order[p], p).toBeGreaterThan(0);
  for (const p of processes) expect(side.wakeups_per_order[p], p).toBeLessThan(1_000);
  const wakeups = Object.values(side.wakeups_per_order).reduce((a: number, b) => a + b!, 0);
  expect(side.wakeups_total_per_order).toBeCloseTo(wakeups, 1);
  // Every process ran in the window, so each has a mean wait per run (0 on an idle core), and the
  // system's mean over all runs lies within its processes' range.
  expect(Object.keys(side.runqueue_wait_us_per_run)).toEqual(processes);
  const waits = processes.map((p) => side.runqueue_wait_us_per_run[p]!);
  for (const w of waits) expect(w).toBeGreaterThanOrEqual(0);
  expect(side.runqueue_wait_all_us_per_run).toBeGreaterThanOrEqual(Math.min(...waits) - 0.1);
  expect(side.runqueue_wait_all_us_per_run).toBeLessThanOrEqual(Math.max(...waits) + 0.1);
}

describe("garbage collection counts", () => {
  it("reads the kind and pause of V8's --trace-gc lines, and nothing else", () => {
    expect(parseTraceGc("[32385:0x14b8b490]       81 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 6.28 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ")).toEqual({ kind: "Scavenge", pauseMs: 6.28 });
    expect(parseTraceGc("[32393:0x3c986490]      569 ms: Mark-Compact 84.7 (118.2) -> 69.7 (103.1) MB, 80.81 / 0.01 ms  (+ 4.5 ms in 11 steps since start of marking, biggest step 3.8 ms, walltime since start of marking 255 ms) (average mu = 1.000, current mu = 1.000) finalize incremental marking via stack guard; GC in old space requested")).toEqual({ kind: "Mark-Compact", pauseMs: 80.81 });
    expect(parseTraceGc("[1:0x1]  9 ms: Mark-Compact (reduce) 9.1 (12.0) -> 8.0 (11.0) MB, 3.50 / 0.00 ms  (average mu = 0.9) memory reducer")).toEqual({ kind: "Mark-Compact (reduce)", pauseMs: 3.5 });
    expect(parseTraceGc('{"ready":true,"port":1234}')).toBeNull();
    expect(parseTraceGc("a log line that says 12 ms: nothing")).toBeNull();
  });

  it("counts a node's collections only while the window is open, per orders sent", () => {
    const lines = new EventEmitter();
    const meter = new GcMeter([{ name: "n", lines }]);
    const scavenge = (ms: number): string => `[1:0x1]  10 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, ${ms} / 0.00 ms  (average mu = 1.000) allocation failure;`;
    lines.emit("line", scavenge(9));
    meter.start();
    lines.emit("line", scavenge(0.5));
    lines.emit("line", "[1:0x1]  20 ms: Mark-Compact 84.7 (118.2) -> 69.7 (103.1) MB, 2.25 / 0.01 ms  (+ 1 ms in 2 steps) finalize");
    lines.emit("line", "not a gc line");
    meter.end();
    lines.emit("line", scavenge(7));
    expect(meter.perOrders(1000)).toEqual({ n: { per_100k: 200, major_per_100k: 100, pause_ms_per_1k: 2.75, pause_max_ms: 2.25 } });
    expect(meter.perOrders(0)).toEqual({ n: { per_100k: 0, major_per_100k: 0, pause_ms_per_1k: 0, pause_max_ms: 2.25 } });
  });
});

describe("CPU counters and the NATS peer's rate search", () => {
  it("reads a process's CPU time from /proc/PID/stat as the process itself counts it", () => {
    if (process.platform !== "linux") return;
    const burnUntil = performance.now() + 200;
    while (performance.now() < burnUntil) { /* busy */ }
    const own = process.cpuUsage();
    const fromProc = childCpuUs(process.pid)!;
    // /proc counts in clock ticks (10 ms): the two agree within a few ticks.
    expect(fromProc).toBeGreaterThan(100_000);
    expect(Math.abs(fromProc - (own.user + own.system))).toBeLessThan(50_000);
    expect(childCpuUs(2 ** 22 + 1)).toBeNull();
  });

  it("counts a process's wake-ups as its threads' voluntary context switches: each sleep of the event loop that blocks is one", async () => {
    if (process.platform !== "linux") return;
    const before = wakeupsOf(process.pid)!;
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    const after = wakeupsOf("self")!;
    // A sleep whose timer is already due when the loop reaches epoll (the process was preempted
    // for longer than the timer, as on a loaded machine) does not block: one of 20 sleeps of 2 ms
    // was missed in a CI run. So the sleeps are 10 ms, and most of them, not all, must count.
    expect(after - before).toBeGreaterThanOrEqual(16);
    // A busy main thread does not sleep: a few switches at most (V8 stopping it for its GC and
    // compiler threads), far fewer than 20 sleeps give. The process's other threads may sleep
    // and wake meanwhile, so the main thread is read on its own.
    const mainThread = (): number => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${process.pid}/status`, "utf8"))![1]);
    const busyFrom = mainThread();
    const burnUntil = performance.now() + 100;
    while (performance.now() < burnUntil) { /* busy */ }
    expect(mainThread() - busyFrom).toBeLessThan(20);
    expect(wakeupsOf(2 ** 22 + 1)).toBeNull();
  });

  it("reads a process's wait for a core from its threads' schedstat: more busy processes than cores wait for one", async () => {
    if (process.platform !== "linux" || runQueueOf("self") === null) return;
    // One busy process more than there are cores, each spinning BURN_MS: together they are runnable
    // (BURN_MS × n) and the cores can run at most BURN_MS × cores of that at once, so at least
    // BURN_MS × (n − cores) of waiting is spread over them, whatever else the machine runs.
    const BURN_MS = 400;
    const n = availableParallelism() + 1;
    const spin = `const u = performance.now() + ${BURN_MS}; while (performance.now() < u) {} process.stdout.write("done\\n"); setInterval(() => {}, 1000)`;
    const children = Array.from({ length: n }, () => spawn(process.execPath, ["-e", spin], { stdio: ["ignore", "pipe", "inherit"] }));
    try {
      await Promise.all(children.map((c) => new Promise<void>((resolve, reject) => {
        c.stdout!.once("data", () => resolve());
        c.once("error", reject);
        c.once("exit", (code) => reject(new Error(`spinner exited ${code} before it was done`)));
      })));
      // Each is done spinning and idle now: read from outside, as the bench reads its nodes.
      const waitedMs = children.map((c) => runQueueOf(c.pid!)!.waitNs / 1e6);
      expect(waitedMs.reduce((a, b) => a + b, 0)).toBeGreaterThan(BURN_MS * 0.5);
    } finally {
      for (const c of children) c.kill("SIGKILL");
    }
    // This process's figure sums its threads and grows; a pid that does not exist has none.
    const a = runQueueOf(process.pid)!;
    await new Promise((r) => setTimeout(r, 20));
    const b = runQueueOf("self")!;
    expect(b.runs).toBeGreaterThan(a.runs);
    expect(b.waitNs).toBeGreaterThanOrEqual(a.waitNs);
    expect(runQueueOf(2 ** 22 + 1)).toBeNull();
  });

  it("finds the highest rate that passes by bisection below the one that failed", async () => {
    const tried: number[] = [];
    const best = await bisectRate(10_000, 4, async (r) => { tried.push(r); return r <= 3_000; });
    expect(tried).toEqual([5000, 2500, 3750, 3125]);
    expect(best).toBe(2500);
    expect(await bisectRate(10_000, 4, async () => false)).toBe(0);
  });
});

describe("lockstep bench e2e (short)", () => {
  it("measures the floor and the cluster (and, with --gateway, the cluster through a gateway) with one generator and reports ratios, nothing lost, and its files", async () => {
    const profiles = join(results, "profiles");
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "bench", "e2e", "--rate", "1000", "--duration", "3", "--warmup", "1", "--json", "--results", results, "--profile", profiles, "--gateway"], { timeout: 180_000 });
    const h = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      offered_per_s: number; achieved_per_s: number; lost: number; ratio_p50: number; ratio_p99: number;
      order_to_fill_us: { p50: number; p99: number; p999: number; max: number }; order_to_ack_us: { p50: number }; floor_us: { p50: number; p99: number };
      nats_us?: { p50: number }; ratio_to_nats_p50?: number; nats_achieved_per_s?: number; nats_sustained_per_s?: number;
      cpu_us_per_order: { floor: { total: number }; lockstep: { total: number } }; hops: Record<string, Hop>;
      gateway?: { order_to_fill_us: { p50: number }; ratio_to_direct_p50: number; lost: number; cpu_us_per_order: { processes: Record<string, number>; total: number } };
    };
    expect(h.offered_per_s).toBe(1000);
    expect(h.achieved_per_s).toBeGreaterThan(900);
    expect(h.lost).toBe(0);
    expect(h.order_to_fill_us.p50).toBeGreaterThan(0);
    expect(h.order_to_fill_us.p50).toBeLessThanOrEqual(h.order_to_fill_us.p99);
    expect(h.order_to_fill_us.p99).toBeLessThanOrEqual(h.order_to_fill_us.max);
    expect(h.floor_us.p50).toBeGreaterThan(0);
    expect(h.ratio_p50).toBeCloseTo(h.order_to_fill_us.p50 / h.floor_us.p50, 1);
    expect(h.cpu_us_per_order.floor.total).toBeGreaterThan(0);
    expect(h.cpu_us_per_order.lockstep.total).toBeGreaterThan(0);
    expect(h.hops.client_to_sequencer_us!.p50).toBeGreaterThanOrEqual(0);
    const full = JSON.parse(readFileSync(join(results, "e2e-latest.json"), "utf8")) as { runs: { floor: Side; nats?: Side; lockstep: Side & { hashes_agree: boolean; replicas: unknown[]; hops: Record<string, Hop> }; gateway?: Side & { hashes_agree: boolean; lost: number } }[] };
    const run = full.runs[0]!;
    // --gateway: the same load through `lockstep gateway`, every order answered, the gateway's CPU metered with the nodes'.
    expect(run.gateway!.sent).toBe(3000);
    expect(run.gateway!.fills).toBeGreaterThan(1000);
    expect(run.gateway!.lost).toBe(0);
    expect(run.gateway!.hashes_agree).toBe(true);
    expectCpu(run.gateway!, ["sequencer", "r1", "r2", "r3", "gateway", "generator"]);
    expect(h.gateway!.lost).toBe(0);
    expect(h.gateway!.ratio_to_direct_p50).toBeCloseTo(h.gateway!.order_to_fill_us.p50 / h.order_to_fill_us.p50, 1);
    expect(h.gateway!.cpu_us_per_order.processes.gateway).toBeGreaterThan(0);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("**Through a gateway**");
    expect(run.floor.sent).toBe(3000);
    expect(run.lockstep.sent).toBe(3000);
    // --warmup 1: a second of the same load before each window, answered, in no figure but its own.
    for (const x of [run.floor, run.lockstep]) {
      expect(x.warmup).toMatchObject({ warmup_s: 1, sent: 1000, unanswered: 0, rejected: {} });
      expect(x.warmup.order_to_fill_us.count).toBeGreaterThan(300);
    }
    expect(run.lockstep.order_to_ack_us.count).toBe(3000);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("Each system first ran 1 s of the same load");
    // Roughly 45 % of orders are takers; most find liquidity.
    expect(run.floor.fills).toBeGreaterThan(1000);
    expect(run.lockstep.fills).toBeGreaterThan(1000);
    expect(run.lockstep.hashes_agree).toBe(true);
    expect(run.lockstep.replicas).toHaveLength(3);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("Lockstep order→fill");
    // Lockstep, floor, NATS (when installed), and r1's one-way raw and compensated.
    const nats = !("missing" in findNatsServer());
    expect(readFileSync(join(results, "e2e-latest.svg"), "utf8").match(/<polyline/g)).toHaveLength(nats ? 5 : 4);
    // CPU per order of every process of each system, from its own counters over the window.
    expectCpu(run.floor, ["relay-seq", "relay-r1", "relay-r2", "relay-r3", "generator"]);
    expectCpu(run.lockstep, ["sequencer", "r1", "r2", "r3", "generator"]);
    if (nats) expectCpu(run.nats!, ["nats-server", "nats-r1", "nats-r2", "nats-r3", "generator"]);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("Cost: CPU µs per order");
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("**Wake-ups per order**");
    // Collections of every Node process (nats-server is Go): some process collected in 3,000 orders.
    const collections = expectGc(run.floor, ["relay-seq", "relay-r1", "relay-r2", "relay-r3", "generator"]) +
      expectGc(run.lockstep, ["sequencer", "r1", "r2", "r3", "generator"]) + (nats ? expectGc(run.nats!, ["nats-r1", "nats-r2", "nats-r3", "generator"]) : 0);
    expect(collections).toBeGreaterThan(0);
    expect(readFileSync(join(results, "e2e-latest.md"), "utf8")).toContain("**Garbage collection**");
    // Lockstep's hops: non-negative, ordered percentiles, and together of the order of the total.
    const hops = run.lockstep.hops;
    expect(Object.keys(hops).sort()).toEqual(["client_to_sequencer_us", "replica_receipt_to_send_us", "replica_to_client_us", "sequencer_queue_us", "sequencer_to_client_us", "sequencer_to_replica_compensated_us", "sequencer_to_replica_raw_us"]);
    for (const [name, hp] of Object.entries(hops)) {
      expect(hp.count, name).toBeGreaterThan(0);
      expect(hp.p50, name).toBeGreaterThanOrEqual(0);
      if (hp.p99 !== null) expect(hp.p99, name).toBeGreaterThanOrEqual(hp.p50);
      // HDR reports a percentile as its bucket's highest value (3 significant digits), the max exactly.
      if (hp.max !== null) expect(hp.max * 1.001 + 1, name).toBeGreaterThanOrEqual(hp.p99!);
    }
    // Hops 2 to 4 count the measured window's records (one per order sent), not the maker's book before it.
    for (const k of ["sequencer_queue_us", "sequencer_to_replica_raw_us", "replica_receipt_to_send_us"]) expect(hops[k]!.count, k).toBe(run.lockstep.sent);
    // The derived hop has no tail: percentiles do not subtract.
    expect(hops.replica_to_client_us!.p99).toBeNull();
    const total = run.lockstep.order_to_fill_service_us.p50;
    const measured = ["client_to_sequencer_us", "sequencer_queue_us", "sequencer_to_replica_compensated_us", "replica_receipt_to_send_us"].reduce((a, k) => a + hops[k]!.p50, 0);
    expect(measured).toBeLessThan(10 * total);
    expect(measured + hops.replica_to_client_us!.p50).toBeGreaterThan(total / 10);
    expect(hops.client_to_sequencer_us!.p50 + hops.sequencer_to_client_us!.p50).toBeGreaterThan(total / 10);
    expect(hops.client_to_sequencer_us!.p50 + hops.sequencer_to_client_us!.p50).toBeLessThan(10 * total);
    // --profile: a .cpuprofile per node process of each system, and the summary of their self times.
    for (const f of ["floor/relay-seq", "floor/relay-r1", "lockstep/sequencer", "lockstep/r1", "lockstep/r3", "gateway/gateway", ...(nats ? ["nats/nats-r1"] : [])]) {
      const prof = JSON.parse(readFileSync(join(profiles, "run-1", `${f}.cpuprofile`), "utf8")) as { nodes: unknown[]; samples: unknown[] };
      expect(prof.samples.length, f).toBeGreaterThan(0);
    }
    expect(readFileSync(join(profiles, "profile-summary.md"), "utf8")).toContain("run-1/lockstep/sequencer.cpuprofile");
    if (nats) {
      expect(run.nats!.sent).toBe(3000);
      expect(run.nats!.fills).toBeGreaterThan(1000);
      // A ratio to the peer only when it kept up (it does at this rate on an idle machine).
      if (h.ratio_to_nats_p50 !== undefined) expect(h.ratio_to_nats_p50).toBeCloseTo(h.order_to_fill_us.p50 / h.nats_us!.p50, 1);
      else {
        expect(h.nats_achieved_per_s!).toBeLessThan(950);
        // …and then the report says at what rate it does keep up.
        expect(h.nats_sustained_per_s).toBeGreaterThanOrEqual(0);
        expect(h.nats_sustained_per_s).toBeLessThan(1000);
      }
    }
  }, 240_000);
});
