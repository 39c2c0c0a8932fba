/**
 * Garbage collections per order, over the same measured window as the CPU meter (cpu.ts), for
 * every Node process of a system under test and for the generator.
 *
 * A node runs with V8's `--trace-gc` (the bench passes it through LOCKSTEP_NODE_ARGS), which
 * prints one line on stdout per collection:
 *
 *     [PID:0x…]    1234 ms: Scavenge 4.3 (5.8) -> 3.9 (6.8) MB, 0.71 / 0.00 ms  (average mu …) allocation failure;
 *     [PID:0x…]    5678 ms: Mark-Compact 84.7 (118.2) -> 69.7 (103.1) MB, 80.81 / 0.01 ms  (+ 4.5 ms in 11 steps …
 *
 * The first figure after "MB," is the pause on the main thread, ms. Lines are counted as they
 * arrive (a pipe delivers them within a millisecond or so), while the window is open. The
 * generator is this process: a PerformanceObserver of "gc" entries, whose duration is the pause.
 * Scavenges (young generation) are minor; every other kind (Mark-Compact, Mark-Sweep, their
 * "(reduce)" forms) is major.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";

/** A process to count collections of: a child node's stdout lines, or (lines null) this process. */
export interface GcSource {
  readonly name: string;
  readonly lines: { on(event: "line", listener: (line: string) => void): unknown } | null;
}

/** One process's collections over the window, per 100,000 orders sent, and its longest pause. */
export interface GcFigures {
  /** Collections of every kind per 100k orders (one decimal). */
  per_100k: number;
  /** Of which major (mark-compact or mark-sweep) per 100k orders. */
  major_per_100k: number;
  /** Main-thread pause, ms, summed over the window per 1,000 orders (two decimals). */
  pause_ms_per_1k: number;
  /** The longest single pause in the window, ms. */
  pause_max_ms: number;
}

interface Tally { count: number; major: number; pauseMs: number; pauseMaxMs: number }

const TRACE_GC_LINE = /ms: ([A-Za-z-]+(?: \(reduce\))?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB, ([\d.]+) \//;

/** The kind and pause of one `--trace-gc` line, or null for any other line. */
export function parseTraceGc(line: string): { kind: string; pauseMs: number } | null {
  const m = TRACE_GC_LINE.exec(line);
  return m === null ? null : { kind: m[1]!, pauseMs: Number(m[2]) };
}

const isMinor = (kind: string): boolean => kind === "Scavenge" || kind.startsWith("Minor");

export class GcMeter {
  private open = false;
  private readonly tallies = new Map<string, Tally>();
  private observer: PerformanceObserver | null = null;

  constructor(private readonly sources: readonly GcSource[]) {
    for (const s of sources) {
      this.tallies.set(s.name, { count: 0, major: 0, pauseMs: 0, pauseMaxMs: 0 });
      s.lines?.on("line", (line) => {
        if (!this.open) return;
        const gc = parseTraceGc(line);
        if (gc !== null) this.add(s.name, !isMinor(gc.kind), gc.pauseMs);
      });
    }
  }

  private add(name: string, major: boolean, pauseMs: number): void {
    const t = this.tallies.get(name)!;
    t.count++;
    if (major) t.major++;
    t.pauseMs += pauseMs;
    t.pauseMaxMs = Math.max(t.pauseMaxMs, pauseMs);
  }

  start(): void {
    this.open = true;
    const self = this.sources.find((s) => s.lines === null);
    if (self === undefined) return;
    // Minor and major collections, as --trace-gc prints them; incremental marking steps and weak
    // callbacks (kinds of their own here) are inside a major collection's line there.
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
        const kind = e.detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MINOR || kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.add(self.name, kind === constants.NODE_PERFORMANCE_GC_MAJOR, e.duration);
      }
    });
    this.observer.observe({ entryTypes: ["gc"] });
  }

  end(): void {
    this.open = false;
    this.observer?.disconnect();
    this.observer = null;
  }

  /** Each process's figures over the window; all zero when no order was sent. */
  perOrders(orders: number): Record<string, GcFigures> {
    const out: Record<string, GcFigures> = {};
    const per = (x: number, n: number, digits: number): number => (orders <= 0 ? 0 : Math.round((x / orders) * n * 10 ** digits) / 10 ** digits);
    for (const [name, t] of this.tallies) {
      out[name] = { per_100k: per(t.count, 100_000, 1), major_per_100k: per(t.major, 100_000, 1), pause_ms_per_1k: per(t.pauseMs, 1000, 2), pause_max_ms: Math.round(t.pauseMaxMs * 100) / 100 };
    }
    return out;
  }
}
