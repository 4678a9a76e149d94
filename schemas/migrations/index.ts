import { Initial1764300000000 } from './1764300000000-initial.js';
import { Imap1764400000000 } from './1764400000000-imap.js';
import { Directory1764500000000 } from './1764500000000-directory.js';
import { Groupware1764600000000 } from './1764600000000-groupware.js';
import { Security1764700000000 } from './1764700000000-security.js';
import { DavOccurrences1764900000000 } from './1764900000000-dav-occurrences.js';
import { DkimRotation1764950000000 } from './1764950000000-dkim-rotation.js';
import { MailboxAcl1765000000000 } from './1765000000000-mailbox-acl.js';
import { ImapSort1765050000000 } from './1765050000000-imap-sort.js';
import { DavScheduling1765100000000 } from './1765100000000-dav-scheduling.js';
import { DavProxy1765150000000 } from './1765150000000-dav-proxy.js';
import { Quarantine1765200000000 } from './1765200000000-quarantine.js';
import { Directory21765300000000 } from './1765300000000-directory-2.js';

/** Every migration, oldest first. */
export const migrations = [Initial1764300000000, Imap1764400000000, Directory1764500000000, Groupware1764600000000, Security1764700000000,
  DavOccurrences1764900000000, DkimRotation1764950000000, MailboxAcl1765000000000, ImapSort1765050000000, DavScheduling1765100000000,
  DavProxy1765150000000, Quarantine1765200000000, Directory21765300000000];
