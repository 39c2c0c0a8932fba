/**
 * docs/protocol.md's "Golden frames": each example's bytes are exactly what the nodes' encoder
 * writes for its JSON, they decode back to it, and every frame a client or follower sends passes
 * the node's strict validator. The examples are read from the doc itself, so the doc cannot drift.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../src/protocol/codec.js";
import { MsgType } from "../src/protocol/messages.js";
import { validateClientFrame, validateFeedFrame, validateFollowerFrame } from "../src/protocol/validate.js";

const doc = readFileSync(join(import.meta.dirname, "..", "docs", "protocol.md"), "utf8");
const section = doc.slice(doc.indexOf("## Golden frames"));
const block = /```text\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
const lines = block.split("\n").filter((l) => l.trim() !== "");
const examples = Array.from({ length: lines.length / 2 }, (_, i) => {
  const [head, hex] = [lines[2 * i]!, lines[2 * i + 1]!];
  const colon = head.indexOf(": ");
  return { name: head.slice(0, colon), json: head.slice(colon + 2), bytes: Buffer.from(hex.trim().replace(/ /g, ""), "hex") };
});

/** JSON's {"bin": "hex"} as bytes, the rest as is. */
const toWire = (x: unknown): unknown => Array.isArray(x) ? x.map(toWire)
  : x !== null && typeof x === "object" ? (Object.keys(x).length === 1 && "bin" in x ? Buffer.from((x as { bin: string }).bin, "hex") : Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toWire(v)])))
  : x;
const fromWire = (x: unknown): unknown => x instanceof Uint8Array ? { bin: Buffer.from(x).toString("hex") } : Array.isArray(x) ? x.map(fromWire)
  : x !== null && typeof x === "object" ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, fromWire(v)])) : x;

const CLIENT = new Set<number>([
  MsgType.HELLO, MsgType.NEW, MsgType.CANCEL, MsgType.MODIFY, MsgType.KILL,
  MsgType.MOVE_HALT, MsgType.MOVE_RESUME, MsgType.MOVE_RELEASE, MsgType.MOVE_BEGIN, MsgType.MOVE_ORDERS, MsgType.MOVE_END, MsgType.MOVE_ABORT, MsgType.MOVE_CLAIM,
]);
const FEED = new Set<number>([MsgType.SUB_BOOK, MsgType.SUB_REPORTS]);
/** INSTRUMENTS goes both ways: the request is the one without `insts`. */
const isRequest = (m: { t: number; insts?: unknown }): boolean => m.t === MsgType.INSTRUMENTS && m.insts === undefined;
const FOLLOWER = new Set<number>([MsgType.SUBSCRIBE, MsgType.STATUS, MsgType.PING]);

describe("golden frames in docs/protocol.md", () => {
  it("the doc has one example of every message type", () => {
    const types = new Set(examples.map((e) => (JSON.parse(e.json) as { t: number }).t));
    expect([...types].sort((a, b) => a - b)).toEqual(Object.values(MsgType).sort((a, b) => a - b));
    expect(lines.length % 2).toBe(0);
  });

  it.each(examples)("$name: the encoder writes exactly these bytes, and they decode back", ({ json, bytes }) => {
    const msg = JSON.parse(json) as { t: number; insts?: unknown };
    expect(encode(toWire(msg) as object).toString("hex")).toBe(bytes.toString("hex"));
    expect(fromWire(decode(bytes))).toEqual(msg);
    const t = msg.t;
    const validated = CLIENT.has(t) ? validateClientFrame(bytes, new Set([1])) : FEED.has(t) || isRequest(msg) ? validateFeedFrame(bytes) : FOLLOWER.has(t) ? validateFollowerFrame(bytes) : null;
    if (validated !== null) expect(validated, JSON.stringify(validated)).toMatchObject({ ok: true });
  });
});
