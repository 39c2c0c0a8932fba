/**
 * TLS terminated by haproxy in front of the nodes (this uWebSockets.js build has no TLS):
 * haproxy on loopback with a throwaway self-signed certificate routes /trade to the sequencer
 * and /feed to a replica; a client trades and reads its reports over wss://, trusting only that
 * certificate, and a client that does not trust it is refused. Needs haproxy (.ci/run installs
 * it); skipped with a message where it is missing.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FeedClient, TradingClient } from "../src/client/index.js";
import { freePort } from "../src/cluster/ports.js";
import type { Report } from "../src/protocol/messages.js";
import { TestCluster, until } from "./cluster-helpers.js";
import { has, listening } from "./lockstep-cli.js";

const HAVE = has("haproxy") && has("openssl");
if (!HAVE) console.warn("TLS test skipped: haproxy and openssl are needed (.ci/run installs haproxy from Debian's packages)");

const dir = mkdtempSync(join(tmpdir(), "lockstep-tls-"));
let haproxy: ChildProcess | null = null;
let cluster: TestCluster | null = null;
afterAll(() => {
  haproxy?.kill("SIGKILL");
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});


describe.skipIf(!HAVE)("TLS through haproxy", () => {
  it("trades and reads reports over wss://, and refuses clients that do not trust the certificate", async () => {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], { stdio: "ignore" });
    writeFileSync(join(dir, "combined.pem"), readFileSync(join(dir, "cert.pem"), "utf8") + readFileSync(join(dir, "key.pem"), "utf8"));
    cluster = new TestCluster();
    await cluster.start(1);
    const port = await freePort();
    writeFileSync(join(dir, "haproxy.cfg"), [
      "global", "  maxconn 256",
      "defaults", "  mode http", "  timeout connect 5s", "  timeout client 60s", "  timeout server 60s", "  timeout tunnel 1h",
      "frontend tls", `  bind 127.0.0.1:${port} ssl crt ${join(dir, "combined.pem")}`,
      "  acl feed path_beg /feed", "  use_backend replica if feed", "  default_backend sequencer",
      "backend sequencer", `  server s 127.0.0.1:${cluster.sequencer.port}`,
      "backend replica", `  server r 127.0.0.1:${cluster.replicas[0]!.port}`, "",
    ].join("\n"));
    haproxy = spawn("haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"], { stdio: "ignore" });
    await listening(port);
    const ca = readFileSync(join(dir, "cert.pem"));
    const reports: Report[] = [];
    const feed = new FeedClient({ urls: [`wss://localhost:${port}/feed`], account: 3, socket: { ca }, onReport: (r) => reports.push(r) });
    await feed.connect();
    const t = await TradingClient.connect(`wss://localhost:${port}/trade`, 3, 10_000, undefined, { ca });
    const ack = await t.submit({ instrument: 1, side: "buy", price: 100, quantity: 2 });
    await until(() => reports.some((r) => r.seq === ack.seq));
    await expect(TradingClient.connect(`wss://localhost:${port}/trade`, 4, 5_000)).rejects.toThrow(/self-signed|certificate/);
    await t.close();
    feed.close();
  });
});
