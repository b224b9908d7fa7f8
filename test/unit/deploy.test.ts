import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { loadKeySet, type KeySet } from '../../src/token/keyring.js';
import { generateKey } from '../../src/token/keys.js';
import { promote, rotate } from '../../src/token/rotation.js';

// The Dockerfile and the Kubernetes manifests: no container engine and no cluster here, so
// these check what can be checked without one: the YAML parses (and kustomize builds it, when
// kubectl is installed), the kinds and probes are there and agree with each other, and the
// forgegate configuration inside the ConfigMap is accepted by forgegate's own loader.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K8S = join(ROOT, 'deploy/kubernetes');

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: any;
};

async function manifests(): Promise<Manifest[]> {
  const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const all: Manifest[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(join(K8S, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file} parses as YAML`);
      all.push(doc.toJS() as Manifest);
    }
  }
  return all;
}

const find = (all: Manifest[], kind: string, name: string): Manifest => {
  const found = all.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `a ${kind} named ${name}`);
  return found;
};

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  test('every kind a deployment needs is there, and kustomization.yaml lists every file', async () => {
    const all = await manifests();
    for (const kind of [
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'HorizontalPodAutoscaler',
      'Secret',
      'ConfigMap',
      'NetworkPolicy',
    ]) {
      assert.ok(
        all.some((m) => m.kind === kind),
        `a ${kind}`,
      );
    }
    const kustomization = parseAllDocuments(await readFile(join(K8S, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as {
      resources: string[];
    };
    const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    assert.deepEqual([...kustomization.resources].sort(), files);
  });

  test('the Deployment probes /readyz and /healthz on its port, runs non-root, and mounts config and keys read-only', async () => {
    const all = await manifests();
    const deployment = find(all, 'Deployment', 'forgegate');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 5001 }]);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(
      pod.securityContext.fsGroup,
      pod.securityContext.runAsUser,
      'the key Secret is readable by the non-root user',
    );
    assert.ok(deployment.spec.replicas >= 2, 'more than one replica');
    assert.ok(
      pod.terminationGracePeriodSeconds > 10 + 5,
      'the grace period covers the preStop pause and the 10 s drain',
    );
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.name, m]));
    assert.equal(mounts.config.mountPath, '/config');
    assert.equal(mounts.keys.mountPath, '/data/keys');
    assert.ok(mounts.config.readOnly && mounts.keys.readOnly, 'config and keys are read-only');
    assert.equal(container.args.at(-1), `/config/${Object.keys(find(all, 'ConfigMap', 'forgegate-config').data)[0]}`);

    const labels = deployment.spec.template.metadata.labels;
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const selector = find(all, kind, 'forgegate').spec.selector;
      const matches = selector.matchLabels ?? selector;
      for (const [key, value] of Object.entries(matches))
        assert.equal(labels[key], value, `${kind} selects the forgegate pods`);
    }
    const hpa = find(all, 'HorizontalPodAutoscaler', 'forgegate');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'forgegate' });
    assert.ok(hpa.spec.minReplicas >= 2, 'the autoscaler keeps two replicas');
  });

  test("the ConfigMap's forgegate.yaml is a valid configuration with the Secret's variables", async () => {
    const all = await manifests();
    const env = find(all, 'Secret', 'forgegate-env').stringData as Record<string, string>;
    const config = parseConfigText(find(all, 'ConfigMap', 'forgegate-config').data['forgegate.yaml'], env, 'configmap');
    assert.equal(config.token.keyDir, '/data/keys');
    assert.ok(
      config.cache.redisUrl?.includes(find(all, 'Service', 'forgegate-redis').metadata.name),
      'Redis is the bundled Service',
    );
    assert.equal(config.server.trustProxy, true);
  });

  test('Redis asks for the password forgegate connects with, and only forgegate pods may reach it', async () => {
    const all = await manifests();
    const env = find(all, 'Secret', 'forgegate-env').stringData as Record<string, string>;
    assert.ok(env.REDIS_PASSWORD, 'the Secret holds REDIS_PASSWORD');
    const config = parseConfigText(find(all, 'ConfigMap', 'forgegate-config').data['forgegate.yaml'], env, 'configmap');
    assert.equal(new URL(config.cache.redisUrl!).password, env.REDIS_PASSWORD, 'forgegate connects with it');

    const redis = find(all, 'Deployment', 'forgegate-redis').spec.template;
    const container = redis.spec.containers[0];
    const args = container.args as string[];
    assert.equal(args[args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)');
    const fromSecret = (name: string) => container.env.find((e: any) => e.name === name)?.valueFrom?.secretKeyRef;
    assert.deepEqual(fromSecret('REDIS_PASSWORD'), { name: 'forgegate-env', key: 'REDIS_PASSWORD' });
    assert.deepEqual(
      fromSecret('REDISCLI_AUTH'),
      { name: 'forgegate-env', key: 'REDIS_PASSWORD' },
      'the probe authenticates',
    );

    const policy = find(all, 'NetworkPolicy', 'forgegate-redis').spec;
    for (const [key, value] of Object.entries(policy.podSelector.matchLabels))
      assert.equal(redis.metadata.labels[key], value, 'the policy covers the Redis pods');
    assert.deepEqual(policy.policyTypes, ['Ingress']);
    assert.equal(policy.ingress.length, 1);
    const forgegatePods = find(all, 'Deployment', 'forgegate').spec.template.metadata.labels;
    const [from] = policy.ingress[0].from;
    for (const [key, value] of Object.entries(from.podSelector.matchLabels))
      assert.equal(forgegatePods[key], value, 'only forgegate pods');
    assert.equal(policy.ingress[0].from.length, 1);
    assert.deepEqual(policy.ingress[0].ports, [{ protocol: 'TCP', port: 6379 }]);
  });

  test('the key Secret carries a rotation: next/ and retired/ come back at their paths in the pod', async () => {
    const all = await manifests();
    const volume = find(all, 'Deployment', 'forgegate').spec.template.spec.volumes.find(
      (v: any) => v.name === 'keys',
    ).secret;
    assert.equal(volume.optional, true, 'files a rotation step has not made yet may be absent');
    const items = new Map<string, string>(volume.items.map((i: { key: string; path: string }) => [i.key, i.path]));

    // A key directory mid-rotation: a current key, a staged next key, a retired one.
    const dir = await mkdtemp(join(tmpdir(), 'forgegate-k8s-keys-'));
    try {
      const keyDir = join(dir, 'keys');
      await generateKey(keyDir, 'ES256');
      await rotate(keyDir, 'ES256');
      await promote(keyDir, 'ES256', { ttl: 900, refreshTtl: 3600 });
      await rotate(keyDir, 'ES256');
      const before = describeSet(await loadKeySet(keyDir, 'ES256'));
      assert.equal(before.retired.length, 1);

      const secret = JSON.parse(await script(['secret', keyDir])) as {
        kind: string;
        metadata: { name: string };
        data: Record<string, string>;
      };
      assert.equal(secret.kind, 'Secret');
      assert.equal(secret.metadata.name, volume.secretName);
      const unmounted = Object.keys(secret.data).filter((key) => !items.has(key));
      assert.deepEqual(unmounted, [], 'every file of the Secret is mounted by the Deployment');

      // What the kubelet makes of the volume: each present item at its path.
      const mounted = join(dir, 'mounted');
      for (const [key, value] of Object.entries(secret.data)) {
        await mkdir(dirname(join(mounted, items.get(key)!)), { recursive: true });
        await writeFile(join(mounted, items.get(key)!), Buffer.from(value, 'base64'));
      }
      assert.deepEqual(describeSet(await loadKeySet(mounted, 'ES256')), before, 'the pod loads the same keys');

      const restored = join(dir, 'restored');
      await script(['restore', restored], JSON.stringify(secret));
      assert.deepEqual(describeSet(await loadKeySet(restored, 'ES256')), before, 'restore gives the directory back');
      assert.equal((await stat(join(restored, 'next', 'key.pem'))).mode & 0o777, 0o600, 'private keys stay 0600');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test(
    'kustomize builds the manifests',
    { skip: existsSync('/usr/bin/kubectl') ? false : 'kubectl is not installed' },
    async () => {
      const output = await new Promise<string>((resolve, reject) =>
        execFile('kubectl', ['kustomize', K8S], { timeout: 60_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(stderr || error.message)) : resolve(stdout),
        ),
      );
      const kinds = parseAllDocuments(output).map((doc) => (doc.toJS() as Manifest).kind);
      assert.equal(kinds.length, (await manifests()).length);
    },
  );
});

function describeSet(set: KeySet) {
  return {
    current: set.current.kid,
    next: set.next?.kid ?? null,
    retired: set.retired.map((r) => [r.key.kid, r.publishUntil]),
    published: set.jwks(),
  };
}

/** scripts/kubernetes-keys.mjs, as an operator runs it. */
function script(args: string[], stdin = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [join(ROOT, 'scripts/kubernetes-keys.mjs'), ...args],
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
    child.stdin!.end(stdin);
  });
}

describe('Dockerfile', () => {
  test('multi-stage, pinned Node 24 (LTS) base, non-root, HEALTHCHECK on /healthz, keys as a volume, graceful stop', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    for (const image of froms) assert.match(image, /^node:24\.\d+\.\d+-[a-z-]+$/, `${image} is pinned`);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^HEALTHCHECK .*\n.*\/healthz/m);
    assert.match(dockerfile, /^VOLUME \["\/data\/keys"\]$/m);
    assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
    assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]$/m);
  });

  test('everything it copies from the context exists and passes .dockerignore', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const allowed = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1).replace(/\/$/, ''));
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    assert.ok(sources.length > 0, 'the Dockerfile copies from the context');
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
      assert.ok(allowed.includes(source.replace(/\/$/, '')), `${source} is not excluded by .dockerignore`);
    }
    const scripts = (
      JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    assert.ok(scripts.build, 'npm run build exists');
  });
});

describe('CI examples (examples/)', () => {
  const load = async (file: string) => {
    const [doc] = parseAllDocuments(await readFile(join(ROOT, 'examples', file), 'utf8'));
    assert.deepEqual(doc!.errors, [], `${file} parses as YAML`);
    return doc!.toJS() as Record<string, any>;
  };

  test('GitLab CI logs in with CI_JOB_TOKEN as gitlab-ci-token', async () => {
    const pipeline = await load('gitlab-ci.yml');
    const script = (pipeline.build.script as string[]).join('\n');
    assert.match(script, /echo "\$CI_JOB_TOKEN" \| docker login "\$REGISTRY" -u gitlab-ci-token --password-stdin/);
    assert.ok(pipeline['build-oidc'].id_tokens.FORGEGATE_ID_TOKEN.aud, 'the OIDC job names its audience');
  });

  test('GitHub Actions asks for an OIDC ID token and logs in with it', async () => {
    const workflow = await load('github-actions.yml');
    assert.equal(workflow.permissions['id-token'], 'write');
    const steps = workflow.jobs.image.steps as { run?: string }[];
    const loginStep = steps.find((step) => step.run?.includes('docker login'));
    assert.ok(loginStep, 'a docker login step');
    assert.match(loginStep.run!, /ACTIONS_ID_TOKEN_REQUEST_URL&audience=\$AUDIENCE/);
    assert.match(loginStep.run!, /--password-stdin/);
  });
});
