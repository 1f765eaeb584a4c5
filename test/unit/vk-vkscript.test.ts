import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  VkScriptCompileError,
  VkScriptRuntimeError,
  compileVkScript,
  runVkScript,
  type VkValue,
} from '../../src/emulator/vk/vkscript';
import { buildExecuteCode } from '../../src/messenger/execute-code';

function run(
  code: string,
  maxCalls = 25,
): { result: VkValue; calls: [string, Record<string, string>][] } {
  const calls: [string, Record<string, string>][] = [];
  const result = runVkScript(
    compileVkScript(code),
    (method, params) => {
      calls.push([method, params]);
      return method === 'messages.fail' ? false : { count: 2, items: [1, 2] };
    },
    maxCalls,
  );
  return { result, calls };
}

void describe('VKScript subset (emulator) and the client code generator', () => {
  void it('runs what the client generates, passing params in wire form', () => {
    const code = buildExecuteCode([
      { method: 'messages.addChatUser', params: { chat_id: 3, user_id: 42 } },
      {
        method: 'messages.send',
        params: {
          peer_ids: [2000000003, 2000000004],
          message: 'quote " and \\ and\nnewline',
          dont_parse_links: true,
        },
      },
    ]);
    const { calls } = run(code);
    assert.deepEqual(calls, [
      ['messages.addChatUser', { chat_id: '3', user_id: '42' }],
      [
        'messages.send',
        {
          peer_ids: '2000000003,2000000004',
          message: 'quote " and \\ and\nnewline',
          dont_parse_links: '1',
        },
      ],
    ]);
  });

  void it('supports var, member access, arithmetic and bare object keys', () => {
    const { result } = run(
      'var r = API.messages.getConversationMembers({peer_id: 2000000000 + 1}); return [r.count, r.items[1], r.items.length * 2, -r.count, "n=" + r.count];',
    );
    assert.deepEqual(result, [2, 2, 4, -2, 'n=2']);
  });

  void it('compile errors: no return, broken syntax, unknown characters', () => {
    assert.throws(() => compileVkScript('API.messages.send({});'), VkScriptCompileError);
    assert.throws(() => compileVkScript('return [API.messages.send({;'), VkScriptCompileError);
    assert.throws(() => compileVkScript('return 1 # 2;'), VkScriptCompileError);
    assert.throws(() => compileVkScript('return "open'), VkScriptCompileError);
  });

  void it('the call limit is a runtime error raised when the extra call is reached', () => {
    const code = `return [${Array.from({ length: 4 }, () => 'API.a.b({})').join(',')}];`;
    assert.equal(run(code, 4).calls.length, 4);
    const calls: string[] = [];
    assert.throws(
      () =>
        runVkScript(
          compileVkScript(code),
          (m) => {
            calls.push(m);
            return 1;
          },
          3,
        ),
      VkScriptRuntimeError,
    );
    assert.equal(calls.length, 3);
  });

  void it('an undefined variable is a runtime error', () => {
    assert.throws(() => run('return nope;'), VkScriptRuntimeError);
  });

  void it('the generator refuses more than 25 calls and bad method names', () => {
    const call = { method: 'messages.send', params: {} };
    assert.throws(() => buildExecuteCode(Array.from({ length: 26 }, () => call)), RangeError);
    assert.throws(() => buildExecuteCode([]), RangeError);
    assert.throws(() => buildExecuteCode([{ method: 'x); evil(', params: {} }]), RangeError);
  });
});
