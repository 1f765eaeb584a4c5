import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

/** What the lower layers may not import: docs/architecture.md, Layers. */
const upperLayers = [
  '**/client/**',
  '**/audit/**',
  '**/workflow-code/**',
  '**/activities',
  '**/activities/**',
  '**/api/**',
  '**/process/**',
  '**/cli/**',
  '**/dev/**',
];

export default tseslint.config(
  { ignores: ['dist/**', '.tools/**', '.data/**', 'test-results/**', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` table, not a TS enum.' },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node, no database.
    files: ['workflows/**/*.ts', 'src/contracts/**/*.ts', 'src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Node built-ins are not deterministic.',
            })),
            { name: 'mongodb', message: 'Workflows reach MongoDB only through activities.' },
            { name: 'undici', message: 'Workflows reach the network only through activities.' },
          ],
          patterns: [
            { group: ['mongodb/*', 'undici/*'], message: 'No I/O libraries in workflow code.' },
            {
              group: ['**/store/**', '**/messenger/**', '**/emulator/**', '**/api/**'],
              message: 'Workflow code may not import I/O modules.',
            },
            { group: upperLayers, message: 'Imports point down (docs/architecture.md, Layers).' },
          ],
        },
      ],
    },
  },
  {
    // The adapters and stores sit under everything that uses them.
    files: ['src/store/**/*.ts', 'src/messenger/**/*.ts', 'src/diary/**/*.ts', 'src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...upperLayers, '**/workflows', '**/workflows/**', '**/emulator/**'],
              message: 'Imports point down (docs/architecture.md, Layers).',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'src/client/**/*.ts',
      'src/audit/**/*.ts',
      'src/workflow-code/**/*.ts',
      'src/api/**/*.ts',
      'activities/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/process/**', '**/cli/**', '**/dev/**', '**/emulator/**'],
              message: 'Imports point down (docs/architecture.md, Layers).',
            },
          ],
        },
      ],
    },
  },
  {
    // The emulators stand in for other systems: the product's only part they may know is the
    // public contract they emulate (the e-diary's event and signature).
    files: ['src/emulator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/**', '../../*', '!../../diary', '!../../diary/events', '../../../*'],
              message: 'An emulator imports nothing of the product but the contract it emulates.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
