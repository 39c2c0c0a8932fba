/**
 * The latency proxy simulates a path between regions: a round trip through it takes the sum of
 * both directions' delays, jitter never reorders bytes, and stalls hold delivery back.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LatencyProxy, type LinkSpec } from "../src/tools/netsim/proxy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function echoThrough(up: LinkSpec, down: LinkSpec): Promise<Socket> {
  const echo: Server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  const proxy = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: (echo.address() as { port: number }).port, up, down, bufferBytesMax: 1 << 20, seed: 1 });
  const port = await proxy.listen();
  const sock = connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  cleanups.push(() => { sock.destroy(); }, () => proxy.close(), () => new Promise<void>((r) => echo.close(() => r())));
  return sock;
}

describe("latency proxy", () => {
  it("a round trip takes the up delay plus the down delay", async () => {
    const sock = await echoThrough({ delayMs: 30, jitterMs: 0 }, { delayMs: 12, jitterMs: 0 });
    const t0 = performance.now();
    const back = new Promise((r) => sock.once("data", r));
    sock.write("ping");
    await back;
    const rtt = performance.now() - t0;
    expect(rtt).toBeGreaterThanOrEqual(41);
    expect(rtt).toBeLessThan(120);
  });

  it("jitter never reorders bytes", async () => {
    const sock = await echoThrough({ delayMs: 5, jitterMs: 4 }, { delayMs: 5, jitterMs: 4 });
    let got = "";
    const want = Array.from({ length: 200 }, (_, i) => `<${i}>`).join("");
    const done = new Promise<void>((resolve) => sock.on("data", (d: Buffer) => { got += d.toString(); if (got.length >= want.length) resolve(); }));
    for (let i = 0; i < 200; i++) {
      sock.write(`<${i}>`);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await done;
    expect(got).toBe(want);
  });

  it("a stall holds delivery until it ends", async () => {
    const sock = await echoThrough({ delayMs: 1, jitterMs: 0, stall: { everyMs: 1_000_000, forMs: 150 } }, { delayMs: 1, jitterMs: 0 });
    const t0 = performance.now();
    const back = new Promise((r) => sock.once("data", r));
    sock.write("x");
    await back;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});
