/**
 * Generates helm/portcullis/values.schema.json: the chart's own values by hand, and its
 * `config` property from the one config schema (src/config/schema.ts), so the chart refuses
 * what `portcullis config check` would refuse at the schema level.
 * Run: node --import tsx scripts/gen-helm-schema.ts > helm/portcullis/values.schema.json
 */
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

export function helmValuesSchema(): Record<string, unknown> {
  const config = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
  delete config.$schema;
  const int = (minimum = 0): Record<string, unknown> => ({ type: 'integer', minimum });
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
      nodeSelector: { type: 'object' },
      tolerations: { type: 'array' },
      affinity: { type: 'object' },
    },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() as string)) {
  process.stdout.write(JSON.stringify(helmValuesSchema(), null, 2) + '\n');
}
