import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { runAfterAnswers } from '../../src/http/after-answers.js';
import { createApp } from '../../src/http/app.js';
import { webhookOptions } from '../../src/http/hooks/index.js';
import { listen, type RunningServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { buildRuntime, type Runtime } from '../../src/runtime.js';
import { ACCESS, FakeGitLab, type GitLabUser } from '../fakes/gitlab.js';
import { makeTempDir } from '../support/processes.js';
import type { FuzzTargets } from './generators.js';

// The server under fuzz: the real runtime and Koa app on a loopback socket, in front of a
// FakeGitLab, with the static accounts of test/fixtures/htpasswd and a webhook secret. Its
// log is not kept (a long run would hold it all in memory): each chunk is scanned for the
// secrets the fuzzer sends and only counted.

export const SERVICE = 'fuzz.registry';
export const HTPASSWD = fileURLToPath(new URL('../fixtures/htpasswd', import.meta.url));
export const STATIC = { user: 'alice', password: 'alice-pass' };
export const GITLAB_TOKEN = 'glpat-fuzz-maintainer-Zx81';
const WEBHOOK_SECRET = 'fuzz-webhook-secret-q8';

export interface FuzzServer {
  url: string;
  runtime: Runtime;
  /** Log lines written, and how many held one of the secrets below. */
  logStats(): { lines: number; leaks: number; leaked: string[] };
  /** Secrets that must never reach the log. */
  secrets: Set<string>;
  stop(): Promise<void>;
}

const owners = new WeakMap<FakeGitLab, GitLabUser>();
/** The live record of the user behind GITLAB_TOKEN (mutate it to change what the fake says). */
export const tokenOwner = (gl: FakeGitLab): GitLabUser => owners.get(gl)!;

export async function startFakeGitLab(): Promise<FakeGitLab> {
  const gl = new FakeGitLab();
  const user = gl.addUser({ username: 'maya' });
  owners.set(gl, user);
  gl.addToken({ token: GITLAB_TOKEN, user_id: user.id, scopes: ['api'] });
  gl.addProject({ path_with_namespace: 'team/app', visibility: 'private' });
  gl.addProject({ path_with_namespace: 'team/open', visibility: 'public' });
  gl.addMember('team', user.id, ACCESS.maintainer);
  await gl.start();
  return gl;
}

export async function startFuzzServer(
  gitlabUrl: string,
  options: { keyDir?: string; service?: string; redisUrl?: string | null } = {},
): Promise<FuzzServer> {
  const keyDir = options.keyDir ?? (await makeTempDir('fuzz-keys'));
  const config = parseConfig(
    {
      server: { listen: '127.0.0.1:0' },
      token: { service: options.service ?? SERVICE, keyDir },
      users: { htpasswd: HTPASSWD },
      acl: [
        { account: 'alice', name: 'alice/**', actions: ['*'] },
        { account: '*', name: 'shared/**', actions: ['pull'] },
        { account: '', name: 'public/**', actions: ['pull'] },
      ],
      forges: [{ type: 'gitlab', url: gitlabUrl, timeout: 2, webhookSecret: WEBHOOK_SECRET }],
      cache: { redisUrl: options.redisUrl ?? null, identityTtl: 30, decisionTtl: 30, negativeTtl: 5 },
    },
    process.env,
    'fuzz',
  );
  const secrets = new Set([STATIC.password, GITLAB_TOKEN, WEBHOOK_SECRET]);
  let lines = 0;
  let leaks = 0;
  const leaked = new Set<string>();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString();
      for (const line of text.split('\n')) {
        if (line === '') continue;
        lines++;
        for (const secret of secrets) {
          if (line.includes(secret)) {
            leaks++;
            leaked.add(secret.slice(0, 6));
          }
        }
      }
      done();
    },
  });
  const logger = createLogger('info', sink);
  const runtime = await buildRuntime(config, logger);
  const app = createApp({
    authority: runtime.authority,
    key: runtime.key,
    realmPath: config.server.realmPath,
    service: config.token.service,
    trustProxy: false,
    logger,
    webhooks: webhookOptions(runtime),
  });
  const server: RunningServer = await listen(app, config.server);
  return {
    url: `http://127.0.0.1:${server.address.port}`,
    runtime,
    secrets,
    // Audit lines are made just after their answers: the counts include every answer so far.
    logStats: () => (runAfterAnswers(), { lines, leaks, leaked: [...leaked] }),
    stop: async () => {
      await server.close(100);
      await runtime.close();
    },
  };
}

/** Valid material from the live server to mutate: a refresh token, an access token, the key. */
export async function collectTargets(server: FuzzServer, gitlabUrl: string): Promise<FuzzTargets> {
  const form = (service: string) =>
    new URLSearchParams({
      grant_type: 'password',
      username: STATIC.user,
      password: STATIC.password,
      service,
      access_type: 'offline',
      scope: 'repository:alice/app:pull',
    }).toString();
  const post = async (url: string, service: string) => {
    const response = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(service),
    });
    if (response.status !== 200) throw new Error(`token request failed: ${response.status}`);
    return (await response.json()) as { access_token: string; refresh_token: string };
  };
  const own = await post(server.url, SERVICE);
  // The same key, another service: its refresh tokens must not open here.
  const other = await startFuzzServer(gitlabUrl, {
    keyDir: server.runtime.config.token.keyDir,
    service: 'another-service',
  });
  const foreign = await post(other.url, 'another-service');
  await other.stop();
  const key = server.runtime.key;
  server.secrets.add(own.refresh_token);
  server.secrets.add(foreign.refresh_token);
  return {
    service: SERVICE,
    staticUser: STATIC.user,
    staticPassword: STATIC.password,
    gitlabToken: GITLAB_TOKEN,
    refreshToken: own.refresh_token,
    otherServiceRefresh: foreign.refresh_token,
    accessToken: own.access_token,
    publicKeyPem: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    jwk: key.jwks.keys[0]!,
    images: [
      'alice/app',
      'team/app',
      'team/open/x',
      'shared/lib',
      'public/base',
      'other/thing',
      'localhost:5000/alice/app',
      'team/app/a/b/c/d',
    ],
  };
}
