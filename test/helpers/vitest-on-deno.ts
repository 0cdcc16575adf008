// The slice of vitest's API the shared suites use, for running them under `deno test`: node:test's
// describe/it (Deno implements them) and vitest's own matchers from @vitest/expect on chai.
// Mapped in for "vitest" by test/helpers/deno-import-map.json. Bun needs no shim: `bun test` maps vitest itself.
import { after, before, describe as nodeDescribe, it as nodeIt } from "node:test";
import * as chai from "chai";
import { GLOBAL_EXPECT, JestAsymmetricMatchers, JestChaiExpect, JestExtend, setState, type ExpectStatic } from "@vitest/expect";

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

export const expect = ((value: unknown, message?: string) => chai.expect(value, message)) as unknown as ExpectStatic;
Object.assign(expect, chai.expect);
setState(
  {
    assertionCalls: 0,
    isExpectingAssertions: false,
    isExpectingAssertionsError: null,
    expectedAssertionsNumber: null,
    expectedAssertionsNumberErrorGen: null,
  } as never,
  expect,
);
(globalThis as Record<symbol, unknown>)[GLOBAL_EXPECT as symbol] = expect;

export const describe = nodeDescribe;
export const it = nodeIt;
export const beforeAll = before;
export const afterAll = after;
