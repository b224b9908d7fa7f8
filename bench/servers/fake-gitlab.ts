import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACCESS, FakeGitLab } from '../../test/fakes/gitlab.js';
import type { ForgeCallStats, ForgeModel } from '../forge-model.js';

// The fake GitLab of the tests (test/fakes/gitlab.ts) in a process of its own, so that its
// model lookups and its answer delay share no event loop with forgegate or the load generator.
//
//   node --import tsx bench/servers/fake-gitlab.ts MODEL.json
//
// MODEL.json (bench/forge-model.ts): the projects of one group, and users with one `api`
// personal access token each, every user a Developer of the group (so of every project in it)
// or, where the model says so, an instance admin.
// Besides the fake itself it serves a control endpoint for the bench:
//   GET /info  -> { url, latencyMs }     the fake's base URL
//   GET /stats -> ForgeCallStats         forge calls since the last reset, from the fake's log
//   POST /reset                          empties the fake's call log
// and announces "listening on 127.0.0.1:CONTROL_PORT" on stderr, like the other bench servers.

const model = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ForgeModel;
const fake = new FakeGitLab();
for (const path of model.projects) fake.addProject({ path_with_namespace: path, visibility: 'private' });
for (const { username, token, admin } of model.users) {
  const user = fake.addUser({ username, is_admin: admin === true });
  // An admin's token acts as one only with `admin_mode` (forgegate assumes GitLab's Admin Mode is on).
  fake.addToken({ token, user_id: user.id, scopes: admin ? ['api', 'admin_mode'] : ['api'] });
  // One group membership instead of one per project: the fake scans all memberships on every
  // project call, and GitLab's inheritance gives the same Developer role on every project.
  if (!admin) fake.addMember(model.group, user.id, ACCESS.developer);
}

// Arrival times, one per logged request: the fake logs a request and then, synchronously,
// reads latencyMs once to sleep before answering (test/fakes/server.ts), so the n-th read is
// the n-th logged request. The times tell parallel calls from sequential ones.
const arrivals: number[] = [];
Object.defineProperty(fake, 'latencyMs', {
  configurable: true,
  get: () => (arrivals.push(performance.now()), model.latencyMs),
  set: () => {},
});
const url = await fake.start();

const IDENTITY = ['GET /personal_access_tokens/self', 'GET /user'] as const;
const PROJECT = 'GET /projects/:id';

function stats(): ForgeCallStats {
  const log = fake.requests();
  const timed = log.length === arrivals.length;
  const endpoints: Record<string, number> = {};
  const byToken = new Map<string, { self: number[]; user: number[]; projects: number[]; projectUrls: Set<string> }>();
  log.forEach((request, i) => {
    endpoints[request.endpoint] = (endpoints[request.endpoint] ?? 0) + 1;
    const token = /^Bearer\s+(\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1] ?? '';
    let calls = byToken.get(token);
    if (!calls) byToken.set(token, (calls = { self: [], user: [], projects: [], projectUrls: new Set() }));
    const at = timed ? arrivals[i]! : i;
    if (request.endpoint === IDENTITY[0]) calls.self.push(at);
    if (request.endpoint === IDENTITY[1]) calls.user.push(at);
    if (request.endpoint === PROJECT) (calls.projects.push(at), calls.projectUrls.add(request.url));
  });

  let identityRounds = 0;
  let parallelPairs = 0;
  let repeatedRounds = 0;
  let distinctProjectCalls = 0;
  const gaps: number[] = [];
  for (const calls of byToken.values()) {
    // A round: GET /personal_access_tokens/self and GET /user of one token that arrived
    // within one answer delay of each other, i.e. the second was sent before the first
    // could have been answered. Without arrival times each self call counts as a round.
    const matched = timed
      ? pairWithin(calls.self, calls.user, model.latencyMs)
      : Math.min(calls.self.length, calls.user.length);
    const rounds = calls.self.length + calls.user.length - matched;
    identityRounds += rounds;
    parallelPairs += matched;
    // A repeat is a second verification of the token: a second call of either endpoint. Not
    // `rounds - 1`: under load the two calls of one round can arrive more than a delay apart.
    repeatedRounds += Math.max(0, Math.max(calls.self.length, calls.user.length) - 1);
    distinctProjectCalls += calls.projectUrls.size;
    const firstIdentity = Math.min(...calls.self, ...calls.user);
    if (timed && calls.projects.length > 0 && Number.isFinite(firstIdentity))
      gaps.push(Math.min(...calls.projects) - firstIdentity);
  }
  const projectCalls = endpoints[PROJECT] ?? 0;
  gaps.sort((a, b) => a - b);
  return {
    timed,
    total: log.length,
    endpoints,
    tokenSelf: endpoints[IDENTITY[0]] ?? 0,
    currentUser: endpoints[IDENTITY[1]] ?? 0,
    projectCalls,
    identityRounds,
    parallelPairs,
    repeatedIdentityRounds: repeatedRounds,
    repeatedProjectCalls: projectCalls - distinctProjectCalls,
    projectAfterIdentityMs: gaps.length === 0 ? null : gaps[Math.floor((gaps.length - 1) / 2)]!,
  };
}

/** How many of `a` pair up with a distinct member of `b` less than `window` apart (both sorted). */
function pairWithin(a: number[], b: number[], window: number): number {
  let matched = 0;
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    if (Math.abs(a[i]! - b[j]!) < window) (matched++, i++, j++);
    else if (a[i]! < b[j]!) i++;
    else j++;
  }
  return matched;
}

const control = createServer((req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && req.url === '/info') return send(200, { url, latencyMs: model.latencyMs });
  if (req.method === 'GET' && req.url === '/stats') return send(200, stats());
  if (req.method === 'POST' && req.url === '/reset') {
    fake.resetCalls();
    arrivals.length = 0;
    return send(200, {});
  }
  send(404, { error: 'unknown control request' });
});
control.listen(0, '127.0.0.1', () => {
  process.stderr.write(
    `fake GitLab at ${url}, ${model.users.length} users; control listening on 127.0.0.1:${(control.address() as AddressInfo).port}\n`,
  );
});
process.once('SIGTERM', () => {
  control.closeAllConnections();
  control.close();
  void fake.stop().then(() => process.exit(0));
});
