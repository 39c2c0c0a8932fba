/**
 * An example market maker written in CCXT's style against Lockstep's CCXT adapter
 * (docs/ccxt.md). It loads the markets, watches the book, keeps one post-only quote on each
 * side around the mid (skewed by a tick per net fill, so a fill moves the other quote with
 * editOrder), follows its orders and fills with watchOrders / watchMyTrades, and after
 * --duration seconds cancels what is left and prints a summary.
 *
 *   npm start                                  # one terminal: the local cluster and its demo
 *   node dist/examples/ccxt-bot.js             # another: quotes on DEMO for 10 s
 *
 * Flags: --trade URL, --feed URL[,URL…], --rest URL[,URL…] (default: the feeds' host:port),
 * --account N, --symbol S, --amount A, --spread-ticks K, --mid P (for an empty book),
 * --duration S, --json (the summary as one JSON line, last on stdout).
 *
 * Like any CCXT bot it does its price arithmetic in numbers and rounds with priceToPrecision;
 * the adapter turns that decimal text into exact ticks (and would refuse an off-tick price).
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ccxt } from "../src/client/index.js";

const DEMO = {
  trade: "ws://127.0.0.1:7001/trade",
  feed: "ws://127.0.0.1:7101/feed,ws://127.0.0.1:7102/feed,ws://127.0.0.1:7103/feed",
  /** The demo's clients trade as accounts 1–4; the bot keeps to its own. */
  account: 9001,
  /** The demo's traffic centres on 10000 (config/local.json, demo.mid). */
  mid: 10_000,
};
const DURATION_S_DEFAULT = 10;
const SPREAD_TICKS_DEFAULT = 2;
/** How long one command (or REST read) may take: generous, as a laptop running the demo may be busy, ms. */
const TIMEOUT_MS = 30_000;
/** The longest the quoting loop waits for a book update before re-checking its quotes, ms. */
const REQUOTE_MS = 200;

type Side = ccxt.Side;
interface Quote { id: string; price: string }

interface Summary {
  symbol: string;
  account: number;
  placed: number;
  edited: number;
  cancelled: number;
  refusedPostOnly: number;
  fills: number;
  ordersClosed: number;
  openAtEnd: number;
  checksumMismatches: number;
}

function options(): { trade: string; feeds: string[]; rest: string[]; account: number; symbol?: string; amount?: string; spreadTicks: number; mid: number; durationS: number; json: boolean } {
  const { values: v } = parseArgs({
    options: {
      trade: { type: "string" }, feed: { type: "string" }, rest: { type: "string" }, account: { type: "string" }, symbol: { type: "string" },
      amount: { type: "string" }, "spread-ticks": { type: "string" }, mid: { type: "string" }, duration: { type: "string" }, json: { type: "boolean" },
    },
  });
  const feeds = (v.feed ?? DEMO.feed).split(",");
  const rest = v.rest === undefined ? feeds.map((f) => f.replace(/^ws(s?):\/\/([^/]+).*$/, "http$1://$2")) : v.rest.split(",");
  const positive = (name: string, text: string | undefined, dflt: number): number => {
    const n = text === undefined ? dflt : Number(text);
    if (!(n > 0) || !Number.isFinite(n)) throw new Error(`--${name} must be a positive number, not ${JSON.stringify(text)}`);
    return n;
  };
  return {
    trade: v.trade ?? DEMO.trade, feeds, rest, account: positive("account", v.account, DEMO.account), symbol: v.symbol, amount: v.amount,
    spreadTicks: positive("spread-ticks", v["spread-ticks"], SPREAD_TICKS_DEFAULT), mid: positive("mid", v.mid, DEMO.mid),
    durationS: positive("duration", v.duration, DURATION_S_DEFAULT), json: v.json === true,
  };
}

/** The next book update, or undefined if none comes within `ms` (a quiet book). */
async function nextBook(exchange: ccxt.LockstepExchange, symbol: string, ms: number): Promise<ccxt.OrderBook | undefined> {
  const update = exchange.watchOrderBook(symbol);
  update.catch(() => undefined); // a call left waiting rejects when the exchange closes
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); });
  try {
    return await Promise.race([update, quiet]);
  } finally {
    clearTimeout(timer);
  }
}

function midOf(book: ccxt.OrderBook | undefined, fallback: number): number {
  const bid = book?.bids[0]?.[0];
  const ask = book?.asks[0]?.[0];
  if (bid !== undefined && ask !== undefined) return (bid + ask) / 2;
  return bid ?? ask ?? fallback;
}

