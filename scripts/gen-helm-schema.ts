/**
 * Generates helm/portcullis/values.schema.json: the chart's own values by hand, and its
 * `config` property from the one config schema (src/config/schema.ts), so the chart refuses
 * what `portcullis config check` would refuse at the schema level.
 * Run: node --import tsx scripts/gen-helm-schema.ts > helm/portcullis/values.schema.json
 */
import { z } from 'zod';
import { ENV_REF } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';

/**
 * A string holding a `${NAME}` reference: load.ts's ENV_REF, which substitutes them before
 * validating, so only the gateway can judge the result. Unanchored: `postgres://u:${PW}@db/x`
 * holds one too. Its only parentheses, the capture of NAME, are dropped: they change nothing the
 * pattern matches, and the committed schema keeps its text.
 */
const ENV_REFERENCE_PATTERN = ENV_REF.source.replace(/[()]/g, '');

/**
 * Lets every constrained string (pattern, enum, format, length) also be a `${NAME}` reference,
 * because the gateway checks that string only after substitution: `store.url: ${DATABASE_URL}`
 * is valid config. Strings without a reference are still held to the constraint.
 */
function allowEnvReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowEnvReferences);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = allowEnvReferences(value);
  const constrained = ['pattern', 'enum', 'format', 'minLength', 'maxLength', 'const'].some((k) => k in out);
  if (out.type !== 'string' || !constrained) return out;
  const { description, default: fallback, ...constraint } = out;
  return {
    ...(description === undefined ? {} : { description }),
    ...(fallback === undefined ? {} : { default: fallback }),
    anyOf: [constraint, { type: 'string', pattern: ENV_REFERENCE_PATTERN, description: 'a ${NAME} reference, checked by the gateway after substitution' }],
  };
}

export function helmValuesSchema(): Record<string, unknown> {
  const config = allowEnvReferences(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' })) as Record<string, unknown>;
  delete config.$schema;
  const int = (minimum = 0): Record<string, unknown> => ({ type: 'integer', minimum });
  const absolutePath = { type: 'string', pattern: '^/', not: { enum: ['/', '/etc/portcullis', '/tmp', '/data'] } };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Portcullis Helm values',
    type: 'object',
    additionalProperties: false,
    required: ['replicaCount', 'image', 'config', 'service'],
    properties: {
      replicaCount: int(1),
      image: {
        type: 'object',
        additionalProperties: false,
        required: ['repository'],
        properties: { repository: { type: 'string', minLength: 1 }, tag: { type: 'string' }, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } },
      },
      config,
      secretEnv: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'secretName', 'key'],
          properties: { name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, secretName: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
      },
      secretFiles: {
        description: 'Secrets mounted read-only as files, for the *_file keys (ldap.bind_password_file, jwt_issuers[].secret_file, ...)',
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['secretName', 'mountPath'],
          properties: {
            secretName: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
            mountPath: absolutePath,
            items: {
              type: 'array',
              items: { type: 'object', additionalProperties: false, required: ['key', 'path'], properties: { key: { type: 'string', minLength: 1 }, path: { type: 'string', pattern: '^[^/]' } } },
            },
          },
        },
      },
      extraVolumes: {
        description: 'Pod volumes (for example a ConfigMap holding ldap.tls_ca_file), mounted through extraVolumeMounts',
        type: 'array',
        items: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } } },
      },
      extraVolumeMounts: {
        description: 'Mounts of extraVolumes into the container, always read-only',
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'mountPath'],
          properties: { name: { type: 'string', minLength: 1 }, mountPath: absolutePath, subPath: { type: 'string' }, readOnly: { const: true } },
        },
      },
      service: {
        type: 'object',
        additionalProperties: false,
        properties: { type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port: int(1), metricsPort: int(1) },
      },
      resources: { type: 'object' },
      persistence: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, size: { type: 'string' }, storageClass: { type: 'string' } } },
      autoscaling: {
        type: 'object',
        additionalProperties: false,
        properties: { enabled: { type: 'boolean' }, minReplicas: int(1), maxReplicas: int(1), targetCPUUtilizationPercentage: int(1) },
      },
      podDisruptionBudget: { type: 'object', additionalProperties: false, properties: { minAvailable: { type: ['integer', 'string'] } } },
      serviceMonitor: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, interval: { type: 'string' } } },
      startupProbe: { type: 'object', additionalProperties: false, properties: { failureThreshold: { type: 'integer', minimum: 1 } } },
      nodeSelector: { type: 'object' },
      tolerations: { type: 'array' },
      affinity: { type: 'object' },
    },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() as string)) {
  process.stdout.write(JSON.stringify(helmValuesSchema(), null, 2) + '\n');
}
