/**
 * The LOBSTER replay on the files people have. Proves, on the real AAPL sample (skipped with a
 * message when ../shared/data/lobster is absent), that every execution fills the order LOBSTER
 * names and the book agrees row by row; on layouts generated here (7-column messages, 1-, 5-
 * and 50-level orderbooks from a small exchange, test/lobster-sim.ts) that the reader takes
 * them and every difference lands in a counted category; that each correction does what
 * docs/replay.md says, on a file built to need it; and that bad input of every kind gets an
 * error naming the file and line, exit 1, and never a stack trace or an internal error.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BadLine, LineReader, ReplayInputError } from "../src/replay/lines.js";
import { FILL_MISMATCH_KINDS, replayLobster, type Difference, type LobsterSummary } from "../src/replay/lobster.js";
import { HAVE_LOBSTER, LOBSTER_BOOK, LOBSTER_MESSAGES } from "./lobster-data.js";
import { lastJson, lockstep, noStack } from "./lockstep-cli.js";
import { rng, simulate, writePair } from "./lobster-sim.js";

const dir = mkdtempSync(join(tmpdir(), "lockstep-lobster-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes `text` to a new file in the temp dir and returns its path. */
function file(text: string | Buffer, name = `f${++files}.csv`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Message lines from [type, id, size, price, direction] rows, 1 µs apart. */
function messages(...rows: [number, number, number, number, number, string?][]): string {
  return rows.map(([type, id, size, price, dir, attribution], i) => `34200.${String(i + 1).padStart(6, "0")},${type},${id},${size},${price},${dir}${attribution === undefined ? "" : `,${attribution}`}`).join("\n") + "\n";
}

interface Run {
  readonly summary: LobsterSummary;
  readonly differences: Difference[];
  readonly bad: BadLine[];
  readonly replay: ReturnType<typeof replayLobster>["replay"];
}

function run(messageFile: string, bookFile?: string): Run {
  const differences: Difference[] = [];
  const bad: BadLine[] = [];
  const r = replayLobster(messageFile, { strict: false, onDifference: (d) => differences.push(d), onBadLine: (e) => bad.push(e), ...(bookFile === undefined ? {} : { bookFile }) });
  return { summary: r.summary, differences, bad, replay: r.replay };
}

/** Every fill mismatch is counted under exactly one kind. */
function kindsAddUp(s: LobsterSummary): void {
  expect(FILL_MISMATCH_KINDS.reduce((n, k) => n + s.fill_mismatch_kinds[k], 0)).toBe(s.fill_mismatches);
}

describe.skipIf(!HAVE_LOBSTER)("the AAPL sample (real NASDAQ data)", () => {
  it("with --check-book: every visible execution fills the named order, and every row agrees", async () => {
    const r = await lockstep("replay", "--format", "lobster", LOBSTER_MESSAGES, "--check-book", LOBSTER_BOOK, "--json");
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ events: 999, executions: 98, fill_mismatches: 0, book_mismatches: 0, seeds: 14, unknown_ids: 9, hidden_executions: 61, stale_orders_removed: 0, bad_lines: 0, levels: 10 });
  });

  it("messages only: no more than the 4 fill mismatches of before, all executions of orders never seen, each explained", () => {
    const r = run(LOBSTER_MESSAGES);
    expect(r.summary).toMatchObject({ events: 999, executions: 98, unknown_ids: 9, stale_orders_removed: 0, bad_lines: 0, levels: 0 });
    expect(r.summary.fill_mismatches).toBeLessThanOrEqual(4);
    expect(r.summary.fill_mismatch_kinds.unknown_order).toBe(r.summary.fill_mismatches);
    const explained = r.differences.filter((d) => d.kind === "fill_mismatch");
    expect(explained.map((d) => d.event)).toEqual([448, 449, 450, 488].slice(0, r.summary.fill_mismatches));
    for (const d of explained) expect(d.detail).toMatch(/^unknown_order: execution of \d+ @ \d+ against buy order \d+: order \d+ was never seen: our best bid is 5853000/);
  });

  it("the book check notices a damaged message (one add with a wrong size)", () => {
    const lines = readFileSync(LOBSTER_MESSAGES, "utf8").split("\n");
    const k = lines.findIndex((l, i) => i > 100 && l.split(",")[1] === "1");
    const f = lines[k]!.split(",");
    f[3] = String(Number(f[3]) + 7);
    lines[k] = f.join(",");
    const r = run(file(lines.join("\n")), LOBSTER_BOOK);
    expect(r.summary.book_mismatches).toBeGreaterThanOrEqual(1);
    expect(r.differences.find((d) => d.kind === "book_mismatch")?.event).toBe(k + 1);
  });

  it("pre-open orders released at 34201.15 are queued by their original priority (events 125 and 127)", () => {
    const r = run(LOBSTER_MESSAGES, LOBSTER_BOOK);
    expect(r.summary).toMatchObject({ preopen_orders: 41, preopen_requeued: 2 });
    expect(r.differences.filter((d) => d.kind === "preopen").map((d) => d.event)).toEqual([125, 127]);
    expect(r.differences.find((d) => d.event === 125)!.detail).toContain("order 4566937 (5 @ 5859800)");
    expect(r.differences.find((d) => d.event === 125)!.detail).toContain("queued ahead of 16207442");
  });

  it("a 7-column copy (attribution) gives the same figures, and --explain shows the attribution", async () => {
    const lines = readFileSync(LOBSTER_MESSAGES, "utf8").trimEnd().split("\n");
    const seven = file(lines.map((l, i) => `${l},${i === 447 ? "MSCO" : "null"}`).join("\n") + "\n");
    const r = await lockstep("replay", "--format", "lobster", seven, "--check-book", LOBSTER_BOOK, "--explain", "--json");
    expect(r.code).toBe(0);
    const base = run(LOBSTER_MESSAGES, LOBSTER_BOOK).summary;
    expect(lastJson(r.stdout)).toEqual({ ...base, ops_per_s: lastJson(r.stdout).ops_per_s });
    expect(r.stderr).toContain("event 448 (attribution MSCO): unknown_id: execution of order 13419503");
  });

  it("1- and 5-level orderbooks cut from the 10-level one are read at their depth and agree", () => {
    const rows = readFileSync(LOBSTER_BOOK, "utf8").trimEnd().split("\n");
    // Copied without LOBSTER's name, which says 10 levels: a pair named for different depths is refused.
    const unnamed = file(readFileSync(LOBSTER_MESSAGES));
    expect(() => run(LOBSTER_MESSAGES, file(rows.map((r) => r.split(",").slice(0, 4).join(",")).join("\n") + "\n"))).toThrow(/is a 10-level message file \(by its name\) but .+ has 1 level;/);
    for (const levels of [1, 5]) {
      const book = file(rows.map((r) => r.split(",").slice(0, levels * 4).join(",")).join("\n") + "\n");
      const r = run(unnamed, book);
      expect(r.summary, `${levels} levels`).toMatchObject({ levels, events: 999, fill_mismatches: 0, book_mismatches: 0, bad_lines: 0 });
    }
  });
});

