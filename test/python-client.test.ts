/**
 * The Python client (clients/python) against a real cluster: a sequencer and three replicas as
 * processes of bin/lockstep.js on ephemeral loopback ports, once without authentication and once
 * with HMAC logins. Its unittest suite (clients/python/tests) runs against each, bounded in time,
 * with the endpoints in environment variables; this file proves the suite passed and ran its
 * cluster tests rather than skipping them. Among them: a connection cut with a NEW in flight and
 * the same client order id resent (never two orders), reports resumed on a second replica after
 * the first is killed (no gap, no duplicate), and a local book whose checksum matches the
 * replica's and that resyncs on a mismatch. A third run puts the client on a `lockstep gateway`
 * in front of two shards (clients/python/tests/test_gateway.py): ACKs and reports name their
 * shard, ids carry it, and the kill switch answers per shard.
 *
 * Skipped, saying why, where /usr/bin/python3 lacks Debian's python3-msgpack or python3-websockets
 * (.ci/run installs them).
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type * as Launcher from "../src/cluster/launcher.js";

const ROOT = join(import.meta.dirname, "..");
const PYTHON = "/usr/bin/python3";
const CLIENT_DIR = join(ROOT, "clients", "python");
/** The whole Python suite against one cluster; it takes a few seconds. */
const PYTHON_RUN_MS_MAX = 90_000;
const REPLICAS = 3;
/** Each Python test takes its own accounts and instruments, so tests never see each other's orders. */
const ACCOUNTS = Array.from({ length: 24 }, (_, i) => i + 1);
const INSTRUMENTS = Array.from({ length: 8 }, (_, i) => i + 1);
const SECRET_ENV = "LOCKSTEP_PY_TEST_SECRET";
const REPLICA_SECRET_ENV = "LOCKSTEP_PY_TEST_REPLICA_SECRET";
const SECRET = "py-client-secret-0123456789";

/** Why the Python suite cannot run here, or null when it can. */
function pythonMissing(): string | null {
  try {
    execFileSync(PYTHON, ["-c", "import msgpack, websockets"], { stdio: "pipe", timeout: 10_000 });
    return null;
  } catch (err) {
    return `${PYTHON} cannot import msgpack and websockets (apt-get install python3-msgpack python3-websockets): ${(err as Error).message.split("\n")[0]}`;
  }
}
const missing = pythonMissing();
if (missing !== null) console.warn(`python-client tests skipped: ${missing}`);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function launcher(): Promise<typeof Launcher> {
  return (await import(pathToFileURL(join(ROOT, "dist", "src", "cluster", "launcher.js")).href)) as typeof Launcher;
}

function config(auth: boolean, instruments: readonly number[] = INSTRUMENTS): object {
  return {
    instruments: instruments.map((id) => ({ id, symbol: `PY${id}`, tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: 1_000_000, priceMin: 1, priceMax: 1_000_000 })),
    sequencer: {
      host: "127.0.0.1", port: 0, epoch: 1,
      journal: { dir: "journal", segmentBytesMax: 1 << 20, fsync: { mode: "batch", intervalUs: 2000, records: 4096 }, retainSegmentsMax: 0 },
      ack: { mode: "journal" }, frameBytesMax: 4096, batchRecordsMax: 512, replicaBufferBytesMax: 4 << 20, ringRecordsMax: 10_000,
    },
    replicaDefaults: { snapshotEverySeq: 100_000, hashEverySeq: 1000, reportRingMax: 100_000, feedBufferBytesMax: 16 << 20, probeIntervalMs: 25 },
    replicas: Array.from({ length: REPLICAS }, (_, i) => ({ id: `r${i + 1}`, port: 0, ...(auth ? { key: "py-replicas" } : {}) })),
    ...(auth ? {
      auth: {
        skewMsMax: 30_000,
        clientKeys: ACCOUNTS.map((account) => ({ keyId: `py-${account}`, account, secretEnv: SECRET_ENV })),
        replicaKeys: [{ keyId: "py-replicas", secretEnv: REPLICA_SECRET_ENV }],
      },
    } : {}),
    demo: { clients: 1, ratePerSecond: 1, mid: 100, instrument: 1 },
  };
}

interface Cluster { env: Record<string, string> }

