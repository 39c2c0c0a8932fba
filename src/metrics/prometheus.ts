/**
 * Prometheus text exposition, written out exactly from our HDR summaries and counters (no
 * client-side estimation): each latency becomes a summary with quantiles 0.5 … 0.9999, plus
 * `_max`, `_count` and `_sum` (mean × count, as HDR does not keep a sum).
 */
import type { LatencySummary } from "./latency.js";

const QUANTILES: [string, keyof LatencySummary][] = [["0.5", "p50"], ["0.9", "p90"], ["0.99", "p99"], ["0.999", "p999"], ["0.9999", "p9999"]];

export class PromText {
  private readonly lines: string[] = [];

  private labels(l: Record<string, string>): string {
    const e = Object.entries(l);
    return e.length === 0 ? "" : `{${e.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`).join(",")}}`;
  }

  summary(name: string, help: string, s: LatencySummary, labels: Record<string, string> = {}): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} summary`);
    for (const [q, k] of QUANTILES) this.lines.push(`${name}${this.labels({ ...labels, quantile: q })} ${s[k]}`);
    this.lines.push(`${name}_sum${this.labels(labels)} ${s.mean * s.count}`, `${name}_count${this.labels(labels)} ${s.count}`);
    this.lines.push(`# TYPE ${name}_max gauge`, `${name}_max${this.labels(labels)} ${s.max}`);
    return this;
  }

  counter(name: string, help: string, values: readonly [Record<string, string>, number][]): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const [l, v] of values) this.lines.push(`${name}${this.labels(l)} ${v}`);
    return this;
  }

  gauge(name: string, help: string, value: number, labels: Record<string, string> = {}): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${this.labels(labels)} ${value}`);
    return this;
  }

  /** One gauge with a sample per label set (none is fine: the gauge is then only declared). */
  gaugeSet(name: string, help: string, values: readonly [Record<string, string>, number][]): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [l, v] of values) this.lines.push(`${name}${this.labels(l)} ${v}`);
    return this;
  }

  toString(): string {
    return `${this.lines.join("\n")}\n`;
  }
}
