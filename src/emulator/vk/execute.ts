import { VkMethodError, methods, type CallContext, type Params } from './methods';
import {
  VkScriptCompileError,
  VkScriptRuntimeError,
  compileVkScript,
  runVkScript,
  type VkValue,
} from './vkscript';

/**
 * Running a method by name, `execute` included: its VKScript calls the same methods with the same
 * context, at most `MAX_EXECUTE_CALLS` of them; an inner call's error is `false` in the script and
 * one entry of `execute_errors`, as on VK.
 */

const MAX_EXECUTE_CALLS = 25;

/** Where the calls inside `execute` are counted. */
export interface InnerCallCounter {
  innerCalls: number;
  innerErrors: Record<string, number>;
}

/** A method's whole answer body (`{response}`, with `execute_errors` when inner calls failed). */
export function runMethod(
  name: string,
  params: Params,
  ctx: CallContext,
  counter: InnerCallCounter,
): Record<string, unknown> {
  if (name === 'execute') return runExecute(params, ctx, counter);
  return { response: methodNamed(name)(ctx, params) };
}

function methodNamed(name: string): (typeof methods)[string] {
  const handler = methods[name];
  if (handler === undefined) throw new VkMethodError(3);
  return handler;
}

function runExecute(
  params: Params,
  ctx: CallContext,
  counter: InnerCallCounter,
): Record<string, unknown> {
  const code = params.code;
  if (code === undefined || code.trim() === '') throw new VkMethodError(100, 'code is undefined');
  let program;
  try {
    program = compileVkScript(code);
  } catch (err) {
    if (err instanceof VkScriptCompileError) throw new VkMethodError(12, err.message);
    throw err;
  }
  const executeErrors: { method: string; error_code: number; error_msg: string }[] = [];
  const invoke = (method: string, inner: Record<string, string>): VkValue => {
    counter.innerCalls++;
    try {
      return methodNamed(method)(ctx, inner);
    } catch (err) {
      if (!(err instanceof VkMethodError)) throw err;
      counter.innerErrors[err.code] = (counter.innerErrors[err.code] ?? 0) + 1;
      executeErrors.push({ method, error_code: err.code, error_msg: err.message });
      return false;
    }
  };
  let response: VkValue;
  try {
    response = runVkScript(program, invoke, MAX_EXECUTE_CALLS);
  } catch (err) {
    if (err instanceof VkScriptRuntimeError) throw new VkMethodError(13, err.message);
    throw err;
  }
  return executeErrors.length === 0 ? { response } : { response, execute_errors: executeErrors };
}
