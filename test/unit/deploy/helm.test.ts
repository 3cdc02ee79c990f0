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
const deploymentOf = (list: Manifest[]): Manifest => byKind(list, 'Deployment') as Manifest;
const podOf = (list: Manifest[]): any => deploymentOf(list).spec.template.spec;
const byKind = (list: Manifest[], kind: string): Manifest | undefined => list.find((m) => m.kind === kind);
function schemaValidator(): ReturnType<Ajv['compile']> {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  return ajv.compile(JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as object);
}
function gatewayAccepts(config: unknown, env: Record<string, string> = {}): boolean {
  try {
    loadGatewayConfig({ text: JSON.stringify(config), env });
    return true;
  } catch {
    return false;
  }
}
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
  const after = (
    byKind(
      manifests((v) => (v.config.session = { idle_timeout: '1h' })),
      'Deployment',
    ) as Manifest
  ).spec.template.metadata.annotations['checksum/config'];
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
  const validate = schemaValidator();
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
  // Durations: the chart's schema says what the gateway says.
  for (const timeout of ['30 seconds', '30', '1.5h', ' 10s ', 10_000]) {
    const duration = structuredClone(values) as any;
    duration.config.server.shutdown_timeout = timeout;
    assert.equal(validate(duration), gatewayAccepts({ server: { shutdown_timeout: timeout } }), `shutdown_timeout ${JSON.stringify(timeout)}`);
  }
});

test('a store URL the chart cannot read (secretEnv PORTCULLIS_STORE_URL, store.url_file, a ${VAR} reference) counts as PostgreSQL: replicas, no PVC', () => {
  const ways: Array<[string, (v: any) => void]> = [
    ['secretEnv', (v) => (v.secretEnv = [{ name: 'PORTCULLIS_STORE_URL', secretName: 'gw-db', key: 'url' }])],
    ['url_file', (v) => (v.config.store = { url_file: '/run/secrets/db/url' })],
    ['${VAR}', (v) => (v.config.store.url = '${DATABASE_URL}')],
  ];
  for (const [way, set] of ways) {
    const list = manifests((v) => {
      set(v);
      v.replicaCount = 3;
    });
    assert.equal(byKind(list, 'PersistentVolumeClaim'), undefined, way);
    assert.equal(deploymentOf(list).spec.replicas, 3, way);
    assert.equal(deploymentOf(list).spec.strategy, undefined, `${way}: rolling updates, not Recreate`);
    assert.ok(!podOf(list).volumes.some((vol: { name: string }) => vol.name === 'data'), way);
  }
  // Another variable from a Secret does not make the default SQLite URL anything else.
  assert.throws(
    () =>
      manifests((v) => {
        v.replicaCount = 3;
        v.secretEnv = [{ name: 'PORTCULLIS_ADMIN_PASSWORD', secretName: 'gw-admin', key: 'password' }];
      }),
    /SQLite: run one replica/,
  );
});

test('a ${VAR} reference passes values.schema.json wherever the gateway substitutes it, and literal values are still checked', () => {
  const validate = schemaValidator();
  const withConfig = (set: (c: any) => void): unknown => {
    const v = structuredClone(values) as any;
    set(v.config);
    return v;
  };
  const env = { DATABASE_URL: 'postgres://u:p@db:5432/x', POLICY: 'authenticated', TIMEOUT: '20s' };
  const cases: Array<[string, (c: any) => void]> = [
    ['store.url', (c) => (c.store.url = '${DATABASE_URL}')],
    ['access.default_policy (an enum)', (c) => (c.access.default_policy = '${POLICY}')],
    ['server.shutdown_timeout (a duration)', (c) => (c.server.shutdown_timeout = '${TIMEOUT}')],
  ];
  for (const [what, set] of cases) {
    const v = withConfig(set) as any;
    assert.equal(gatewayAccepts(v.config, env), true, `the gateway accepts ${what}`);
    assert.equal(validate(v), true, `${what}: ${JSON.stringify(validate.errors)}`);
  }
  assert.equal(validate(withConfig((c) => (c.store.url = 'mysql://db/x'))), false, 'a literal URL of another scheme');
  assert.equal(validate(withConfig((c) => (c.store.url = '$DATABASE_URL'))), false, 'not a ${NAME} reference');
  assert.equal(validate(withConfig((c) => (c.access.default_policy = 'allow'))), false, 'a literal enum value');
});