describe("corrections, each on a file built to need it (messages only)", () => {
  it("an execution of an order never seen touches no other order, and is counted", () => {
    const r = run(file(messages([1, 10, 100, 1000, 1], [4, 5, 30, 1000, 1])));
    expect(r.summary).toMatchObject({ executions: 1, fill_mismatches: 1, unknown_ids: 1 });
    expect(r.summary.fill_mismatch_kinds.unknown_order).toBe(1);
    expect(r.replay.engine.order(10)?.leaves).toBe(100);
    expect(r.differences[0]!.detail).toContain("no other order is touched");
    // The real order then fills exactly when it is executed itself.
    const r2 = run(file(messages([1, 10, 100, 1000, 1], [4, 5, 30, 1000, 1], [4, 10, 100, 1000, 1])));
    expect(r2.summary.fill_mismatches).toBe(1);
    expect(r2.replay.engine.order(10)).toBeUndefined();
  });

  it("an add that would cross stale orders removes them first and never trades with them", () => {
    const r = run(file(messages([1, 20, 50, 1010, -1], [1, 21, 30, 1010, 1])));
    expect(r.summary.stale_orders_removed).toBe(1);
    expect(r.replay.log.trades).toHaveLength(0);
    expect(r.replay.engine.order(20)).toBeUndefined();
    expect(r.replay.engine.order(21)?.leaves).toBe(30);
    expect(r.differences).toEqual([expect.objectContaining({ event: 2, kind: "stale_order" })]);
    expect(run(file(messages([1, 20, 50, 1010, -1], [1, 21, 30, 1010, 1], [4, 21, 30, 1010, 1]))).summary.fill_mismatches).toBe(0);
  });

  it("an execution behind better-priced stale orders removes them, then fills the named order exactly", () => {
    const r = run(file(messages([1, 30, 10, 1005, 1], [1, 31, 10, 1000, 1], [4, 31, 10, 1000, 1])));
    expect(r.summary).toMatchObject({ stale_orders_removed: 1, fill_mismatches: 0 });
    expect(r.replay.engine.liveOrders).toBe(0);
  });

  it("an order released with a lower id than orders resting at its price goes ahead of them", () => {
    const r = run(file(messages([1, 200, 10, 1000, 1], [1, 100, 5, 1000, 1], [4, 100, 5, 1000, 1], [4, 200, 10, 1000, 1])));
    expect(r.summary).toMatchObject({ preopen_orders: 1, preopen_requeued: 1, fill_mismatches: 0 });
    expect(r.differences.find((d) => d.kind === "preopen")!.detail).toContain("queued ahead of 200");
    // Ids in arrival order: nothing is released, nothing requeued.
    expect(run(file(messages([1, 100, 5, 1000, 1], [1, 200, 10, 1000, 1]))).summary).toMatchObject({ preopen_orders: 0, preopen_requeued: 0 });
  });

  it("fill mismatches of each kind correct the named order alone", () => {
    const queue = run(file(messages([1, 1, 10, 1000, 1], [1, 2, 10, 1000, 1], [4, 2, 10, 1000, 1])));
    expect(queue.summary.fill_mismatch_kinds.queue).toBe(1);
    expect(queue.replay.engine.order(1)?.leaves).toBe(10);
    expect(queue.replay.engine.order(2)).toBeUndefined();
    const size = run(file(messages([1, 1, 5, 1000, 1], [4, 1, 10, 1000, 1])));
    expect(size.summary.fill_mismatch_kinds.size).toBe(1);
    const differs = run(file(messages([1, 1, 5, 1000, 1], [4, 1, 5, 1001, 1])));
    expect(differs.summary.fill_mismatch_kinds.order_differs).toBe(1);
    for (const r of [queue, size, differs]) kindsAddUp(r.summary);
  });

  it("cancels: a size that disagrees is counted; an order never seen touches nothing else", () => {
    const r = run(file(messages([1, 1, 10, 1000, 1], [3, 1, 7, 1000, 1], [1, 2, 10, 1000, 1], [3, 9, 10, 1000, 1], [2, 8, 4, 1000, 1])));
    expect(r.summary).toMatchObject({ cancel_mismatches: 1, unknown_ids: 2 });
    expect(r.replay.engine.order(1)).toBeUndefined();
    expect(r.replay.engine.order(2)?.leaves).toBe(10);
  });

  it("a repeated add id is refused by the engine, counted and explained; hidden executions, crosses and halts are counted", () => {
    const r = run(file(messages([1, 1, 10, 1000, 1], [1, 1, 10, 1000, 1], [5, 0, 10, 1000, -1], [6, -1, 500, 1000, 1], [7, 0, 0, -1, -1], [7, 0, 0, 1, -1])));
    expect(r.summary).toMatchObject({ events: 6, rejects: 1, hidden_executions: 1, skipped: 3 });
    expect(r.differences).toEqual([expect.objectContaining({ event: 2, kind: "reject" })]);
  });
});

