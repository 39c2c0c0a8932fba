/**
 * Authentication: trading needs a valid HMAC login for the account's own key; a wrong secret,
 * a replayed login, a key of another account or a stale timestamp are refused with
 * NOT_AUTHENTICATED, and repeated failures close the connection; a client key cannot subscribe
 * as a replica, nor can a replica without a key; execution reports go only to a feed connection
 * logged in as their account. Secrets come from the environment.
 */
import { writeFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { FeedClient, TradingClient } from "../src/client/index.js";
import { Authenticator, prove, sign } from "../src/protocol/auth.js";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType, PROTOCOL_VERSION, WireReason, type Report } from "../src/protocol/messages.js";
import { TestCluster, until } from "./cluster-helpers.js";

process.env.LOCKSTEP_TEST_K1 = "k1-secret-0123456789abcdef";
process.env.LOCKSTEP_TEST_K2 = "k2-secret-0123456789abcdef";
process.env.LOCKSTEP_TEST_R1 = "r1-secret-0123456789abcdef";
const K1 = { keyId: "k1", secret: process.env.LOCKSTEP_TEST_K1 };
const K2 = { keyId: "k2", secret: process.env.LOCKSTEP_TEST_K2 };
const R1 = { keyId: "rk1", secret: process.env.LOCKSTEP_TEST_R1 };
const SKEW_US = 30_000_000;
const clientKeys = [{ keyId: "k1", account: 1, secretEnv: "LOCKSTEP_TEST_K1" }, { keyId: "k2", account: 2, secretEnv: "LOCKSTEP_TEST_K2" }];
const replicaKeys = [{ keyId: "rk1", account: 0, secretEnv: "LOCKSTEP_TEST_R1" }];

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

async function securedCluster(): Promise<TestCluster> {
  const clients = new Authenticator(clientKeys, SKEW_US);
  const c = new TestCluster();
  await c.start(0, { auth: { clients, replicas: new Authenticator(replicaKeys, SKEW_US) } });
  await c.addReplica("r1", { auth: clients, credentials: R1 });
  return c;
}

const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

async function rawHello(url: string, hello: object): Promise<{ reply: Record<string, unknown>; ws: WebSocket }> {
  const ws = new WebSocket(url);
  ws.binaryType = "nodebuffer";
  await new Promise((r) => ws.once("open", r));
  const reply = new Promise<Buffer>((r) => ws.once("message", r));
  ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, ...hello }));
  return { reply: decode(await reply) as Record<string, unknown>, ws };
}