test('the container ports follow config.server.listen and config.metrics.listen, and the Service and probes use them by name', () => {
  const list = manifests((v) => {
    v.config.server.listen = '0.0.0.0:9000';
    v.config.metrics.listen = '[::]:9100';
  });
  const container = podOf(list).containers[0];
  assert.deepEqual(container.ports, [
    { name: 'http', containerPort: 9000 },
    { name: 'metrics', containerPort: 9100 },
  ]);
  assert.equal(container.livenessProbe.httpGet.port, 'http');
  assert.equal(container.readinessProbe.httpGet.port, 'http');
  const service = byKind(list, 'Service') as Manifest;
  assert.deepEqual(
    service.spec.ports.map((p: { name: string; targetPort: string }) => [p.name, p.targetPort]),
    [
      ['http', 'http'],
      ['metrics', 'metrics'],
    ],
  );
  // The default values: 8080 and 9464.
  assert.deepEqual(
    podOf(manifests()).containers[0].ports.map((p: { containerPort: number }) => p.containerPort),
    [8080, 9464],
  );
});

test('metrics.listen "" leaves the metrics port out of the pod and Service, and a ServiceMonitor then fails the render', () => {
  const list = manifests((v) => (v.config.metrics.listen = ''));
  assert.deepEqual(podOf(list).containers[0].ports, [{ name: 'http', containerPort: 8080 }]);
  assert.deepEqual(
    (byKind(list, 'Service') as Manifest).spec.ports.map((p: { name: string }) => p.name),
    ['http'],
  );
  assert.throws(
    () =>
      manifests((v) => {
        v.config.metrics.listen = '';
        v.serviceMonitor.enabled = true;
      }),
    /serviceMonitor\.enabled needs metrics/,
  );
});

test('a listen address without a usable port, on loopback, or set through secretEnv fails the render naming the key', () => {
  const cases: Array<[(v: any) => void, RegExp]> = [
    [(v) => (v.config.server.listen = '0.0.0.0'), /config\.server\.listen must be host:port/],
    [(v) => (v.config.server.listen = '${LISTEN}'), /config\.server\.listen must be host:port/],
    [(v) => (v.config.server.listen = '0.0.0.0:0'), /config\.server\.listen needs a port from 1 to 65535/],
    [(v) => (v.config.metrics.listen = '0.0.0.0:70000'), /config\.metrics\.listen needs a port from 1 to 65535/],
    [(v) => (v.config.server.listen = '127.0.0.1:8080'), /config\.server\.listen is "127\.0\.0\.1:8080", a loopback address/],
    [(v) => delete v.config.metrics, /config\.metrics\.listen is "127\.0\.0\.1:9464", a loopback address/],
    [(v) => (v.secretEnv = [{ name: 'PORTCULLIS_SERVER_LISTEN', secretName: 's', key: 'k' }]), /secretEnv cannot set PORTCULLIS_SERVER_LISTEN/],
  ];
  for (const [set, message] of cases) assert.throws(() => manifests(set), message);
});

