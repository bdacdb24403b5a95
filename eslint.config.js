// ESLint flat config. Syntax-only (not type-aware) to stay fast: tsc does the type checking.
// Layering (who may import whom) is not linted here: dependency-cruiser enforces it
// (.dependency-cruiser.cjs, run by `npm run lint`).
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

const TS_AND_SCRIPTS = ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.{js,mjs,ts}']

export default defineConfig(
  { ignores: ['**/node_modules/', 'dist/', 'coverage/'] },

  {
    files: TS_AND_SCRIPTS,
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: globals.node,
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
    },
  },

  // Processes' entry points, tooling and tests may write to the console; library code logs
  // through its injected logger instead.
  {
    files: ['src/main/**/*.ts', 'scripts/**/*.{js,mjs,ts}', 'bench/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'off' },
  },

  // The root config files themselves (CommonJS for dependency-cruiser).
  {
    files: ['eslint.config.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    files: ['.dependency-cruiser.cjs'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
)
