import type { ForgeJudgement } from '../../src/forges/forge.js';

// Reading a forge's judgements in unit tests.

/** The granted actions, and the reason of each denied one. */
export function summary({ judgements }: ForgeJudgement): { granted: string[]; denied: Record<string, string> } {
  const all = Object.entries(judgements);
  const granted = all.filter(([, j]) => j.granted).map(([action]) => action);
  const denied = Object.fromEntries(all.filter(([, j]) => !j.granted).map(([action, j]) => [action, j.because]));
  return { granted, denied };
}
