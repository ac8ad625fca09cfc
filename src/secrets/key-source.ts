/** Where the key that encrypts a local store comes from (recorded in the store at init). */
export type KeySource = 'env' | 'keychain' | 'file';
export const KEY_SOURCES: readonly KeySource[] = ['env', 'keychain', 'file'];
