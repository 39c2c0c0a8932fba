/**
 * The latency proxy simulates a path between regions: a round trip through it takes the sum of
 * both directions' delays, jitter never reorders bytes, and stalls hold delivery back. Faults
 * set while running: a held direction delivers nothing until healed and then everything in
 * order; a blackholed one throws bytes away; a latency spike and a bandwidth cap slow delivery;
 * a reset ends every connection with an RST.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LatencyProxy, type LinkSpec } from "../src/tools/netsim/proxy.js";
import { setTimeout as sleep } from "node:timers/promises";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function echoThrough(up: LinkSpec, down: LinkSpec): Promise<Socket> {
  return (await echoProxy(up, down)).sock;
}

async function echoProxy(up: LinkSpec, down: LinkSpec): Promise<{ sock: Socket; proxy: LatencyProxy }> {
  const echo: Server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  const proxy = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: (echo.address() as { port: number }).port, up, down, bufferBytesMax: 1 << 20, seed: 1 });
  const port = await proxy.listen();
  const sock = connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  cleanups.push(() => { sock.destroy(); }, () => proxy.close(), () => new Promise<void>((r) => echo.close(() => r())));
  return { sock, proxy };
}

const PASS: LinkSpec = { delayMs: 0, jitterMs: 0 };

function collect(sock: Socket): { text: () => string } {
  let got = "";
  sock.on("data", (d: Buffer) => { got += d.toString(); });
  return { text: () => got };
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

  it("a held direction delivers nothing until healed, then everything in order", async () => {
    const { sock, proxy } = await echoProxy(PASS, PASS);
    const got = collect(sock);
    proxy.fault({ up: "hold" });
    sock.write("a");
    sock.write("b");
    await sleep(100);
    expect(got.text()).toBe("");
    proxy.heal();
    await sleep(100);
    expect(got.text()).toBe("ab");
  });

  it("a blackholed direction throws bytes away; after healing only new bytes pass", async () => {
    const { sock, proxy } = await echoProxy(PASS, PASS);
    const got = collect(sock);
    proxy.fault({ down: "blackhole" });
    sock.write("lost");
    await sleep(100);
    proxy.fault({ down: "pass" });
    sock.write("kept");
    await sleep(100);
    expect(got.text()).toBe("kept");
  });

  it("a latency spike adds its delay; a bandwidth cap spaces chunks by their size", async () => {
    const { sock, proxy } = await echoProxy(PASS, PASS);
    proxy.shape({ down: { extraDelayMs: 80 } });
    let t0 = performance.now();
    sock.write("x");
    await new Promise((r) => sock.once("data", r));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
    proxy.heal();
    proxy.shape({ up: { bytesPerS: 100_000 } });
    const got = collect(sock);
    t0 = performance.now();
    sock.write(Buffer.alloc(20_000, 0x61));
    while (got.text().length < 20_000) await sleep(5);
    // 20 kB at 100 kB/s: at least 200 ms, however the kernel cut the bytes into chunks.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it("reset ends every open connection; the proxy still accepts new ones", async () => {
    const { sock, proxy } = await echoProxy(PASS, PASS);
    const closed = new Promise<boolean>((r) => sock.once("close", (hadError) => r(hadError)));
    sock.on("error", () => undefined);
    expect(proxy.reset()).toBe(1);
    expect(await closed).toBe(true);
    while (proxy.connections > 0) await sleep(5);
    const again = connect((proxy as unknown as { server: Server }).server.address() as { port: number });
    await new Promise((r) => again.once("connect", r));
    cleanups.push(() => { again.destroy(); });
    const got = collect(again);
    again.write("hi");
    while (got.text() !== "hi") await sleep(5);
  });

  it("a held direction passes no close either: the far end's close arrives only after healing", async () => {
    const quit: Server = createServer((s) => s.once("data", () => s.destroy()));
    await new Promise<void>((r) => quit.listen(0, "127.0.0.1", r));
    const proxy = new LatencyProxy({ targetHost: "127.0.0.1", targetPort: (quit.address() as { port: number }).port, up: PASS, down: PASS, bufferBytesMax: 1 << 20, seed: 1 });
    const sock = connect(await proxy.listen(), "127.0.0.1");
    cleanups.push(() => { sock.destroy(); }, () => proxy.close(), () => new Promise<void>((r) => quit.close(() => r())));
    await new Promise((r) => sock.once("connect", r));
    let closed = false;
    sock.on("close", () => { closed = true; });
    proxy.fault({ down: "hold" });
    sock.write("bye");
    await sleep(150);
    expect(closed).toBe(false);
    proxy.heal();
    await sleep(100);
    expect(closed).toBe(true);
  });

  it("holdOpen holds what the connections open now send, and their close, while new ones pass; letting go sends it all at once", async () => {
    // The target keeps what each connection sent, and whether it closed.
    const got: { text: string; closed: boolean }[] = [];
    const arrived: (() => void)[] = [];
    const sink: Server = createServer((s) => {
      const c = { text: "", closed: false };
      got.push(c);
      s.on("data", (d: Buffer) => { c.text += d.toString(); arrived.shift()?.(); });
      s.on("close", () => { c.closed = true; arrived.shift()?.(); });
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    const proxy = LatencyProxy.passThrough((sink.address() as { port: number }).port, 1);
    const port = await proxy.listen();
    const next = (): Promise<void> => new Promise((r) => arrived.push(r));
    const open = async (): Promise<Socket> => {
      const sock = connect(port, "127.0.0.1");
      cleanups.push(() => { sock.destroy(); });
      await new Promise((r) => sock.once("connect", r));
      return sock;
    };
    cleanups.push(() => proxy.close(), () => new Promise<void>((r) => sink.close(() => r())));
    const a = await open();
    let n = next();
    a.write("a1");
    await n;
    // 100 bytes/s: what a sends next is due seconds from now, and is held on top of that.
    proxy.shape({ up: { bytesPerS: 100 } });
    a.write("x".repeat(300));
    const letGo = proxy.holdOpen();
    proxy.shape({ up: { bytesPerS: 0 } });
    // a is destroyed once the proxy holds what it wrote (a socket destroyed sooner may drop it); bounded.
    for (const end = performance.now() + 5_000; proxy.queuedUp < 300 && performance.now() < end;) await sleep(5);
    expect(proxy.queuedUp).toBe(300);
    a.destroy();
    const b = await open();
    n = next();
    b.write("b1");
    await n;
    expect(got.map((c) => c.text)).toEqual(["a1", "b1"]);
    await sleep(100);
    expect(got[0]).toEqual({ text: "a1", closed: false });
    const t0 = performance.now();
    const all = new Promise<void>((resolve) => {
      const check = (): void => { if (got[0]!.closed) resolve(); else void next().then(check); };
      check();
    });
    letGo();
    await all;
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(got[0]).toEqual({ text: `a1${"x".repeat(300)}`, closed: true });
    expect(got[1]).toEqual({ text: "b1", closed: false });
  });
});
