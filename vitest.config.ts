import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The install paths of a fresh clone take minutes: npm run test:install (vitest.install.config.ts).
    exclude: [...configDefaults.exclude, 'test/install/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests share one moto server per file; files run in parallel on the 2 cores.
    pool: 'forks',
    setupFiles: ['test/setup.ts'],
  },
});
