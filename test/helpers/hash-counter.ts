/** Counts a gateway's password-hash verifications: real ones (evaluated guesses) and dummies. */
import type { TestGateway } from './gateway.js';

export interface HashCalls {
  verify: number;
  dummy: number;
}

export function countHashing(gw: TestGateway, calls: HashCalls): void {
  const hasher = gw.registry.hasher;
  const verify = hasher.verify.bind(hasher);
  const verifyDummy = hasher.verifyDummy.bind(hasher);
  hasher.verify = (password, stored) => {
    calls.verify++;
    return verify(password, stored);
  };
  hasher.verifyDummy = (password) => {
    calls.dummy++;
    return verifyDummy(password);
  };
}