describe("layouts: 7 columns and orderbooks of any depth", () => {
  it("the 7th column is kept as attribution (null means none)", () => {
    const r = run(file(messages([1, 1, 10, 1000, 1, "null"], [1, 2, 10, 1001, -1, "null"], [1, 3, 10, 1001, 1, "GSCO"])));
    expect(r.summary.bad_lines).toBe(0);
    expect(r.differences).toEqual([expect.objectContaining({ event: 3, kind: "stale_order", attribution: "GSCO" })]);
  });

  // Small exchanges: every level count, with pre-open orders and activity beyond the visible levels.
  for (const levels of [1, 5, 10, 50]) {
    it(`a ${levels}-level pair from a simulated exchange: 0 book mismatches, every fill mismatch in a kind`, () => {
      for (const seed of [1, 2]) {
        const sim = simulate({ seed, events: 1200, levels, preopen: 20, attribution: seed === 2 });
        const pair = writePair(dir, sim, levels, `SIM${seed}_2024-01-02_34200000_57600000`);
        const withBook = run(pair.messages, pair.book);
        expect(withBook.bad).toEqual([]);
        expect(withBook.summary, `seed ${seed}`).toMatchObject({ levels, events: sim.messages.length, book_mismatches: 0 });
        kindsAddUp(withBook.summary);
        if (levels === 50) {
          // All 50 levels are read (200 columns), so liquidity beyond the 10th is seeded and fills later executions.
          expect(readFileSync(pair.book, "utf8").split("\n")[0]!.split(",")).toHaveLength(200);
          expect(withBook.summary.initial_levels).toBeGreaterThan(2 * 10);
          expect(withBook.summary.fill_mismatches, `seed ${seed}`).toBe(0);
        }
        const alone = run(pair.messages);
        kindsAddUp(alone.summary);
        expect(alone.summary.events).toBe(sim.messages.length);
      }
    });
  }
});

