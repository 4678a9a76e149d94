// SORT and THREAD over the rows MailOpsService.sortRows returns (keys computed at delivery, see
// src/mime/sort-keys.ts): RFC 5256 §3 sort programs (with RFC 5957 DISPLAYFROM/DISPLAYTO),
// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (§2.1-2.2, the REFERENCES steps numbered as in the
// RFC), and the THREAD response syntax. Everything is iterative: a hostile References chain of
// 100k messages must not overflow the stack. No SQL, no MIME parsing, no I/O.
import type { SortCriterion } from '../../protocols/imap/sort-args.js';
import type { SortKeys } from '../../mime/sort-keys.js';

export interface SortItem { seq: number; uid: number; internalDate: number; size: number; keys: SortKeys }

/** RFC 5256 §2.2: the sent date, or INTERNALDATE when the Date header is missing or unparsable. */
export const sentDate = (m: SortItem): number => m.keys.d ?? m.internalDate;

const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function fieldCompare(c: SortCriterion): (a: SortItem, b: SortItem) => number {
  switch (c.field) {
    case 'ARRIVAL': return (a, b) => a.internalDate - b.internalDate;
    case 'DATE': return (a, b) => sentDate(a) - sentDate(b);
    case 'SIZE': return (a, b) => a.size - b.size;
    case 'SUBJECT': return (a, b) => cmpStr(a.keys.s, b.keys.s);
    case 'FROM': return (a, b) => cmpStr(a.keys.f, b.keys.f);
    case 'TO': return (a, b) => cmpStr(a.keys.t, b.keys.t);
    case 'CC': return (a, b) => cmpStr(a.keys.c, b.keys.c);
    case 'DISPLAYFROM': return (a, b) => cmpStr(a.keys.df, b.keys.df);
    case 'DISPLAYTO': return (a, b) => cmpStr(a.keys.dt, b.keys.dt);
  }
}

/** Sorts by the program; exact ties keep mailbox order (sequence numbers), as RFC 5256 §3 says. */
export function sortItems(items: SortItem[], program: readonly SortCriterion[]): SortItem[] {
  const cmps = program.map((c) => {
    const f = fieldCompare(c);
    return c.reverse ? (a: SortItem, b: SortItem) => f(b, a) : f;
  });
  return [...items].sort((a, b) => {
    for (const f of cmps) {
      const r = f(a, b);
      if (r) return r;
    }
    return a.seq - b.seq;
  });
}

// ---- threads ------------------------------------------------------------------------------------

/** A thread tree node: a message, or a dummy (a referenced message that is not there) when `msg` is null. */
export interface ThreadNode { msg: SortItem | null; parent: ThreadNode | null; children: ThreadNode[] }

const node = (msg: SortItem | null): ThreadNode => ({ msg, parent: null, children: [] });

/** The message that stands for a node when ordering: itself, or a dummy's first child. */
function rep(n: ThreadNode): SortItem | null {
  let x: ThreadNode | undefined = n;
  while (x && !x.msg) x = x.children[0];
  return x?.msg ?? null;
}

function byDate(a: ThreadNode, b: ThreadNode): number {
  const ma = rep(a);
  const mb = rep(b);
  if (!ma || !mb) return ma ? -1 : mb ? 1 : 0;
  return sentDate(ma) - sentDate(mb) || ma.seq - mb.seq;
}

/** Every node below `roots`, children before parents. */
function postOrder(roots: ThreadNode[]): ThreadNode[] {
  const out: ThreadNode[] = [];
  const stack: Array<[ThreadNode, boolean]> = roots.map((r) => [r, false]);
  while (stack.length) {
    const [n, expanded] = stack.pop()!;
    if (expanded) {
      out.push(n);
      continue;
    }
    stack.push([n, true]);
    for (const c of n.children) stack.push([c, false]);
  }
  return out;
}

/** Sorts every set of siblings by sent date, youngest level first (REFERENCES step 7); returns the sorted roots. */
function sortSiblings(roots: ThreadNode[]): ThreadNode[] {
  for (const n of postOrder(roots)) if (n.children.length > 1) n.children.sort(byDate);
  return roots.sort(byDate);
}

/** THREAD=ORDEREDSUBJECT (RFC 5256 §3): grouped by base subject, each group's first message the parent of the rest. */
export function threadOrderedSubject(items: SortItem[]): ThreadNode[] {
  const sorted = [...items].sort((a, b) => cmpStr(a.keys.s, b.keys.s) || sentDate(a) - sentDate(b) || a.seq - b.seq);
  const roots: ThreadNode[] = [];
  let head: ThreadNode | null = null;
  for (const m of sorted) {
    if (head && head.msg!.keys.s === m.keys.s) {
      const child = node(m);
      child.parent = head;
      head.children.push(child);
      continue;
    }
    head = node(m);
    roots.push(head);
  }
  return roots.sort(byDate);
}

/** Would making `parent` the parent of `child` create a loop (child is parent or one of its ancestors)? */
function wouldLoop(parent: ThreadNode, child: ThreadNode): boolean {
  for (let x: ThreadNode | null = parent; x; x = x.parent) if (x === child) return true;
  return false;
}

