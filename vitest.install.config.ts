// `npm run test:install`: the slow install paths of a fresh clone (test/install/), apart from `npm test`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['test/install/**/*.test.ts'], testTimeout: 900_000, hookTimeout: 120_000, pool: 'forks', setupFiles: ['test/setup.ts'] },
});