describe("bad lines: each is reported with its file, line and reason, and skipped", () => {
  const good = "34200.000000001,1,1,10,1000,1";
  const cases: [string, string][] = [
    ["34200.1,1,5,1e2,1000,1", 'size "1e2" is not a decimal integer'],
    ["34200.1,1,5,10,0x10,1", 'price "0x10" is not a decimal integer'],
    ["34200.1,1,5,,1000,1", 'size "" is not a decimal integer'],
    ["34200.1,1,5,+5,1000,1", 'size "+5" is not a decimal integer'],
    ["34200.1,1,5,-5,1000,1", 'size "-5": no sign belongs here'],
    ["34200.1,1,-7,5,1000,1", 'order id "-7": no sign belongs here'],
    ["34200.1,1,5,5,1000,0", 'direction "0" must be 1 (buy) or -1 (sell)'],
    ["34200.1,9,5,5,1000,1", "unknown event type 9"],
    ["3.42e4,1,5,5,1000,1", 'time "3.42e4" is not seconds after midnight'],
    ["34200.1234567891,1,5,5,1000,1", 'time "34200.1234567891" is not seconds after midnight'],
    ["86400.5,1,5,5,1000,1", "time 86400.5 is not within a day (86400 s)"],
    ["34200.1,1,5,5,1000", "5 comma-separated fields, expected 6"],
    ["34200.1,1,5,5,1000,1,null,x", "8 comma-separated fields"],
    ["", "empty line"],
    ["34200.1,1,5,5,1000,1,null", "7 comma-separated fields, expected 6, as the file's first good line has"],
    ["34100.1,1,5,5,1000,1", "time 34100.1 is earlier than 34200.000000001 on line 1: times must not decrease"],
    [Array.from({ length: 40 }, () => "1").join(","), "40 comma-separated fields, expected 6, as the file's first good line has (is this an orderbook file?)"],
  ];
  it.each(cases)("%j", (line, reason) => {
    const f = file(`${good}\n${line}\n34200.2,1,2,10,1000,1\n`);
    const r = run(f);
    expect(r.bad.map((b) => b.message)).toEqual([expect.stringContaining(`${f} line 2: ${reason}`)]);
    expect(r.summary).toMatchObject({ events: 2, bad_lines: 1 });
  });

  it("an attribution must be a participant id or null", () => {
    const r = run(file("34200.1,1,5,5,1000,1,null\n34200.2,1,6,5,1000,1,MS CO\n34200.3,1,7,5,1000,1,\n"));
    expect(r.bad.map((b) => b.reason)).toEqual([expect.stringContaining('attribution "MS CO" is not a participant id'), expect.stringContaining('attribution "" is not')]);
  });

  it("a header row is named as such; a truncated last line is named as such", () => {
    const h = run(file(`Time,Type,OrderID,Size,Price,Direction\n${good}\n`));
    expect(h.bad[0]!.message).toMatch(/line 1: time "Time" is not seconds after midnight .*\(a header row\? LOBSTER files have none\)/);
    const t = run(file(`${good}\n34200.2,1,2,1`));
    expect(t.bad[0]!.message).toContain("line 2: 4 comma-separated fields, expected 6, as the file's first good line has (the last line has no newline: the file looks truncated)");
  });

  const row = (cols: (string | number)[]): string => cols.join(",");
  const bookCases: [string, string][] = [
    [row([1010, 5, 1000]), "3 comma-separated fields, expected 4 (1 level of ask price, ask size, bid price, bid size)"],
    [row([1010, "1e1", 1000, 5]), 'ask size 1 "1e1" is not a decimal integer'],
    [row([-1010, 5, 1000, 5]), 'ask price 1 "-1010": no sign belongs here'],
    [row([1010, 5, -9999999999, 5]), 'bid price 1 "-9999999999": no sign belongs here'],
    [row([1000, 5, 1000, 5]), "the row is crossed: best bid 1000 is not below best ask 1000"],
  ];
  it.each(bookCases)("orderbook row %j", (bad, reason) => {
    const m = file(messages([1, 1, 5, 1000, 1], [1, 2, 5, 1010, -1], [1, 3, 1, 1010, -1]));
    const b = file(`${row([9999999999, 0, 1000, 5])}\n${bad}\n${row([1010, 6, 1000, 5])}\n`);
    const r = run(m, b);
    expect(r.bad.map((e) => e.message)).toEqual([expect.stringContaining(`${b} line 2: ${reason}`)]);
    expect(r.summary.events).toBe(3);
  });

  it("orderbook levels out of order, or with shares after an empty level, are refused", () => {
    const m = file(messages([1, 1, 5, 1000, 1]));
    const unsorted = run(m, file(`${row([1020, 5, 1000, 5, 1010, 5, -9999999999, 0])}\n`));
    expect(unsorted.bad[0]!.message).toContain("ask level 2 (1010) is not above level 1 (1020)");
    const gap = run(m, file(`${row([1020, 5, 999, 5, 9999999999, 0, -9999999999, 0, 1030, 5, -9999999999, 0])}\n`));
    expect(gap.bad[0]!.message).toContain("ask level 3 has 5 shares after an empty level");
  });
});

