import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ask, fakeOf, FORGE_FAULTS, startFaultEnv, wrongGrant, type FaultEnv } from './scenarios.js';

// Every forge fault of the issue, on GitLab and on GitHub: while it lasts, a clear 503 (no
// cache) or the last good answer (staleIfError), never another grant and never a request
// left hanging; once it ends, the next request is answered normally without a restart.

let env: FaultEnv;
before(async () => {
  env = await startFaultEnv();
});
after(async () => {
  await env?.stop();
});

for (const forge of ['gitlab', 'github'] as const) {
  describe(`${forge} faults`, () => {
    // Prime the stale forgegate once and let its 1 s TTLs lapse: a stale answer served
    // during a fault is not refreshed, so it stays stale for every fault below.
    before(async () => {
      const caller = env.callers.find((c) => c.forge === forge)!;
      const primed = await ask(env.stale, caller);
      assert.deepEqual(primed.granted, caller.healthy, 'stale forgegate primed');
      await sleep(1100);
    });
    for (const fault of FORGE_FAULTS) {
      test(`${fault.name}: 503 cold, the cached grant with staleIfError, then recovery`, async () => {
        const caller = env.callers.find((c) => c.forge === forge)!;
        const fake = fakeOf(env, caller);
        fake.clearInjections();
        const healthy = await ask(env.cold, caller);
        assert.deepEqual(healthy.granted, caller.healthy, 'healthy grant before the fault');

        fake.inject(fault.injection);
        const [cold, stale] = await Promise.all([ask(env.cold, env.fresh(forge)), ask(env.stale, caller)]);
        fake.clearInjections();

        assert.notEqual(cold.status, 'aborted', 'cold request hung');
        assert.notEqual(stale.status, 'aborted', 'stale request hung');
        assert.equal(cold.status, 503, `cold: ${cold.status} ${cold.message ?? ''}`);
        assert.match(cold.message ?? '', /could not answer|rate limit/, 'the 503 names what failed');
        assert.ok(!wrongGrant(cold, caller, false), `cold wrong grant ${JSON.stringify(cold.granted)}`);
        assert.equal(stale.status, 200, `stale: ${stale.status} ${stale.message ?? ''}`);
        assert.ok(!wrongGrant(stale, caller, true), `stale wrong grant ${JSON.stringify(stale.granted)}`);

        const recovered = await ask(env.cold, caller);
        assert.deepEqual([recovered.status, recovered.granted], [200, caller.healthy], 'recovered without a restart');
      });
    }
  });
}
