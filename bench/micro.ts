/**
 * Micro-benchmarks (benny) of single engine operations on a 10k-order book: place and cancel
 * a passive order, a taker that fills one resting order (and its replacement), a rejected
 * order, and the state hash. Run with `npm run bench:micro`; results go to bench/results/.
 */
import { join } from "node:path";
import b from "benny";
import { Engine, NullListener, Side, Stp, Tif } from "../src/engine/index.js";
import { applyOne, BENCH_INSTRUMENT, generateStream } from "./stream.js";

function bookOf10k(): Engine {
  const s = generateStream(10_000, 0, 99);
  const e = new Engine([BENCH_INSTRUMENT], new NullListener());
  for (let i = 0; i < s.length; i++) applyOne(e, s, i);
  return e;
}

const e = bookOf10k();
const bestAsk = e.depth(1, 1).asks[0]![0];
let id = 10_000_000;

await b.suite(
  "engine operations on a 10k-order book",
  b.add("place + cancel a passive limit", () => {
    const n = ++id;
    e.placeLimit(1, n, 1, Side.BUY, bestAsk - 50, 10, Tif.GTC, false, Stp.NONE);
    e.cancel(n, 1);
  }),
  b.add("taker fills one resting order, maker replaced", () => {
    e.placeLimit(1, ++id, 2, Side.SELL, bestAsk, 5, Tif.GTC, false, Stp.NONE);
    e.placeLimit(1, ++id, 3, Side.BUY, bestAsk, 5, Tif.IOC, false, Stp.NONE);
  }),
  b.add("rejected order (price off band)", () => {
    e.placeLimit(1, ++id, 1, Side.BUY, 0, 10, Tif.GTC, false, Stp.NONE);
  }),
  b.add("stateHash of the whole book", () => {
    e.stateHash();
  }),
  b.cycle(),
  b.complete(),
  b.save({ file: "micro-latest", folder: join(import.meta.dirname, "..", "..", "bench", "results"), format: "json" }),
);
