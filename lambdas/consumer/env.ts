/** Environment variables of consumers, set by the `OutboxConsumer` construct together with their grants. */

/** The sender address of a consumer that sends mail through SES (the construct's `mailFromAddress`). */
export const MAIL_FROM_ENV = 'MAIL_FROM_ADDRESS';
