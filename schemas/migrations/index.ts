import { Initial1764300000000 } from './1764300000000-initial.js';

/** Every migration, oldest first. */
export const migrations = [Initial1764300000000];