describe("authentication", () => {
  it("accepts a valid login and refuses wrong secrets, other accounts' keys, replays and stale timestamps", async () => {
    cluster = await securedCluster();
    const ok = await TradingClient.connect(cluster.tradeUrl, 1, 5000, K1);
    expect((await ok.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 })).seq).toBe(1);
    await expect(TradingClient.connect(cluster.tradeUrl, 1, 5000, { keyId: "k1", secret: "wrong-secret-0123456789" })).rejects.toMatchObject({ code: WireReason.NOT_AUTHENTICATED });
    await expect(TradingClient.connect(cluster.tradeUrl, 1, 5000, K2)).rejects.toThrow(/not for that account/);
    await expect(TradingClient.connect(cluster.tradeUrl, 1)).rejects.toThrow(/key, ts, nonce and sig are required/);
    const proof = prove(K1.keyId, K1.secret, 1, nowUs());
    const first = await rawHello(cluster.tradeUrl, { acct: 1, ...proof });
    expect(first.reply.t).toBe(MsgType.HELLO_OK);
    const replay = await rawHello(cluster.tradeUrl, { acct: 1, ...proof });
    expect(replay.reply).toMatchObject({ t: MsgType.REJECT, code: WireReason.NOT_AUTHENTICATED, msg: "login refused: nonce already used" });
    const staleTs = nowUs() - 60_000_000;
    const stale = await rawHello(cluster.tradeUrl, { acct: 1, key: "k1", ts: staleTs, nonce: "n1", sig: sign("k1", K1.secret, 1, staleTs, "n1") });
    expect(stale.reply.msg).toMatch(/timestamp outside/);
    for (const x of [first, replay, stale]) x.ws.close();
    await ok.close();
  });

  it("closes a connection after three failed logins", async () => {
    cluster = await securedCluster();
    const { ws } = await rawHello(cluster.tradeUrl, { acct: 1, key: "k1", ts: nowUs(), nonce: "a", sig: Buffer.alloc(32) });
    const closed = new Promise<number>((r) => ws.once("close", r));
    for (const n of ["b", "c"]) ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.HELLO, acct: 1, key: "k1", ts: nowUs(), nonce: n, sig: Buffer.alloc(32) }));
    expect(await closed).toBe(4003);
  });

  it("a client key cannot subscribe as a replica, nor a replica without a key", async () => {
    cluster = await securedCluster();
    const c = cluster;
    for (const proof of [prove(K1.keyId, K1.secret, 0, nowUs()), {}]) {
      const ws = new WebSocket(`ws://127.0.0.1:${c.sequencer.port}/replicate`);
      ws.binaryType = "nodebuffer";
      await new Promise((r) => ws.once("open", r));
      const reply = new Promise<Buffer>((r) => ws.once("message", r));
      const { GENESIS_CHAIN } = await import("../src/protocol/record.js");
      ws.send(encode({ v: PROTOCOL_VERSION, t: MsgType.SUBSCRIBE, rid: "intruder", from: 1, chain: GENESIS_CHAIN, ...proof }));
      expect(decode(await reply)).toMatchObject({ t: MsgType.ERROR, code: WireReason.NOT_AUTHENTICATED });
      ws.close();
    }
    expect((c.sequencer.stats() as { replicas: { id: string }[] }).replicas.map((r) => r.id)).toEqual(["r1"]);
  });

  it("execution reports go only to a feed connection logged in as their account", async () => {
    cluster = await securedCluster();
    const c = cluster;
    const mine: Report[] = [];
    const snooped: Report[] = [];
    const owner = new FeedClient({ urls: [c.feedUrl(c.replicas[0]!)], account: 1, credentials: K1, onReport: (r) => mine.push(r) });
    // Account 2's key trying to read account 1's reports, and no key at all.
    const spy = new FeedClient({ urls: [c.feedUrl(c.replicas[0]!)], account: 1, credentials: K2, onReport: (r) => snooped.push(r) });
    const anon = new FeedClient({ urls: [c.feedUrl(c.replicas[0]!)], account: 1, onReport: (r) => snooped.push(r) });
    await Promise.all([owner.connect(), spy.connect(), anon.connect()]);
    const t = await TradingClient.connect(c.tradeUrl, 1, 5000, K1);
    const a = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 1 });
    await until(() => mine.length === 1);
    expect(mine[0]).toMatchObject({ seq: a.seq, acct: 1, k: 0 });
    await c.replicas[0]!.waitFor(a.seq);
    expect(snooped).toEqual([]);
    expect((c.replicas[0]!.stats() as { feed_rejects: Record<string, number> }).feed_rejects.NOT_AUTHENTICATED).toBeGreaterThanOrEqual(3);
    for (const f of [owner, spy, anon]) f.close();
    await t.close();
  });

  it("lockstep start runs a cluster with authentication on, secrets from the environment", async () => {
    const cfg = JSON.parse((await import("node:fs")).readFileSync(join(import.meta.dirname, "..", "config", "local.json"), "utf8")) as Record<string, any>;
    cfg.auth = { clientKeys: [1, 2, 3, 4].map((a) => ({ keyId: `demo${a}`, account: a, secretEnv: "LOCKSTEP_TEST_K1" })), replicaKeys: [{ keyId: "rk", secretEnv: "LOCKSTEP_TEST_R1" }] };
    cfg.replicas = cfg.replicas.map((r: object) => ({ ...r, key: "rk" }));
    const file = join((await import("node:os")).tmpdir(), `lockstep-auth-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "..", "bin", "lockstep.js"), "start", "--config", file, "--duration", "2", "--json", "--ephemeral"], { timeout: 60_000, env: process.env });
    const s = JSON.parse(stdout.trim().split("\n").at(-1)!) as { hashes_agree: boolean; orders_acked: number };
    expect(s.hashes_agree).toBe(true);
    expect(s.orders_acked).toBeGreaterThan(1000);
  });
});