/** A sequencer and REPLICAS replicas as processes, stopped after the test; their endpoints as the suite's environment. */
async function startCluster(auth: boolean): Promise<Cluster> {
  const { spawnNode, stopNode } = await launcher();
  const dir = mkdtempSync(join(tmpdir(), "lockstep-py-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "cluster.json");
  writeFileSync(file, JSON.stringify(config(auth)));
  const env = { [SECRET_ENV]: SECRET, [REPLICA_SECRET_ENV]: `${SECRET}-replicas` };
  const seq = await spawnNode("sequencer", ["sequencer", "--config", file, "--data", join(dir, "seq"), "--port", "0"], dir, { env });
  cleanups.push(() => stopNode(seq));
  const replicas: Launcher.NodeProcess[] = [];
  for (let i = 1; i <= REPLICAS; i++) {
    const r = await spawnNode(`r${i}`, ["replica", "--config", file, "--id", `r${i}`, "--data", dir, "--sequencer", String(seq.ready.replicate), "--port", "0"], dir, { env });
    cleanups.push(() => stopNode(r));
    replicas.push(r);
  }
  return {
    env: {
      LOCKSTEP_TRADE_URL: String(seq.ready.trade),
      LOCKSTEP_FEED_URLS: replicas.map((r) => String(r.ready.feed)).join(","),
      LOCKSTEP_REPLICA_PIDS: replicas.map((r) => String(r.child.pid)).join(","),
      LOCKSTEP_ACCOUNTS: ACCOUNTS.join(","),
      LOCKSTEP_INSTRUMENTS: INSTRUMENTS.join(","),
      ...(auth ? { LOCKSTEP_AUTH_KEYS: JSON.stringify(Object.fromEntries(ACCOUNTS.map((a) => [a, [`py-${a}`, SECRET]]))) } : {}),
    },
  };
}

/** Instruments of each shard behind the gateway: shard number 0 (s1) holds the first half, 1 (s2) the rest. */
const GATEWAY_SHARDS = [INSTRUMENTS.slice(0, 4), INSTRUMENTS.slice(4)] as const;

/**
 * Two shards (a sequencer and one replica each, as processes) and a `lockstep gateway` in front
 * of them, reading a map file; the gateway's endpoints as the suite's environment (and no
 * LOCKSTEP_TRADE_URL, so the tests of a single cluster skip).
 */
async function startGateway(): Promise<Cluster> {
  const { spawnNode, stopNode } = await launcher();
  const dir = mkdtempSync(join(tmpdir(), "lockstep-py-gw-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // One after the other, so that every process started is in `cleanups` whatever fails next.
  const shards: object[] = [];
  for (const [k, instruments] of GATEWAY_SHARDS.entries()) {
    const id = `s${k + 1}`;
    const file = join(dir, `${id}.json`);
    writeFileSync(file, JSON.stringify({ ...config(false, instruments), replicas: [{ id: "r1", port: 0 }], demo: { clients: 1, ratePerSecond: 1, mid: 100, instrument: instruments[0] } }));
    const seq = await spawnNode(`${id}-seq`, ["sequencer", "--config", file, "--data", join(dir, id), "--port", "0"], dir);
    cleanups.push(() => stopNode(seq));
    const r = await spawnNode(`${id}-r1`, ["replica", "--config", file, "--id", "r1", "--data", join(dir, id), "--sequencer", String(seq.ready.replicate), "--port", "0"], dir);
    cleanups.push(() => stopNode(r));
    shards.push({ id, weight: 1, endpoints: { trade: [String(seq.ready.trade)], feed: [String(r.ready.feed)] }, instruments: [...instruments] });
  }
  const map = join(dir, "map.json");
  writeFileSync(map, JSON.stringify({ version: 1, shards, pins: {} }));
  const gw = await spawnNode("gateway", ["gateway", "--shard-map", map, "--port", "0"], dir);
  cleanups.push(() => stopNode(gw));
  return {
    env: {
      LOCKSTEP_GATEWAY_TRADE_URL: String(gw.ready.trade),
      LOCKSTEP_GATEWAY_FEED_URL: String(gw.ready.feed),
      LOCKSTEP_GATEWAY_SHARDS: JSON.stringify(GATEWAY_SHARDS),
      LOCKSTEP_ACCOUNTS: ACCOUNTS.join(","),
    },
  };
}

interface UnittestRun { code: number | null; output: string }

function runPythonSuite(env: Record<string, string>): Promise<UnittestRun> {
  return new Promise((resolve) => {
    execFile(PYTHON, ["-m", "unittest", "discover", "-s", "tests", "-v"], {
      cwd: CLIENT_DIR, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, timeout: PYTHON_RUN_MS_MAX, killSignal: "SIGKILL",
    }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? null, output: stdout + stderr }));
  });
}

/** The suite passed, and its cluster tests ran (a run without the endpoints skips them). */
function expectPassed(run: UnittestRun, skipsAllowed: RegExp): void {
  if (run.code !== 0) throw new Error(`python unittest failed (exit ${run.code}):\n${run.output}`);
  expect(run.output).toMatch(/\nOK( \(skipped=\d+\))?\n/);
  const skipped = run.output.split("\n").filter((l) => / \.\.\. skipped /.test(l));
  for (const line of skipped) expect(line, "a test skipped that must run here").toMatch(skipsAllowed);
}

describe("python client", () => {
  it.skipIf(missing !== null)(`against a cluster without authentication${missing === null ? "" : ` (skipped: ${missing})`}`, async () => {
    const c = await startCluster(false);
    expectPassed(await runPythonSuite(c.env), /needs a cluster with authentication|needs a gateway/);
  }, PYTHON_RUN_MS_MAX + 30_000);

  it.skipIf(missing !== null)(`against a cluster with HMAC logins${missing === null ? "" : ` (skipped: ${missing})`}`, async () => {
    const c = await startCluster(true);
    expectPassed(await runPythonSuite(c.env), /needs a cluster without authentication|needs a gateway/);
  }, PYTHON_RUN_MS_MAX + 30_000);

  it.skipIf(missing !== null)(`through a lockstep gateway in front of two shards${missing === null ? "" : ` (skipped: ${missing})`}`, async () => {
    const c = await startGateway();
    const run = await runPythonSuite(c.env);
    // Only the gateway's tests run here (every other cluster test skips for want of LOCKSTEP_TRADE_URL), and they did run.
    expectPassed(run, /needs a cluster/);
    const ran = run.output.split("\n").filter((l) => /^test_\w+ \(test_gateway\./.test(l));
    expect(ran.length).toBeGreaterThanOrEqual(3);
    expect(ran.every((l) => / \.\.\. ok$/.test(l)), ran.join("\n")).toBe(true);
  }, PYTHON_RUN_MS_MAX + 30_000);
});
