/** The OpenAPI 3.1 document of /.auth/api, served at /.auth/api/openapi.json. */
const errorRef = { $ref: '#/components/schemas/Error' };
const errors = (...codes: number[]): Record<string, unknown> =>
  Object.fromEntries(codes.map((code) => [String(code), { description: 'Error', content: { 'application/json': { schema: errorRef } } }]));
const json = (schema: unknown, description = 'OK'): unknown => ({ description, content: { 'application/json': { schema } } });
const body = (schema: unknown): unknown => ({ required: true, content: { 'application/json': { schema } } });
const username = { name: 'username', in: 'path', required: true, schema: { type: 'string' } };

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Portcullis admin and self-service API', version: '1' },
    servers: [{ url: '/.auth/api' }],
    security: [{ session: [] }, { bearer: [] }, { apiToken: [] }],
    paths: {
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/me': { get: { summary: 'Own identity', responses: { '200': json({ $ref: '#/components/schemas/Identity' }), ...errors(401) } } },
      '/me/password': {
        post: {
          summary: 'Change own password (ends every session and token; a session caller gets a fresh cookie)',
          requestBody: body({
            type: 'object',
            additionalProperties: false,
            required: ['current_password', 'new_password'],
            properties: { current_password: { type: 'string' }, new_password: { type: 'string' } },
          }),
          responses: { '200': json({ type: 'object', properties: { user: { $ref: '#/components/schemas/User' } } }), ...errors(400, 401, 403, 429) },
        },
      },
      '/users': {
        get: {
          summary: 'List users (admin)',
          parameters: ['q', 'role', 'source']
            .map((name) => ({ name, in: 'query', schema: { type: 'string' } }))
            .concat(['limit', 'offset'].map((name) => ({ name, in: 'query', schema: { type: 'integer' } }) as never)),
          responses: { '200': json({ type: 'object', properties: { users: { type: 'array', items: { $ref: '#/components/schemas/User' } }, total: { type: 'integer' } } }), ...errors(400, 401, 403) },
        },
        post: {
          summary: 'Create a user (admin)',
          requestBody: body({ $ref: '#/components/schemas/NewUser' }),
          responses: { '201': json({ $ref: '#/components/schemas/User' }, 'Created'), ...errors(400, 401, 403, 409) },
        },
      },
      '/users/{username}': {
        parameters: [username],
        get: { summary: 'Read a user (admin)', responses: { '200': json({ $ref: '#/components/schemas/User' }), ...errors(401, 403, 404) } },
        patch: {
          summary: 'Update a user (admin); role, password and disable changes end its sessions and tokens',
          requestBody: body({ $ref: '#/components/schemas/UserPatch' }),
          responses: { '200': json({ $ref: '#/components/schemas/User' }), ...errors(400, 401, 403, 404, 409) },
        },
        delete: { summary: 'Delete a user (admin)', responses: { '204': { description: 'Deleted' }, ...errors(401, 403, 404, 409) } },
      },
      '/users/{username}/revoke': {
        parameters: [username],
        post: { summary: 'End every session and token of the user (admin)', responses: { '204': { description: 'Revoked' }, ...errors(401, 403, 404) } },
      },
      '/config/reload': {
        post: {
          summary: 'Reload the configuration file (admin); what needs a restart is reported and kept',
          responses: {
            '200': json({ type: 'object', properties: { changed: { type: 'array', items: { type: 'string' } }, restart_required: { type: 'array', items: { type: 'string' } } } }),
            ...errors(400, 401, 403, 409),
          },
        },
      },
      '/users/{username}/relink': {
        parameters: [username],
        post: {
          summary: 'Accept a changed directory entry for an ldap user: its sessions and tokens end, the next login records the new directory_id (admin)',
          responses: { '200': json({ $ref: '#/components/schemas/User' }), ...errors(401, 403, 404, 409) },
        },
      },
      '/users/{username}/upstream-credentials/{route}': {
        parameters: [username, { name: 'route', in: 'path', required: true, schema: { type: 'string' }, description: 'A route whose upstream_auth uses per_user' }],
        put: {
          summary: "Store the user's own credential for a backend (admin); write-only, encrypted, never returned",
          requestBody: body({ type: 'object', additionalProperties: false, required: ['value'], properties: { value: { type: 'string', maxLength: 4096 } } }),
          responses: { '204': { description: 'Stored' }, ...errors(400, 401, 403, 404) },
        },
        delete: { summary: "Delete the user's credential for a backend (admin)", responses: { '204': { description: 'Deleted' }, ...errors(401, 403, 404) } },
      },
      '/tokens': {
        get: {
          summary: 'Own API tokens (admin: ?user=)',
          parameters: [{ name: 'user', in: 'query', schema: { type: 'string' } }],
          responses: { '200': json({ type: 'object', properties: { tokens: { type: 'array', items: { $ref: '#/components/schemas/Token' } } } }), ...errors(401, 403) },
        },
        post: {
          summary: 'Create an API token; the secret is shown once. Made with a token, it expires no later than that token (a longer expires_in is clamped) and carries its scope',
          requestBody: body({
            type: 'object',
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              expires_in: { type: 'string', examples: ['30d'] },
              kind: { type: 'string', enum: ['opaque', 'jwt'] },
              scope: { $ref: '#/components/schemas/Grant' },
              read_only: { type: 'boolean' },
            },
          }),
          responses: { '201': json({ allOf: [{ $ref: '#/components/schemas/Token' }, { type: 'object', properties: { token: { type: 'string' } } }] }, 'Created'), ...errors(400, 401, 403, 409) },
        },
      },
      '/tokens/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        delete: { summary: 'Revoke a token (own, or any for admins)', responses: { '204': { description: 'Revoked' }, ...errors(401, 403, 404) } },
      },
      '/events': {
        get: {
          summary: 'Audit events, newest first (admin)',
          parameters: [
            { name: 'type', in: 'query', schema: { type: 'string' } },
            { name: 'username', in: 'query', schema: { type: 'string' } },
            { name: 'since', in: 'query', schema: { type: 'string' }, description: 'ISO time or a duration such as 1h' },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
            { name: 'offset', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { '200': json({ type: 'object', properties: { events: { type: 'array', items: { type: 'object' } }, total: { type: 'integer' } } }), ...errors(400, 401, 403) },
        },
      },
    },
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'portcullis_session', description: 'State-changing calls also need X-Requested-With: portcullis and a same-origin request' },
        bearer: { type: 'http', scheme: 'bearer' },
        apiToken: { type: 'apiKey', in: 'header', name: 'X-Authentication' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, fields: { type: 'object', additionalProperties: { type: 'string' } } },
            },
          },
        },
        Identity: {
          type: 'object',
          properties: {
            username: { type: 'string' },
            name: { type: 'string' },
            email: { type: 'string' },
            roles: { type: 'array', items: { type: 'string' } },
            projects: { type: 'array', items: { type: 'string' } },
            source: { type: 'string' },
            method: { type: 'string' },
          },
        },
        Grant: {
          type: 'object',
          additionalProperties: false,
          required: ['paths'],
          properties: { paths: { type: 'array', items: { type: 'string' } }, methods: { type: 'array', items: { type: 'string' } } },
        },
        Attributes: {
          type: 'object',
          description: 'SPEC 16: attribute KEY -> its values',
          maxProperties: 32,
          propertyNames: { pattern: '^[a-z][a-z0-9_]{0,63}$' },
          additionalProperties: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 256 } },
        },
        User: {
          type: 'object',
          properties: {
            username: { type: 'string' },
            name: { type: 'string' },
            email: { type: 'string' },
            roles: { type: 'array', items: { type: 'string' } },
            projects: { type: 'array', items: { type: 'string' } },
            source: { type: 'string' },
            disabled: { type: 'boolean' },
            must_change_password: { type: 'boolean' },
            grants: { type: 'array', items: { $ref: '#/components/schemas/Grant' } },
            quotas: { type: 'object', additionalProperties: { type: 'integer' } },
            attributes: { $ref: '#/components/schemas/Attributes' },
            created_at: { type: 'string', format: 'date-time' },
            updated_at: { type: 'string', format: 'date-time' },
            last_login_at: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        NewUser: {
          type: 'object',
          additionalProperties: false,
          required: ['username', 'roles'],
          properties: {
            username: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' },
            password: { type: 'string' },
            name: { type: 'string' },
            email: { type: 'string' },
            roles: { type: 'array', items: { type: 'string' } },
            projects: { type: 'array', items: { type: 'string' } },
            must_change_password: { type: 'boolean' },
            grants: { type: 'array', items: { $ref: '#/components/schemas/Grant' } },
            quotas: { type: 'object', additionalProperties: { type: 'integer' } },
            attributes: { $ref: '#/components/schemas/Attributes' },
            jwt_issuer: { type: 'string', description: 'create a password-less user of source jwt:<issuer> (for users: existing)' },
          },
        },
        UserPatch: {
          type: 'object',
          additionalProperties: false,
          properties: {
            roles: { type: 'array', items: { type: 'string' } },
            projects: { type: 'array', items: { type: 'string' } },
            name: { type: 'string' },
            email: { type: 'string' },
            disabled: { type: 'boolean' },
            password: { type: 'string' },
            must_change_password: { type: 'boolean' },
            grants: { type: 'array', items: { $ref: '#/components/schemas/Grant' } },
            quotas: { type: 'object', additionalProperties: { type: 'integer' } },
            attributes: { $ref: '#/components/schemas/Attributes', description: 'replaces the whole object' },
          },
        },
        Token: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            kind: { type: 'string', enum: ['opaque', 'jwt'] },
            username: { type: 'string' },
            created_at: { type: 'string', format: 'date-time' },
            expires_at: { type: 'string', format: 'date-time' },
            last_used_at: { type: ['string', 'null'], format: 'date-time' },
            revoked_at: { type: ['string', 'null'], format: 'date-time' },
            scope: {
              description: 'null: unscoped; else the token reaches only what every one of these grants allows (a token minted with a scoped token carries its scope too)',
              oneOf: [{ type: 'null' }, { type: 'array', items: { $ref: '#/components/schemas/Grant' } }],
            },
            read_only: { type: 'boolean', description: 'GET and HEAD only' },
          },
        },
      },
    },
  };
}
