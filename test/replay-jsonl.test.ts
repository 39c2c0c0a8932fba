/**
 * The JSONL replay, held to the same rules as the LOBSTER one. Proves that the commands and
 * their outputs (trades, final book, summary) come out right and the same in two processes;
 * that a bad line is named with its file, line and reason and skipped (or stops a --strict
 * run), including what JSON.parse would let through silently (1e2, a sign, a field given
 * twice); and that an empty, all-bad or binary file exits 1 and never with a stack trace.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { replayJsonl } from "../src/replay/jsonl.js";
import { BadLine, ReplayInputError } from "../src/replay/lines.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";

const dir = mkdtempSync(join(tmpdir(), "lockstep-jsonl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(text: string | Buffer): string {
  const path = join(dir, `f${++files}.jsonl`);
  writeFileSync(path, text);
  return path;
}

function run(path: string): { commands: number; bad: string[]; rejects: string[] } {
  const bad: string[] = [];
  const rejects: string[] = [];
  const { summary } = replayJsonl(path, { strict: false, onBadLine: (e) => bad.push(e.message), onReject: (m) => rejects.push(m) });
  return { commands: summary.commands, bad, rejects };
}

const SAMPLE = [
  `{"type":"limit","id":"o1","account":"a1","side":"buy","price":10025,"qty":3,"tif":"GTC"}`,
  `{"type":"limit","id":"o3","account":"a1","side":"buy","price":10020,"qty":4}`,
  `{"type":"market","id":"o2","account":"a2","side":"sell","qty":5}`,
  `this is not json`,
  `{"type":"limit","id":"o4","account":"a3","side":"sell","price":"10030","qty":1}`,
  `{"type":"limit","id":"o5","account":"a3","side":"sell","price":10030,"qty":2,"postOnly":true}`,
  `{"type":"modify","id":"o5","price":10031,"qty":1}`,
  `{"type":"cancel","id":"nope"}`,
  ``,
].join("\n");

describe("lockstep replay --format jsonl", () => {
  it("applies the commands and writes trades, the final book and a JSON summary", async () => {
    const f = file(SAMPLE);
    const r = await lockstep("replay", "--format", "jsonl", f, "--trades-out", join(dir, "t.jsonl"), "--book-out", join(dir, "b.json"), "--json");
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ commands: 6, trades: 2, rejects: 1, bad_lines: 2 });
    expect(lastJson(r.stdout).hash).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(join(dir, "t.jsonl"), "utf8")).toBe(`{"maker":"o1","taker":"o2","price":10025,"qty":3}\n{"maker":"o3","taker":"o2","price":10020,"qty":2}\n`);
    expect(JSON.parse(readFileSync(join(dir, "b.json"), "utf8"))).toEqual({ bids: [[10020, 2]], asks: [[10031, 1]] });
    expect(r.stderr).toContain(`${f} line 4: not valid JSON`);
    expect(r.stderr).toContain(`${f} line 5: price: Expected number, received string`);
    expect(r.stderr).toContain(`${f} line 8: rejected by the engine: UNKNOWN_ORDER`);
    expect(r.stderr).toContain("skipped 2 bad lines (shown above)");
    noStack(r.stderr);
  });

  it("--strict stops at the first bad line, names it, and exits 1 without a stack trace", async () => {
    const f = file(SAMPLE);
    const r = await lockstep("replay", "--format", "jsonl", f, "--strict", "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${f} line 4: not valid JSON`);
    noStack(r.stderr);
  });

  it("the same file gives the same hash in two processes", async () => {
    const f = file(SAMPLE);
    const [a, b] = await Promise.all([lockstep("replay", "--format", "jsonl", f, "--json"), lockstep("replay", "--format", "jsonl", f, "--json")]);
    expect(lastJson(a.stdout).hash).toBe(lastJson(b.stdout).hash);
  });
});

describe("bad lines, including what JSON.parse would let through", () => {
  const limit = (fields: string): string => `{"type":"limit","id":"o1","account":"a1","side":"buy",${fields}}`;
  const cases: [string, string][] = [
    [limit(`"price":1e2,"qty":1`), "price: 1e2 is not a plain decimal integer (no fraction or exponent)"],
    [limit(`"price":100.0,"qty":1`), "price: 100.0 is not a plain decimal integer"],
    [limit(`"price":100,"qty":-1`), "qty: -1: no sign belongs here"],
    [limit(`"price":0x10,"qty":1`), "not valid JSON"],
    [limit(`"price":"","qty":1`), "price: Expected number, received string"],
    [limit(`"price":100,"qty":1,"qty":5`), "qty: the field is given twice"],
    [limit(`"price":100,"qty":1,"colour":"red"`), "Unrecognized key(s) in object: 'colour'"],
    [`[1,2,3]`, "Expected object, received array"],
    [``, "empty line"],
    [`   `, "empty line"],
  ];
  it.each(cases)("%j", (line, reason) => {
    const good = `{"type":"cancel","id":"x"}`;
    const f = file(`${good}\n${line}\n${good}\n`);
    const r = run(f);
    expect(r.bad).toEqual([expect.stringContaining(`${f} line 2: ${reason}`)]);
    expect(r.commands).toBe(2);
  });

  it("a field name or string that merely contains digits, minus signs or braces is not mistaken for a number", () => {
    const r = run(file(`{"type":"limit","id":"-1e5 {[","account":"a\\"-2","side":"buy","price":7,"qty":3}\n`));
    expect(r.bad).toEqual([]);
    expect(r.commands).toBe(1);
  });

  it("\\r\\n endings are read; invalid UTF-8 is a bad line; a NUL byte refuses the file", () => {
    expect(run(file(`{"type":"cancel","id":"x"}\r\n{"type":"cancel","id":"y"}\r\n`))).toMatchObject({ commands: 2, bad: [] });
    const latin = file(Buffer.concat([Buffer.from(`{"type":"cancel","id":"caf`), Buffer.from([0xe9]), Buffer.from(`"}\n{"type":"cancel","id":"x"}\n`)]));
    expect(run(latin).bad).toEqual([`${latin} line 1: not valid UTF-8 text`]);
    const bin = file(Buffer.from([0x7b, 0x00, 0x7d, 0x0a]));
    expect(() => run(bin)).toThrow(new ReplayInputError(`${bin} line 1: contains a NUL byte: this is a binary file, not a text file of lines`));
    expect(() => replayJsonl(file(`{"type":"cancel","id":"x"}\nnope\n`), { strict: true })).toThrow(BadLine);
  });
});

describe("bad files and flags: exit 1 (or 2 for usage), the file named, never a stack trace", () => {
  it("an empty file, and a file where every line is bad, exit 1 and say why", async () => {
    const empty = file("");
    expect(() => run(empty)).toThrow(`${empty} is empty: no commands to replay`);
    const csv = file("date,open,high\n2024-01-02,1,2\n");
    const r = await lockstep("replay", "--format", "jsonl", csv, "--json");
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ commands: 0, bad_lines: 2 });
    expect(r.stderr).toContain(`${csv}: no commands replayed: every line was bad (2)`);
    noStack(r.stderr);
  });

  it("a flag of the other format is a usage error", async () => {
    const r = await lockstep("replay", "--format", "jsonl", file(SAMPLE), "--check-book", "x.csv");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--check-book does not apply to --format jsonl");
  });
});
