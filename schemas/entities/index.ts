import { AccountEntity } from './account.entity.js';
import { AliasEntity, AliasTargetEntity } from './alias.entity.js';
import { BlobEntity } from './blob.entity.js';
import { DomainEntity } from './domain.entity.js';
import { GroupEntity, GroupMemberEntity } from './group.entity.js';
import { MailChangeEntity } from './mail-change.entity.js';
import { MailboxEntity } from './mailbox.entity.js';
import { MessageEntity } from './message.entity.js';
import { QueueMessageEntity, QueueRecipientEntity } from './queue.entity.js';
import { TraceEventEntity } from './trace-event.entity.js';

export {
  AccountEntity, AliasEntity, AliasTargetEntity, BlobEntity, DomainEntity, GroupEntity, GroupMemberEntity,
  MailChangeEntity, MailboxEntity, MessageEntity, QueueMessageEntity, QueueRecipientEntity, TraceEventEntity,
};

export const entities = [
  DomainEntity, AccountEntity, AliasEntity, AliasTargetEntity, GroupEntity, GroupMemberEntity,
  MailboxEntity, MessageEntity, MailChangeEntity, BlobEntity, QueueMessageEntity, QueueRecipientEntity,
  TraceEventEntity,
];
