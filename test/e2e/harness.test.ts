/**
 * Proves the e2e harness against the real docker-registry 2.8 and skopeo 1.9,
 * with a throwaway token server standing in for forgegate, and pins what skopeo
 * sends to the token realm (see test/support/skopeo.ts).
 */
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import * as x509 from '@peculiar/x509';
import { generateKeyPair, SignJWT } from 'jose';
import { buildOciImage } from '../support/oci-image.js';
import { makeTempDir, removeTempDir } from '../support/processes.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { copy, deleteImage, inspect, writeAuthFile, type SkopeoResult } from '../support/skopeo.js';

const SERVICE = 'harness-registry';
const ISSUER = 'harness-token-issuer';
const USERNAME = 'alice';
// A colon in the password checks that Basic credentials split on the first colon.
const PASSWORD = 'pass:word';
const REFRESH_TOKEN = 'harness-refresh-token';
const REPOSITORY = 'team/app';

interface RealmCall {
  method: string;
  /** Query parameters for GET, form fields for POST. */
  params: URLSearchParams;
  contentType: string | undefined;
  authorization: string | undefined;
}

interface TokenServer {
  realm: string;
  /** Returns the realm calls seen since the previous take(). */
  take(): RealmCall[];
  close(): Promise<void>;
}

/**
 * Grants every requested scope in full to alice (Basic) or to the refresh
 * token (POST grant_type=refresh_token), and no access to anonymous callers.
 */