test('secretFiles mount Secrets read-only where the *_file keys can point, readable by the pod group only', () => {
  const list = manifests((v) => {
    v.secretFiles = [
      { secretName: 'ldap-bind', mountPath: '/run/secrets/ldap' },
      { secretName: 'portal.jwt', mountPath: '/run/secrets/portal', items: [{ key: 'hmac', path: 'secret' }] },
    ];
    v.config.ldap = { url: 'ldap://ldap:389', bind_dn: 'cn=svc,dc=example,dc=org', bind_password_file: '/run/secrets/ldap/password', user_base: 'ou=people,dc=example,dc=org' };
  });
  const pod = podOf(list);
  const mounts = pod.containers[0].volumeMounts.filter((m: { mountPath: string }) => m.mountPath.startsWith('/run/secrets/'));
  assert.deepEqual(
    mounts.map((m: { mountPath: string; readOnly: boolean }) => [m.mountPath, m.readOnly]),
    [
      ['/run/secrets/ldap', true],
      ['/run/secrets/portal', true],
    ],
  );
  const volumes = mounts.map((m: { name: string }) => pod.volumes.find((vol: { name: string }) => vol.name === m.name));
  assert.equal(new Set(mounts.map((m: { name: string }) => m.name)).size, 2);
  for (const m of mounts) assert.match(m.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a volume name is a DNS label');
  assert.deepEqual(
    volumes.map((vol: any) => vol.secret),
    [
      { secretName: 'ldap-bind', defaultMode: 0o440 },
      { secretName: 'portal.jwt', defaultMode: 0o440, items: [{ key: 'hmac', path: 'secret' }] },
    ],
  );
  const validate = schemaValidator();
  const v = structuredClone(values) as any;
  v.secretFiles = [{ secretName: 'ldap-bind', mountPath: '/run/secrets/ldap' }];
  assert.equal(validate(v), true, JSON.stringify(validate.errors));
  for (const mountPath of ['run/secrets/ldap', '/etc/portcullis', '/tmp']) {
    v.secretFiles = [{ secretName: 'ldap-bind', mountPath }];
    assert.equal(validate(v), false, `mountPath ${mountPath}`);
  }
});

test('extraVolumes are mounted through extraVolumeMounts, always read-only', () => {
  const list = manifests((v) => {
    v.extraVolumes = [{ name: 'ldap-ca', configMap: { name: 'corporate-ca' } }];
    v.extraVolumeMounts = [{ name: 'ldap-ca', mountPath: '/etc/ssl/ldap', subPath: 'ca.pem' }];
  });
  const pod = podOf(list);
  assert.deepEqual(
    pod.volumes.find((vol: { name: string }) => vol.name === 'ldap-ca'),
    { name: 'ldap-ca', configMap: { name: 'corporate-ca' } },
  );
  assert.deepEqual(
    pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'ldap-ca'),
    { name: 'ldap-ca', mountPath: '/etc/ssl/ldap', subPath: 'ca.pem', readOnly: true },
  );
  const validate = schemaValidator();
  const v = structuredClone(values) as any;
  v.extraVolumes = [{ name: 'ldap-ca', configMap: { name: 'corporate-ca' } }];
  v.extraVolumeMounts = [{ name: 'ldap-ca', mountPath: '/etc/ssl/ldap' }];
  assert.equal(validate(v), true, JSON.stringify(validate.errors));
  v.extraVolumeMounts = [{ name: 'ldap-ca', mountPath: '/etc/ssl/ldap', readOnly: false }];
  assert.equal(validate(v), false, 'a writable mount');
});

test('pods get no service account token: the gateway never calls the Kubernetes API', () => {
  assert.equal(podOf(manifests()).automountServiceAccountToken, false);
});

test('a startup probe holds the liveness probe back while the gateway migrates and seeds, for as long as the values allow', () => {
  const container = podOf(manifests()).containers[0];
  // Liveness alone (3 × 10 s) killed a pod still hashing a few hundred seeded passwords, before it listened.
  assert.equal(container.startupProbe.httpGet.path, '/.auth/healthz');
  assert.equal(container.startupProbe.httpGet.port, 'http');
  assert.ok(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold >= 300, 'five minutes by default');
  const longer = podOf(manifests((v) => (v.startupProbe.failureThreshold = 720))).containers[0];
  assert.equal(longer.startupProbe.failureThreshold, 720);
  const validate = schemaValidator();
  const zero = structuredClone(values) as any;
  zero.startupProbe.failureThreshold = 0;
  assert.equal(validate(zero), false, 'a startup probe that can never pass is refused');
});
