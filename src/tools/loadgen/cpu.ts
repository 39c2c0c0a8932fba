/**
 * CPU per order: what each process of a system under test spent, from its own CPU counters,
 * read at the start and at the end of the measured window (LoadOptions.window) and divided by
 * the orders sent in it; and its wake-ups per order, the same way (wakeupsOf).
 *
 * A child process's counters are /proc/PID/stat's utime + stime (fields 14 and 15, in clock
 * ticks of 1/CLK_TCK s: every thread of the process, those that ended included), so a Go
 * nats-server and a Node node are counted alike. The generator is this process (the bench
 * command, its pacer thread, its stats polling): process.cpuUsage(), user + system, µs.
 * Ticks are 10 ms on Linux: over a 10 s window at 10k orders/s that is 0.01 µs per order per
 * tick. Without /proc (not Linux) a child's figure is null.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** A process to meter: a child by its pid, or (pid null) this one. */
export interface MeteredProcess {
  readonly name: string;
  readonly pid: number | null;
}

/** Clock ticks per second of /proc's counters: `getconf CLK_TCK`, 100 where it does not answer. */
const CLK_TCK_DEFAULT = 100;
let clkTck = 0;

function ticksPerSecond(): number {
  if (clkTck > 0) return clkTck;
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  clkTck = r.status === 0 && Number.isInteger(n) && n > 0 ? n : CLK_TCK_DEFAULT;
  return clkTck;
}

/** utime + stime of a process, µs; null when it cannot be read (gone, or no /proc). */
export function childCpuUs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // Field 2, the command, is in parentheses and may hold spaces: count from the last ")".
  // What follows starts with field 3 (state), so utime (14) and stime (15) are its 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ticks) ? (ticks * 1e6) / ticksPerSecond() : null;
}

/**
 * The text of /proc/PID/task/TID/`file` for each thread of a process, as far as each is still
 * there; null when the process's threads cannot be listed (gone, or no /proc).
 */
function threadFiles(pid: number | "self", file: string): string[] | null {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out: string[] = [];
  for (const t of tasks) {
    try {
      out.push(readFileSync(`/proc/${pid}/task/${t}/${file}`, "utf8"));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/**
 * Voluntary context switches of a process's threads, summed (/proc/PID/task/TID/status): each is
 * a thread going to sleep (in epoll, a futex, a blocking call) and later woken, so their count
 * is the process's wake-ups. Threads that ended are no longer counted; Node's and Go's pools live
 * as long as the process. Null when unreadable.
 */
export function wakeupsOf(pid: number | "self"): number | null {
  const files = threadFiles(pid, "status");
  if (files === null) return null;
  let n = 0;
  for (const text of files) {
    const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(text);
    if (m !== null) n += Number(m[1]);
  }
  return n;
}

/** Run-queue wait of a process's threads, summed: ns spent runnable but waiting for a core, and the runs (timeslices) it was spread over. */
export interface RunQueue { waitNs: number; runs: number }

/**
 * /proc/PID/task/TID/schedstat of every thread, summed: its second field is the ns the thread
 * spent runnable and waiting for a core, its third the times it got one (timeslices). Their
 * quotient over a window is how long, on average, each of the process's runs waited for a core
 * once ready: the run-queue delay every hop through that process pays, a cost of sharing the
 * machine's cores that CPU time does not show. Null when unreadable (no /proc, or no schedstat).
 */
export function runQueueOf(pid: number | "self"): RunQueue | null {
  const files = threadFiles(pid, "schedstat");
  if (files === null || files.length === 0) return null;
  let waitNs = 0;
  let runs = 0;
  for (const text of files) {
    const f = text.trim().split(" ");
    waitNs += Number(f[1]);
    runs += Number(f[2]);
  }
  return Number.isFinite(waitNs + runs) ? { waitNs, runs } : null;
}

function cpuUs(p: MeteredProcess): number | null {
  if (p.pid !== null) return childCpuUs(p.pid);
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU time and wake-ups of each process, read at the window's start and end. */
export class CpuMeter {
  private startUs: (number | null)[] = [];
  private endUs: (number | null)[] = [];
  private startWakeups: (number | null)[] = [];
  private endWakeups: (number | null)[] = [];
  private startQueue: (RunQueue | null)[] = [];
  private endQueue: (RunQueue | null)[] = [];

  constructor(private readonly procs: readonly MeteredProcess[]) {
    ticksPerSecond();
  }

  start(): void {
    this.startUs = this.procs.map(cpuUs);
    this.startWakeups = this.procs.map((p) => wakeupsOf(p.pid ?? "self"));
    this.startQueue = this.procs.map((p) => runQueueOf(p.pid ?? "self"));
  }

  end(): void {
    this.endUs = this.procs.map(cpuUs);
    this.endWakeups = this.procs.map((p) => wakeupsOf(p.pid ?? "self"));
    this.endQueue = this.procs.map((p) => runQueueOf(p.pid ?? "self"));
  }

  /**
   * Each process's mean wait for a core per run over the window, µs (0.1 µs steps), and the
   * mean over every run of every process (`all`); null where unreadable or nothing ran.
   */
  runQueueWaitPerRun(): { processes: Record<string, number | null>; all: number | null } {
    const processes: Record<string, number | null> = {};
    let waitNs = 0;
    let runs = 0;
    let known = true;
    this.procs.forEach((p, k) => {
      const a = this.startQueue[k];
      const b = this.endQueue[k];
      const d = a === null || b === null || a === undefined || b === undefined ? null : { waitNs: b.waitNs - a.waitNs, runs: b.runs - a.runs };
      if (d === null || d.runs <= 0 || d.waitNs < 0) {
        processes[p.name] = null;
        known = false;
        return;
      }
      processes[p.name] = Math.round(d.waitNs / d.runs / 100) / 10;
      waitNs += d.waitNs;
      runs += d.runs;
    });
    return { processes, all: known && runs > 0 ? Math.round(waitNs / runs / 100) / 10 : null };
  }

  /** CPU µs per order of each process over the window (0.1 µs steps), null where unreadable. */
  perOrder(orders: number): Record<string, number | null> {
    return this.per(this.startUs, this.endUs, orders, 10);
  }

  /** Wake-ups (voluntary context switches, every thread) per order of each process over the window (0.01 steps). */
  wakeupsPerOrder(orders: number): Record<string, number | null> {
    return this.per(this.startWakeups, this.endWakeups, orders, 100);
  }

  private per(start: readonly (number | null)[], end: readonly (number | null)[], orders: number, steps: number): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    this.procs.forEach((p, k) => {
      const a = start[k];
      const b = end[k];
      out[p.name] = a === null || b === null || a === undefined || b === undefined || orders <= 0 ? null : Math.round(((b - a) / orders) * steps) / steps;
    });
    return out;
  }
}

/** The sum over processes (null when any is unknown), in steps of 1/`steps`. */
export function totalPerOrder(perOrder: Record<string, number | null>, steps = 10): number | null {
  let sum = 0;
  for (const v of Object.values(perOrder)) {
    if (v === null) return null;
    sum += v;
  }
  return Math.round(sum * steps) / steps;
}
