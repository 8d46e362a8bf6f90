/**
 * The floor for an internal API key outside local development: about 32 random bytes. The
 * numbers and the test vectors live in contract/internal-api-key-rule.json, which the
 * service's rule (connect_backend.keys) is tested against too.
 */
export const KEY_RULE = { minLength: 43, minDistinctCharacters: 12 } as const;

/** True when `key` has at least 43 characters and 12 distinct ones (code points, not UTF-16 units). */
export function isStrongKey(key: string): boolean {
  const characters = [...key];
  return characters.length >= KEY_RULE.minLength && new Set(characters).size >= KEY_RULE.minDistinctCharacters;
}
