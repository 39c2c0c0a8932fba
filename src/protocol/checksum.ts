/**
 * Book checksum for market data, in the spirit of Kraken's and OKX's: CRC32 over the top 10
 * levels, asks best to worst then bids best to worst, each level written as
 * "price:qty:" in decimal. A client that keeps its own book from snapshot + updates computes
 * the same value and knows its book is right.
 */
import { crc32 } from "node:zlib";

export const CHECKSUM_LEVELS = 10;

export function bookChecksum(bids: readonly (readonly [number, number])[], asks: readonly (readonly [number, number])[]): number {
  let s = "";
  for (let i = 0; i < asks.length && i < CHECKSUM_LEVELS; i++) s += `${asks[i]![0]}:${asks[i]![1]}:`;
  s += "|";
  for (let i = 0; i < bids.length && i < CHECKSUM_LEVELS; i++) s += `${bids[i]![0]}:${bids[i]![1]}:`;
  return crc32(s);
}
