import assert from 'node:assert/strict';
import type { Action } from '../../src/policy/types.js';

// The harness of the exhaustive policy tables: every caller against every target and request,
// what the policy grants compared with what the documented rules expect.

/** Cartesian product of named dimensions: product({a: [1, 2], b: ['x']}) -> [{a: 1, b: 'x'}, {a: 2, b: 'x'}]. */
export function product<T extends Record<string, readonly unknown[]>>(dims: T): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(dims)) {
    rows = rows.flatMap((row) => values.map((value) => ({ ...row, [key]: value })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

export interface Matrix<Caller, Target> {
  targets: readonly Target[];
  requests: readonly (readonly Action[])[];
  granted(caller: Caller, target: Target, request: readonly Action[]): Action[];
  expected(caller: Caller, target: Target, request: readonly Action[]): Action[];
  describeCaller(caller: Caller): string;
  describeTarget(target: Target): string;
}

/**
 * Checks every caller against every target and request; fails listing the first 20 mismatches.
 * Returns how many combinations it checked.
 */
export function checkMatrix<Caller, Target>(
  t: { diagnostic(message: string): void },
  family: string,
  callers: readonly Caller[],
  matrix: Matrix<Caller, Target>,
): number {
  const mismatches: string[] = [];
  let checked = 0;
  for (const caller of callers) {
    for (const target of matrix.targets) {
      for (const request of matrix.requests) {
        checked++;
        const got = matrix.granted(caller, target, request);
        const want = matrix.expected(caller, target, request);
        if (got.join(',') !== want.join(',')) {
          const who = `${matrix.describeCaller(caller)} on ${matrix.describeTarget(target)}`;
          const asks = `${who} asks [${request.join(',')}]`;
          mismatches.push(`${asks}: got [${got.join(',')}], want [${want.join(',')}]`);
        }
      }
    }
  }
  t.diagnostic(`${family}: ${checked} combinations checked, ${mismatches.length} mismatches`);
  const first = mismatches.slice(0, 20).join('\n  ');
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${checked} ${family} combinations disagree with docs/forges.md; first 20:\n  ${first}`,
  );
  return checked;
}
