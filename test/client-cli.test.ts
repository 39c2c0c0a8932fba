/**
 * `lockstep client`: the line language parses as documented, and the command, run as a child
 * process against a live cluster, prints ACKs, REJECTs and execution reports for a script.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TradingClient } from "../src/client/index.js";
import { parseClientLine } from "../src/client/script.js";
import { TestCluster } from "./cluster-helpers.js";

describe("client line language", () => {
  it.each([
    ["buy 10 @ 100", { kind: "order", req: { instrument: 1, side: "buy", type: "limit", price: 100, quantity: 10, timeInForce: "GTC", postOnly: false } }],
    ["sell 5 @ 101 ioc post", { kind: "order", req: { instrument: 1, side: "sell", type: "limit", price: 101, quantity: 5, timeInForce: "IOC", postOnly: true } }],
    ["BUY 3 market", { kind: "order", req: { instrument: 1, side: "buy", type: "market", quantity: 3 } }],
    ["stop sell 5 @ 95 limit 94", { kind: "order", req: { instrument: 1, side: "sell", type: "stop", quantity: 5, stopPrice: 95, price: 94 } }],
    ["cancel 42", { kind: "cancel", oid: 42 }],
    ["modify 42 101 5", { kind: "modify", oid: 42, px: 101, qty: 5 }],
    ["  # a comment", { kind: "empty" }],
    ["book", { kind: "book" }],
  ])("%s", (line, want) => expect(parseClientLine(line, 1)).toEqual(want));

  it.each(["buy ten @ 100", "buy 10 @ 1.5", "sell 5 @ 101 gtd", "cancel", "modify 1 2", "hello"])("%s is an error with a usage message", (line) => {
    expect(parseClientLine(line, 1)).toMatchObject({ kind: "error" });
  });
});

let cluster: TestCluster | null = null;
afterEach(() => {
  cluster?.stop();
  cluster = null;
});

describe("lockstep client", () => {
  it("runs a script against a live cluster and prints acks, rejects and reports", async () => {
    cluster = new TestCluster();
    await cluster.start(1);
    const maker = await TradingClient.connect(cluster.tradeUrl, 9);
    await maker.submit({ instrument: 1, side: "sell", price: 101, quantity: 5 });
    const child = spawn(process.execPath, [join(import.meta.dirname, "..", "bin", "lockstep.js"), "client", "--trade", cluster.tradeUrl, "--feed", cluster.feedUrl(cluster.replicas[0]!), "--account", "3"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stdin.end("buy 2 @ 101\nbuy 1 @ 99 post\nfly me to the moon\ncancel 999999\nbook\nquit\n");
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code).toBe(0);
    expect(out).toMatch(/ack seq=2 order=2/);
    expect(out).toMatch(/report seq=2 fill order=2 px=101 qty=2 left=0/);
    expect(out).toMatch(/error: expected: buy\|sell/);
    expect(out).toMatch(/report seq=\d+ rejected order=999999 reason=UNKNOWN_ORDER/);
    expect(out).toMatch(/book seq=3 bids=\[\[99,1\]\] asks=\[\[101,3\]\]/);
    await maker.close();
  });
});
