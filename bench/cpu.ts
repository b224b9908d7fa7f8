import { readFileSync } from 'node:fs';

// Whether anything besides the bench used the CPU during the run: on a 2-core machine another
// busy process (a test suite, a build) moves the figures by tens of percent.

// Linux counts CPU time in USER_HZ ticks, 100 a second on every mainstream build.
const TICK = 1 / 100;

/**
 * CPU seconds since boot: `busy`, all processes in user and kernel mode; `stolen`, time a
 * virtual machine's hypervisor gave to other guests, which slows the bench just the same.
 */
export function machineCpuSeconds(): { busy: number; stolen: number } {
  const [user, nice, system, , , , , steal] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return { busy: (user! + nice! + system!) * TICK, stolen: steal! * TICK };
}

/** CPU seconds process `pid` has used so far (utime + stime, fields 14 and 15 of its stat). */
export function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK;
}
