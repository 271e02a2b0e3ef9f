// ESLint flat config. Type errors are tsc's job (`npm run typecheck`); these rules catch what it does not.
// Layout is Prettier's (`npm run format`); the one layout rule here is the line length, which Prettier does
// not enforce on long strings and comments. Violations older than a rule are counted per file and rule in
// eslint-suppressions.json: a new one fails, and `npm run lint:prune` drops the counts once they are fixed.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  {
    ignores: ['dist/**', 'coverage/**', 'out/**', '.tmp/**', '.services*/**', '.envoy-audit/**', 'src/generated/**'],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js'],
    plugins: { '@stylistic': stylistic },
    rules: {
      // A URL cannot be wrapped; everything else (code, strings, comments) fits in 140 columns.
      '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true }],
      // `_name`: a binding kept for its position, or a property left out of a rest.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // prom-client calls a metric's collect() with `this` bound to the metric: the owner is reached as `self`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
  {
    // Tests read untyped JSON (OpenSearch answers, rendered monitors) and match YAML indentation literally.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      'no-regex-spaces': 'off',
    },
  },
  {
    // A promise nobody awaits can acknowledge, commit or close out of order, or fail unseen. The type
    // information comes from the same program `npm run typecheck` builds.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
)
