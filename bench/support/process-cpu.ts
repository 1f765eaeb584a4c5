import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds used so far by this process and each process it started (directly or not), summed
 * per command name (`temporal`, `ferretdb`, `postgres`, `node`, …), from Linux's /proc. A
 * scenario reads it before and after its timed part to say which service the time went to; on a
 * shared machine the load average says how much of the machine the others took. Empty where there
 * is no /proc.
 */
export type CpuByCommand = ReadonlyMap<string, number>;

const TICKS_PER_SECOND = 100;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly seconds: number;
}

function readStat(pid: string): Stat | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const open = raw.indexOf('(');
    const close = raw.lastIndexOf(')');
    const fields = raw.slice(close + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return {
      pid: Number(pid),
      ppid: Number(fields[1]),
      comm: raw.slice(open + 1, close),
      seconds: (utime + stime) / TICKS_PER_SECOND,
    };
  } catch {
    return undefined;
  }
}

export function processCpu(): CpuByCommand {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return new Map();
  }
  const stats = entries.map(readStat).filter((s): s is Stat => s !== undefined);
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const self = stats.find((s) => s.pid === process.pid);
  const totals = new Map<string, number>();
  const add = (name: string, seconds: number): void => {
    totals.set(name, (totals.get(name) ?? 0) + seconds);
  };
  if (self) add('bench (worker, API, client)', self.seconds);
  const walk = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      add(child.comm, child.seconds);
      walk(child.pid);
    }
  };
  walk(process.pid);
  return totals;
}

/** Between two readings: the total and "temporal 12.3 s, ferretdb 4.5 s, …", largest first. */
export function cpuSpent(
  before: CpuByCommand,
  after: CpuByCommand,
): { total: number; text: string } {
  const spent = [...after]
    .map(([name, seconds]) => [name, seconds - (before.get(name) ?? 0)] as const)
    .filter(([, seconds]) => seconds >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  return {
    total: spent.reduce((sum, [, seconds]) => sum + seconds, 0),
    text: spent.map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(', '),
  };
}

/** CPU seconds the whole machine has been busy and idle (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; idle: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const busy =
      (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    return {
      busy: busy / TICKS_PER_SECOND,
      idle: ((idle ?? 0) + (iowait ?? 0)) / TICKS_PER_SECOND,
    };
  } catch {
    return { busy: 0, idle: 0 };
  }
}
