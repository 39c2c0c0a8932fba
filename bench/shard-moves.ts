/**
 * Issue 19's placement target, measured: adding a shard to N (N = 1..15, equal weights) must move
 * at most 1.2 × 1/(N+1) of 10,000 instruments (ids 1..10,000). Prints, per shard-id scheme, each
 * N's moved count and its ratio to 1/(N+1), then the worst ratio as one JSON line.
 * Run: `npm run build && node dist/bench/shard-moves.js` (test/shard-rendezvous.test.ts asserts the same bound).
 */
import { placement, plan } from "../src/shard/rendezvous.js";

const INSTRUMENTS = Array.from({ length: 10_000 }, (_, i) => i + 1);
const N_MAX = 15;
const SCHEMES = ["s", "shard-", "eu"];

let worst = { ratio: 0, scheme: "", n: 0, moved: 0 };
for (const prefix of SCHEMES) {
  const ids = (n: number): { id: string }[] => Array.from({ length: n }, (_, k) => ({ id: `${prefix}${k + 1}` }));
  let current = placement(INSTRUMENTS, ids(1));
  const rows: string[] = [];
  for (let n = 1; n <= N_MAX; n++) {
    const next = placement(INSTRUMENTS, ids(n + 1));
    const moved = plan(current, next).length;
    const ratio = (moved / INSTRUMENTS.length) * (n + 1);
    rows.push(`  N=${String(n).padStart(2)} → ${String(n + 1).padStart(2)}: moved ${String(moved).padStart(4)} (${((100 * moved) / INSTRUMENTS.length).toFixed(2)}%), ${ratio.toFixed(3)} × 1/(N+1)`);
    if (ratio > worst.ratio) worst = { ratio, scheme: `${prefix}1..${prefix}${n + 1}`, n, moved };
    current = next;
  }
  process.stdout.write(`shard ids ${prefix}1, ${prefix}2, …; ${INSTRUMENTS.length} instruments\n${rows.join("\n")}\n`);
}
process.stdout.write(`${JSON.stringify({ instruments: INSTRUMENTS.length, worst_ratio: Number(worst.ratio.toFixed(4)), at: worst, target: 1.2 })}\n`);
