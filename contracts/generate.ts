/**
 * `npm run contracts`: writes every published contract from the code that
 * defines it. Each generator returns its files; this writes them. The
 * generated files are committed, and the tests fail when they differ from
 * what the generators produce (test/infra/contracts.test.ts).
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ContractGenerator, eventContracts } from './events';
import { OPENAPI_DOCUMENT_PATH, renderOpenApiDocument } from './openapi';

/** The HTTP API's OpenAPI document (contracts/openapi.ts). */
const apiContract: ContractGenerator = {
  name: 'api',
  async generate() {
    return [{ path: OPENAPI_DOCUMENT_PATH, content: renderOpenApiDocument() }];
  },
};

/** The generators, in the order they run. */
export const GENERATORS: readonly ContractGenerator[] = [eventContracts, apiContract];

/** Runs every generator and writes its files under `root`; false when one refused. */
export async function generateContracts(root: string): Promise<boolean> {
  let ok = true;
  for (const generator of GENERATORS) {
    try {
      const files = await generator.generate(root);
      for (const file of files) {
        mkdirSync(dirname(join(root, file.path)), { recursive: true });
        writeFileSync(join(root, file.path), file.content);
      }
      console.log(`${generator.name}: ${files.map((file) => file.path).join(', ')}`);
    } catch (error) {
      console.error(`${generator.name}: ${error instanceof Error ? error.message : String(error)}`);
      ok = false;
    }
  }
  return ok;
}

const invoked =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invoked && !(await generateContracts(resolve(import.meta.dirname, '..')))) process.exitCode = 1;
