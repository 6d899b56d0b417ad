const compiled = new Map<string, RegExp>();

/**
 * True when `room` matches one of `patterns`. A pattern is a room id in which `*` stands
 * for any run of characters (none included); every other character matches itself.
 * Used for token grants, history and presence settings, so one syntax configures them all.
 *
 * @example
 * matchesRoomPattern(['chat:*', 'lobby'], 'chat:general'); // true
 */
export function matchesRoomPattern(patterns: readonly string[], room: string): boolean {
  for (const pattern of patterns) {
    if (!pattern.includes('*')) {
      if (pattern === room) return true;
      continue;
    }
    let re = compiled.get(pattern);
    if (!re) {
      re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`, 's');
      if (compiled.size > 10_000) compiled.clear();
      compiled.set(pattern, re);
    }
    if (re.test(room)) return true;
  }
  return false;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
