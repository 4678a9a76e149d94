import { AccountEntity } from './account.entity.js';
import { AliasEntity, AliasTargetEntity } from './alias.entity.js';
import { BlobEntity } from './blob.entity.js';
import { DirectoryEntryEntity, DirectoryStateEntity } from './directory.entity.js';
import { DomainEntity } from './domain.entity.js';
import { GroupEntity, GroupMemberEntity } from './group.entity.js';
import { DavChangeEntity, DavCollectionEntity, DavItipInboundEntity, DavObjectEntity, DavProxyEntity, DavShareEntity } from './groupware.entity.js';
import { MailChangeEntity } from './mail-change.entity.js';
import { MailboxAclEntity, MailboxSubscriptionEntity } from './mailbox-acl.entity.js';
import { MailboxEntity } from './mailbox.entity.js';
import { MessageEntity } from './message.entity.js';
import { QueueMessageEntity, QueueRecipientEntity } from './queue.entity.js';
import { BanEntity, GreylistEntity, QuarantineEntity, RateBucketEntity, SenderListEntity } from './security.entity.js';
import { TraceEventEntity } from './trace-event.entity.js';

export {
  BanEntity, GreylistEntity, QuarantineEntity, RateBucketEntity, SenderListEntity,
  DavChangeEntity, DavCollectionEntity, DavItipInboundEntity, DavObjectEntity, DavProxyEntity, DavShareEntity,
  AccountEntity, AliasEntity, AliasTargetEntity, BlobEntity, DirectoryEntryEntity, DirectoryStateEntity, DomainEntity, GroupEntity, GroupMemberEntity,
  MailChangeEntity, MailboxAclEntity, MailboxEntity, MailboxSubscriptionEntity, MessageEntity, QueueMessageEntity, QueueRecipientEntity, TraceEventEntity,
};

export const entities = [
  GreylistEntity, BanEntity, RateBucketEntity, QuarantineEntity, SenderListEntity,
  DomainEntity, AccountEntity, AliasEntity, AliasTargetEntity, GroupEntity, GroupMemberEntity,
  MailboxEntity, MessageEntity, MailChangeEntity, BlobEntity, QueueMessageEntity, QueueRecipientEntity,
  TraceEventEntity, DirectoryStateEntity, DirectoryEntryEntity,
  DavCollectionEntity, DavObjectEntity, DavChangeEntity, DavShareEntity, DavItipInboundEntity, DavProxyEntity,
  MailboxAclEntity, MailboxSubscriptionEntity,
];
