import { LRUCache } from 'lru-cache';
import { judgeAll, type Judge, type Judgement } from '../policy/grant.js';
import type { ForgeJudgement } from './forge.js';

/** A judge's answer for every action on an image of `project` (null: the image belongs to none). */
export function judged(judge: Judge, project: string | null): ForgeJudgement {
  return { judgements: judgeAll((action) => share(judge(action))), project };
}

// Equal judgements are one frozen object. A cached decision holds four (pull, push, delete, *),
// often with one reason (an admin, an ACL rule, a project with no registry), and decisions of
// different callers often hold the same ones (every Developer of a project is judged alike):
// 10,000 credentials' decisions held as their own objects were a fifth of the live heap. Only
// recent distinct judgements are remembered; an older one is equal, not shared.
const recent = new LRUCache<string, Judgement>({ max: 4096 });

function share({ granted, rule, because }: Judgement): Judgement {
  const key = `${granted ? '+' : '-'}${rule.length}:${rule}${because}`; // the rule's length keeps rule and reason apart
  let one = recent.get(key);
  if (one === undefined) {
    one = Object.freeze({ granted, rule, because });
    recent.set(key, one);
  }
  return one;
}
