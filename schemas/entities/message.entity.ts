import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/**
 * One message in one mailbox. The bytes live in the blob store under `blobHash` (shared by
 * every copy); envelope and body structure were computed once at delivery so no protocol
 * re-parses MIME for metadata.
 */
@Entity('message')
@Index('message_mailbox_uid', ['mailboxId', 'uid'], { unique: true })
@Index('message_mailbox_modseq', ['mailboxId', 'modseq'])
export class MessageEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) mailboxId!: number;
  @Index() @Column({ type: 'integer' }) accountId!: number;
  @Column({ type: 'integer' }) uid!: number;
  @BigIntColumn() modseq!: number;
  /** System flags and keywords, space separated, e.g. "\\Seen $Forwarded". */
  @Column({ type: 'varchar', length: 2048, default: '' }) flags!: string;
  @EpochColumn() internalDate!: number;
  @Column({ type: 'integer' }) size!: number;
  @Column({ type: 'varchar', length: 64 }) blobHash!: string;
  /** Trace id given at reception (links the message to `pochtamt trace`). */
  @Column({ type: 'varchar', length: 32, nullable: true }) queueId!: string | null;
  @Index() @Column({ type: 'varchar', length: 998, nullable: true }) messageIdHeader!: string | null;
  @Column({ type: 'text', default: '' }) subject!: string;
  /** JSON of the parsed envelope and MIME tree (see src/mime/message-metadata.ts). */
  @Column({ type: 'text' }) envelope!: string;
  @Column({ type: 'text' }) bodyStructure!: string;
  /**
   * Searchable text (src/mime/search-text.ts): decoded header lines and decoded text parts,
   * lower-cased and bounded. Null until computed (IMAP APPEND/COPY set it; SEARCH fills it in
   * for messages delivered without it), so SEARCH never re-parses a message twice.
   */
  @Column({ type: 'text', nullable: true }) searchHeaders!: string | null;
  @Column({ type: 'text', nullable: true }) searchBody!: string | null;
  /**
   * Per-user \Seen in shared folders: the ids of the accounts other than the owner that have read
   * the message, as " 12 34 " (null: none). The owner's \Seen stays in `flags`; every other
   * user sees \Seen from here (src/services/seen-view.ts), as Dovecot and Cyrus do.
   */
  @Column({ type: 'text', nullable: true }) seenBy!: string | null;
  /**
   * JSON of the IMAP SORT/THREAD keys (src/mime/sort-keys.ts): base subject, first addresses,
   * sent date, Message-ID and references. Null until computed (delivery and APPEND set it; SORT
   * and THREAD fill it in for rows stored without it).
   */
  @Column({ type: 'text', nullable: true }) sortKeys!: string | null;
}
