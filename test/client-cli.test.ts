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
    ["cancel 42", { kind: "cancel", order: 42 }],
    ["modify 42 101 5", { kind: "modify", order: 42, px: 101, qty: 5 }],
    ["buy 10 @ 100 ioc id Bot-7/001", { kind: "order", req: { instrument: 1, side: "buy", type: "limit", price: 100, quantity: 10, timeInForce: "IOC", postOnly: false, clientOrderId: "Bot-7/001" } }],
    ["sell 2 market ID x1", { kind: "order", req: { instrument: 1, side: "sell", type: "market", quantity: 2, clientOrderId: "x1" } }],
    ["stop buy 1 @ 120 id s-1", { kind: "order", req: { instrument: 1, side: "buy", type: "stop", quantity: 1, stopPrice: 120, clientOrderId: "s-1" } }],
    ["oco sell 5 @ 105 stop 95", { kind: "order", req: { instrument: 1, side: "sell", type: "oco", quantity: 5, price: 105, stopPrice: 95 } }],
    ["oco sell 5 @ 105 stop 95 limit 94 post id exit-1", { kind: "order", req: { instrument: 1, side: "sell", type: "oco", quantity: 5, price: 105, stopPrice: 95, stopLimitPrice: 94, postOnly: true, clientOrderId: "exit-1" } }],
    ["cancel id Bot-7/001", { kind: "cancel", order: { clientOrderId: "Bot-7/001" } }],
    ["modify id Bot-7/001 101 5", { kind: "modify", order: { clientOrderId: "Bot-7/001" }, px: 101, qty: 5 }],
    ["  # a comment", { kind: "empty" }],
    ["book", { kind: "book" }],
  ])("%s", (line, want) => expect(parseClientLine(line, 1)).toEqual(want));

  it.each(["buy ten @ 100", "buy 10 @ 1.5", "sell 5 @ 101 gtd", "cancel", "modify 1 2", "hello", "buy 1 @ 100 id", "buy 1 @ 100 id a b", `buy 1 @ 100 id ${"x".repeat(37)}`,
    "buy 1 @ 100 id a ioc", "oco sell 5 @ 105", "oco sell 5 @ 105 stop", "oco sell 5 @ 105 stop 95 limit", "oco sell 5 @ 105 stop 95 ioc", "cancel id", "cancel 1 2", "modify id x 101", "book now"])("%s is an error with a usage message", (line) => {
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
    child.stdin.end("buy 2 @ 101\nbuy 1 @ 99 post\nfly me to the moon\ncancel 999999\nbook\nbuy 1 @ 98 id My-1\nbuy 1 @ 98 id My-1\ncancel id My-1\noco buy 1 @ 97 stop 120 id exit-1\nbook\nquit\n");
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(code).toBe(0);
    expect(out).toMatch(/ack seq=2 order=2/);
    expect(out).toMatch(/report seq=2 fill order=2 px=101 qty=2 left=0/);
    expect(out).toMatch(/error: expected: buy\|sell/);
    expect(out).toMatch(/report seq=\d+ rejected order=999999 reason=UNKNOWN_ORDER/);
    expect(out).toMatch(/book seq=3 bids=\[\[99,1\]\] asks=\[\[101,3\]\]/);
    // A client order id: the resend is refused by the engine, naming the first; cancel by coid; an OCO.
    expect(out).toMatch(/report seq=5 accepted order=5 coid=My-1 px=98/);
    expect(out).toMatch(/report seq=6 rejected order=\d+ coid=My-1 reason=DUPLICATE_CLIENT_ORDER_ID/);
    expect(out).toMatch(/report seq=7 cancelled order=5 coid=My-1/);
    expect(out).toMatch(/ack seq=8 order=8/);
    expect(out).toMatch(/report seq=8 accepted order=8 coid=exit-1 px=97/);
    expect(out).toMatch(/book seq=8 bids=\[\[99,1\],\[97,1\]\] asks=\[\[101,3\]\]/);
    await maker.close();
  });
});