describe("bad files: exit 1 with the file named, never a stack trace or exit 70", () => {
  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const r = await lockstep("replay", "--format", "lobster", ...args);
    noStack(r.stderr);
    expect(r.stderr).not.toContain("internal error");
    return r;
  };

  it("an empty message file with an empty orderbook file (once an internal error) exits 1, naming the file", async () => {
    const empty = file("");
    const r = await cli(empty, "--check-book", file(""), "--json");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`lockstep: ${empty} is empty: no events to replay`);
  });

  it("empty files, pairs that disagree in rows or depth, and binary files are refused with the file named", () => {
    const empty = file("");
    expect(() => run(empty)).toThrow(new ReplayInputError(`${empty} is empty: no events to replay`));
    const m = file(messages([1, 1, 5, 1000, 1], [1, 2, 5, 1010, -1]), "X_2024-01-02_34200000_57600000_message_10.csv");
    expect(() => run(m, empty)).toThrow(`${empty} has 0 lines but ${m} has 2`);
    const short = file("1010,0,1000,5\n");
    expect(() => run(m, short)).toThrow(`${short} has 1 line but ${m} has 2`);
    const five = file(`${Array(5).fill("9999999999,0,1000,5").join(",")}\n${Array(5).fill("1010,5,1000,5").join(",")}\n`, "X_2024-01-02_34200000_57600000_orderbook_5.csv");
    expect(() => run(m, five)).toThrow(`${m} is a 10-level message file (by its name) but ${five} has 5 levels`);
    const misnamed = file("1010,0,1000,5\n1010,5,1000,5\n", "X_2024-01-02_34200000_57600000_orderbook_10.csv");
    expect(() => run(m, misnamed)).toThrow(`${misnamed} is named for 10 levels but its rows have 1 (4 fields)`);
    expect(() => run(m, m)).toThrow("6 comma-separated fields; an orderbook row has 4 per level (ask price, ask size, bid price, bid size) (is this a message file?)");
    const other = file("1010,0,1000,5\n1010,5,1000,5\n", "Y_2024-01-02_34200000_57600000_orderbook_1.csv");
    const m1 = file(messages([1, 1, 5, 1000, 1], [1, 2, 5, 1010, -1]), "X_2024-01-02_34200000_57600000_message_1.csv");
    expect(() => run(m1, other)).toThrow("are not a pair: X_2024-01-02_34200000_57600000 is not Y_2024-01-02_34200000_57600000");
    const bin = file(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00, 0x0a, 0xff, 0xfe]));
    expect(() => run(bin)).toThrow(`${bin} line 1: contains a NUL byte: this is a binary file`);
    expect(() => run(dir)).toThrow(`${dir} is a directory, not a file`);
    expect(() => run(m, dir)).toThrow(`${dir} is a directory, not a file`);
  });

  it("a CSV of another format: every line bad, exit 1 with no events, the first 10 shown and the rest counted", async () => {
    const csv = file(`Date,Open,High,Low,Close,Volume\n${Array.from({ length: 14 }, (_, i) => `2024-01-${String(i + 2).padStart(2, "0")},1.5,2,1,1.75,1000`).join("\n")}\n`);
    const r = await cli(csv, "--json");
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ events: 0, bad_lines: 15 });
    expect(r.stderr.match(/ line \d+: /g)).toHaveLength(10);
    expect(r.stderr).toContain("skipped 15 bad lines; the first 10 are shown above");
    expect(r.stderr).toContain(`${csv}: no events replayed: every line was bad (15)`);
  });

  it("a run that skipped lines exits 0 and says how many; --strict stops at the first with exit 1", async () => {
    const f = file(`34200.1,1,1,10,1000,1\n34200.2,1,2,1e2,1000,1\n34200.3,1,3,10,1000,1`);
    const r = await cli(f, "--json");
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ events: 2, bad_lines: 1 });
    expect(r.stderr).toContain(`${f} line 2: size "1e2" is not a decimal integer`);
    expect(r.stderr).toContain("skipped 1 bad line (shown above)");
    const s = await cli(f, "--strict", "--json");
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`${f} line 2: size "1e2"`);
    expect(s.stdout).toBe("");
  });

  it("both files with a header row: the headers are skipped as bad lines and the rest replays", () => {
    const m = file(`Time,Type,OrderID,Size,Price,Direction\n34200.1,1,1,5,1000,1\n`);
    const b = file(`AskPrice1,AskSize1,BidPrice1,BidSize1\n9999999999,0,1000,5\n`);
    const r = run(m, b);
    expect(r.summary).toMatchObject({ events: 1, bad_lines: 2, book_mismatches: 0 });
    expect(r.bad.map((e) => e.message)).toEqual([expect.stringContaining(`${m} line 1: time "Time"`), `${b} line 1: ask price 1 "AskPrice1" is not a decimal integer`]);
  });
});