async function main(): Promise<Summary> {
  const o = options();
  const exchange = new ccxt.LockstepExchange({ trade: o.trade, feeds: o.feeds, rest: o.rest, account: o.account, timeoutMs: TIMEOUT_MS });
  const markets = await exchange.loadMarkets();
  const symbol = o.symbol ?? Object.keys(markets)[0];
  if (symbol === undefined) throw new Error("the cluster has no markets");
  const market = exchange.market(symbol);
  const amount = o.amount ?? exchange.amountToPrecision(symbol, market.limits.amount.min!);
  const tick = market.precision.price;
  const s: Summary = { symbol, account: o.account, placed: 0, edited: 0, cancelled: 0, refusedPostOnly: 0, fills: 0, ordersClosed: 0, openAtEnd: 0, checksumMismatches: 0 };
  const quotes: Partial<Record<Side, Quote>> = {};
  // Client order ids are unique per account among live and recently finished orders (even
  // refused ones keep theirs), so each run names its orders afresh: mm-RUN-1, mm-RUN-2, …
  const run = randomBytes(4).toString("hex");
  let sent = 0;
  /** Net fills, +1 per buy fill and −1 per sell fill: the quotes lean against it. */
  let inventory = 0;
  let stopping = false;
  process.once("SIGINT", () => { stopping = true; });

  const followOrders = async (): Promise<void> => {
    while (!stopping) {
      for (const order of await exchange.watchOrders(symbol)) {
        if (order.status === "open") continue;
        if (order.status === "closed") s.ordersClosed++;
        for (const side of ["buy", "sell"] as const) if (quotes[side]?.id === order.id) delete quotes[side];
      }
    }
  };
  const followFills = async (): Promise<void> => {
    while (!stopping) {
      for (const t of await exchange.watchMyTrades(symbol)) {
        s.fills++;
        inventory += t.side === "buy" ? 1 : -1;
      }
    }
  };
  const followers = [followOrders(), followFills()].map((p) => p.catch((e: unknown) => { if (!(e instanceof ccxt.ExchangeClosedByUser)) throw e; }));

  const quote = async (side: Side, price: string): Promise<void> => {
    const q = quotes[side];
    try {
      if (q === undefined) {
        const order = await exchange.createOrder(symbol, "limit", side, amount, price, { postOnly: true, clientOrderId: `mm-${run}-${++sent}` });
        s.placed++;
        if (order.status === "open") quotes[side] = { id: order.id, price };
      } else if (q.price !== price) {
        await exchange.editOrder(q.id, symbol, "limit", side, amount, price);
        s.edited++;
        q.price = price;
      }
    } catch (e) {
      if (e instanceof ccxt.OrderImmediatelyFillable) s.refusedPostOnly++; // the book moved through our price: try again next turn
      else if (e instanceof ccxt.OrderNotFound) delete quotes[side]; // filled or gone meanwhile: a fresh quote next turn
      else throw e;
    }
  };

  const endAt = performance.now() + o.durationS * 1000;
  let book: ccxt.OrderBook | undefined;
  while (!stopping && performance.now() < endAt) {
    book = (await nextBook(exchange, symbol, REQUOTE_MS)) ?? book;
    const mid = midOf(book, o.mid);
    const lean = Math.max(1 - o.spreadTicks, Math.min(o.spreadTicks - 1, inventory));
    await quote("buy", exchange.priceToPrecision(symbol, mid - (o.spreadTicks + lean) * tick));
    await quote("sell", exchange.priceToPrecision(symbol, mid + (o.spreadTicks - lean) * tick));
  }

  const open = await exchange.fetchOpenOrders(symbol);
  s.openAtEnd = open.length;
  for (const order of open) {
    try {
      await exchange.cancelOrder(order.id, symbol);
      s.cancelled++;
    } catch (e) {
      if (!(e instanceof ccxt.OrderNotFound)) throw e; // filled on its way out
    }
  }
  stopping = true;
  s.checksumMismatches = exchange.stats.checksumMismatches;
  await exchange.close();
  await Promise.all(followers);
  return s;
}

main().then((s) => {
  const text = process.argv.includes("--json")
    ? `${JSON.stringify(s)}\n`
    : `${s.symbol} as account ${s.account}: ${s.placed} orders placed, ${s.edited} edited, ${s.refusedPostOnly} post-only refusals, ${s.fills} fills (${s.ordersClosed} orders filled)\n` +
      `open orders at the end: ${s.openAtEnd} (${s.cancelled} cancelled before exit)\n`;
  process.stdout.write(text, () => process.exit(0));
}, (err: unknown) => {
  process.stderr.write(`ccxt-bot: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
