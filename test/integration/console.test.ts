/**
 * The outbox console in a real browser: headless Chromium (Debian's
 * `chromium`, installed by `npm run setup`) driven by playwright-core,
 * against the real local runtime on the run's DynamoDB Local and moto.
 */
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxKey, pendingKeys } from '../../lambdas/outbox/keys';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime';
import { localDynamoDbClient, localEndpoints, uniqueNamespace } from '../helpers/local-env';

/** The browser binary: CHROMIUM_PATH, else `chromium` (Debian) or `chromium-browser` on PATH. */
function chromiumExecutable(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new Error(
    "no Chromium found for the console test: run `npm run setup` (as root it installs Debian's chromium), install it (apt-get install -y chromium), or set CHROMIUM_PATH",
  );
}

/** Text a script would set if the page ever rendered event data as HTML. */
const XSS = '<img src=x onerror=window.__outboxXss=1>';

let runtime: LocalRuntime;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const endpoints = localEndpoints();
  runtime = await startLocalRuntime({
    dynamoDbEndpoint: endpoints.dynamoDb,
    motoEndpoint: endpoints.moto,
    port: 0,
    namespace: uniqueNamespace('console'),
    eventsFile: null,
    console: { port: 0 },
  });
  browser = await chromium.launch({
    executablePath: chromiumExecutable(),
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox.
    args: ['--no-sandbox'],
  });
  page = await browser.newPage();
  await page.goto(runtime.consoleUrl ?? '');
  await page.locator('#connection.live').waitFor({ timeout: 20_000 });
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

describe('outbox console', () => {
  it('shows an event committed through the API as it is published and consumed, escaped', async () => {
    const response = await fetch(`${runtime.apiUrl}/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'grace@example.com', name: XSS }),
    });
    expect(response.status).toBe(201);
    const member = (await response.json()) as { id: string };

    const aggregate = page.locator(`.aggregate[data-aggregate="MEMBER ${member.id}"]`);
    // Delivered: both consumers applied it (the chip's state follows the feed).
    await aggregate.locator('.chip[data-sequence="1"][data-state="delivered"]').waitFor({ timeout: 45_000 });
    const rows = page.locator('#stream tbody tr', { hasText: member.id });
    await expect
      .poll(async () => rows.locator('.stage').allTextContents(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(['committed', 'published', 'delivered']));
    // The member's name is in the event data: shown as text, never run as HTML.
    const committed = page.locator('#stream tbody tr[data-stage="committed"]', { hasText: member.id });
    await expect.poll(() => committed.locator('.detail').textContent()).toContain(XSS);
    expect(await page.locator('#stream img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __outboxXss?: number }).__outboxXss)).toBeUndefined();
  });

  it('lists a poison event with its reason and republishes it from the page once fixed', async () => {
    // An outbox item the relay cannot decode (its data is not a map): it parks it as poison.
    const aggregateId = ulid();
    const eventId = randomUUID();
    const occurredAt = new Date().toISOString();
    const key = outboxKey('MEMBER', aggregateId, 1);
    const db = localDynamoDbClient();
    await db.send(
      new PutItemCommand({
        TableName: runtime.tableName,
        Item: marshall({
          ...key,
          ...pendingKeys('MEMBER', aggregateId, 1, occurredAt),
          eventId,
          eventType: XSS,
          source: 'com.example.members',
          aggregateType: 'MEMBER',
          aggregateId,
          sequence: 1,
          occurredAt,
          correlationId: randomUUID(),
          data: 'not a map',
        }),
      }),
    );

    const row = page.locator(`#poison tbody tr[data-event-id="${eventId}"]`);
    await row.waitFor({ timeout: 45_000 });
    await expect.poll(() => row.locator('.reason').textContent()).toMatch(/data/);
    expect(await row.textContent()).toContain(XSS);
    expect(await page.locator('#poison img').count()).toBe(0);
    expect(Number(await page.locator('#poison-count').textContent())).toBeGreaterThanOrEqual(1);

    // The operator fixes the item, then republishes it from the page.
    await db.send(
      new UpdateItemCommand({
        TableName: runtime.tableName,
        Key: marshall(key),
        UpdateExpression: 'SET #data = :data, #eventType = :type',
        ExpressionAttributeNames: { '#data': 'data', '#eventType': 'eventType' },
        ExpressionAttributeValues: marshall({ ':data': { fixed: true }, ':type': 'MemberRegistered' }),
      }),
    );
    db.destroy();
    await row.locator('input[type="radio"]').check();
    await page.locator('#republish').click();

    await expect
      .poll(() => page.locator('#republish-result').textContent(), { timeout: 30_000 })
      .toContain(`${eventId}: published`);
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    const republished = page.locator(`#stream tbody tr[data-event-id="${eventId}"][data-stage="published"]`);
    await expect
      .poll(() => republished.locator('.detail').textContent())
      .toContain('republished from the console');
    expect(await page.evaluate(() => (globalThis as { __outboxXss?: number }).__outboxXss)).toBeUndefined();
  });
});

describe('outbox console republish endpoint', () => {
  async function pageToken(): Promise<string> {
    const html = await (await fetch(runtime.consoleUrl ?? '')).text();
    const token = /name="outbox-console-token" content="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error('the console page carries no token');
    return token;
  }

  function post(body: string, headers: Record<string, string>): Promise<Response> {
    return fetch(`${runtime.consoleUrl}/api/republish`, { method: 'POST', headers, body });
  }

  it('refuses a request from another origin, or without the page token', async () => {
    const token = await pageToken();
    const body = JSON.stringify({ eventId: randomUUID() });
    const crossSite = await post(body, {
      'content-type': 'application/json',
      origin: 'http://evil.example',
      'x-outbox-console-token': token,
    });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as { detail: string }).detail).toMatch(/Origin/);

    const noToken = await post(body, {
      'content-type': 'application/json',
      origin: runtime.consoleUrl ?? '',
    });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { detail: string }).detail).toMatch(/token/);
  });

  it('answers bad input with a 4xx that says what is wrong', async () => {
    const headers = {
      'content-type': 'application/json',
      origin: runtime.consoleUrl ?? '',
      'x-outbox-console-token': await pageToken(),
    };
    const cases: Array<[string, Record<string, string>, number, RegExp]> = [
      ['{', headers, 400, /not valid JSON/],
      [JSON.stringify({ eventId: '../../x y' }), headers, 400, /eventId must be/],
      [JSON.stringify({ eventId: 'a', extra: 1 }), headers, 400, /extra/],
      [
        JSON.stringify({ eventId: 'a' }),
        { ...headers, 'content-type': 'text/plain' },
        415,
        /application\/json/,
      ],
      [JSON.stringify({ eventId: randomUUID() }), headers, 404, /no outbox event/],
    ];
    for (const [body, requestHeaders, status, detail] of cases) {
      const response = await post(body, requestHeaders);
      expect({ body, status: response.status }).toEqual({ body, status });
      expect(((await response.json()) as { detail: string }).detail).toMatch(detail);
    }
    const get = await fetch(`${runtime.consoleUrl}/api/republish`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('answers only to its own host name', async () => {
    const { request } = await import('node:http');
    const url = new URL(runtime.consoleUrl ?? '');
    const status = await new Promise<number>((resolve, reject) => {
      const call = request(
        { host: url.hostname, port: url.port, path: '/', headers: { host: 'rebound.example:80' } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      call.on('error', reject);
      call.end();
    });
    expect(status).toBe(421);
  });
});