describe("robustness", () => {
  it("damaged copies of a real or simulated pair never raise anything but a bad line or a refused file", () => {
    const sim = simulate({ seed: 7, events: 400, levels: 10, preopen: 10 });
    const source = HAVE_LOBSTER
      ? { messages: readFileSync(LOBSTER_MESSAGES, "utf8").trimEnd().split("\n").slice(0, 400), rows: readFileSync(LOBSTER_BOOK, "utf8").trimEnd().split("\n").slice(0, 400) }
      : sim;
    const rand = rng(20240102);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const damage = (line: string): string => {
      const f = line.split(",");
      const k = Math.floor(rand() * f.length);
      const how = Math.floor(rand() * 6);
      if (how === 0) f[k] = pick(["", "-1", "0", "1e3", "x", "99999999999999999", "-9999999999"]);
      else if (how === 1) f.splice(k, 1);
      else if (how === 2) return line.slice(0, Math.floor(rand() * line.length));
      else if (how === 3) f[k] = String(Number(f[k]) + pick([-100, -1, 1, 100]));
      else if (how === 4) [f[k], f[0]] = [f[0]!, f[k]!];
      else return pick(source.messages);
      return f.join(",");
    };
    for (let trial = 0; trial < 25; trial++) {
      const m = [...source.messages];
      const b = [...source.rows];
      for (let n = 0; n < 8; n++) {
        const i = Math.floor(rand() * m.length);
        if (rand() < 0.5) m[i] = damage(m[i]!);
        else b[i] = damage(b[i]!);
      }
      const mf = file(`${m.join("\n")}\n`);
      const bf = file(`${b.join("\n")}\n`);
      for (const book of [bf, undefined]) {
        try {
          const r = run(mf, book);
          kindsAddUp(r.summary);
        } catch (err) {
          expect(err, `trial ${trial}`).toBeInstanceOf(ReplayInputError);
        }
      }
    }
  });

  it("the line reader splits at chunk edges, takes \\r\\n, and skips an overlong line as a bad line", () => {
    const text = "a,b\r\nccc\n\nlong-line-here\nd";
    const f = file(text);
    for (const chunkBytes of [1, 2, 3, 7, 64]) {
      const reader = new LineReader(f, "latin1", { chunkBytes, lineBytesMax: 8 });
      const got: string[] = [];
      for (;;) {
        try {
          const line = reader.next();
          if (line === null) break;
          got.push(line);
        } catch (err) {
          expect(err).toBeInstanceOf(BadLine);
          got.push(`bad ${(err as BadLine).line}`);
        }
      }
      reader.close();
      expect(got, `chunk ${chunkBytes}`).toEqual(["a,b", "ccc", "", "bad 4", "d"]);
      expect(reader.terminated).toBe(false);
    }
  });
});
