import { FakeGitHub } from '../fakes/github.js';
import { FakeGitLab } from '../fakes/gitlab.js';
import { startForgegate, type TestForgegate } from './forgegate.js';

// A broad mix of token requests against one forgegate with every kind of caller: static
// accounts, a GitLab personal access token and CI job token, a GitHub token, refresh tokens,
// anonymous callers, wrong passwords and a brute-force ban. It records every secret it sends,
// for the log grep, and leaves metrics of every family behind (part 4).

export const SCENARIO_SERVICE = 'registry.test';
export const SCENARIO_LIMITS = { failures: 3, window: 60, ban: 120 };

export interface Scenario {
  fg: TestForgegate;
  gitlab: FakeGitLab;
  github: FakeGitHub;
  /** Every secret sent, in every form it travelled in. */
  secrets: Set<string>;
  /** Status counts by what was asked: e.g. "static granted" -> 2. */
  statuses: Map<string, number[]>;
  stop(): Promise<void>;
}

export async function runScenario(): Promise<Scenario> {
  const gitlab = new FakeGitLab();
  const github = new FakeGitHub();
  const [gitlabUrl, githubUrl] = await Promise.all([gitlab.start(), github.start()]);
  const mia = gitlab.addUser({ username: 'mia' });
  gitlab.addProject({ path_with_namespace: 'group/app' });
  gitlab.addMember('group/app', mia.id, 40);
  const pat = gitlab.addToken({ token: 'glpat-mia-scenario-S3cr3tQx7', user_id: mia.id, scopes: ['api'] }).token;
  const job = gitlab.addJob({ token: 'glcbt-64_scenario-job-S3cr3tQx7', project: 'group/app', user_id: mia.id }).token;
  github.addUser({ login: 'ada' });
  github.addRepo({ full_name: 'ada/app', collaborators: { ada: 'admin' } });
  const ghToken = github.addToken({
    token: 'ghp_adaScenarioS3cr3tQx7xxxxxxxxxxxxxxxx',
    kind: 'classic',
    user: 'ada',
    scopes: ['repo'],
  }).token;

  const fg = await startForgegate({
    server: { trustProxy: true },
    token: { service: SCENARIO_SERVICE },
    users: { htpasswd: new URL('../fixtures/htpasswd', import.meta.url).pathname },
    acl: [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }],
    cache: { identityTtl: 60, decisionTtl: 60, negativeTtl: 10 },
    forges: [
      { type: 'gitlab', url: gitlabUrl, prefix: 'gl/' },
      { type: 'github', url: githubUrl, prefix: 'gh/' },
    ],
    limits: SCENARIO_LIMITS,
  });

  const secrets = new Set<string>();
  const statuses = new Map<string, number[]>();
  const note = (what: string, status: number) => statuses.set(what, [...(statuses.get(what) ?? []), status]);
  const remember = (user: string, password: string) => {
    const basic = Buffer.from(`${user}:${password}`).toString('base64');
    for (const s of [password, basic, `Basic ${basic}`, encodeURIComponent(password)]) secrets.add(s);
  };

  async function get(
    what: string,
    user: string | null,
    password: string,
    scope: string,
    ip = '192.0.2.10',
    extra = '',
  ): Promise<any> {
    const headers: Record<string, string> = { 'X-Forwarded-For': ip };
    if (user !== null) {
      remember(user, password);
      headers.Authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    }
    const query = new URLSearchParams({ service: SCENARIO_SERVICE });
    if (scope) query.append('scope', scope);
    const response = await fetch(`${fg.url}/token?${query}${extra}`, { headers });
    note(what, response.status);
    const body = (await response.json()) as any;
    for (const token of [body.token, body.refresh_token]) if (typeof token === 'string') secrets.add(token);
    return body;
  }

  async function post(what: string, form: Record<string, string>, ip = '192.0.2.10'): Promise<any> {
    for (const key of ['password', 'refresh_token']) if (form[key]) secrets.add(form[key]!);
    const response = await fetch(`${fg.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-For': ip },
      body: new URLSearchParams({ service: SCENARIO_SERVICE, ...form }).toString(),
    });
    note(what, response.status);
    const body = (await response.json()) as any;
    for (const token of [body.access_token, body.refresh_token]) if (typeof token === 'string') secrets.add(token);
    return body;
  }

  // Static accounts: right, wrong, refresh tokens both ways.
  await get('static granted', 'alice', 'alice-pass', 'repository:alice/app:pull,push');
  await get('static granted', 'alice', 'alice-pass', 'repository:alice/app:pull');
  await get('static wrong', 'alice', 'alice-pass-typo', 'repository:alice/app:pull');
  const offline = await get(
    'static offline',
    'alice',
    'alice-pass',
    'repository:alice/app:pull',
    '192.0.2.10',
    '&offline_token=true',
  );
  await get('refresh as password', '', offline.refresh_token, 'repository:alice/app:pull');
  await post('refresh grant', {
    grant_type: 'refresh_token',
    refresh_token: offline.refresh_token,
    scope: 'repository:alice/app:pull',
  });
  await post('password grant', { grant_type: 'password', username: 'bob', password: 'not-bobs-password' });
  await post('refresh grant broken', {
    grant_type: 'refresh_token',
    refresh_token: `${offline.refresh_token.slice(0, -4)}AAAA`,
  });

  // GitLab: a personal access token twice (the second from cache), a wrong one, a CI job token.
  await get('gitlab pat', 'mia', pat, 'repository:gl/group/app:pull,push');
  await get('gitlab pat', 'mia', pat, 'repository:gl/group/app:pull,push');
  await get('gitlab pat wrong', 'mia', 'glpat-mia-wrong-S3cr3tQx7', 'repository:gl/group/app:pull');
  await get('gitlab job', 'gitlab-ci-token', job, 'repository:gl/group/app:pull,push');
  await get('gitlab job unknown', 'gitlab-ci-token', 'glcbt-64_unknown-S3cr3tQx7', 'repository:gl/group/app:pull');
  const gitlabOffline = await get(
    'gitlab offline',
    'mia',
    pat,
    'repository:gl/group/app:pull',
    '192.0.2.10',
    '&offline_token=true',
  );
  await post('gitlab refresh', {
    grant_type: 'refresh_token',
    refresh_token: gitlabOffline.refresh_token,
    scope: 'repository:gl/group/app:pull',
  });

  // GitHub: a classic token, then a wrong one.
  await get('github token', 'ada', ghToken, 'repository:gh/ada/app:pull');
  await get('github token', 'ada', ghToken, 'repository:gh/ada/app:pull');
  // From another address: a wrong token is not forgiven by the right one (they are different
  // credentials), and a third failure from 192.0.2.10 would ban it before the scenario's own ban.
  const wrong = 'ghp_wrongScenarioS3cr3tQx7xxxxxxxxxxxxxx';
  await get('github wrong', 'ada', wrong, 'repository:gh/ada/app:pull', '192.0.2.11');

  // Anonymous, then a ban: the failures that reach the count, then a refused right password.
  await get('anonymous', null, '', 'repository:gl/group/app:pull');
  for (let i = 0; i < SCENARIO_LIMITS.failures; i++)
    await get('spray', `victim-${i}`, `Spr4y-S3cr3t-${i}`, '', '192.0.2.66');
  await get('banned', 'alice', 'alice-pass', '', '192.0.2.66');

  return {
    fg,
    gitlab,
    github,
    secrets,
    statuses,
    stop: async () => {
      await fg.stop();
      await Promise.all([gitlab.stop(), github.stop()]);
    },
  };
}
