/**
 * The subset of VKScript that `execute` needs here: `var` declarations, `return`, expression
 * statements, literals (numbers, strings, true/false/null, arrays, objects with bare or quoted
 * keys), variables, `.field` and `[index]` access, `+ - * /`, unary minus and
 * `API.section.method({...})` calls. Anything else is a compile error (VK error 12), as VK would
 * give for a script it cannot parse.
 */

export type VkValue = null | boolean | number | string | VkValue[] | { [key: string]: VkValue };

export class VkScriptCompileError extends Error {}
export class VkScriptRuntimeError extends Error {}

type Expr =
  | { kind: 'lit'; value: VkValue }
  | { kind: 'var'; name: string }
  | { kind: 'array'; items: Expr[] }
  | { kind: 'object'; entries: [string, Expr][] }
  | { kind: 'api'; method: string; arg: Expr | undefined }
  | { kind: 'member'; target: Expr; key: Expr }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr }
  | { kind: 'neg'; operand: Expr };

type Stmt =
  | { kind: 'var'; name: string; init: Expr }
  | { kind: 'return'; value: Expr }
  | { kind: 'expr'; value: Expr };

interface Token {
  readonly type: 'num' | 'str' | 'ident' | 'punct';
  readonly text: string;
  readonly value?: string | number;
  readonly pos: number;
}

const PUNCT = new Set(['[', ']', '{', '}', '(', ')', ',', ':', ';', '.', '=', '+', '-', '*', '/']);

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i));
      const text = m?.[0] ?? c;
      tokens.push({ type: 'num', text, value: Number(text), pos: i });
      i += text.length;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i));
      const text = m?.[0] ?? c;
      tokens.push({ type: 'ident', text, pos: i });
      i += text.length;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let out = '';
      i++;
      for (;;) {
        const ch = src[i];
        if (ch === undefined) throw new VkScriptCompileError(`unterminated string at ${start}`);
        i++;
        if (ch === c) break;
        if (ch !== '\\') {
          out += ch;
          continue;
        }
        const esc = src[i++];
        if (esc === undefined) throw new VkScriptCompileError(`unterminated string at ${start}`);
        if (esc === 'u') {
          const hex = src.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex))
            throw new VkScriptCompileError(`bad \\u escape at ${i}`);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
        } else {
          out +=
            ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[esc] ?? esc;
        }
      }
      tokens.push({ type: 'str', text: src.slice(start, i), value: out, pos: start });
      continue;
    }
    if (PUNCT.has(c)) {
      tokens.push({ type: 'punct', text: c, pos: i });
      i++;
      continue;
    }
    throw new VkScriptCompileError(`unexpected character '${c}' at ${i}`);
  }
  return tokens;
}

/**
 * How deeply a script may nest. VK's own limit is not documented; batching scripts nest four
 * levels, and without a bound a script of a hundred thousand brackets would overflow the
 * compiler's and the interpreter's stacks instead of failing as code VK cannot compile.
 */
export const MAX_SCRIPT_NESTING = 100;

const tooDeep = (): VkScriptCompileError =>
  new VkScriptCompileError(`code nests deeper than ${MAX_SCRIPT_NESTING} levels`);

class Parser {
  #i = 0;
  #depth = 0;
  constructor(private readonly tokens: Token[]) {}

  program(): Stmt[] {
    const stmts: Stmt[] = [];
    while (this.#peek() !== undefined) stmts.push(this.#statement());
    if (!stmts.some((s) => s.kind === 'return'))
      throw new VkScriptCompileError('code must return a value');
    return stmts;
  }

  #peek(): Token | undefined {
    return this.tokens[this.#i];
  }

  #next(): Token {
    const t = this.tokens[this.#i++];
    if (t === undefined) throw new VkScriptCompileError('unexpected end of code');
    return t;
  }

  #is(text: string): boolean {
    const t = this.#peek();
    return t !== undefined && (t.type === 'punct' || t.type === 'ident') && t.text === text;
  }

