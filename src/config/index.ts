export * from './schema.js';
export * from './load.js';
export * from './duration.js';
export { crossFieldProblems, parseListen, parseCidr, trustedProxyList } from './validate.js';
