/**
 * The little language of `lockstep client`, one command per line:
 *   buy 10 @ 100 [ioc|fok] [post]     sell 5 @ 101     buy 3 market
 *   stop sell 5 @ 95 [limit 94]       cancel 42        modify 42 101 5
 *   book                              kill (cancel all my orders)       quit
 * Parsing is pure, so it is tested without a network.
 */
import type { OrderRequest } from "./trading.js";

export type ClientLine =
  | { readonly kind: "order"; readonly req: OrderRequest }
  | { readonly kind: "cancel"; readonly oid: number }
  | { readonly kind: "modify"; readonly oid: number; readonly px: number; readonly qty: number }
  | { readonly kind: "book" }
  | { readonly kind: "kill" }
  | { readonly kind: "quit" }
  | { readonly kind: "empty" }
  | { readonly kind: "error"; readonly message: string };

const HELP = "expected: buy|sell QTY @ PRICE [ioc|fok] [post] | buy|sell QTY market | stop buy|sell QTY @ STOP [limit PRICE] | cancel ID | modify ID PRICE QTY | kill | book | quit";

function int(s: string | undefined): number | null {
  if (s === undefined || !/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export function parseClientLine(line: string, instrument: number): ClientLine {
  const w = line.trim().toLowerCase().split(/\s+/).filter((x) => x !== "");
  if (w.length === 0 || w[0]!.startsWith("#")) return { kind: "empty" };
  const [verb] = w;
  if (verb === "quit" || verb === "exit") return { kind: "quit" };
  if (verb === "book") return { kind: "book" };
  if (verb === "kill" && w.length === 1) return { kind: "kill" };
  if (verb === "cancel") {
    const oid = int(w[1]);
    return oid !== null && w.length === 2 ? { kind: "cancel", oid } : { kind: "error", message: "usage: cancel ID" };
  }
  if (verb === "modify") {
    const [oid, px, qty] = [int(w[1]), int(w[2]), int(w[3])];
    return oid !== null && px !== null && qty !== null && w.length === 4 ? { kind: "modify", oid, px, qty } : { kind: "error", message: "usage: modify ID PRICE QTY" };
  }
  const stop = verb === "stop";
  const rest = stop ? w.slice(1) : w;
  const side = rest[0] === "buy" || rest[0] === "sell" ? rest[0] : null;
  const qty = int(rest[1]);
  if (side === null || qty === null) return { kind: "error", message: HELP };
  if (!stop && rest[2] === "market" && rest.length === 3) return { kind: "order", req: { instrument, side, type: "market", quantity: qty } };
  const price = rest[2] === "@" ? int(rest[3]) : null;
  if (price === null) return { kind: "error", message: HELP };
  const flags = rest.slice(4);
  if (stop) {
    const limit = flags[0] === "limit" ? int(flags[1]) : undefined;
    if (limit === null || (flags.length > 0 && limit === undefined) || flags.length > 2) return { kind: "error", message: "usage: stop buy|sell QTY @ STOP [limit PRICE]" };
    return { kind: "order", req: { instrument, side, type: "stop", quantity: qty, stopPrice: price, ...(limit === undefined ? {} : { price: limit }) } };
  }
  const unknown = flags.filter((f) => !["ioc", "fok", "post"].includes(f));
  if (unknown.length > 0) return { kind: "error", message: `unknown flag "${unknown[0]}"; ${HELP}` };
  const timeInForce = flags.includes("fok") ? "FOK" : flags.includes("ioc") ? "IOC" : "GTC";
  return { kind: "order", req: { instrument, side, type: "limit", price, quantity: qty, timeInForce, postOnly: flags.includes("post") } };
}
