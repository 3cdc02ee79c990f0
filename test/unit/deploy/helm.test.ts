import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { loadChart } from '../../helpers/helm-render.js';
import { helmValuesSchema } from '../../../scripts/gen-helm-schema.js';
import { loadGatewayConfig } from '../../../src/app/check.js';

const CHART = new URL('../../../helm/portcullis', import.meta.url).pathname;
const { renderer, values, chart } = loadChart(CHART);

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: any; data?: Record<string, string> };

function manifests(overrides: (v: any) => void = () => undefined): Manifest[] {
  const v = structuredClone(values) as any;
  overrides(v);
  const out: Manifest[] = [];
  for (const [file, text] of renderer.render(v, { Name: 'gw', Namespace: 'default', Service: 'Helm' }, chart)) {
    for (const doc of parseAllDocuments(text)) {
      assert.deepEqual(doc.errors, [], `${file} is valid YAML`);
      const value = doc.toJSON() as Manifest | null;
      if (value) out.push(value);
    }
  }
  return out;
}
const byKind = (list: Manifest[], kind: string): Manifest | undefined => list.find((m) => m.kind === kind);
const postgres = (v: any): void => {
  v.config.store.url = 'postgres://portcullis@db:5432/portcullis';
  v.replicaCount = 3;
};

test('default values render a Deployment, Service, ConfigMap and PVC with hardened pods and both probes', () => {
  const list = manifests();
  assert.deepEqual(list.map((m) => `${m.apiVersion} ${m.kind}`).sort(), ['apps/v1 Deployment', 'v1 ConfigMap', 'v1 PersistentVolumeClaim', 'v1 Service']);
  const deployment = byKind(list, 'Deployment') as Manifest;
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, 10001);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
  assert.equal(container.livenessProbe.httpGet.path, '/.auth/healthz');
  assert.equal(container.readinessProbe.httpGet.path, '/.auth/readyz');
  assert.equal(container.image, 'ghcr.io/portcullis/portcullis:0.1.0');
  assert.ok(container.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/data'));
  assert.equal(deployment.spec.strategy.type, 'Recreate', 'one SQLite writer at a time');
  assert.match(deployment.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
});

test('the ConfigMap holds a portcullis.yaml that the gateway itself accepts', () => {
  const configMap = byKind(manifests(), 'ConfigMap') as Manifest;
  const text = configMap.data?.['portcullis.yaml'] as string;
  const config = loadGatewayConfig({ text, env: {} });
  assert.equal(config.server.listen, '0.0.0.0:8080');
  assert.equal(config.routes[0]?.upstream, 'builtin:echo');
});

test('a config change changes the checksum annotation, so pods roll', () => {
  const before = (byKind(manifests(), 'Deployment') as Manifest).spec.template.metadata.annotations['checksum/config'];
  const after = (byKind(manifests((v) => (v.config.session = { idle_timeout: '1h' })), 'Deployment') as Manifest).spec.template.metadata.annotations['checksum/config'];
  assert.notEqual(before, after);
});

test('PostgreSQL with replicas, HPA and ServiceMonitor renders a PDB and no PVC', () => {
  const list = manifests((v) => {
    postgres(v);
    v.autoscaling.enabled = true;
    v.serviceMonitor.enabled = true;
    v.secretEnv = [{ name: 'PORTCULLIS_ADMIN_PASSWORD', secretName: 'gw-admin', key: 'password' }];
  });
  const kinds = list.map((m) => m.kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceMonitor']);
  assert.equal(byKind(list, 'HorizontalPodAutoscaler')?.apiVersion, 'autoscaling/v2');
  assert.equal(byKind(list, 'ServiceMonitor')?.apiVersion, 'monitoring.coreos.com/v1');
  const deployment = byKind(list, 'Deployment') as Manifest;
  assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count');
  assert.deepEqual(deployment.spec.template.spec.containers[0].env, [{ name: 'PORTCULLIS_ADMIN_PASSWORD', valueFrom: { secretKeyRef: { name: 'gw-admin', key: 'password' } } }]);
  assert.ok(!deployment.spec.template.spec.volumes.some((vol: { name: string }) => vol.name === 'data'));
});

test('SQLite with more than one replica or autoscaling is refused with a clear message', () => {
  assert.throws(() => manifests((v) => (v.replicaCount = 2)), /SQLite: run one replica/);
  assert.throws(() => manifests((v) => (v.autoscaling.enabled = true)), /SQLite: run one replica/);
});

test('values.schema.json is what the generator makes from the config schema', () => {
  const committed = JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as unknown;
  assert.deepEqual(committed, JSON.parse(JSON.stringify(helmValuesSchema())));
});

test('values.yaml passes values.schema.json, and bad values or unknown config keys fail it', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);
  assert.equal(validate(values), true, JSON.stringify(validate.errors));
  const bad = structuredClone(values) as any;
  bad.replicaCount = 'three';
  assert.equal(validate(bad), false);
  const unknownKey = structuredClone(values) as any;
  unknownKey.config.server.listn = 'x';
  assert.equal(validate(unknownKey), false);
  const badPolicy = structuredClone(values) as any;
  badPolicy.config.access.default_policy = 'allow';
  assert.equal(validate(badPolicy), false);
  for (const [timeout, ok] of [['30 seconds', false], ['30', false], ['1.5h', true], [' 10s ', true], [10_000, true]] as const) {
    const duration = structuredClone(values) as any;
    duration.config.server.shutdown_timeout = timeout;
    assert.equal(validate(duration), ok, `shutdown_timeout ${JSON.stringify(timeout)}`);
  }
});
