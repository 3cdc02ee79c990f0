/** The full validation `serve` and `config check` share: schema, cross-field and rule checks. */
import { loadConfig, type ConfigProblem, type LoadOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { accessConfigProblems } from '../authz/rules.js';

export function gatewayChecks(config: Config): ConfigProblem[] {
  return accessConfigProblems(config.access);
}

export function loadGatewayConfig(options: LoadOptions): Config {
  return loadConfig({ ...options, extraChecks: [...(options.extraChecks ?? []), gatewayChecks] });
}

/** Exit code for configuration errors (EX_CONFIG). */
export const EXIT_CONFIG = 78;
