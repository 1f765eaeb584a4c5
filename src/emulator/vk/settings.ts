import { definedOnly, envCallEndSignal, faultsSchema, optionsSchema } from './control-schemas';
import { noFaults, type EmulatorFaults } from './faults';
import { defaultEmulatorOptions, type EmulatorOptions } from './options';

/**
 * The emulator's switches: its behaviour options and the faults in force. Each patch is checked
 * against its schema and changes only the fields it names; a reset restores the start.
 */
export interface Settings {
  readonly options: EmulatorOptions;
  readonly faults: EmulatorFaults;
  setOptions(patch: Partial<EmulatorOptions>): void;
  setFaults(patch: Partial<EmulatorFaults>): void;
  /** The options the emulator started with, and no faults. */
  reset(): void;
}

/** Starts from the defaults, then `VK_EMULATOR_CALL_END_SIGNAL`, then the caller's options. */
export function createSettings(initial: Partial<EmulatorOptions> | undefined): Settings {
  const initialOptions: EmulatorOptions = {
    ...defaultEmulatorOptions,
    ...envCallEndSignal(),
    ...definedOnly<EmulatorOptions>(optionsSchema.parse(initial ?? {})),
  };
  let options = initialOptions;
  let faults = noFaults;
  return {
    get options() {
      return options;
    },
    get faults() {
      return faults;
    },
    setOptions(patch) {
      options = { ...options, ...definedOnly<EmulatorOptions>(optionsSchema.parse(patch)) };
    },
    setFaults(patch) {
      faults = { ...faults, ...definedOnly<EmulatorFaults>(faultsSchema.parse(patch)) };
    },
    reset() {
      options = initialOptions;
      faults = noFaults;
    },
  };
}
