// Preloaded into every `reconcile` child of the benchmark (node --import): at exit, writes to
// $RECONCILE_PROBE which AWS SDK packages the process loaded (the SDK is CommonJS, so they are in
// require.cache), how many of its modules, the peak RSS and the process lifetime.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const file = process.env.RECONCILE_PROBE;
if (file) {
  const require = createRequire(import.meta.url);
  process.once('exit', () => {
    const sdk = Object.keys(require.cache).filter((k) => /[\\/]node_modules[\\/]@(aws-sdk|smithy)[\\/]/.test(k));
    const packages = [...new Set(sdk.map((k) => /@(aws-sdk|smithy)[\\/]([^\\/]+)/.exec(k)).map((m) => `@${m[1]}/${m[2]}`))].sort();
    writeFileSync(
      file,
      JSON.stringify({ sdkModules: sdk.length, sdkClients: packages.filter((p) => p.startsWith('@aws-sdk/client-')), sdkPackages: packages.length, maxRssKb: process.resourceUsage().maxRSS, lifetimeMs: Math.round(performance.now()) }) + '\n',
    );
  });
}
