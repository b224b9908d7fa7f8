import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';

// The Dockerfile and the Kubernetes manifests: no container engine and no cluster here, so
// these check what can be checked without one: the YAML parses (and kustomize builds it, when
// kubectl is installed), the kinds and probes are there and agree with each other, and the
// forgegate configuration inside the ConfigMap is accepted by forgegate's own loader.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const K8S = join(ROOT, 'deploy/kubernetes');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [key: string]: any };

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
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Secret', 'ConfigMap']) {
      assert.ok(all.some((m) => m.kind === kind), `a ${kind}`);
    }
    const kustomization = parseAllDocuments(await readFile(join(K8S, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
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
    assert.equal(pod.securityContext.fsGroup, pod.securityContext.runAsUser, 'the key Secret is readable by the non-root user');
    assert.ok(deployment.spec.replicas >= 2, 'more than one replica');
    assert.ok(pod.terminationGracePeriodSeconds > 10 + 5, 'the grace period covers the preStop pause and the 10 s drain');
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.name, m]));
    assert.equal(mounts.config.mountPath, '/config');
    assert.equal(mounts.keys.mountPath, '/data/keys');
    assert.ok(mounts.config.readOnly && mounts.keys.readOnly, 'config and keys are read-only');
    assert.equal(container.args.at(-1), `/config/${Object.keys(find(all, 'ConfigMap', 'forgegate-config').data)[0]}`);

    const labels = deployment.spec.template.metadata.labels;
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const selector = find(all, kind, 'forgegate').spec.selector;
      const matches = selector.matchLabels ?? selector;
      for (const [key, value] of Object.entries(matches)) assert.equal(labels[key], value, `${kind} selects the forgegate pods`);
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
    assert.ok(config.cache.redisUrl?.includes(find(all, 'Service', 'forgegate-redis').metadata.name), 'Redis is the bundled Service');
    assert.equal(config.server.trustProxy, true);
  });

  test('kustomize builds the manifests', { skip: existsSync('/usr/bin/kubectl') ? false : 'kubectl is not installed' }, async () => {
    const output = await new Promise<string>((resolve, reject) =>
      execFile('kubectl', ['kustomize', K8S], { timeout: 60_000 }, (error, stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve(stdout))),
    );
    const kinds = parseAllDocuments(output).map((doc) => (doc.toJS() as Manifest).kind);
    assert.equal(kinds.length, (await manifests()).length);
  });
});

describe('Dockerfile', () => {
  test('multi-stage, pinned Node 20 base, non-root, HEALTHCHECK on /healthz, keys as a volume, graceful stop', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    for (const image of froms) assert.match(image, /^node:20\.\d+\.\d+-[a-z-]+$/, `${image} is pinned`);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^HEALTHCHECK .*\n.*\/healthz/m);
    assert.match(dockerfile, /^VOLUME \["\/data\/keys"\]$/m);
    assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
    assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]$/m);
  });

  test('everything it copies from the context exists and passes .dockerignore', async () => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const allowed = (await readFile(join(ROOT, '.dockerignore'), 'utf8')).split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    assert.ok(sources.length > 0, 'the Dockerfile copies from the context');
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
      assert.ok(allowed.includes(source.replace(/\/$/, '')), `${source} is not excluded by .dockerignore`);
    }
    const scripts = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
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
