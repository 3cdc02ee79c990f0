/**
 * Directory dialects (SPEC 18): `ldap.implementation` changes the defaults of the keys a file
 * leaves out. Applied to the file's `ldap` block before the schema fills in its own defaults, so
 * that a key the operator wrote always wins.
 */

/** Active Directory: sAMAccountName logins, nested groups by the in-chain matching rule, objectGUID. */
const ACTIVE_DIRECTORY = {
  user_filter: '(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))',
  group_filter: '(member:1.2.840.113556.1.4.1941:={dn})',
  attributes: { username: 'sAMAccountName', name: 'displayName', email: 'mail', id: 'objectGUID' },
} as const;

export function withDialectDefaults(raw: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const block = raw as Record<string, unknown>;
  if (block.implementation !== 'activedirectory') return raw;
  const attributes = block.attributes;
  return {
    ...block,
    user_filter: block.user_filter ?? ACTIVE_DIRECTORY.user_filter,
    group_filter: block.group_filter ?? ACTIVE_DIRECTORY.group_filter,
    attributes:
      attributes !== null && typeof attributes === 'object' && !Array.isArray(attributes)
        ? { ...ACTIVE_DIRECTORY.attributes, ...(attributes as Record<string, unknown>) }
        : (attributes ?? ACTIVE_DIRECTORY.attributes),
  };
}
