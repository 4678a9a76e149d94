// Password hashing: argon2id with OWASP's recommended minimum (19 MiB, t=2, p=1), which keeps
// a login under ~30 ms on a small server while making offline guessing expensive.
import argon2 from 'argon2';

const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
let dummyHash: Promise<string> | null = null;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  // With no hash we still spend the same work, so timing does not reveal which accounts exist.
  if (!hash) {
    dummyHash ??= argon2.hash('pochtamt-dummy', OPTIONS);
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}
