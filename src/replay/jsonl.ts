/**
 * `lockstep replay --format jsonl`: applies a file of commands, one JSON object per line, to
 * the engine. Text ids and accounts are mapped to integers here, outside the engine. A bad
 * line is reported with its line number and skipped (or stops the replay when strict); the
 * engine's own rejects are counted apart. ops_per_s times the engine alone, not the parsing.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { z } from "zod";
import { Engine, NullListener, REASON_NAME, Side, Stp, Tif, type Command, type InstrumentConfig, type Reason } from "../engine/index.js";

/**
 * Replayed instruments take any price up to 2^32 − 1 and any quantity up to 2^21 − 1: the
 * widest pair whose product (an order's largest possible notional) is still a safe integer,
 * with room for equity prices in LOBSTER's 1/10,000-dollar units.
 */
export const REPLAY_PRICE_MAX = 2 ** 32 - 1;
export const REPLAY_QTY_MAX = 2 ** 21 - 1;

export const REPLAY_INSTRUMENT: InstrumentConfig = {
  id: 1, symbol: "REPLAY", tickSize: 1, lotSize: 1, qtyMin: 1, qtyMax: REPLAY_QTY_MAX, priceMin: 1, priceMax: REPLAY_PRICE_MAX,
};

const text = z.string().min(1).max(128);
const count = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const side = z.enum(["buy", "sell"]);
const LineSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("limit"), id: text, account: text, side, price: count, qty: count, tif: z.enum(["GTC", "IOC", "FOK"]).default("GTC"), postOnly: z.boolean().default(false) }).strict(),
  z.object({ type: z.literal("market"), id: text, account: text, side, qty: count }).strict(),
  z.object({ type: z.literal("cancel"), id: text }).strict(),
  z.object({ type: z.literal("modify"), id: text, price: count, qty: count }).strict(),
]);

export interface JsonlSummary {
  commands: number;
  trades: number;
  rejects: number;
  bad_lines: number;
  hash: string;
  ops_per_s: number;
}

export interface JsonlOptions {
  readonly strict: boolean;
  /** Called once per trade with the JSON line to write (without newline). */
  readonly onTrade?: (line: string) => void;
  /** Called for each bad line or engine reject with a one-line human message. */
  readonly onProblem?: (message: string) => void;
}

export class BadLineError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

/** Maps text ids to dense integers (1, 2, …) and back. */
export class Names {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [""];
  id(name: string): number {
    let n = this.ids.get(name);
    if (n === undefined) {
      n = this.names.length;
      this.ids.set(name, n);
      this.names.push(name);
    }
    return n;
  }
}

class ReplayListener extends NullListener {
  trades = 0;
  rejects = 0;
  lastReject: Reason = 0;
  constructor(private readonly orders: Names, private readonly onTrade?: (line: string) => void) {
    super();
  }
  override rejected(_orderId: number, _account: number, reason: Reason): void {
    this.rejects++;
    this.lastReject = reason;
  }
  override trade(_i: number, _t: number, makerId: number, _ma: number, takerId: number, _ta: number, _s: Side, price: number, qty: number): void {
    this.trades++;
    if (this.onTrade !== undefined) {
      this.onTrade(JSON.stringify({ maker: this.orders.names[makerId], taker: this.orders.names[takerId], price, qty }));
    }
  }
}

function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0]!;
  const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue.message}`;
}

function toCommand(v: z.infer<typeof LineSchema>, orders: Names, accounts: Names): Command {
  const orderId = orders.id(v.id);
  switch (v.type) {
    case "limit":
      return { type: "limit", instrument: 1, orderId, account: accounts.id(v.account), side: v.side === "buy" ? Side.BUY : Side.SELL, price: v.price, qty: v.qty, tif: Tif[v.tif], postOnly: v.postOnly, stp: Stp.NONE };
    case "market":
      return { type: "market", instrument: 1, orderId, account: accounts.id(v.account), side: v.side === "buy" ? Side.BUY : Side.SELL, qty: v.qty };
    case "cancel":
      return { type: "cancel", orderId, account: 0 };
    case "modify":
      return { type: "modify", orderId, account: 0, price: v.price, qty: v.qty };
  }
}

/** Parses one line; returns a command or throws BadLineError with the reason. */
export function parseLine(line: string, lineNo: number, orders: Names, accounts: Names): Command {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new BadLineError(lineNo, "not valid JSON");
  }
  const parsed = LineSchema.safeParse(raw);
  if (!parsed.success) throw new BadLineError(lineNo, describeZodError(parsed.error));
  return toCommand(parsed.data, orders, accounts);
}

const BATCH_LINES = 65_536;

export async function replayJsonl(file: string, opts: JsonlOptions): Promise<{ summary: JsonlSummary; engine: Engine }> {
  const orders = new Names();
  const accounts = new Names();
  const listener = new ReplayListener(orders, opts.onTrade);
  const engine = new Engine([REPLAY_INSTRUMENT], listener);
  const batch: { cmd: Command; lineNo: number }[] = [];
  let commands = 0;
  let badLines = 0;
  let engineNs = 0n;
  const rejected: [lineNo: number, reason: Reason][] = [];
  const flush = (): void => {
    const t0 = process.hrtime.bigint();
    for (const { cmd, lineNo } of batch) {
      if (engine.apply(cmd) !== 0) rejected.push([lineNo, listener.lastReject]);
    }
    engineNs += process.hrtime.bigint() - t0;
    // Reported after the timed loop so that writing messages is not counted as engine time.
    for (const [lineNo, reason] of rejected) opts.onProblem?.(`line ${lineNo}: rejected by the engine: ${REASON_NAME[reason]}`);
    rejected.length = 0;
    commands += batch.length;
    batch.length = 0;
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === "") continue;
    try {
      batch.push({ cmd: parseLine(line, lineNo, orders, accounts), lineNo });
    } catch (err) {
      if (!(err instanceof BadLineError) || opts.strict) throw err;
      badLines++;
      opts.onProblem?.(err.message);
    }
    if (batch.length >= BATCH_LINES) flush();
  }
  flush();
  const seconds = Number(engineNs) / 1e9;
  const summary: JsonlSummary = {
    commands, trades: listener.trades, rejects: listener.rejects, bad_lines: badLines, hash: engine.stateHash(),
    ops_per_s: seconds > 0 ? Math.round(commands / seconds) : 0,
  };
  return { summary, engine };
}

