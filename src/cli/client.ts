/**
 * `lockstep client`: a small trading client for people and scripts. Reads commands (see
 * src/client/script.ts) from stdin, one per line, sends them to the sequencer, and prints what
 * comes back: ACKs and REJECTs, and with --feed the execution reports for the account and a
 * local book. Each output is one line; --json makes each a JSON object.
 */
import { createInterface } from "node:readline";
import { FeedClient } from "../client/feed.js";
import { parseClientLine } from "../client/script.js";
import { LockstepError, TradingClient } from "../client/trading.js";
import { ORDER_STATUS_NAME, REASON_NAME, type OrderStatus, type Reason } from "../engine/index.js";
import { ReportKind, type Report } from "../protocol/messages.js";
import { parse, UserError } from "./args.js";

const KIND_NAME = Object.fromEntries(Object.entries(ReportKind).map(([k, v]) => [v, k.toLowerCase()])) as Record<number, string>;

function describeReport(r: Report): string {
  const parts = [`report seq=${r.seq}`, KIND_NAME[r.k] ?? `kind ${r.k}`, `order=${r.oid}`];
  if (r.coid !== undefined) parts.push(`coid=${r.coid}`);
  if (r.code !== undefined && r.k === ReportKind.REJECTED) parts.push(`reason=${REASON_NAME[r.code as Reason] ?? r.code}`);
  if (r.px !== undefined) parts.push(`px=${r.px}`);
  if (r.qty !== undefined) parts.push(`qty=${r.qty}`);
  if (r.left !== undefined) parts.push(`left=${r.left}`);
  if (r.st !== undefined) parts.push(`status=${ORDER_STATUS_NAME[r.st as OrderStatus] ?? r.st}`);
  if (r.cum !== undefined && r.cum > 0) parts.push(`cum=${r.cum}`, `avg=${Math.round((r.ntl! / r.cum) * 100) / 100}`);
  if (r.cnt !== undefined) parts.push(`cancelled=${r.cnt}`);
  return parts.join(" ");
}

export async function runClient(args: string[]): Promise<number> {
  const { values: v } = parse(args, { trade: { type: "string" }, feed: { type: "string" }, account: { type: "string" }, instrument: { type: "string" }, json: { type: "boolean" } });
  const account = Number(v.account);
  const instrument = Number(v.instrument ?? 1);
  if (typeof v.trade !== "string") throw new UserError("client needs --trade ws://HOST:PORT/trade", 2);
  if (!Number.isSafeInteger(account) || account < 1) throw new UserError("client needs --account N (a positive integer)", 2);
  const json = v.json === true;
  const print = (human: string, obj: object): void => { process.stdout.write(`${json ? JSON.stringify(obj) : human}\n`); };
  let trading: TradingClient;
  try {
    trading = await TradingClient.connect(v.trade, account);
  } catch (err) {
    throw new UserError(`cannot connect to ${v.trade}: ${(err as Error).message}`);
  }
  const feed = typeof v.feed === "string" ? new FeedClient({ urls: v.feed.split(","), account, instrument, onReport: (r) => print(describeReport(r), r) }) : null;
  await feed?.connect();
  const pending: Promise<void>[] = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const cmd = parseClientLine(line, instrument);
    if (cmd.kind === "empty") continue;
    if (cmd.kind === "quit") break;
    if (cmd.kind === "error") {
      print(`error: ${cmd.message}`, { error: cmd.message });
      continue;
    }
    if (cmd.kind === "book") {
      // Show the book as of everything this client sent so far.
      await Promise.all(pending);
      await feed?.caughtUp(trading.lastSeq);
      const top = feed?.book.top(5) ?? { bids: [], asks: [] };
      print(`book seq=${feed?.book.seq ?? 0} bids=${JSON.stringify(top.bids)} asks=${JSON.stringify(top.asks)}`, { book: top, seq: feed?.book.seq ?? 0 });
      continue;
    }
    const sent = cmd.kind === "order" ? trading.submit(cmd.req) : cmd.kind === "cancel" ? trading.cancel(cmd.order) : cmd.kind === "kill" ? trading.cancelAll() : trading.modify(cmd.order, cmd.px, cmd.qty);
    pending.push(sent.then(
      (a) => print(`ack seq=${a.seq} order=${a.oid}`, a),
      (e: unknown) => print(`reject ${(e as LockstepError).message}`, { reject: (e as LockstepError).code, message: (e as Error).message }),
    ));
  }
  await Promise.all(pending);
  if (feed !== null) await feed.caughtUp(trading.lastSeq);
  feed?.close();
  await trading.close();
  return 0;
}