function unlink(n: ThreadNode): void {
  if (!n.parent) return;
  const siblings = n.parent.children;
  siblings.splice(siblings.indexOf(n), 1);
  n.parent = null;
}

function link(parent: ThreadNode, child: ThreadNode): void {
  child.parent = parent;
  parent.children.push(child);
}

/** THREAD=REFERENCES (RFC 5256 §3, the algorithm of Jamie Zawinski). */
export function threadReferences(items: SortItem[]): ThreadNode[] {
  // (1) Link messages by Message-ID / References. Messages without a Message-ID, or with one
  // already taken by an earlier message, get a unique one (a NUL cannot occur in a real id).
  const table = new Map<string, ThreadNode>();
  const get = (id: string): ThreadNode => {
    let c = table.get(id);
    if (!c) table.set(id, (c = node(null)));
    return c;
  };
  for (const m of items) {
    let id = m.keys.m;
    if (id === null || table.get(id)?.msg) id = `\0${m.seq}`;
    const self = get(id);
    self.msg = m;
    // (1A) the references in order, each the parent of the next, keeping existing links and refusing loops.
    let prev: ThreadNode | null = null;
    for (const ref of m.keys.x) {
      const c = get(ref);
      if (prev && !c.parent && !wouldLoop(prev, c)) link(prev, c);
      prev = c;
    }
    // (1B) the last reference is the message's parent (replacing any parent a reference set before).
    if (self.parent !== prev) {
      unlink(self);
      if (prev && !wouldLoop(prev, self)) link(prev, self);
    }
  }
  // (2) the root set; (3) the table is not needed any more.
  let roots = [...table.values()].filter((c) => !c.parent);
  table.clear();
  // (4) Prune dummies: childless ones go; the children of the others take their place, except
  // that several children are not promoted to the root set.
  const prune = (kids: ThreadNode[], parent: ThreadNode | null): ThreadNode[] => {
    const out: ThreadNode[] = [];
    for (const c of kids) {
      if (c.msg) {
        out.push(c);
      } else if (c.children.length && (parent || c.children.length === 1)) {
        for (const g of c.children) {
          g.parent = parent;
          out.push(g);
        }
      } else if (c.children.length) {
        out.push(c);
      }
    }
    return out;
  };
  for (const n of postOrder(roots)) if (n.children.length) n.children = prune(n.children, n);
  roots = prune(roots, null);
  // (5) sort the roots (a dummy by its first child) so the subject table keeps the oldest.
  roots = sortSiblings(roots);
  // (6) Gather root threads with the same base subject.
  const subjectOf = (n: ThreadNode) => rep(n)?.keys.s ?? '';
  const isReply = (n: ThreadNode) => !!n.msg?.keys.r;
  const subjects = new Map<string, ThreadNode>();
  for (const r of roots) {
    const s = subjectOf(r);
    if (!s) continue;
    const t = subjects.get(s);
    if (!t || (t.msg && (!r.msg || (isReply(t) && !isReply(r))))) subjects.set(s, r);
  }
  const removed = new Set<ThreadNode>();
  const added: ThreadNode[] = [];
  for (const r of roots) {
    const s = subjectOf(r);
    if (!s) continue;
    const t = subjects.get(s)!;
    if (t === r) continue;
    removed.add(r);
    if (!t.msg && !r.msg) {
      for (const g of r.children) link(t, g);
      r.children = [];
    } else if (!t.msg || (isReply(r) && !isReply(t))) {
      link(t, r);
    } else {
      const d = node(null);
      removed.add(t);
      link(d, t);
      link(d, r);
      subjects.set(s, d);
      added.push(d);
    }
  }
  roots = [...roots.filter((r) => !removed.has(r)), ...added.filter((d) => !d.parent)];
  // (7) sort every set of siblings by sent date.
  return sortSiblings(roots);
}

/** The THREAD response data (RFC 5256 §4), e.g. "(2)(3 6 (4 23)(44 7 96))"; numbers are UIDs or sequence numbers. */
export function formatThreads(roots: ThreadNode[], byUid: boolean): string {
  const out: string[] = [];
  const stack: Array<string | ThreadNode> = [];
  const pushKids = (kids: ThreadNode[], nested: boolean) => {
    for (let i = kids.length - 1; i >= 0; i--) {
      if (nested) stack.push(')');
      stack.push(kids[i]!);
      if (nested) stack.push('(');
    }
  };
  for (let i = roots.length - 1; i >= 0; i--) stack.push(')', roots[i]!, '(');
  while (stack.length) {
    const x = stack.pop()!;
    if (typeof x === 'string') {
      out.push(x);
      continue;
    }
    if (x.msg) {
      out.push(String(byUid ? x.msg.uid : x.msg.seq));
      if (x.children.length === 1) {
        stack.push(x.children[0]!);
        stack.push(' ');
      } else if (x.children.length > 1) {
        pushKids(x.children, true);
        stack.push(' ');
      }
    } else {
      pushKids(x.children, true);
    }
  }
  return out.join('');
}