  #expect(text: string): void {
    const t = this.#next();
    if (t.text !== text)
      throw new VkScriptCompileError(`expected '${text}' at ${t.pos}, got '${t.text}'`);
  }

  #ident(): string {
    const t = this.#next();
    if (t.type !== 'ident')
      throw new VkScriptCompileError(`expected a name at ${t.pos}, got '${t.text}'`);
    return t.text;
  }

  #endStatement(): void {
    if (this.#is(';')) this.#next();
    else if (this.#peek() !== undefined) this.#expect(';');
  }

  #statement(): Stmt {
    if (this.#is('var')) {
      this.#next();
      const name = this.#ident();
      this.#expect('=');
      const init = this.#expr();
      this.#endStatement();
      return { kind: 'var', name, init };
    }
    if (this.#is('return')) {
      this.#next();
      const value = this.#expr();
      this.#endStatement();
      return { kind: 'return', value };
    }
    const value = this.#expr();
    this.#endStatement();
    return { kind: 'expr', value };
  }

  #expr(): Expr {
    if (++this.#depth > MAX_SCRIPT_NESTING) throw tooDeep();
    let left = this.#term();
    while (this.#is('+') || this.#is('-')) {
      const op = this.#next().text as '+' | '-';
      left = { kind: 'binary', op, left, right: this.#term() };
    }
    this.#depth--;
    return left;
  }

  #term(): Expr {
    let left = this.#unary();
    while (this.#is('*') || this.#is('/')) {
      const op = this.#next().text as '*' | '/';
      left = { kind: 'binary', op, left, right: this.#unary() };
    }
    return left;
  }

  #unary(): Expr {
    if (this.#is('-')) {
      this.#next();
      if (++this.#depth > MAX_SCRIPT_NESTING) throw tooDeep();
      const operand = this.#unary();
      this.#depth--;
      return { kind: 'neg', operand };
    }
    return this.#postfix(this.#primary());
  }

  #postfix(target: Expr): Expr {
    let out = target;
    for (;;) {
      if (this.#is('.')) {
        this.#next();
        out = { kind: 'member', target: out, key: { kind: 'lit', value: this.#ident() } };
      } else if (this.#is('[')) {
        this.#next();
        const key = this.#expr();
        this.#expect(']');
        out = { kind: 'member', target: out, key };
      } else {
        return out;
      }
    }
  }

  #primary(): Expr {
    const t = this.#next();
    if (t.type === 'num' || t.type === 'str') return { kind: 'lit', value: t.value ?? null };
    if (t.type === 'ident') {
      if (t.text === 'true') return { kind: 'lit', value: true };
      if (t.text === 'false') return { kind: 'lit', value: false };
      if (t.text === 'null') return { kind: 'lit', value: null };
      if (t.text === 'API') return this.#apiCall();
      return { kind: 'var', name: t.text };
    }
    if (t.text === '(') {
      const inner = this.#expr();
      this.#expect(')');
      return inner;
    }
    if (t.text === '[') {
      const items: Expr[] = [];
      while (!this.#is(']')) {
        items.push(this.#expr());
        if (!this.#is(']')) this.#expect(',');
      }
      this.#next();
      return { kind: 'array', items };
    }
    if (t.text === '{') {
      const entries: [string, Expr][] = [];
      while (!this.#is('}')) {
        const k = this.#next();
        if (k.type !== 'ident' && k.type !== 'str' && k.type !== 'num') {
          throw new VkScriptCompileError(`expected a key at ${k.pos}, got '${k.text}'`);
        }
        this.#expect(':');
        entries.push([String(k.value ?? k.text), this.#expr()]);
        if (!this.#is('}')) this.#expect(',');
      }
      this.#next();
      return { kind: 'object', entries };
    }
    throw new VkScriptCompileError(`unexpected '${t.text}' at ${t.pos}`);
  }

  #apiCall(): Expr {
    this.#expect('.');
    const section = this.#ident();
    this.#expect('.');
    const name = this.#ident();
    this.#expect('(');
    const arg = this.#is(')') ? undefined : this.#expr();
    this.#expect(')');
    return { kind: 'api', method: `${section}.${name}`, arg };
  }
}

export interface VkScriptProgram {
  readonly statements: readonly Stmt[];
}

/** The children of an expression, for walks that must not recurse. */
function children(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'lit':
    case 'var':
      return [];
    case 'array':
      return e.items;
    case 'object':
      return e.entries.map(([, v]) => v);
    case 'api':
      return e.arg === undefined ? [] : [e.arg];
    case 'member':
      return [e.target, e.key];
    case 'binary':
      return [e.left, e.right];
    case 'neg':
      return [e.operand];
  }
}

/**
 * A long chain (`1+1+…`, `a.b.c…`) parses in a loop yet evaluates recursively, so the tree's
 * height is checked too, without recursion.
 */
function assertShallow(root: Expr): void {
  const stack: [Expr, number][] = [[root, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [e, depth] = top;
    if (depth > MAX_SCRIPT_NESTING) throw tooDeep();
    for (const child of children(e)) stack.push([child, depth + 1]);
  }
}

export function compileVkScript(code: string): VkScriptProgram {
  const statements = new Parser(tokenize(code)).program();
  for (const stmt of statements) assertShallow(stmt.kind === 'var' ? stmt.init : stmt.value);
  return { statements };
}

/** Calls one API method for the script; returns its result, or `false` after recording an error. */
export type ApiInvoker = (method: string, params: Record<string, string>) => VkValue;

/** Wire form of a script value used as an API parameter: arrays as CSV, booleans as 1/0. */
function paramString(value: VkValue): string {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return value.map(paramString).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Runs a compiled script. `maxCalls` is enforced when the next call is reached, as an interpreter
 * does: calls made before the limit have already taken effect when error 13 is raised.
 */
export function runVkScript(
  program: VkScriptProgram,
  invoke: ApiInvoker,
  maxCalls: number,
): VkValue {
  const vars = new Map<string, VkValue>();
  let calls = 0;

  const evaluate = (e: Expr): VkValue => {
    switch (e.kind) {
      case 'lit':
        return e.value;
      case 'var': {
        const v = vars.get(e.name);
        if (v === undefined) throw new VkScriptRuntimeError(`${e.name} is not defined`);
        return v;
      }
      case 'array':
        return e.items.map(evaluate);
      case 'object':
        return Object.fromEntries(e.entries.map(([k, v]) => [k, evaluate(v)]));
      case 'api': {
        calls++;
        if (calls > maxCalls) throw new VkScriptRuntimeError('too many API calls');
        const arg = e.arg === undefined ? {} : evaluate(e.arg);
        if (arg === null || typeof arg !== 'object' || Array.isArray(arg)) {
          throw new VkScriptRuntimeError(`API.${e.method} expects an object of parameters`);
        }
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(arg)) params[k] = paramString(v);
        return invoke(e.method, params);
      }
      case 'member': {
        const target = evaluate(e.target);
        const key = evaluate(e.key);
        if (Array.isArray(target) && typeof key === 'number') return target[key] ?? null;
        if (Array.isArray(target) && key === 'length') return target.length;
        if (typeof target === 'string' && key === 'length') return target.length;
        if (
          target !== null &&
          typeof target === 'object' &&
          !Array.isArray(target) &&
          typeof key === 'string'
        ) {
          return target[key] ?? null;
        }
        return null;
      }
      case 'neg': {
        const v = evaluate(e.operand);
        if (typeof v !== 'number') throw new VkScriptRuntimeError('unary minus on a non-number');
        return -v;
      }
      case 'binary': {
        const l = evaluate(e.left);
        const r = evaluate(e.right);
        if (e.op === '+' && (typeof l === 'string' || typeof r === 'string'))
          return paramString(l) + paramString(r);
        if (typeof l !== 'number' || typeof r !== 'number')
          throw new VkScriptRuntimeError(`'${e.op}' on non-numbers`);
        if (e.op === '+') return l + r;
        if (e.op === '-') return l - r;
        if (e.op === '*') return l * r;
        return l / r;
      }
    }
  };

  for (const stmt of program.statements) {
    if (stmt.kind === 'var') vars.set(stmt.name, evaluate(stmt.init));
    else if (stmt.kind === 'return') return evaluate(stmt.value);
    else evaluate(stmt.value);
  }
  return null;
}
