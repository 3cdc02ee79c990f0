/**
 * Login-name forms of a directory account (SPEC 18): with Active Directory `alice`,
 * `alice@corp.example.org` (a suffix in ldap.upn_suffixes) and `CORP\alice` (ldap.netbios_domain)
 * are one account, whose username is its sAMAccountName. Any other domain is no account here.
 * Suffixes and the NetBIOS domain compare case-insensitively; the name part is returned as typed
 * (the directory is searched for it with the filter escaping of any name).
 */
export interface LoginNameForms {
  upnSuffixes: readonly string[];
  netbiosDomain: string;
}

/** The account name a login name stands for, or undefined when it names another domain. */
export function accountName(login: string, forms: LoginNameForms): string | undefined {
  const backslash = login.indexOf('\\');
  if (backslash !== -1) {
    const domain = login.slice(0, backslash);
    const name = login.slice(backslash + 1);
    if (forms.netbiosDomain === '' || domain.toLowerCase() !== forms.netbiosDomain.toLowerCase() || name === '' || name.includes('\\')) return undefined;
    return name;
  }
  const at = login.lastIndexOf('@');
  if (at !== -1) {
    const name = login.slice(0, at);
    const suffix = login.slice(at + 1).toLowerCase();
    if (name === '' || name.includes('@') || !forms.upnSuffixes.some((s) => s.toLowerCase() === suffix)) return undefined;
    return name;
  }
  return login;
}
