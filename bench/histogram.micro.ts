/**
 * Micro-benchmark (benny): the cost of recording one latency sample, the operation every node
 * does per message. Target: < 100 ns. The floor beside it is an empty function call.
 */
import { join } from "node:path";
import b from "benny";
import { LatencyRecorder, SignedLatency } from "../src/metrics/latency.js";

const r = new LatencyRecorder();
const sr = new SignedLatency();
let x = 0;

await b.suite(
  "recording a latency sample",
  b.add("floor: an empty call", () => {
    x = (x + 7) % 100_000;
  }),
  b.add("LatencyRecorder.record", () => {
    x = (x + 7) % 100_000;
    r.record(x + 1);
  }),
  b.add("SignedLatency.record", () => {
    x = (x + 7) % 100_000;
    sr.record(x - 50_000);
  }),
  b.cycle(),
  b.complete(),
  b.save({ file: "histogram-micro-latest", folder: join(import.meta.dirname, "..", "..", "bench", "results"), format: "json" }),
);
