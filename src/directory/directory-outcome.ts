/**
 * What a directory says about a refused bind, by dialect (SPEC 18). Active Directory names the
 * reason in the error's sub-code (`… data 52e, …`); measured against Samba 4.17, a wrong password
 * is always 52e (unknown, disabled and expired accounts too), the right password on a disabled
 * account 533, on an expired one 701 (pwdLastSet=0: 773), and a locked account 775 whatever the
 * password. `verified` says whether the answer proves the password: only then may a client see a
 * reason other than "Invalid username or password".
 */

export type BindRefusal = 'bad_password' | 'unknown_user' | 'account_disabled' | 'locked_out' | 'password_expired';

export interface RefusedBind {
  reason: BindRefusal;
  /** The directory checked the password and found it right (the refusal is about the account). */
  verified: boolean;
}

const AD_SUB_CODES: Readonly<Record<string, RefusedBind>> = {
  '52e': { reason: 'bad_password', verified: false },
  '525': { reason: 'unknown_user', verified: false },
  '530': { reason: 'account_disabled', verified: true },
  '531': { reason: 'account_disabled', verified: true },
  '533': { reason: 'account_disabled', verified: true },
  '701': { reason: 'account_disabled', verified: true },
  '775': { reason: 'locked_out', verified: false },
  '532': { reason: 'password_expired', verified: true },
  '773': { reason: 'password_expired', verified: true },
};

/** The refusal an invalid-credentials error stands for; a plain wrong password when it names none. */
export function refusedBind(message: string, activeDirectory: boolean): RefusedBind {
  if (!activeDirectory) return { reason: 'bad_password', verified: false };
  const code = /\bdata ([0-9a-f]{3,4})\b/i.exec(message)?.[1]?.toLowerCase();
  return (code !== undefined ? AD_SUB_CODES[code] : undefined) ?? { reason: 'bad_password', verified: false };
}
