/** One problem of a configuration, with the key path it is about (`ldap.user_base`). */
export interface ConfigProblem {
  path: string;
  message: string;
}
