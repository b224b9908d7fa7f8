import { LRUCache } from 'lru-cache';
import { judgeAll, type Judge, type Judgement, type Judgements } from '../policy/grant.js';
import type { ForgeJudgement } from './forge.js';

/** A judge's answer for every action on an image of `project` (null: the image belongs to none). */
export function judged(judge: Judge, project: string | null): ForgeJudgement {
  return { judgements: shareAll(judgeAll(judge)), project };
}

// Equal judgements are one frozen object. A cached decision holds four (pull, push, delete, *),
// often with one reason (an admin, an ACL rule, a project with no registry), and decisions of
// different callers often hold the same ones (every Developer of a project is judged alike):
// 10,000 credentials' decisions held as their own objects were a fifth of the live heap. Only
// recent distinct judgements are remembered; an older one is equal, not shared.
const recent = new LRUCache<string, Judgement>({ max: 4096 });

function shareAll(judgements: Judgements): Judgements {
  return {
    pull: share(judgements.pull),
    push: share(judgements.push),
    delete: share(judgements.delete),
    '*': share(judgements['*']),
  };
}

function share({ granted, rule, because }: Judgement): Judgement {
  const key = `${granted ? '+' : '-'}${rule.length}:${rule}${because}`; // the length: no two judgements alike
  let one = recent.get(key);
  if (one === undefined) {
    one = Object.freeze({ granted, rule, because });
    recent.set(key, one);
  }
  return one;
}
