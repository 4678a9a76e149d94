// SORT and THREAD arguments (RFC 5256 §3, RFC 5267 §3 ESORT RETURN options, RFC 5957 DISPLAY
// keys): the sort program or threading algorithm, the (mandatory) charset and the search
// criteria shared with SEARCH. Pure: no I/O.
import { ArgError, type ArgReader } from './args.js';
import { checkCharset, parseReturnOptions, parseSearchCriteria, type SearchKey } from './search-args.js';

export type SortField = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export interface SortCriterion { field: SortField; reverse: boolean }
export type SortReturn = 'MIN' | 'MAX' | 'ALL' | 'COUNT';

export interface SortArgs {
  /** null: plain "* SORT" response; a list (empty means ALL): "* ESEARCH" (RFC 5267 §3.2). */
  returns: SortReturn[] | null;
  program: SortCriterion[];
  charset: string;
  key: SearchKey;
}

export type ThreadAlgorithm = 'ORDEREDSUBJECT' | 'REFERENCES';
export interface ThreadArgs { algorithm: ThreadAlgorithm; charset: string; key: SearchKey }

const FIELDS = new Set<string>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);
const SORT_RETURNS: readonly SortReturn[] = ['MIN', 'MAX', 'ALL', 'COUNT'];
/** A sort program longer than this is not a client's (each key is at most once useful). */
const MAX_CRITERIA = 32;

export function parseSortArgs(r: ArgReader): SortArgs {
  const returns = parseReturnOptions(r, SORT_RETURNS);
  const l = r.list('sort criteria');
  const program: SortCriterion[] = [];
  let reverse = false;
  while (l.remaining) {
    const k = l.atom('sort key').toUpperCase();
    if (k === 'REVERSE') {
      if (reverse) throw new ArgError('REVERSE REVERSE');
      reverse = true;
      continue;
    }
    if (!FIELDS.has(k)) throw new ArgError(`Unknown sort key ${k.slice(0, 32)}`);
    program.push({ field: k as SortField, reverse });
    reverse = false;
  }
  if (reverse) throw new ArgError('REVERSE must be followed by a sort key');
  if (!program.length) throw new ArgError('Empty sort criteria');
  if (program.length > MAX_CRITERIA) throw new ArgError('Too many sort criteria');
  const charset = checkCharset(r.astring('charset'));
  return { returns, program, charset, key: parseSearchCriteria(r) };
}

export function parseThreadArgs(r: ArgReader): ThreadArgs {
  const a = r.atom('threading algorithm').toUpperCase();
  if (a !== 'ORDEREDSUBJECT' && a !== 'REFERENCES') throw new ArgError(`Unknown threading algorithm ${a.slice(0, 32)}`);
  const charset = checkCharset(r.astring('charset'));
  return { algorithm: a, charset, key: parseSearchCriteria(r) };
}
