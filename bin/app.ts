/**
 * The CDK app: one `Outbox-<stage>` stack, the stage chosen with
 * `-c stage=dev|prod` (dev when absent). See lib/app-context.ts for the
 * other context keys.
 */
import { App } from 'aws-cdk-lib';
import { InvalidContextError, stackPropsFromContext } from '../lib/app-context';
import { OutboxStack, type OutboxStackProps } from '../lib/outbox-stack';
import { InvalidStageError } from '../lib/stage';

const app = new App();
const props = propsOrExit(app);
new OutboxStack(app, `Outbox-${props.stage}`, {
  ...props,
  description: `Serverless transactional outbox on DynamoDB Streams (${props.stage})`,
});
app.synth();

/** The stack props from the context; a bad value ends the process with its message, not a stack trace. */
function propsOrExit(source: App): OutboxStackProps {
  try {
    return stackPropsFromContext(source.node);
  } catch (error) {
    if (error instanceof InvalidStageError || error instanceof InvalidContextError) {
      console.error(`error: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}
