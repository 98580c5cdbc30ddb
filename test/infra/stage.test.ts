import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { InvalidContextError, stackPropsFromContext } from '../../lib/app-context';
import { InvalidStageError, parseStage, STAGES } from '../../lib/stage';

function contextOf(context: Record<string, unknown>) {
  return new App({ context }).node;
}

describe('parseStage', () => {
  it('accepts every stage', () => {
    expect(STAGES.map((stage) => parseStage(stage))).toEqual(['dev', 'prod']);
  });

  it('rejects an unknown stage with a message naming the allowed stages', () => {
    expect(() => parseStage('qa')).toThrow(InvalidStageError);
    expect(() => parseStage('qa')).toThrow('invalid stage "qa": expected one of dev, prod');
  });

  it('rejects a missing or non-string stage', () => {
    expect(() => parseStage(undefined)).toThrow(/expected one of dev, prod/);
    expect(() => parseStage(1)).toThrow(/invalid stage 1/);
    expect(() => parseStage('Dev')).toThrow(InvalidStageError);
  });
});

describe('stackPropsFromContext', () => {
  it('synthesizes the dev stage when no stage is given', () => {
    expect(stackPropsFromContext(contextOf({}))).toEqual({ stage: 'dev' });
  });

  it('fails on an invalid stage from the command line', () => {
    expect(() => stackPropsFromContext(contextOf({ stage: 'qa' }))).toThrow(/expected one of dev, prod/);
  });

  it('reads the JWT issuer and a comma-separated audience', () => {
    const props = stackPropsFromContext(
      contextOf({ stage: 'prod', jwtIssuer: 'https://issuer.example.com', jwtAudience: 'app, admin' }),
    );

    expect(props).toEqual({
      stage: 'prod',
      jwt: { issuer: 'https://issuer.example.com', audience: ['app', 'admin'] },
    });
  });

  it('refuses a JWT issuer without an audience', () => {
    expect(() => stackPropsFromContext(contextOf({ jwtIssuer: 'https://issuer.example.com' }))).toThrow(
      InvalidContextError,
    );
  });

  it('reads deliveredTtlHours given as a string on the command line', () => {
    expect(stackPropsFromContext(contextOf({ deliveredTtlHours: '48' })).deliveredTtlHours).toBe(48);
  });

  it('refuses a deliveredTtlHours that is not a positive number', () => {
    expect(() => stackPropsFromContext(contextOf({ deliveredTtlHours: '0' }))).toThrow(/positive number/);
    expect(() => stackPropsFromContext(contextOf({ deliveredTtlHours: 'soon' }))).toThrow(/positive number/);
  });
});
