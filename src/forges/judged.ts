import { judgeAll, type Judge } from '../policy/grant.js';
import type { ForgeJudgement } from './forge.js';

/** A judge's answer for every action on an image of `project` (null: the image belongs to none). */
export function judged(judge: Judge, project: string | null): ForgeJudgement {
  return { judgements: judgeAll(judge), project };
}
