import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/**
 * Every benchmark states its bounds and reports measured values against them as ratios; nothing
 * here passes or fails. The run collects every scenario and writes them to `bench/results/`
 * (`latest.json` and `latest.md`) so the README can quote the figures with the machine they came
 * from.
 */
export interface Measure {
  /** What was measured, e.g. "requests" or "p99 delay". */
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** The limit the value is held against, in the same unit. */
  readonly bound?: number;
  /**
   * `atMost`: the value should stay at or below the bound (latency, memory, requests);
   * `atLeast`: at or above (throughput). Ratio is value / bound either way.
   */
  readonly kind?: 'atMost' | 'atLeast';
  /** Where the bound comes from, e.g. "ceil(calls / 25)" or "issue 9". */
  readonly boundSource?: string;
  /**
   * The ratio the requirement accepts when the bound is a floor no real run can meet exactly
   * (issue 9 allows the initial sync 1.10× its request floor and 1.25× its time floor); 1 if unset.
   */
  readonly allowance?: number;
}

export interface ScenarioResult {
  readonly scenario: string;
  /** One line on what was done, with its size. */
  readonly description: string;
  readonly measures: readonly Measure[];
  readonly seconds: number;
}

const results: ScenarioResult[] = [];

export function ratio(m: Measure): number | undefined {
  return m.bound === undefined || m.bound === 0 ? undefined : m.value / m.bound;
}

/** Within the bound? `undefined` when the measure has none. */
export function withinBound(m: Measure): boolean | undefined {
  const r = ratio(m);
  if (r === undefined) return undefined;
  const allowed = m.allowance ?? 1;
  return (m.kind ?? 'atMost') === 'atMost' ? r <= allowed : r >= allowed;
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(3);
}

function row(m: Measure): string[] {
  const r = ratio(m);
  const ok = withinBound(m);
  return [
    m.metric,
    `${fmt(m.value)} ${m.unit}`,
    m.bound === undefined
      ? ''
      : `${m.kind === 'atLeast' ? '≥' : '≤'} ${fmt(m.bound)} ${m.unit}${m.boundSource ? ` (${m.boundSource})` : ''}`,
    r === undefined
      ? ''
      : `${r.toFixed(2)}×${m.allowance === undefined ? '' : ` (${m.allowance.toFixed(2)}× allowed)`}${ok === false ? ' (outside)' : ''}`,
  ];
}

function table(rows: string[][]): string {
  const head = ['measure', 'value', 'bound', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Prints a scenario's table at once and keeps it for the run's result files. */
export function report(result: ScenarioResult): void {
  results.push(result);
  process.stdout.write(
    `\n${result.scenario}: ${result.description} (${result.seconds.toFixed(1)} s)\n` +
      `${table(result.measures.map(row))}\n`,
  );
}

/** A quantile of a sample (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function machine(): Record<string, string | number> {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** Writes `latest.json` and `latest.md` under `dir`; called once the run has finished. */
export function writeResults(dir: string, run: { startedAt: Date; seconds: number }): string[] {
  mkdirSync(dir, { recursive: true });
  const info = machine();
  const json = join(dir, 'latest.json');
  writeFileSync(
    json,
    `${JSON.stringify(
      {
        startedAt: run.startedAt.toISOString(),
        seconds: Math.round(run.seconds),
        machine: info,
        scenarios: results.map((s) => ({
          ...s,
          measures: s.measures.map((m) => ({ ...m, ratio: ratio(m), withinBound: withinBound(m) })),
        })),
      },
      null,
      2,
    )}\n`,
  );
  const md = join(dir, 'latest.md');
  const rows = results.flatMap((s) => s.measures.map((m) => [s.scenario, ...row(m)]));
  writeFileSync(
    md,
    [
      `Benchmarks of ${run.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ` +
        `${Math.round(run.seconds)} s in all, on ${info.cpus} × ${info.cpuModel}, ` +
        `${info.memoryGiB} GiB, Node ${info.node}.`,
      '',
      '| scenario | measure | value | bound | ratio |',
      '|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
      '',
    ].join('\n'),
  );
  return [json, md];
}
