import { VkMethodError } from './errors';
import type { Params } from './context';

/** Parameter readers: VK answers 100 with the parameter's name. */

export function intParam(
  params: Params,
  name: string,
  opts: { min?: number; max?: number } = {},
): number | undefined {
  const raw = params[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw new VkMethodError(100, `${name} not integer`);
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value)) throw new VkMethodError(100, `${name} is out of range`);
  if (opts.min !== undefined && value < opts.min)
    throw new VkMethodError(100, `${name} should be greater or equal to ${opts.min}`);
  if (opts.max !== undefined && value > opts.max)
    throw new VkMethodError(100, `${name} should be less or equal to ${opts.max}`);
  return value;
}

export function requiredInt(
  params: Params,
  name: string,
  opts: { min?: number; max?: number } = {},
): number {
  const value = intParam(params, name, opts);
  if (value === undefined) throw new VkMethodError(100, `${name} is undefined`);
  return value;
}

export function intList(params: Params, name: string): number[] | undefined {
  const raw = params[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((part) => {
    if (!/^-?\d+$/.test(part.trim()))
      throw new VkMethodError(100, `${name} should be a list of integers`);
    return Number(part.trim());
  });
}

export function boolParam(params: Params, name: string): boolean {
  const raw = params[name];
  return raw === '1' || raw === 'true';
}
