/**
 * The OpenAPI document: committed as generated, valid for an independent
 * validator, and in step with the routes, the handlers' schemas and the
 * README's response-fields table.
 */
import { readFileSync } from 'node:fs';
import { compileErrors, validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT_PATH, openApiDocument, renderOpenApiDocument } from '../../../contracts/openapi';
import {
  fieldIssueSchema,
  memberResponseSchema,
  orderLineResponseSchema,
  orderResponseSchema,
  problemSchema,
} from '../../../lambdas/sample/domain/responses';
import { MEMBER_FIELDS, ORDER_FIELDS } from '../../../lambdas/sample/domain/views';
import { API_ROUTES } from '../../../lambdas/sample/handlers/api-routes';

const root = new URL('../../../', import.meta.url);

interface Operation {
  readonly operationId: string;
  readonly responses: Record<string, { links?: Record<string, { operationId: string }> }>;
}

function operationsOf(document: Record<string, unknown>): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
    for (const [method, operation] of Object.entries(item))
      operations.set(`${method.toUpperCase()} ${path}`, operation);
  }
  return operations;
}

/** The backticked names in a row of the README's response-fields table, less the values of an enum (`x` or `y`). */
function documentedFields(resource: string): string[] {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const row = readme.split('\n').find((line) => line.startsWith(`| ${resource} |`)) ?? '';
  const fields = row.replace(/\(`[a-z]+` or `[a-z]+`\)/g, '');
  return [...fields.matchAll(/`([A-Za-z]+)`/g)].map((match) => String(match[1]));
}

describe('OpenAPI document', () => {
  it('is committed exactly as the generator builds it now (run npm run contracts)', () => {
    const committed = readFileSync(new URL(OPENAPI_DOCUMENT_PATH, root), 'utf8');

    expect(committed).toBe(renderOpenApiDocument());
  });

  it('passes an independent OpenAPI 3.1 validator with no errors or warnings', async () => {
    const document = openApiDocument();

    const result = await validate(structuredClone(document) as never);

    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it('has one operation for each route the API serves, and no other', () => {
    const operations = operationsOf(openApiDocument());

    expect([...operations.keys()].sort()).toEqual(API_ROUTES.map((route) => route.routeKey).sort());
  });

  it('links every operation it can reach from a created member, so a stateful fuzzer meets them all', () => {
    const operations = operationsOf(openApiDocument());
    const byId = new Map([...operations.values()].map((operation) => [operation.operationId, operation]));
    const reached = new Set(['createMember']);
    const queue = ['createMember'];
    while (queue.length > 0) {
      const operation = byId.get(String(queue.shift()));
      for (const response of Object.values(operation?.responses ?? {})) {
        for (const link of Object.values(response.links ?? {})) {
          expect(byId.has(link.operationId), `link to ${link.operationId}`).toBe(true);
          if (!reached.has(link.operationId)) queue.push(link.operationId);
          reached.add(link.operationId);
        }
      }
    }

    expect([...reached].sort()).toEqual([...byId.keys()].sort());
  });

  it('answers every 4xx and 5xx of every operation as problem+json', () => {
    const document = openApiDocument();
    const responses = (document.components as { responses: Record<string, { content: object }> }).responses;

    for (const [route, operation] of operationsOf(document)) {
      const errors = Object.entries(operation.responses).filter(([status]) => Number(status) >= 400);
      expect(errors.length, route).toBeGreaterThan(0);
      for (const [status, response] of errors) {
        const name =
          String((response as { $ref?: string }).$ref)
            .split('/')
            .pop() ?? '';
        expect(Object.keys(responses[name]?.content ?? {}), `${route} ${status}`).toContain(
          'application/problem+json',
        );
      }
    }
  });

  it('lists the response fields the README documents, in the views order', () => {
    expect(Object.keys(memberResponseSchema.shape)).toEqual([...MEMBER_FIELDS]);
    expect(Object.keys(orderResponseSchema.shape)).toEqual([...ORDER_FIELDS]);
    expect(Object.keys(memberResponseSchema.shape)).toEqual(documentedFields('member'));
    const order = [...Object.keys(orderResponseSchema.shape), ...Object.keys(orderLineResponseSchema.shape)];
    expect(order.sort()).toEqual(documentedFields('order').sort());
    const error = [...Object.keys(problemSchema.shape), ...Object.keys(fieldIssueSchema.shape)];
    expect(error.sort()).toEqual(documentedFields('error').sort());
  });
});
