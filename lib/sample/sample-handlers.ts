/**
 * Where the sample service's Lambda entry points live (lambdas/sample/handlers/):
 * the API's route handlers and the sample consumers.
 */
import { fileURLToPath } from 'node:url';

/** The folder of the sample's handler files. */
export const SAMPLE_HANDLERS_DIR = fileURLToPath(new URL('../../lambdas/sample/handlers/', import.meta.url));

/** Handler names are file names without extension; nothing that could leave the folder. */
const SAMPLE_HANDLER_PATTERN = /^[a-z][a-z0-9-]*$/;

/** The entry file of the sample handler `name` (a file name without extension in {@link SAMPLE_HANDLERS_DIR}). */
export function sampleHandlerEntry(name: string): string {
  if (!SAMPLE_HANDLER_PATTERN.test(name)) {
    throw new Error(`a sample handler name is a file name in lambdas/sample/handlers, got ${name}`);
  }
  return `${SAMPLE_HANDLERS_DIR}${name}.ts`;
}
