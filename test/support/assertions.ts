import assert from 'node:assert/strict';
import type { Answer } from './token-client.js';

// Assertions the HTTP suites share: what a refusal looks like on the wire, and what the audit
// line of the last token request says.

/** Anything with forgegate's JSON log lines (a TestForgegate). */
export interface Logged {
  logs(): Record<string, unknown>[];
}

/** The audit lines of the token requests `on` answered, oldest first. */
export function tokenRequests(on: Logged): Record<string, any>[] {
  return on.logs().filter((line) => line.msg === 'token request');
}

/** The audit line of the last token request `on` answered. */
export function lastAudit(on: Logged): Record<string, any> {
  const line = tokenRequests(on).at(-1);
  assert.ok(line, 'no audit line');
  return line;
}

/** lastAudit with a suite's default forgegate, as tokenClient takes it. */
export const lastAuditOf =
  (defaultTarget: () => Logged) =>
  (on: Logged = defaultTarget()): Record<string, any> =>
    lastAudit(on);

/** The last token request `on` answered denied something for a reason containing (or matching) `fragment`. */
export function assertDenied(on: Logged, fragment: string | RegExp): void {
  const denied = lastAudit(on).denied as string[];
  const hit = denied.some((d) => (typeof fragment === 'string' ? d.includes(fragment) : fragment.test(d)));
  assert.ok(hit, `no denied reason matching ${String(fragment)} in ${JSON.stringify(denied)}`);
}

/** 401 UNAUTHORIZED with a message, no token, and a Basic challenge. */
export function assertUnauthorized(answer: Answer): void {
  assert.equal(answer.status, 401, JSON.stringify(answer.body));
  assert.equal(answer.access, undefined);
  assert.equal(answer.body.errors[0].code, 'UNAUTHORIZED');
  assert.equal(typeof answer.body.errors[0].message, 'string');
  assert.match(answer.headers.get('www-authenticate') ?? '', /^Basic realm="/);
}

/** 503 UNAVAILABLE, no token, with a message matching `message` (which names the forge). */
export function assertUnavailable(answer: Answer, message: RegExp): void {
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.equal(answer.access, undefined);
  assert.equal(answer.body.errors[0].code, 'UNAVAILABLE');
  assert.match(answer.body.errors[0].message, message);
}

/** assertUnavailable with a suite's default message, which the suite's own forge gives. */
export const assertUnavailableFrom =
  (defaultMessage: RegExp) =>
  (answer: Answer, message: RegExp = defaultMessage): void =>
    assertUnavailable(answer, message);
