// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans in log messages and error texts are fine.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Structured logs only: function code must log through pino.
      'no-console': 'error',
      // TypeScript checks undefined names, in .ts and (checkJs) .js files alike.
      'no-undef': 'off',
    },
  },
  {
    // With noUncheckedIndexedAccess, `dues[0]!` after a length assertion is the clear way to
    // say "the test has already checked this exists".
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `expect(() => run()).toThrow()` is the idiom, whatever `run` returns.
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // The CLI and the local stack talk to a human on stdout/stderr.
    files: ['functions/cli/**', 'infra/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // CommonJS on purpose (the loopback guard is a `node --require` preload).
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Config files outside the TypeScript project.
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