async function startTokenServer(certPath: string): Promise<TokenServer> {
  x509.cryptoProvider.set(globalThis.crypto);
  const keys = await generateKeyPair('ES256');
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=forgegate harness',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  await writeFile(certPath, cert.toString('pem'));
  const x5c = [Buffer.from(cert.rawData).toString('base64')];

  const issue = async (subject: string, scopes: string[]) => {
    const iat = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access: grantInFull(scopes) })
      .setProtectedHeader({ typ: 'JWT', alg: 'ES256', x5c })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setAudience(SERVICE)
      .setIssuedAt(iat)
      .setNotBefore(iat - 5)
      .setExpirationTime(iat + 300)
      .setJti(randomUUID())
      .sign(keys.privateKey);
    return { token, access_token: token, expires_in: 300, issued_at: new Date(iat * 1000).toISOString() };
  };

  const calls: RealmCall[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://realm');
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    calls.push({
      method: req.method ?? '',
      params,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
    });
    const scopes = params.getAll('scope').flatMap((value) => value.split(' ').filter(Boolean));
    if (req.method === 'POST') {
      if (params.get('grant_type') !== 'refresh_token') return reply(res, 400, { error: 'unsupported_grant_type' });
      if (params.get('refresh_token') !== REFRESH_TOKEN) return reply(res, 401, { error: 'invalid_grant' });
      return reply(res, 200, await issue(USERNAME, scopes));
    }
    const basic = parseBasic(req.headers.authorization);
    if (basic === undefined) return reply(res, 200, await issue('', []));
    if (basic.username !== USERNAME || basic.password !== PASSWORD) {
      res.setHeader('WWW-Authenticate', 'Basic realm="harness"');
      return reply(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
    }
    return reply(res, 200, await issue(basic.username, scopes));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => reply(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    take: () => calls.splice(0),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** One access entry per resource, with the union of the actions asked for it. */
function grantInFull(scopes: string[]): { type: string; name: string; actions: string[] }[] {
  const byResource = new Map<string, { type: string; name: string; actions: Set<string> }>();
  for (const scope of scopes) {
    // The name may hold a registry port, so split on the first and last colon only.
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const entry = byResource.get(`${type}:${name}`) ?? { type, name, actions: new Set<string>() };
    for (const action of scope.slice(last + 1).split(',')) entry.actions.add(action);
    byResource.set(`${type}:${name}`, entry);
  }
  return [...byResource.values()].map((entry) => ({ ...entry, actions: [...entry.actions] }));
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (header?.startsWith('Basic ') !== true) return undefined;
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { username: decoded, password: '' };
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function assertSucceeded(result: SkopeoResult, registry: RunningRegistry): void {
  assert.equal(result.code, 0, `skopeo failed:\n${result.stderr}\nregistry log:\n${registry.logs().slice(-4000)}`);
}

/** (a) in test/support/skopeo.ts: GET, Basic credentials, `account`, one `scope`, nothing else. */
function assertPasswordGrant(calls: RealmCall[], scope: string): void {
  assert.ok(calls.length > 0, 'skopeo did not ask the realm for a token');
  for (const call of calls) {
    assert.equal(call.method, 'GET');
    assert.deepEqual(parseBasic(call.authorization), { username: USERNAME, password: PASSWORD });
    assert.deepEqual(sortedFields(call), [['account', USERNAME], ['scope', scope], ['service', SERVICE]]);
  }
}

function sortedFields(call: RealmCall): [string, string][] {
  return [...call.params].sort(([a], [b]) => a.localeCompare(b));
}

async function timed<T>(t: TestContext, what: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await step();
  t.diagnostic(`${what}: ${Math.round(performance.now() - started)} ms`);
  return result;
}

test('skopeo pushes, inspects, pulls and deletes through docker-registry and a token server', async (t) => {
  const work = await makeTempDir('harness');
  t.after(() => removeTempDir(work));
  const certPath = join(work, 'token-cert.pem');
  const tokens = await startTokenServer(certPath);
  t.after(() => tokens.close());
  const registry = await timed(t, 'registry start', () =>
    startRegistry({ realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootCertBundle: certPath }),
  );
  t.after(() => registry.stop());
  const image = await buildOciImage(join(work, 'image'), { marker: 'v1' });
  const remote = `docker://${registry.host}/${REPOSITORY}:v1`;
  const creds = { creds: `${USERNAME}:${PASSWORD}` };

  await t.test('the registry challenges with our realm and service', async () => {
    const response = await fetch(`${registry.url}/v2/`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${tokens.realm}",service="${SERVICE}"`);
  });

  await t.test('push with a password', async (t) => {
    assertSucceeded(await timed(t, 'push', () => copy(image.ref, remote, creds)), registry);
    assertPasswordGrant(tokens.take(), `repository:${REPOSITORY}:pull,push`);
  });

  await t.test('inspect with a password', async (t) => {
    const result = await timed(t, 'inspect', () => inspect(remote, creds));
    assertSucceeded(result, registry);
    assert.equal((JSON.parse(result.stdout) as { Digest: string }).Digest, image.manifestDigest);
    assertPasswordGrant(tokens.take(), `repository:${REPOSITORY}:pull`);
  });

  await t.test('pull into another OCI layout', async (t) => {
    const pulled = join(work, 'pulled');
    assertSucceeded(await timed(t, 'pull', () => copy(remote, `oci:${pulled}:latest`, creds)), registry);
    const index = JSON.parse(await readFile(join(pulled, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, image.manifestDigest);
    assertPasswordGrant(tokens.take(), `repository:${REPOSITORY}:pull`);
  });

  await t.test('an identity token is sent as POST grant_type=refresh_token', async (t) => {
    const authfile = join(work, 'auth.json');
    await writeAuthFile(authfile, registry.host, { username: USERNAME, identityToken: REFRESH_TOKEN });
    assertSucceeded(await timed(t, 'inspect with identity token', () => inspect(remote, { authfile })), registry);
    const calls = tokens.take();
    assert.ok(calls.length > 0, 'skopeo did not ask the realm for a token');
    for (const call of calls) {
      assert.equal(call.method, 'POST');
      assert.equal(call.contentType, 'application/x-www-form-urlencoded');
      assert.equal(call.authorization, undefined);
      assert.deepEqual(sortedFields(call), [
        ['client_id', 'containers/image'],
        ['grant_type', 'refresh_token'],
        ['refresh_token', REFRESH_TOKEN],
        ['scope', `repository:${REPOSITORY}:pull`],
        ['service', SERVICE],
      ]);
    }
  });

  await t.test('a 401 from the realm fails with the message of its body', async () => {
    const result = await inspect(remote, { creds: `${USERNAME}:wrong` });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid username\/password: unauthorized: bad credentials/);
    assert.equal(tokens.take().length, 1);
  });

  await t.test('an anonymous token without access is denied by the registry', async () => {
    const result = await inspect(remote, { noCreds: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /denied: requested access to the resource is denied/);
    const calls = tokens.take();
    assert.ok(calls.length > 0, 'skopeo did not ask the realm for a token');
    for (const call of calls) {
      assert.equal(call.authorization, undefined);
      assert.equal(call.params.has('account'), false);
    }
  });

  await t.test('delete asks for the * action', async (t) => {
    assertSucceeded(await timed(t, 'delete', () => deleteImage(remote, creds)), registry);
    assertPasswordGrant(tokens.take(), `repository:${REPOSITORY}:*`);
    const result = await inspect(remote, creds);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /manifest unknown/);
  });
});
