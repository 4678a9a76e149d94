// Prerequisite reporting shared by the benchmarks: the "Missing prerequisites" message with an
// apt-get line, and the root check for reference servers that switch users.

/** The apt-get line for the given Debian packages (indented, with a newline). */
export function aptInstall(packages: Iterable<string>): string {
  return `  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${[...packages].join(' ')}\n`;
}

/** Prints "Missing prerequisites:" with the problems, then `advice`, and exits with status 1. */
export function failPrerequisites(problems: string[], advice: string): never {
  process.stderr.write(`Missing prerequisites:\n  - ${problems.join('\n  - ')}\n\n${advice}`);
  process.exit(1);
}

/** Exits with status 1 after printing `message` unless running as root. */
export function requireRoot(message: string): void {
  if (process.getuid?.() === 0) return;
  process.stderr.write(message);
  process.exit(1);
}
